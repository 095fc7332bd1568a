#!/usr/bin/env python3
"""A real Kubernetes control plane on loopback for tests: etcd + kube-apiserver, and
kube-controller-manager + kube-scheduler when asked. Certificates are made with openssl.

Used by the pytest fixtures (tests/integration/conftest.py) and as a command:

    tests/cluster/cluster.py [--dir DIR] [--controllers] [--node NAME]... [-- CMD...]

which starts the cluster, runs CMD with KUBECONFIG set to the admin kubeconfig (or waits
for Ctrl-C), and stops everything on exit.
"""

import argparse
import base64
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICE_CIDR = "10.96.0.0/16"
CLUSTER_CIDR = "10.244.0.0/16"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binaries_dir():
    """Builds the control plane if it is not cached yet; returns its bin/ folder."""
    subprocess.run([str(HERE / "build-control-plane")], check=True, stdout=sys.stderr)
    out = subprocess.run([str(HERE / "build-control-plane"), "--print-dir"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return Path(out) / "bin"


class PKI:
    """A throwaway certificate authority and the certificates a cluster needs."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_crt = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"
        self._openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-keyout", self.ca_key, "-out", self.ca_crt, "-days", "3650",
                      "-subj", "/CN=stevedore-test-ca")

    def _openssl(self, *args):
        subprocess.run(["openssl", *map(str, args)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def issue(self, name, subject, sans=(), server=False):
        """Issues <name>.crt/.key signed by the CA; returns (crt, key) paths."""
        key, csr, crt = (self.dir / f"{name}.{e}" for e in ("key", "csr", "crt"))
        ext = self.dir / f"{name}.ext"
        usage = "serverAuth" if server else "clientAuth"
        lines = ["basicConstraints=CA:FALSE",
                 "keyUsage=critical,digitalSignature,keyEncipherment",
                 f"extendedKeyUsage={usage}"]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        self._openssl("req", "-new", "-nodes", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-keyout", key, "-out", csr, "-subj", subject)
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca_crt, "-CAkey", self.ca_key,
                      "-CAcreateserial", "-out", crt, "-days", "365", "-extfile", ext)
        csr.unlink()
        ext.unlink()
        return crt, key

    def service_account_keys(self):
        key, pub = self.dir / "sa.key", self.dir / "sa.pub"
        self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                      "-out", key)
        self._openssl("pkey", "-in", key, "-pubout", "-out", pub)
        return key, pub


def write_kubeconfig(path, server, ca_crt, crt, key, user, embed=True):
    """A kubeconfig with one cluster, user and context. embed puts the PEM data inline
    (*-data fields, as kubeadm writes them); otherwise it refers to the files."""
    def field(name, p):
        if embed:
            return f"{name}-data: {base64.b64encode(Path(p).read_bytes()).decode()}"
        return f"{name}: {p}"

    Path(path).write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: stevedore-test
  cluster:
    server: {server}
    {field("certificate-authority", ca_crt)}
users:
- name: {user}
  user:
    {field("client-certificate", crt)}
    {field("client-key", key)}
contexts:
- name: {user}@stevedore-test
  context:
    cluster: stevedore-test
    user: {user}
current-context: {user}@stevedore-test
""")
    os.chmod(path, 0o600)


class Cluster:
    def __init__(self, workdir, controllers=False, nodes=(), on_spawn=None):
        self.dir = Path(workdir)
        self.controllers = controllers
        self.node_names = list(nodes)
        self.procs = []
        self.argv = {}
        self.on_spawn = on_spawn  # told the pid of every process started
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.port = free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        self.admin_kubeconfig = self.dir / "admin.kubeconfig"
        self.proxy_kubeconfig = self.dir / "kube-proxy.kubeconfig"
        self.node_kubeconfigs = {}

    # --- certificates and kubeconfigs -------------------------------------------------

    def _make_pki(self):
        pki = self.pki = PKI(self.dir / "pki")
        self.apiserver_crt, self.apiserver_key = pki.issue(
            "apiserver", "/CN=kube-apiserver", server=True,
            sans=["IP:127.0.0.1", "IP:10.96.0.1", "DNS:localhost", "DNS:kubernetes",
                  "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
                  "DNS:kubernetes.default.svc.cluster.local"])
        self.kubelet_client_crt, self.kubelet_client_key = pki.issue(
            "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client")
        self.sa_key, self.sa_pub = pki.service_account_keys()

        def kubeconfig(path, name, subject, embed=True):
            crt, key = pki.issue(name, subject)
            write_kubeconfig(path, self.server, pki.ca_crt, crt, key, name, embed)

        kubeconfig(self.admin_kubeconfig, "admin", "/O=system:masters/CN=kubernetes-admin",
                   embed=False)
        kubeconfig(self.dir / "controller-manager.kubeconfig", "controller-manager",
                   "/CN=system:kube-controller-manager")
        kubeconfig(self.dir / "scheduler.kubeconfig", "scheduler", "/CN=system:kube-scheduler")
        # The identity RBAC's bootstrap policy gives system:node-proxier (Services,
        # EndpointSlices, Nodes, Events): what kube-proxy, and stevedore's proxy, run as.
        kubeconfig(self.proxy_kubeconfig, "kube-proxy", "/CN=system:kube-proxy")
        for node in self.node_names:
            self.add_node_kubeconfig(node)

    def add_node_kubeconfig(self, node):
        """A kubeconfig for node <node>, as the Node authorizer expects it."""
        crt, key = self.pki.issue(f"node-{node}", f"/O=system:nodes/CN=system:node:{node}")
        path = self.dir / f"node-{node}.kubeconfig"
        write_kubeconfig(path, self.server, self.pki.ca_crt, crt, key, f"system:node:{node}")
        self.node_kubeconfigs[node] = path
        return path

    # --- processes ----------------------------------------------------------------------

    def _spawn(self, name, argv):
        self.argv[name] = argv
        log = open(self.dir / f"{name}.log", "ab")
        proc = subprocess.Popen([str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        proc.name = name
        self.procs.append(proc)
        if self.on_spawn:
            self.on_spawn(proc.pid)
        return proc

    def _ssl_context(self):
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_crt))
        admin_crt, admin_key = self.pki.dir / "admin.crt", self.pki.dir / "admin.key"
        ctx.load_cert_chain(str(admin_crt), str(admin_key))
        return ctx

    def get(self, path, timeout=5):
        with urllib.request.urlopen(self.server + path, context=self._ssl_context(),
                                    timeout=timeout) as r:
            return r.read().decode()

    def _wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.name} exited with {p.returncode}; see "
                                       f"{self.dir / (p.name + '.log')}:\n" + self.log_tail(p.name))
            try:
                if self.get("/readyz", timeout=2) == "ok":
                    return
            except Exception as e:  # not listening yet, or not ready: try again
                last = e
            time.sleep(0.3)
        raise TimeoutError(f"kube-apiserver not ready after {timeout}s ({last}):\n"
                           + self.log_tail("kube-apiserver"))

    def log_tail(self, name, lines=30):
        try:
            text = (self.dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        bin_dir = binaries_dir()
        # kubectl of the cluster's own release: the machine's may be outside the skew
        # kubectl supports against this API server.
        self.kubectl_bin = bin_dir / "kubectl"
        self._make_pki()
        self._spawn("etcd", [
            bin_dir / "etcd", "--name", "default", "--data-dir", self.dir / "etcd",
            "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-cluster", f"default=http://127.0.0.1:{self.etcd_peer_port}",
            "--unsafe-no-fsync", "--log-level", "warn"])
        self._spawn("kube-apiserver", [
            bin_dir / "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}", f"--cert-dir={self.dir / 'apiserver-certs'}",
            f"--tls-cert-file={self.apiserver_crt}",
            f"--tls-private-key-file={self.apiserver_key}",
            f"--client-ca-file={self.pki.ca_crt}",
            f"--kubelet-client-certificate={self.kubelet_client_crt}",
            f"--kubelet-client-key={self.kubelet_client_key}",
            # Test nodes report their InternalIP (loopback); their names do not resolve.
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={self.sa_pub}",
            f"--service-account-signing-key-file={self.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-node-port-range=30000-32767",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            # The kubernetes Service's endpoint would be the loopback advertise address,
            # which the API refuses; nothing in the tests needs that endpoint.
            "--endpoint-reconciler-type=none",
            "--profiling=false"])
        self._wait_ready()
        self.bind_node_proxier()
        if self.controllers:
            self.start_controllers(bin_dir)
        return self

    def bind_node_proxier(self):
        """What an admin does for stevedore nodes (docs/proxy.md): the nodes' credentials
        get kube-proxy's ClusterRole, so the agent's Service proxy may list and watch
        EndpointSlices (the Node authorizer allows Services only)."""
        self.kubectl("create", "clusterrolebinding", "stevedore:node-proxier",
                     "--clusterrole=system:node-proxier", "--group=system:nodes")

    def start_controllers(self, bin_dir):
        self._spawn("kube-controller-manager", [
            bin_dir / "kube-controller-manager",
            f"--kubeconfig={self.dir / 'controller-manager.kubeconfig'}",
            "--secure-port=0", "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.sa_key}",
            f"--root-ca-file={self.pki.ca_crt}",
            f"--cluster-signing-cert-file={self.pki.ca_crt}",
            f"--cluster-signing-key-file={self.pki.ca_key}",
            "--allocate-node-cidrs=true", f"--cluster-cidr={CLUSTER_CIDR}",
            "--node-cidr-mask-size=24", f"--service-cluster-ip-range={SERVICE_CIDR}"])
        self._spawn("kube-scheduler", [
            bin_dir / "kube-scheduler",
            f"--kubeconfig={self.dir / 'scheduler.kubeconfig'}",
            "--secure-port=0", "--leader-elect=false"])

    def restart_apiserver(self, down_seconds=0, while_down=None):
        """Kills kube-apiserver, as a crash would (every client connection drops at
        once), and starts it again after down_seconds (while_down() runs meanwhile)."""
        proc = next(p for p in self.procs if p.name == "kube-apiserver")
        proc.kill()
        proc.wait(timeout=30)
        self.procs.remove(proc)
        deadline = time.monotonic() + down_seconds
        if while_down:
            while_down()
        time.sleep(max(0.0, deadline - time.monotonic()))
        self._spawn("kube-apiserver", self.argv["kube-apiserver"])
        self._wait_ready()

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    def kubectl(self, *args, kubeconfig=None, check=True, input=None, timeout=60):
        """Runs the real kubectl against this cluster; returns the CompletedProcess."""
        return subprocess.run(
            [self.kubectl_bin, f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args],
            check=check, capture_output=True, text=True, input=input, timeout=timeout)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", help="working directory (default: a new temporary one)")
    ap.add_argument("--controllers", action="store_true",
                    help="also run kube-controller-manager and kube-scheduler")
    ap.add_argument("--node", action="append", default=[],
                    help="write a kubeconfig for this node name (repeatable)")
    ap.add_argument("command", nargs="*", help="run this with KUBECONFIG set, then stop")
    args = ap.parse_args()

    workdir = Path(args.dir or tempfile.mkdtemp(prefix="stevedore-cluster-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with Cluster(workdir, controllers=args.controllers, nodes=args.node) as c:
        print(f"cluster ready: {c.server}", file=sys.stderr)
        print(f"  admin kubeconfig: {c.admin_kubeconfig}", file=sys.stderr)
        for node, path in c.node_kubeconfigs.items():
            print(f"  node {node} kubeconfig: {path}", file=sys.stderr)
        if args.command:
            rc = subprocess.run(args.command,
                                env={**os.environ, "KUBECONFIG": str(c.admin_kubeconfig)}).returncode
        else:
            print("Ctrl-C stops it", file=sys.stderr)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
            rc = 0
    if not args.dir:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
