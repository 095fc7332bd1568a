"""`stevedore proxy` with real traffic: a node (a network namespace with an uplink to an
"outside" namespace) runs three kubia pods on its pod network and the proxy, which
watches Services and EndpointSlices on the real kube-apiserver (reached through a
loopback relay into the node's namespace) and programs nftables there."""

import collections
import json
import subprocess
import time

import pytest

from conftest import http_get
from hoststate import run
from relay import LoopbackRelay

pytestmark = pytest.mark.cluster

POD_CIDR = "10.244.1.0/24"
NODE_IP = "198.51.100.1"
OUTSIDE_IP = "198.51.100.2"
PODS = ("pod-a", "pod-b", "pod-c")


class ProxyNode:
    def __init__(self, stevedore_bin, cluster, ns, outside_ns, root, kubia):
        self.bin, self.cluster, self.ns, self.outside_ns = stevedore_bin, cluster, ns, outside_ns
        self.root = root
        self.pods = {}
        for name in PODS:
            pod = json.loads(self.stevedore("network", "--pod-cidr", POD_CIDR, "--cluster-cidr",
                                            "10.244.0.0/16", "add", name).stdout)
            pod["server"] = kubia(pod["netns"], name)
            pod["ip"] = pod["address"].split("/")[0]
            self.pods[name] = pod
        self.relay = LoopbackRelay(f"/run/netns/{ns}", cluster.port)
        self.log = root / "proxy.log"
        with open(self.log, "wb") as log:
            self.proxy = subprocess.Popen(
                [str(stevedore_bin), "--netns", f"/run/netns/{ns}", "--log-level", "debug", "proxy",
                 "--kubeconfig", str(cluster.proxy_kubeconfig), "--cluster-cidr", "10.244.0.0/16",
                 "--sync-period", "2"], stdout=log, stderr=subprocess.STDOUT)

    def stevedore(self, *args, check=True):
        return run(self.bin, "--root", self.root / "lib", "--run-dir", self.root / "run",
                   "--netns", f"/run/netns/{self.ns}", *args, check=check)

    def nft(self, *args, check=True):
        return run("ip", "netns", "exec", self.ns, "nft", *args, check=check)

    def stop(self):
        self.proxy.terminate()
        assert self.proxy.wait(timeout=10) == 0, self.log.read_text()
        self.relay.close()
        for pod in self.pods.values():
            pod["server"].stop()
        self.stevedore("network", "--pod-cidr", POD_CIDR, "gc", check=False)


@pytest.fixture
def node(stevedore_bin, cluster, netns, veth, root_dir, kubia):
    node_ns, outside_ns = netns("pxnode"), netns("pxout")
    veth(node_ns, f"{NODE_IP}/24", outside_ns, f"{OUTSIDE_IP}/24")
    run("ip", "-n", outside_ns, "route", "add", "10.244.0.0/16", "via", NODE_IP)
    n = ProxyNode(stevedore_bin, cluster, node_ns, outside_ns, root_dir, kubia)
    yield n
    n.stop()


@pytest.fixture
def services(cluster):
    """services(name, ports, endpoints) creates a selector-less Service and its
    EndpointSlice (as the endpoint controller would); all are deleted after the test."""
    made = []

    def create(name, ports, endpoints, node_port=None):
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"type": "NodePort" if node_port else "ClusterIP",
                        "ports": [{"name": n, "port": p, "targetPort": n,
                                   **({"nodePort": node_port} if node_port else {})}
                                  for n, p, _ in ports]}}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(svc))
        slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": f"{name}-1",
                               "labels": {"kubernetes.io/service-name": name,
                                          "endpointslice.kubernetes.io/managed-by": "test"}},
                  "addressType": "IPv4",
                  "ports": [{"name": n, "port": t, "protocol": "TCP"} for n, _, t in ports],
                  "endpoints": [{"addresses": [ip]} for ip in endpoints]}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(slice_))
        made.append(name)
        return json.loads(cluster.kubectl("get", "service", name, "-o", "json").stdout)["spec"]["clusterIP"]

    yield create
    for name in made:
        cluster.kubectl("delete", "service", name, "--ignore-not-found")
        cluster.kubectl("delete", "endpointslice", f"{name}-1", "--ignore-not-found")


def hits(node, client_netns, url, n):
    """Who answered n requests: {"pod-a": count, ...}; None for failures."""
    counts = collections.Counter()
    for _ in range(n):
        body = http_get(client_netns, url, timeout=3)
        counts[body.split()[-1] if body else None] += 1
    return counts


def wait_answer(client_netns, url, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http_get(client_netns, url, timeout=1)
        if body:
            return body
        time.sleep(0.1)
    raise AssertionError(f"no answer from {url}")


def test_cluster_ip_balances_over_every_endpoint(node, services):
    ip = services("kubia", [("http", 80, 8080)], [p["ip"] for p in node.pods.values()])
    client = node.pods["pod-a"]["netns"]
    wait_answer(client, f"http://{ip}/")
    counts = hits(node, client, f"http://{ip}/", 600)
    assert counts[None] == 0
    # Uniform over three: each near 200 of 600; 120 is far outside random variation.
    assert set(counts) == set(PODS) and min(counts.values()) > 120, counts


def test_node_port_answers_from_outside_masqueraded(node, services):
    services("kubia-np", [("http", 80, 8080)], [node.pods["pod-b"]["ip"]], node_port=30080)
    outside = f"/run/netns/{node.outside_ns}"
    assert wait_answer(outside, f"http://{NODE_IP}:30080/") == "You've hit pod-b\n"
    # Replies must come back through this node: the pod saw the node's bridge address.
    assert "Received request from 10.244.1.1" in node.pods["pod-b"]["server"].log()


def test_service_without_endpoints_refuses_at_once(node, services):
    ip = services("nobody", [("http", 80, 8080)], [])
    client = node.pods["pod-a"]["netns"]
    deadline = time.monotonic() + 20
    while True:
        start = time.monotonic()
        r = run("nsenter", f"--net={client}", "curl", "-s", "--max-time", "3", f"http://{ip}/",
                check=False)
        if r.returncode == 7 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.returncode == 7, "connection refused (curl exit 7), not a timeout"
    assert time.monotonic() - start < 1


def test_removed_endpoint_stops_receiving(node, services, cluster):
    ips = [p["ip"] for p in node.pods.values()]
    ip = services("shrink", [("http", 80, 8080)], ips)
    client = node.pods["pod-a"]["netns"]
    wait_answer(client, f"http://{ip}/")
    services("shrink", [("http", 80, 8080)], ips[:2])
    time.sleep(1)
    counts = hits(node, client, f"http://{ip}/", 60)
    assert "pod-c" not in counts and counts[None] == 0, counts


def test_pod_reaches_itself_through_its_service(node, services):
    ip = services("self", [("http", 80, 8080)], [node.pods["pod-a"]["ip"]])
    client = node.pods["pod-a"]["netns"]
    assert wait_answer(client, f"http://{ip}/") == "You've hit pod-a\n"


def test_flushed_table_is_restored_and_foreign_tables_untouched(node, services):
    node.nft("add", "table", "inet", "firewall")
    node.nft("add", "chain", "inet", "firewall", "input",
             "{ type filter hook input priority 0; policy accept; }")
    node.nft("add", "rule", "inet", "firewall", "input", "tcp", "dport", "22", "accept")
    ip = services("restore", [("http", 80, 8080)], [node.pods["pod-b"]["ip"]])
    client = node.pods["pod-a"]["netns"]
    wait_answer(client, f"http://{ip}/")

    node.nft("flush", "table", "ip", "stevedore-proxy")
    assert wait_answer(client, f"http://{ip}/", timeout=10) == "You've hit pod-b\n"
    assert "tcp dport 22 accept" in node.nft("list", "table", "inet", "firewall").stdout
