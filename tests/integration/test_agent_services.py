"""`stevedore agent --kubeconfig` does kube-proxy's job on its own: Services and their
EndpointSlices, watched with the node's credentials, answer on the node with no
`stevedore proxy` process; and pods' hostPorts answer on the node's address, a pod
wanting a hostPort already taken being refused as kubelet refuses it. The node is a
network namespace with an uplink to an "outside" namespace that sends the traffic; the
API server is reached through a loopback relay."""

import collections
import json
import subprocess
import time

import pytest

from cluster import free_port
from conftest import http_get
from hoststate import run
from relay import LoopbackRelay

pytestmark = pytest.mark.cluster

NAME = "node-services"
POD_CIDR = "10.78.0.0/24"
CLUSTER_CIDR = "10.78.0.0/16"
NODE_IP = "198.51.100.21"
OUTSIDE_IP = "198.51.100.22"


class Node:
    def __init__(self, stevedore_bin, cluster, ns, outside_ns, tmp_path, images):
        self.bin, self.cluster, self.ns, self.outside_ns = stevedore_bin, cluster, ns, outside_ns
        self.outside = f"/run/netns/{outside_ns}"
        self.root, self.run_dir, self.log_dir = tmp_path / "root", tmp_path / "run", tmp_path / "log"
        for d in (self.root, self.run_dir, self.log_dir):
            d.mkdir()
        self.relay = LoopbackRelay(f"/run/netns/{ns}", cluster.port)
        self.kubeconfig = cluster.add_node_kubeconfig(NAME)
        self.log = tmp_path / "agent.log"
        for name in ("kubia", "busybox"):
            run(str(stevedore_bin), "image", "--root", str(self.root / "images"), "import", "--name", name,
                str(images[name]))
        self.proc = None

    def start(self, *extra):
        args = [str(self.bin), "--netns", f"/run/netns/{self.ns}", "--root", str(self.root), "--run-dir",
                str(self.run_dir), "agent", "--kubeconfig", str(self.kubeconfig), "--hostname-override", NAME,
                "--node-ip", NODE_IP, "--pod-cidr", POD_CIDR, "--cluster-cidr", CLUSTER_CIDR,
                "--log-dir", str(self.log_dir), "--port", str(free_port()), *extra]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=15)

    def kubectl(self, *args, **kwargs):
        return self.cluster.kubectl(*args, **kwargs)

    def apply(self, obj):
        obj.setdefault("apiVersion", "v1")
        obj["metadata"].setdefault("namespace", "default")
        if obj["kind"] == "Pod":
            obj["spec"]["nodeName"] = NAME
        # The controller manager makes the namespace's default service account a moment
        # after the cluster starts; pods are refused until then.
        deadline = time.monotonic() + 30
        while True:
            r = self.kubectl("apply", "-f", "-", input=json.dumps(obj), check=False)
            if r.returncode == 0:
                return
            assert "serviceaccount" in r.stderr and time.monotonic() < deadline, r.stderr
            time.sleep(0.5)

    def get(self, kind, name):
        r = self.kubectl("get", kind, name, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def wait(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            assert self.proc.poll() is None, self.log.read_text()[-4000:]
            time.sleep(0.25)
        raise AssertionError(f"{what} not reached\n" + self.log.read_text()[-4000:])

    def wait_running(self, name):
        def running():
            p = self.get("pod", name)
            ok = p and p["status"].get("phase") == "Running" and p["status"].get("podIP") and all(
                c.get("ready") for c in p["status"].get("containerStatuses", []))
            return p if ok else None
        return self.wait(f"pod {name} Running", running)

    def nft(self, *args):
        return run("ip", "netns", "exec", self.ns, "nft", *args).stdout

    def tables(self):
        return self.nft("list", "tables")


@pytest.fixture
def node(stevedore_bin, cluster, netns, veth, tmp_path, images):
    node_ns, outside_ns = netns("proxy-n"), netns("proxy-o")
    veth(node_ns, f"{NODE_IP}/24", outside_ns, f"{OUTSIDE_IP}/24")
    run("ip", "-n", node_ns, "route", "add", "default", "via", OUTSIDE_IP)
    # ClusterIPs from outside the node, routed through it as a router would.
    run("ip", "-n", outside_ns, "route", "add", "10.96.0.0/16", "via", NODE_IP)
    n = Node(stevedore_bin, cluster, node_ns, outside_ns, tmp_path, images)
    yield n
    # Pods outlive the agent by design: delete them while it runs, then stop it.
    if n.proc and n.proc.poll() is None:
        n.kubectl("delete", "pods", "-l", "test=agent-services", "--grace-period=1", "--wait=false", check=False)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and n.kubectl("get", "pods", "-l", "test=agent-services",
                                                        "-o", "name").stdout.strip():
            time.sleep(0.25)
    if n.proc:
        assert n.stop() == 0, n.log.read_text()[-4000:]
    n.relay.close()
    n.kubectl("delete", "services", "-l", "test=agent-services", "--ignore-not-found")
    n.kubectl("delete", "node", NAME, "--ignore-not-found")


def kubia_pod(name, app="kubia", ports=None):
    return {"kind": "Pod", "metadata": {"name": name, "labels": {"app": app, "test": "agent-services"}},
            "spec": {"containers": [{"name": "kubia", "image": "kubia", "imagePullPolicy": "IfNotPresent",
                                     "ports": ports or [{"containerPort": 8080}]}],
                     "terminationGracePeriodSeconds": 2}}


def service(name, app, node_port=None):
    port = {"name": "http", "port": 80, "targetPort": 8080, **({"nodePort": node_port} if node_port else {})}
    return {"kind": "Service", "metadata": {"name": name, "labels": {"test": "agent-services"}},
            "spec": {"type": "NodePort" if node_port else "ClusterIP", "selector": {"app": app},
                     "ports": [port]}}


def answers(netns_path, url, expect, timeout=30):
    """Waits until url answers from every pod in expect (and only those); returns who
    answered the requests after that: {"kubia-a": count, ...}."""
    deadline = time.monotonic() + timeout
    while True:
        counts = collections.Counter()
        for _ in range(12 * len(expect)):
            body = http_get(netns_path, url, timeout=2)
            counts[body.split()[-1] if body else None] += 1
        if set(counts) == set(expect):
            return counts
        assert time.monotonic() < deadline, f"{url}: answers {dict(counts)}, want {sorted(expect)}"
        time.sleep(0.5)


def test_services_answer_through_the_agent_alone(node):
    """A ClusterIP and a NodePort Service over a kubia pod answer from another namespace
    with only the agent running; the endpoints follow the pods."""
    node.start()
    node.apply(kubia_pod("kubia-a"))
    node.apply(service("kubia", "kubia"))
    node.apply(service("kubia-np", "kubia", node_port=30081))
    node.wait_running("kubia-a")
    cluster_ip = node.get("service", "kubia")["spec"]["clusterIP"]

    answers(node.outside, f"http://{NODE_IP}:30081/", {"kubia-a"})
    answers(node.outside, f"http://{cluster_ip}/", {"kubia-a"})
    # The node itself reaches the ClusterIP (locally generated traffic).
    r = run("ip", "netns", "exec", node.ns, "curl", "-s", "--max-time", "5", f"http://{cluster_ip}/")
    assert r.stdout == "You've hit kubia-a\n"
    assert "Service proxy on" in node.log.read_text()
    assert f"{cluster_ip} . tcp . 80 : goto service-default/kubia/tcp/http" in node.nft("list", "table", "ip",
                                                                                     "stevedore-proxy")

    # A second pod joins the EndpointSlice, then the first leaves it.
    node.apply(kubia_pod("kubia-b"))
    node.wait_running("kubia-b")
    answers(node.outside, f"http://{cluster_ip}/", {"kubia-a", "kubia-b"})
    node.kubectl("delete", "pod", "kubia-a", "--wait=false")
    answers(node.outside, f"http://{NODE_IP}:30081/", {"kubia-b"})
    answers(node.outside, f"http://{cluster_ip}/", {"kubia-b"})


def test_service_proxy_off_programs_nothing(node, tmp_path):
    """--service-proxy=false (and serviceProxy: false in the config file): no table, and
    one an earlier run left is removed, so that another proxy's rules are not shadowed."""
    node.start()
    node.wait("the proxy's table", lambda: "table ip stevedore-proxy" in node.tables())
    assert node.stop() == 0

    node.start("--service-proxy=false")
    node.apply(kubia_pod("kubia-off"))
    node.apply(service("kubia-off", "kubia"))
    node.wait_running("kubia-off")
    cluster_ip = node.get("service", "kubia-off")["spec"]["clusterIP"]
    node.wait("the EndpointSlice", lambda: node.kubectl(
        "get", "endpointslices", "-l", "kubernetes.io/service-name=kubia-off",
        "-o", "jsonpath={.items[*].endpoints[*].addresses[*]}").stdout.strip())
    time.sleep(2)
    assert "stevedore-proxy" not in node.tables()
    assert http_get(node.outside, f"http://{cluster_ip}/", timeout=2) is None
    assert "Service proxy off" in node.log.read_text()
    assert node.stop() == 0

    config = tmp_path / "config.yaml"
    config.write_text("serviceProxy: false\n")
    node.log.write_text("")
    node.start("--config", str(config))
    node.wait("the agent's start", lambda: "kubelet API on" in node.log.read_text())
    assert "Service proxy off" in node.log.read_text()
    time.sleep(2)
    assert "stevedore-proxy" not in node.tables()


def host_port_pod(name, host_port=8085, **port):
    return kubia_pod(name, app=name, ports=[{"containerPort": 8080, "hostPort": host_port, **port}])


@pytest.mark.parametrize("proxy", ["on", "off"])
def test_host_port_answers_on_the_nodes_address(node, proxy):
    """A hostPort answers on the node's address from outside, from the node itself and
    from a pod on it (masqueraded), with or without the Service proxy; it goes with the
    pod."""
    node.start(*(["--service-proxy=false"] if proxy == "off" else []))
    node.apply(host_port_pod("kubia-hp"))
    p = node.wait_running("kubia-hp")
    assert answers(node.outside, f"http://{NODE_IP}:8085/", {"kubia-hp"})
    r = run("ip", "netns", "exec", node.ns, "curl", "-s", "--max-time", "5", f"http://{NODE_IP}:8085/")
    assert r.stdout == "You've hit kubia-hp\n"
    # The pod through its own hostPort: the answer comes back through the node.
    pod_netns = node.run_dir / "netns" / p["metadata"]["uid"]
    assert http_get(str(pod_netns), f"http://{NODE_IP}:8085/") == "You've hit kubia-hp\n"
    log = next((node.log_dir / "pods").glob(f"default_kubia-hp_{p['metadata']['uid']}/kubia/0.log")).read_text()
    assert f"Received request from ::ffff:{OUTSIDE_IP}" in log or f"Received request from {OUTSIDE_IP}" in log, log
    assert "Received request from ::ffff:10.78.0.1" in log or "Received request from 10.78.0.1" in log, log
    assert ("stevedore-proxy" in node.tables()) == (proxy == "on")
    assert f"tcp dport 8085 dnat to {p['status']['podIP']}:8080" in node.nft("list", "table", "ip",
                                                                             "stevedore-hostports")

    node.kubectl("delete", "pod", "kubia-hp", "--wait=false")
    node.wait("the pod's hostPort gone", lambda: "stevedore-hostports" not in node.tables())
    assert http_get(node.outside, f"http://{NODE_IP}:8085/", timeout=2) is None


def test_host_ip_limits_the_address(node):
    """hostIP: only that address of the node answers."""
    run("ip", "-n", node.ns, "addr", "add", "198.51.100.23/24", "dev",
        run("ip", "-n", node.ns, "-o", "route", "get", OUTSIDE_IP).stdout.split(" dev ")[1].split()[0])
    node.start()
    node.apply(host_port_pod("kubia-hip", hostIP="198.51.100.23"))
    node.wait_running("kubia-hip")
    assert answers(node.outside, "http://198.51.100.23:8085/", {"kubia-hip"})
    assert http_get(node.outside, f"http://{NODE_IP}:8085/", timeout=2) is None


def test_conflicting_host_port_is_refused(node):
    """A second pod wanting the same hostPort and protocol is refused as kubelet refuses
    it (Failed, reason NodePorts, a Warning event); one on another protocol runs."""
    node.start()
    node.apply(host_port_pod("kubia-first"))
    node.wait_running("kubia-first")
    node.apply(host_port_pod("kubia-second"))
    p = node.wait("kubia-second Failed", lambda: (lambda p: p if p and p["status"].get("phase") == "Failed"
                                                  else None)(node.get("pod", "kubia-second")))
    assert p["status"]["reason"] == "NodePorts"
    assert p["status"]["message"] == ("Pod was rejected: Predicate NodePorts failed: node(s) didn't have free "
                                      "ports for the requested pod ports")
    row = next(line.split() for line in node.kubectl("get", "pods").stdout.splitlines()
               if line.startswith("kubia-second"))
    assert row[2] == "NodePorts", row
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=kubia-second",
                          "-o", "jsonpath={range .items[*]}{.type} {.reason}: {.message}{\"\\n\"}{end}").stdout
    assert ("Warning NodePorts: Predicate NodePorts failed: node(s) didn't have free ports for the requested "
            "pod ports") in events
    assert "kubia-second" in node.log.read_text() and "rejected" in node.log.read_text()
    # It never ran: the first pod still has the port.
    assert answers(node.outside, f"http://{NODE_IP}:8085/", {"kubia-first"})

    node.apply(host_port_pod("kubia-udp", protocol="UDP"))
    node.wait_running("kubia-udp")
