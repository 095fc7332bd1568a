"""What every pod gets from the cluster, as a user sees it from inside the pod: kubelet's
Service environment variables (`kubectl exec <pod> -- env`) and a resolv.conf by
dnsPolicy naming the cluster's DNS servers. The node is test_agent_pods.py's (a network
namespace, the real API server through a loopback relay); standalone mode's pods get
the manifests' Services."""

import json
import signal
import subprocess
import time

import pytest

from hoststate import run
from test_agent_pods import Node, running
from test_standalone import StandaloneNode
from test_standalone import running as standalone_running

pytestmark = pytest.mark.cluster

# The node's own resolver file, so that what Default gives is known.
NODE_RESOLV_CONF = "# the node's\nnameserver 192.0.2.53\nsearch example.test\noptions edns0\n"


class EnvNode(Node):
    """test_agent_pods' node with more agent flags."""

    def __init__(self, *args, extra_args=(), **kwargs):
        self.extra_args = list(extra_args)
        super().__init__(*args, **kwargs)

    def start(self):
        if self.extra_args and self.extra_args[0] not in self.args:
            self.args += self.extra_args
        super().start()


def make_node(request, stevedore_bin, cluster, netns, tmp_path, images, registry, auth_registry, **kwargs):
    resolv = tmp_path / "node-resolv.conf"
    resolv.write_text(NODE_RESOLV_CONF)
    kwargs.setdefault("config", f"resolvConf: {resolv}\n")
    n = EnvNode(stevedore_bin, cluster, netns("penv"), tmp_path, registry, auth_registry, **kwargs)
    n.image_import(images["busybox"], "busybox")

    def done():
        n.kubectl("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and n.kubectl("get", "pods", "-o", "name").stdout.strip():
            time.sleep(0.25)
        assert n.stop() == 0, n.log.read_text()[-4000:]
        for relay in (n.relay, n.kubelet_relay, n.registry_relay, n.auth_registry_relay):
            relay.close()
        n.kubectl("delete", "node", "node-pods", "--ignore-not-found")
    request.addfinalizer(done)
    return n


@pytest.fixture
def services(cluster):
    """Services the tests make, deleted after them."""
    made = []

    def make(name, spec, namespace="default"):
        obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
               "spec": spec}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))
        made.append((namespace, name))
        return json.loads(cluster.kubectl("get", "service", "-n", namespace, name, "-o", "json").stdout)
    yield make
    for namespace, name in made:
        cluster.kubectl("delete", "service", "-n", namespace, name, "--ignore-not-found", check=False)


def sleeper(name, command=None, **spec):
    """A busybox pod that keeps running (and exits 0 on SIGTERM, being PID 1)."""
    return {"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                     "command": command or ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}],
                     "terminationGracePeriodSeconds": 2, **spec}}


def pod_env(node, pod):
    out = node.kubectl("exec", pod, "--", "env").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def file_in_pod(node, pod, path):
    return node.kubectl("exec", pod, "--", "cat", path).stdout


def test_service_variables_as_kubelet_makes_them(request, stevedore_bin, cluster, netns, tmp_path, images, registry,
                                                 auth_registry, services):
    kubernetes = json.loads(cluster.kubectl("get", "service", "kubernetes", "-o", "json").stdout)["spec"]["clusterIP"]
    db = services("web-db", {"ports": [{"name": "sql", "port": 5432, "targetPort": 5432},
                                       {"name": "dns", "port": 53, "protocol": "UDP"}]})["spec"]["clusterIP"]
    services("headless", {"clusterIP": "None", "ports": [{"port": 80}]})
    services("outside", {"type": "ExternalName", "externalName": "example.test"})
    cluster.kubectl("create", "namespace", "podenv-other")
    request.addfinalizer(lambda: cluster.kubectl("delete", "namespace", "podenv-other", "--wait=false", check=False))
    services("elsewhere", {"ports": [{"port": 80}]}, namespace="podenv-other")
    node = make_node(request, stevedore_bin, cluster, netns, tmp_path, images, registry, auth_registry)

    pod = sleeper("envy", command=["sh", "-c", "echo api=$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT) "
                                               "db=$(DB); trap 'exit 0' TERM; while true; do sleep 0.2; done"])
    pod["spec"]["containers"][0]["env"] = [{"name": "DB", "value": "$(WEB_DB_SERVICE_HOST):$(WEB_DB_SERVICE_PORT_SQL)"},
                                           {"name": "WEB_DB_PORT", "value": "mine"}]
    node.apply(pod)
    node.wait("envy", running, what="Running")
    env = pod_env(node, "envy")

    # The API server's Service, as in-cluster clients (client-go's InClusterConfig) read it.
    assert env["KUBERNETES_SERVICE_HOST"] == kubernetes and env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["KUBERNETES_PORT"] == f"tcp://{kubernetes}:443"
    assert env["KUBERNETES_PORT_443_TCP_ADDR"] == kubernetes and env["KUBERNETES_PORT_443_TCP_PROTO"] == "tcp"
    # The namespace's Services with a ClusterIP, named after them.
    assert env["WEB_DB_SERVICE_HOST"] == db and env["WEB_DB_SERVICE_PORT"] == "5432"
    assert env["WEB_DB_SERVICE_PORT_SQL"] == "5432" and env["WEB_DB_SERVICE_PORT_DNS"] == "53"
    assert env["WEB_DB_PORT_5432_TCP"] == f"tcp://{db}:5432" and env["WEB_DB_PORT_5432_TCP_PORT"] == "5432"
    assert env["WEB_DB_PORT_53_UDP"] == f"udp://{db}:53" and env["WEB_DB_PORT_53_UDP_PROTO"] == "udp"
    assert env["WEB_DB_PORT_53_UDP_ADDR"] == db
    # The container's own env wins, and $(VAR) sees the Service variables.
    assert env["WEB_DB_PORT"] == "mine"
    assert env["DB"] == f"{db}:5432"
    assert node.kubectl("logs", "envy").stdout.strip() == f"api={kubernetes}:443 db={db}:5432"
    # No variables for a headless or ExternalName Service, nor another namespace's.
    assert not [k for k in env if k.startswith(("HEADLESS_", "OUTSIDE_", "ELSEWHERE_"))]

    # A Service made after the container started is not in its env; its next start has it.
    late = services("late", {"ports": [{"port": 8080}]})["spec"]["clusterIP"]
    assert "LATE_SERVICE_HOST" not in pod_env(node, "envy")
    node.kubectl("exec", "envy", "--", "kill", "1")
    node.wait("envy", lambda p: running(p) and p["status"]["containerStatuses"][0]["restartCount"] == 1,
              what="restarted")
    assert pod_env(node, "envy")["LATE_SERVICE_HOST"] == late

    # enableServiceLinks: false keeps only the API server's.
    node.apply(sleeper("unlinked", enableServiceLinks=False))
    node.wait("unlinked", running, what="Running")
    env = pod_env(node, "unlinked")
    assert env["KUBERNETES_SERVICE_HOST"] == kubernetes
    assert not [k for k in env if k.startswith(("WEB_DB_", "LATE_"))]

    # Without cluster DNS, ClusterFirst falls back to the node's resolv.conf, with kubelet's warning.
    assert file_in_pod(node, "unlinked", "/etc/resolv.conf") == "search example.test\nnameserver 192.0.2.53\noptions edns0\n"
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=unlinked,reason=MissingClusterDNS",
                          "-o", "json").stdout
    messages = [e["message"] for e in json.loads(events)["items"]]
    assert messages and "kubelet does not have ClusterDNS IP configured" in messages[0], messages


def test_cluster_dns_by_dns_policy(request, stevedore_bin, cluster, netns, tmp_path, images, registry, auth_registry):
    node = make_node(request, stevedore_bin, cluster, netns, tmp_path, images, registry, auth_registry,
                     extra_args=["--cluster-dns", "10.96.0.10,10.96.0.11", "--cluster-domain", "cluster.local",
                                 "--resolv-conf", str(tmp_path / "node-resolv.conf")], config=None)
    node.apply(sleeper("first"))
    node.apply(sleeper("default-dns", dnsPolicy="Default"))
    node.apply(sleeper("own-dns", dnsPolicy="None", dnsConfig={
        "nameservers": ["192.0.2.99"], "searches": ["mine.test"], "options": [{"name": "ndots", "value": "2"}]}))
    node.apply(sleeper("host-first", hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet",
                       dnsConfig={"options": [{"name": "timeout", "value": "1"}]}))
    for name in ("first", "default-dns", "own-dns", "host-first"):
        node.wait(name, running, what="Running")

    assert file_in_pod(node, "first", "/etc/resolv.conf") == (
        "search default.svc.cluster.local svc.cluster.local cluster.local example.test\n"
        "nameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5\n")
    assert file_in_pod(node, "default-dns", "/etc/resolv.conf") == (
        "search example.test\nnameserver 192.0.2.53\noptions edns0\n")
    assert file_in_pod(node, "own-dns", "/etc/resolv.conf") == (
        "search mine.test\nnameserver 192.0.2.99\noptions ndots:2\n")
    assert file_in_pod(node, "host-first", "/etc/resolv.conf") == (
        "search default.svc.cluster.local svc.cluster.local cluster.local example.test\n"
        "nameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5 timeout:1\n")
    # The FQDN kubelet writes in /etc/hosts takes the cluster domain.
    node.apply(sleeper("named", hostname="h", subdomain="sub"))
    p = node.wait("named", running, what="Running")
    assert f"{p['status']['podIP']}\th.sub.default.svc.cluster.local\th\n" in file_in_pod(node, "named", "/etc/hosts")


class StandaloneEnvNode(StandaloneNode):
    """test_standalone's node, its resolv.conf the test's."""

    def start(self, resolv_conf):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.stevedore("--netns", f"/run/netns/{self.ns}", "agent", "--manifests", str(self.manifests),
                               "--pod-cidr", "10.66.0.0/24", "--log-dir", str(self.log_dir),
                               "--resolv-conf", str(resolv_conf)),
                stdout=log, stderr=subprocess.STDOUT)


def test_standalone_pods_get_the_manifests_services(stevedore_bin, netns, tmp_path, images):
    """No API server: the manifests' Services give the variables (no KUBERNETES_ ones),
    and without --cluster-dns the pods resolve with the node's resolv.conf."""
    node = StandaloneEnvNode(stevedore_bin, netns("saenv"), tmp_path)
    run(str(stevedore_bin), "image", "--root", str(node.root / "images"), "import", "--name", "busybox",
        images["busybox"])
    (node.manifests / "app.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: backend}\n"
        "spec:\n  selector: {app: backend}\n  ports:\n  - {name: http, port: 80, targetPort: 8080}\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: client}\nspec:\n  terminationGracePeriodSeconds: 1\n"
        "  containers:\n  - name: c\n    image: busybox\n    imagePullPolicy: Never\n"
        "    command: [sh, -c, 'env; exec sleep 3600']\n")
    resolv = tmp_path / "node-resolv.conf"
    resolv.write_text(NODE_RESOLV_CONF)
    node.start(resolv)
    try:
        s = node.wait(standalone_running({"client"}), "the client pod Running")
        ip = next(v["spec"]["clusterIP"] for v in s["services"] if v["metadata"]["name"] == "backend")
        uid = s["pods"][0]["metadata"]["uid"]
        log = node.log_dir / "pods" / f"default_client_{uid}" / "c" / "0.log"
        deadline = time.monotonic() + 10
        while "BACKEND_SERVICE_HOST" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, log.read_text() if log.exists() else node.log.read_text()
            time.sleep(0.1)
        env = dict(line.split(" ", 3)[3].split("=", 1) for line in log.read_text().splitlines() if "=" in line)
        assert env["BACKEND_SERVICE_HOST"] == ip and env["BACKEND_SERVICE_PORT_HTTP"] == "80"
        assert env["BACKEND_PORT"] == f"tcp://{ip}:80" and env["BACKEND_PORT_80_TCP_ADDR"] == ip
        assert "KUBERNETES_SERVICE_HOST" not in env
        assert (node.run_dir / "pods" / uid / "resolv.conf").read_text() == (
            "search example.test\nnameserver 192.0.2.53\noptions edns0\n")
    finally:
        node.proc.send_signal(signal.SIGINT)
        assert node.proc.wait(timeout=30) == 0, node.log.read_text()
