#!/usr/bin/env python3
"""A real Kubernetes cluster for tests. Certificates are made with openssl.

Two modes:
- loopback (default): etcd + kube-apiserver on the host's loopback, and
  kube-controller-manager + kube-scheduler when asked; the tests run their own nodes.
- network (network=True): a node network made for the cluster, 10.250.0.0/24 on a bridge
  in a network namespace of its own (the bridge holds .1); the control plane (etcd,
  kube-apiserver advertising 10.250.0.2 with the default endpoint reconciler,
  kube-controller-manager allocating each Node's spec.podCIDR from 10.244.0.0/16,
  kube-scheduler) in a namespace at 10.250.0.2; a stevedore agent there too, registered
  with the control-plane taint as kubeadm's nodes are; and `workers` worker namespaces
  from 10.250.0.11 up, each with a default route via the bridge and one `stevedore agent
  --kubeconfig` with its own root, run and log dirs. Each agent serves the kubelet API on
  :10250 at its InternalIP with a certificate for that address, which the API server
  verifies. kubectl on the host reaches the API server through one loopback relay.
  Cluster DNS as kubeadm deploys it: the agents run with --cluster-dns 10.96.0.10
  --cluster-domain cluster.local, and CoreDNS (tests/images/build-coredns, pushed to the
  first registry, else imported into every node's store) runs from coredns.yaml; the
  start waits until it is Ready (dns=False leaves it out).

Used by the pytest fixtures (tests/integration/conftest.py) and as a command:

    tests/cluster/cluster.py [--dir DIR] [--controllers] [--node NAME]... [-- CMD...]
    tests/cluster/cluster.py --nodes N [--stevedore PATH] [--pod-routes MODE] [-- CMD...]

which starts the cluster (the second: network mode with N workers), runs CMD with
KUBECONFIG set to the admin kubeconfig (or waits for Ctrl-C), and removes everything on
exit.
"""

import argparse
import base64
import json
import os
import secrets
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

from relay import Relay  # noqa: E402  (beside this file)


class KubectlError(subprocess.CalledProcessError):
    """A kubectl that failed, told with what it printed on stderr."""

    def __init__(self, completed):
        super().__init__(completed.returncode, completed.args, completed.stdout, completed.stderr)

    def __str__(self):
        return f"{super().__str__()}: {self.stderr.strip()}"


HERE = Path(__file__).resolve().parent
SERVICE_CIDR = "10.96.0.0/16"
CLUSTER_CIDR = "10.244.0.0/16"

# Network mode's node network.
NODE_NETWORK_PREFIX = 24
NODE_GATEWAY = "10.250.0.1"  # the bridge's address, in the node network's namespace
ROUTED_GATEWAY = "10.250.1.1"  # routed_workers' subnet, 10.250.1.0/24, on the same bridge
CONTROL_PLANE_IP = "10.250.0.2"
FIRST_WORKER_IP = 11  # node-1 is 10.250.0.11
API_PORT = 6443
KUBELET_PORT = 10250
CONTROL_PLANE_NODE = "control-plane"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane:NoSchedule"
# Cluster DNS as kubeadm sets it up: Service kube-dns at the Service CIDR's tenth address.
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"


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

    def __init__(self, directory, name="stevedore-test-ca"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_crt = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"
        self._openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec",
                      "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-keyout", self.ca_key, "-out", self.ca_crt, "-days", "3650",
                      "-subj", f"/CN={name}")

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


def ip(*args, check=True):
    """Runs `ip ARGS`; its output, or raises with its message."""
    r = subprocess.run(["ip", *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout


def descendants(pid=None, skip=frozenset()):
    """PIDs of all live descendants of pid (default: this process), less those of skip
    and what descends from them."""
    pid = pid or os.getpid()
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in skip:
                found.add(child)
                todo.append(child)
    return found


def wait_for(predicate, timeout=60, what="the condition", interval=0.5):
    """predicate()'s first true value, asked every interval seconds; AssertionError after
    timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout}s")


def kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ClusterNode:
    """A stevedore node of a network-mode cluster: a network namespace on the node network
    with its own address, and the agent running there with its own root, run and log
    dirs (all below the cluster's dir, <name>/)."""

    def __init__(self, cluster, name, address, netns, taints=()):
        self.cluster, self.name, self.ip, self.netns = cluster, name, address, netns
        self.netns_path = f"/run/netns/{netns}"
        self.dir = cluster.dir / name
        self.root, self.run_dir, self.log_dir = self.dir / "root", self.dir / "run", self.dir / "log"
        self.log = self.dir / "agent.log"
        self.taints = list(taints)
        self.proc = None
        self.extra_args = []

    def argv(self):
        c = self.cluster
        args = [c.stevedore_bin, "--netns", self.netns_path, "--root", self.root, "--run-dir", self.run_dir,
                "agent", "--kubeconfig", self.kubeconfig, "--hostname-override", self.name,
                "--node-ip", self.ip, "--log-dir", self.log_dir,
                "--tls-cert-file", self.cert, "--tls-private-key-file", self.key,
                "--cluster-cidr", CLUSTER_CIDR,
                "--cluster-dns", CLUSTER_DNS, "--cluster-domain", CLUSTER_DOMAIN]
        for port in c.registries:
            args += ["--insecure-registry", c.registry_host(port)]
        if self.taints:
            args += ["--register-with-taints", ",".join(self.taints)]
        if c.pod_routes:
            args += ["--pod-routes", c.pod_routes]
        return [str(a) for a in args + list(c.agent_args) + self.extra_args]

    def start(self, *extra_args):
        """Starts the agent (again), with extra_args after the cluster's own."""
        for d in (self.root, self.run_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.extra_args = list(extra_args)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        if self.cluster.on_spawn:
            self.cluster.on_spawn(self.proc.pid)
        return self.proc

    def stop(self, timeout=30):
        """SIGTERM, as systemd stops it (the pods keep running); its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def exec(self, *cmd, check=True, timeout=60, input=None):
        """Runs cmd in the node's network namespace; the CompletedProcess (text)."""
        return subprocess.run(["ip", "netns", "exec", self.netns, *map(str, cmd)], check=check,
                              capture_output=True, text=True, timeout=timeout, input=input)

    def image_import(self, layout, name):
        """Imports an OCI layout into the node's image store as `name`."""
        subprocess.run([str(self.cluster.stevedore_bin), "image", "--root", str(self.root / "images"), "import",
                        "--name", name, str(layout)], check=True, capture_output=True)

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Cluster:
    """See the module's doc. Loopback mode: Cluster(dir, controllers=, nodes=[names to
    write kubeconfigs for]). Network mode: Cluster(dir, network=True, workers=N,
    stevedore_bin=PATH, registries=[host loopback ports of registries, reachable from the
    nodes at registry_host(port)], pod_routes=None|"auto"|"host-gw"|"vxlan",
    agent_args=[more agent flags], routed_workers=K: the last K workers on a subnet of
    their own, 10.250.1.0/24, that the node network's namespace routes to, so no other
    node shares a link with them, dns=True|False: CoreDNS deployed and Ready before the
    start returns), controller_args=[more kube-controller-manager flags, e.g. a short
    --node-monitor-grace-period]; .nodes (control plane first), .workers, .control_plane,
    node(name)."""

    def __init__(self, workdir, controllers=False, nodes=(), on_spawn=None, network=False, workers=3,
                 stevedore_bin=None, registries=(), pod_routes=None, agent_args=(), on_netns=None, routed_workers=0,
                 dns=True, controller_args=()):
        self.dir = Path(workdir)
        self.restarts = {}
        self.network = network
        self.controllers = controllers or network
        self.node_names = list(nodes)
        self.controller_args = list(controller_args)
        self.procs = []
        self.argv = {}
        self.on_spawn = on_spawn  # told the pid of every process started
        self.on_netns = on_netns  # told the name of every network namespace made
        self.admin_kubeconfig = self.dir / "admin.kubeconfig"
        self.proxy_kubeconfig = self.dir / "kube-proxy.kubeconfig"
        self.node_kubeconfigs = {}
        self.relays = []
        self.netns_made = []
        self.nodes = []
        if network:
            self.stevedore_bin = Path(stevedore_bin or os.environ.get("STEVEDORE_BIN")
                                      or HERE.parents[1] / "build" / "agent" / "stevedore")
            self.registries = list(registries)
            self.pod_routes = pod_routes
            self.agent_args = list(agent_args)
            self.worker_count = workers
            self.routed_workers = routed_workers
            self.dns = dns
            self.etcd_port, self.etcd_peer_port = 2379, 2380
            # Inside the control plane's namespace; the host's kubectl goes through a relay.
            self.internal_server = f"https://{CONTROL_PLANE_IP}:{API_PORT}"
        else:
            self.etcd_port = free_port()
            self.etcd_peer_port = free_port()
            self.port = free_port()
            self.server = self.internal_server = f"https://127.0.0.1:{self.port}"

    @property
    def workers(self):
        return self.nodes[1:]

    @property
    def control_plane(self):
        return self.nodes[0]

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def registry_host(self, port):
        """Where the nodes reach the host's registry on loopback port `port`."""
        return f"{NODE_GATEWAY}:{port}"

    # --- the node network ---------------------------------------------------------------

    def _netns_add(self, name):
        ip("netns", "add", name)
        self.netns_made.append(name)
        if self.on_netns:
            self.on_netns(name)
        ip("-n", name, "link", "set", "lo", "up")

    def _make_node_network(self):
        """The bridge's namespace and one namespace per node, each linked to the bridge
        by a veth made inside the namespaces (no name on the host to collide with)."""
        prefix = f"sdc{secrets.token_hex(3)}"
        self.bridge_netns = f"{prefix}-net"
        self._netns_add(self.bridge_netns)
        ip("-n", self.bridge_netns, "link", "add", "br0", "type", "bridge")
        ip("-n", self.bridge_netns, "addr", "add", f"{NODE_GATEWAY}/{NODE_NETWORK_PREFIX}", "dev", "br0")
        ip("-n", self.bridge_netns, "link", "set", "br0", "up")
        if self.routed_workers:
            ip("-n", self.bridge_netns, "addr", "add", f"{ROUTED_GATEWAY}/{NODE_NETWORK_PREFIX}", "dev", "br0")
            # A router between the two subnets that tells no node to go around it.
            ip("netns", "exec", self.bridge_netns, "sysctl", "-qw", "net.ipv4.ip_forward=1",
               "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.br0.send_redirects=0")
        names = [(CONTROL_PLANE_NODE, CONTROL_PLANE_IP, "cp", [CONTROL_PLANE_TAINT], NODE_GATEWAY)]
        for i in range(self.worker_count):
            routed = i >= self.worker_count - self.routed_workers
            subnet, gateway = ("10.250.1", ROUTED_GATEWAY) if routed else ("10.250.0", NODE_GATEWAY)
            names.append((f"node-{i + 1}", f"{subnet}.{FIRST_WORKER_IP + i}", f"n{i + 1}", [], gateway))
        for name, address, short, taints, gateway in names:
            node = ClusterNode(self, name, address, f"{prefix}-{short}", taints)
            self._netns_add(node.netns)
            port = f"v{short}"
            ip("-n", self.bridge_netns, "link", "add", port, "type", "veth", "peer", "name", "eth0",
               "netns", node.netns)
            ip("-n", self.bridge_netns, "link", "set", port, "master", "br0", "up")
            ip("-n", node.netns, "addr", "add", f"{address}/{NODE_NETWORK_PREFIX}", "dev", "eth0")
            ip("-n", node.netns, "link", "set", "eth0", "up")
            ip("-n", node.netns, "route", "add", "default", "via", gateway)
            self.nodes.append(node)
        # kubectl on the host: 127.0.0.1:<port> carried to the API server.
        api = Relay(("127.0.0.1", 0), (CONTROL_PLANE_IP, API_PORT), connect_netns=self.control_plane.netns_path)
        self.relays.append(api)
        self.port = api.port
        self.server = f"https://127.0.0.1:{self.port}"
        for port in self.registries:
            self.relays.append(Relay((NODE_GATEWAY, port), ("127.0.0.1", port),
                                     listen_netns=f"/run/netns/{self.bridge_netns}"))

    def _remove_node_network(self):
        for relay in self.relays:
            relay.close()
        self.relays = []
        for name in reversed(self.netns_made):
            pids = ip("netns", "pids", name, check=False).split()
            kill(int(p) for p in pids)
            ip("netns", "del", name, check=False)
        self.netns_made = []

    # --- certificates and kubeconfigs -------------------------------------------------

    def _make_pki(self):
        pki = self.pki = PKI(self.dir / "pki")
        sans = ["IP:127.0.0.1", "IP:10.96.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"]
        if self.network:
            sans.append(f"IP:{CONTROL_PLANE_IP}")
        self.apiserver_crt, self.apiserver_key = pki.issue("apiserver", "/CN=kube-apiserver", server=True, sans=sans)
        self.kubelet_client_crt, self.kubelet_client_key = pki.issue(
            "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client")
        self.sa_key, self.sa_pub = pki.service_account_keys()
        # The aggregator's client identity (kubeadm's front-proxy CA and client): the API
        # server tells an extension API server (metrics-server, sample-apiserver) who
        # asked, and the extension trusts it for the requestheader CA.
        self.front_proxy = PKI(self.dir / "pki" / "front-proxy", "stevedore-front-proxy-ca")
        self.front_proxy_crt, self.front_proxy_key = self.front_proxy.issue("front-proxy-client",
                                                                            "/CN=front-proxy-client")

        def kubeconfig(path, name, subject, server, embed=True):
            crt, key = pki.issue(name, subject)
            write_kubeconfig(path, server, pki.ca_crt, crt, key, name, embed)

        kubeconfig(self.admin_kubeconfig, "admin", "/O=system:masters/CN=kubernetes-admin", self.server,
                   embed=False)
        kubeconfig(self.dir / "controller-manager.kubeconfig", "controller-manager",
                   "/CN=system:kube-controller-manager", self.internal_server)
        kubeconfig(self.dir / "scheduler.kubeconfig", "scheduler", "/CN=system:kube-scheduler",
                   self.internal_server)
        # The identity RBAC's bootstrap policy gives system:node-proxier (Services,
        # EndpointSlices, Nodes, Events): what kube-proxy, and stevedore's proxy, run as.
        kubeconfig(self.proxy_kubeconfig, "kube-proxy", "/CN=system:kube-proxy", self.internal_server)
        for node in self.node_names:
            self.add_node_kubeconfig(node)
        for node in self.nodes:
            node.kubeconfig = self.add_node_kubeconfig(node.name)
            # The kubelet API's serving certificate: the node's address, as the API
            # server dials it (--kubelet-certificate-authority checks it).
            node.cert, node.key = pki.issue(f"kubelet-{node.name}", f"/CN={node.name}", server=True,
                                            sans=[f"IP:{node.ip}", f"DNS:{node.name}"])

    def add_node_kubeconfig(self, node):
        """A kubeconfig for node <node>, as the Node authorizer expects it."""
        crt, key = self.pki.issue(f"node-{node}", f"/O=system:nodes/CN=system:node:{node}")
        path = self.dir / f"node-{node}.kubeconfig"
        write_kubeconfig(path, self.internal_server, self.pki.ca_crt, crt, key, f"system:node:{node}")
        self.node_kubeconfigs[node] = path
        return path

    # --- processes ----------------------------------------------------------------------

    def _spawn(self, name, argv):
        """Starts a control-plane process (in the control plane's namespace in network
        mode: nsenter execs it, so the pid is the process's own)."""
        self.argv[name] = argv
        if self.network:
            argv = ["nsenter", f"--net={self.control_plane.netns_path}", "--", *argv]
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

    # Restarted when they exit, as a kubeadm node's kubelet restarts their static pods:
    # kube-controller-manager exits when a request fails while it builds its controllers
    # (seen here: "connection reset by peer" from the API server as the agents start).
    RESTARTED = ("kube-controller-manager", "kube-scheduler")
    MAX_RESTARTS = 3

    def _check_alive(self):
        for p in list(self.procs):
            if p.poll() is not None and p.name in self.RESTARTED and self.restarts.get(p.name, 0) < self.MAX_RESTARTS:
                self.restarts[p.name] = self.restarts.get(p.name, 0) + 1
                print(f"cluster: {p.name} exited with {p.returncode}, starting it again:\n" + self.log_tail(p.name, 3),
                      file=sys.stderr)
                self.procs.remove(p)
                self._spawn(p.name, self.argv[p.name])
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.name} exited with {p.returncode}; see "
                                   f"{self.dir / (p.name + '.log')}:\n" + self.log_tail(p.name))
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is not None:
                raise RuntimeError(f"the agent of {n.name} exited with {n.proc.returncode}; see {n.log}:\n"
                                   + n.log_tail())

    def _wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self._check_alive()
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

    def _apiserver_argv(self, bin_dir):
        argv = [
            bin_dir / "kube-apiserver",
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--cert-dir={self.dir / 'apiserver-certs'}",
            f"--tls-cert-file={self.apiserver_crt}",
            f"--tls-private-key-file={self.apiserver_key}",
            f"--client-ca-file={self.pki.ca_crt}",
            f"--kubelet-client-certificate={self.kubelet_client_crt}",
            f"--kubelet-client-key={self.kubelet_client_key}",
            # Test nodes report their InternalIP; their names do not resolve.
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={self.sa_pub}",
            f"--service-account-signing-key-file={self.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-node-port-range=30000-32767",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--requestheader-client-ca-file={self.front_proxy.ca_crt}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={self.front_proxy_crt}",
            f"--proxy-client-key-file={self.front_proxy_key}",
            "--profiling=false"]
        if self.network:
            # The kubernetes Service leads to 10.250.0.2:6443 (the default lease
            # reconciler); the kubelet API is dialled at each node's InternalIP and its
            # certificate checked against the cluster's CA.
            argv += ["--bind-address=0.0.0.0", f"--advertise-address={CONTROL_PLANE_IP}",
                     f"--secure-port={API_PORT}", f"--kubelet-certificate-authority={self.pki.ca_crt}"]
        else:
            # The kubernetes Service's endpoint would be the loopback advertise address,
            # which the API refuses; nothing in the loopback tests needs that endpoint.
            argv += ["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.port}",
                     "--endpoint-reconciler-type=none"]
        return argv

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        bin_dir = binaries_dir()
        # kubectl of the cluster's own release: the machine's may be outside the skew
        # kubectl supports against this API server.
        self.kubectl_bin = bin_dir / "kubectl"
        if self.network:
            if not self.stevedore_bin.exists():
                raise FileNotFoundError(f"{self.stevedore_bin} not built (scripts/build, or STEVEDORE_BIN)")
            self._make_node_network()
            coredns_image = self._coredns_image() if self.dns else None
        self._make_pki()
        self._spawn("etcd", [
            bin_dir / "etcd", "--name", "default", "--data-dir", self.dir / "etcd",
            "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.etcd_peer_port}",
            "--initial-cluster", f"default=http://127.0.0.1:{self.etcd_peer_port}",
            "--unsafe-no-fsync", "--log-level", "warn"])
        self._spawn("kube-apiserver", self._apiserver_argv(bin_dir))
        self._wait_ready()
        self.bind_node_proxier()
        if self.controllers:
            self.start_controllers(bin_dir)
        if self.network:
            # The agents' pod routes watch every Node.
            self.kubectl("apply", "-f", HERE.parents[1] / "examples" / "cluster" / "stevedore-node-rbac.yaml")
            for node in self.nodes:
                node.start()
            self.wait_nodes_ready()
            # Its role, as kubeadm labels it (NodeRestriction keeps a node from setting
            # node-role labels on itself).
            self.kubectl("label", "node", CONTROL_PLANE_NODE, "node-role.kubernetes.io/control-plane=")
            if self.dns:
                self.deploy_coredns(coredns_image)
        return self

    def _coredns_image(self):
        """Builds the CoreDNS image (the binary is cached) and puts it where the nodes
        find it: pushed to the first registry, else imported into every node's store
        under the manifest's own name; the image reference for the manifest."""
        images = self.dir / "images"
        subprocess.run([sys.executable, str(HERE.parent / "images" / "build-coredns"), str(images)],
                       check=True, stdout=subprocess.DEVNULL)
        layout = images / "coredns"
        if self.registries:
            port = self.registries[0]
            subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:latest",
                            f"docker://127.0.0.1:{port}/coredns:latest"], check=True, capture_output=True)
            return f"{self.registry_host(port)}/coredns:latest"
        for node in self.nodes:
            node.image_import(layout, "coredns")
        return "coredns"

    def deploy_coredns(self, image, timeout=180):
        """kubeadm's CoreDNS (coredns.yaml) with `image`; waits until the Deployment's
        replicas are all Ready, as a cluster is usable for DNS only then."""
        manifest = (HERE / "coredns.yaml").read_text().replace("image: coredns\n", f"image: {image}\n")
        self.kubectl("apply", "-f", "-", input=manifest)
        deadline = time.monotonic() + timeout
        status = {}
        while time.monotonic() < deadline:
            self._check_alive()
            deployment = self.get_json("deployment", "-n", "kube-system", "coredns")
            status = deployment.get("status", {})
            want = deployment["spec"]["replicas"]
            if status.get("readyReplicas") == want and status.get("updatedReplicas") == want:
                return
            time.sleep(1)
        pods = self.kubectl("get", "pods", "-n", "kube-system", "-o", "wide", check=False).stdout
        raise TimeoutError(f"CoreDNS not Ready after {timeout}s: {status}\n{pods}\n"
                           + "\n".join(f"--- {n.name}\n{n.log_tail(15)}" for n in self.nodes))

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
            "--node-cidr-mask-size=24", f"--service-cluster-ip-range={SERVICE_CIDR}",
            *self.controller_args])
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

    # --- the nodes ----------------------------------------------------------------------

    def get_json(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def wait_nodes_ready(self, timeout=180):
        """Until every node of the cluster is Ready with its InternalIP and podCIDR."""
        deadline = time.monotonic() + timeout
        want = {n.name: n.ip for n in self.nodes}
        state = {}
        while time.monotonic() < deadline:
            self._check_alive()
            state = {}
            for item in self.get_json("nodes")["items"]:
                ready = any(c["type"] == "Ready" and c["status"] == "True" for c in item["status"].get("conditions", []))
                addresses = {a["type"]: a["address"] for a in item["status"].get("addresses", [])}
                state[item["metadata"]["name"]] = (ready, addresses.get("InternalIP"), item["spec"].get("podCIDR"))
            if all(state.get(name, (False,))[0] and state[name][1] == address and state[name][2]
                   for name, address in want.items()):
                return
            time.sleep(0.5)
        raise TimeoutError(f"nodes not Ready with their addresses and pod CIDRs after {timeout}s: {state}\n"
                           + "\n".join(f"--- {n.name}\n{n.log_tail()}" for n in self.nodes))

    def apply(self, obj):
        """kubectl apply of one object (a dict); retried while the namespace's default
        service account, which the controller manager makes, is not there yet."""
        deadline = time.monotonic() + 60
        while True:
            r = self.kubectl("apply", "-f", "-", input=json.dumps(obj), check=False)
            if r.returncode == 0:
                return r.stdout
            if "serviceaccount" not in r.stderr or time.monotonic() > deadline:
                raise RuntimeError(f"kubectl apply: {r.stderr}")
            time.sleep(0.5)

    def wait_pod(self, name, predicate, namespace="default", timeout=120, what="the condition"):
        """Polls pod `name` until predicate(pod dict or None) holds; returns the pod."""
        deadline = time.monotonic() + timeout
        pod = None
        while time.monotonic() < deadline:
            self._check_alive()
            r = self.kubectl("get", "pod", "-n", namespace, name, "-o", "json", check=False)
            pod = json.loads(r.stdout) if r.returncode == 0 else None
            if predicate(pod):
                return pod
            time.sleep(0.5)
        raise TimeoutError(f"pod {namespace}/{name}: {what} not reached in {timeout}s: "
                           f"{json.dumps(pod and pod.get('status'))}\n"
                           + "\n".join(f"--- {n.name}\n{n.log_tail(15)}" for n in self.nodes))

    def _delete_workloads(self, timeout=90):
        """Every pod deleted through the API while the agents run, so they tear the pods
        down (the pods outlive an agent stopped with SIGTERM, by design)."""
        self.kubectl("delete", "deployments,replicasets,daemonsets,statefulsets,jobs", "--all", "--all-namespaces",
                     "--wait=false", check=False)
        self.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=false", check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.kubectl("get", "pods", "--all-namespaces", "-o", "name", check=False)
            if r.returncode != 0 or not r.stdout.strip():
                return
            time.sleep(0.5)

    def _stop_nodes(self):
        leftovers = set()
        if any(n.running() for n in self.nodes) and self.procs:
            self._delete_workloads()
        failed = []
        for node in self.nodes:
            if node.running():
                leftovers |= descendants(node.proc.pid)
                # SIGTERM ends an agent with 0 (under ASan: with no leak either).
                if node.stop() != 0:
                    failed.append(f"the agent of {node.name} exited with {node.proc.returncode}:\n{node.log_tail()}")
        # Whatever the agents did not stop (a pod they could not delete in time).
        kill(leftovers)
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(str(self.dir) + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        return failed

    def stop(self):
        """Removes everything; raises afterwards if an agent did not exit cleanly."""
        failed = self._stop_nodes()
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
        self._remove_node_network()
        if failed:
            raise RuntimeError("\n".join(failed))

    def kubectl(self, *args, kubeconfig=None, check=True, input=None, timeout=60):
        """Runs the real kubectl against this cluster; returns the CompletedProcess. With
        check, a failure raises with kubectl's own message in it."""
        r = subprocess.run(
            [self.kubectl_bin, f"--kubeconfig={kubeconfig or self.admin_kubeconfig}", *args],
            capture_output=True, text=True, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise KubectlError(r)
        return r

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            try:
                self.stop()
            except RuntimeError:
                pass  # the start's failure is the one to tell
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
    ap.add_argument("--nodes", type=int, metavar="N",
                    help="network mode: the control plane and N stevedore worker nodes on a node network")
    ap.add_argument("--stevedore", help="the stevedore program for the nodes (default: $STEVEDORE_BIN, "
                                        "else build/agent/stevedore)")
    ap.add_argument("--pod-routes", choices=["auto", "host-gw", "vxlan"], help="the agents' --pod-routes")
    ap.add_argument("--no-dns", action="store_true", help="network mode: do not deploy CoreDNS")
    ap.add_argument("command", nargs="*", help="run this with KUBECONFIG set, then stop")
    args = ap.parse_args()

    workdir = Path(args.dir or tempfile.mkdtemp(prefix="stevedore-cluster-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.nodes is not None:
        cluster = Cluster(workdir, network=True, workers=args.nodes, stevedore_bin=args.stevedore,
                          pod_routes=args.pod_routes, dns=not args.no_dns)
    else:
        cluster = Cluster(workdir, controllers=args.controllers, nodes=args.node)
    with cluster as c:
        print(f"cluster ready: {c.server}", file=sys.stderr)
        print(f"  admin kubeconfig: {c.admin_kubeconfig}", file=sys.stderr)
        for node, path in c.node_kubeconfigs.items():
            print(f"  node {node} kubeconfig: {path}", file=sys.stderr)
        for n in c.nodes:
            print(f"  node {n.name}: {n.ip}, `ip netns exec {n.netns} …`, agent log {n.log}", file=sys.stderr)
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
