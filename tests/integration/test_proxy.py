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
NODE_NAME = "proxy-node"


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
        self.start_proxy()

    def stevedore(self, *args, check=True):
        return run(self.bin, "--root", self.root / "lib", "--run-dir", self.root / "run",
                   "--netns", f"/run/netns/{self.ns}", *args, check=check)

    def nft(self, *args, check=True):
        return run("ip", "netns", "exec", self.ns, "nft", *args, check=check)

    def start_proxy(self, *extra):
        with open(self.log, "wb") as log:
            self.proxy = subprocess.Popen(
                [str(self.bin), "--netns", f"/run/netns/{self.ns}", "--log-level", "debug", "proxy",
                 "--kubeconfig", str(self.cluster.proxy_kubeconfig), "--cluster-cidr", "10.244.0.0/16",
                 "--sync-period", "2", "--hostname-override", NODE_NAME, *extra],
                stdout=log, stderr=subprocess.STDOUT)

    def restart_proxy(self, *extra):
        """A new proxy process (the table stays as it was meanwhile)."""
        self.proxy.terminate()
        assert self.proxy.wait(timeout=10) == 0, self.log.read_text()
        self.start_proxy(*extra)

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
    run("ip", "-n", node_ns, "route", "add", "default", "via", OUTSIDE_IP)
    n = ProxyNode(stevedore_bin, cluster, node_ns, outside_ns, root_dir, kubia)
    yield n
    n.stop()


@pytest.fixture
def services(cluster):
    """services(name, ports, endpoints) creates a selector-less Service and its
    EndpointSlice (as the endpoint controller would); all are deleted after the test.
    ports: (name, port, targetPort); endpoints: IPs on this node, or (IP, nodeName)."""
    made = []

    def create(name, ports, endpoints, node_port=None, protocol="TCP", **spec):
        kind = spec.pop("type", "NodePort" if node_port else "ClusterIP")
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
               "spec": {"type": kind, **spec,
                        "ports": [{"name": n, "port": p, "targetPort": n, "protocol": protocol,
                                   **({"nodePort": node_port + i} if node_port else {})}
                                  for i, (n, p, _) in enumerate(ports)]}}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(svc))
        slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": f"{name}-1",
                               "labels": {"kubernetes.io/service-name": name,
                                          "endpointslice.kubernetes.io/managed-by": "test"}},
                  "addressType": "IPv4",
                  "ports": [{"name": n, "port": t, "protocol": protocol} for n, _, t in ports],
                  "endpoints": [{"addresses": [ep], "nodeName": NODE_NAME} if isinstance(ep, str)
                                else {"addresses": [ep[0]], "nodeName": ep[1]}
                                for ep in endpoints]}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(slice_))
        if name not in made:
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
    # An admin can read what was programmed with the nft tool.
    assert f"{ip} . tcp . 80 : goto service-default/kubia/tcp/http" in node.nft("list", "ruleset").stdout


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
        # curl's own clock: process start-up on a busy machine is not the proxy's doing.
        r = run("nsenter", f"--net={client}", "curl", "-s", "-o", "/dev/null", "-w", "%{time_total}",
                "--max-time", "3", f"http://{ip}/", check=False)
        if r.returncode == 7 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.returncode == 7, "connection refused (curl exit 7), not a timeout"
    assert float(r.stdout) < 0.5


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


def refused_or_dropped(client_netns, url):
    """curl's verdict on a connection: 'refused' (exit 7), 'timeout' (28) or 'answered'."""
    r = run("nsenter", f"--net={client_netns}", "curl", "-s", "--max-time", "2", url, check=False)
    return {0: "answered", 7: "refused", 28: "timeout"}.get(r.returncode, r.returncode)


def wait_until(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def test_session_affinity_sticks_to_one_endpoint(node, services):
    ip = services("sticky", [("http", 80, 8080)], [p["ip"] for p in node.pods.values()],
                  sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})
    client = node.pods["pod-a"]["netns"]
    wait_answer(client, f"http://{ip}/")
    counts = hits(node, client, f"http://{ip}/", 40)
    assert len(counts) == 1 and None not in counts, counts
    # Another client is balanced on its own: over 3 endpoints, it is not forced to the first's.
    assert hits(node, f"/run/netns/{node.ns}", f"http://{ip}/", 20)[None] == 0


def test_external_traffic_policy_local_keeps_client_ip_and_local_endpoints(node, services):
    remote = [(node.pods["pod-b"]["ip"], "other-node"), (node.pods["pod-c"]["ip"], "other-node")]
    services("etp-local", [("http", 80, 8080)], [node.pods["pod-a"]["ip"], *remote],
             node_port=30081, externalTrafficPolicy="Local")
    outside = f"/run/netns/{node.outside_ns}"
    wait_answer(outside, f"http://{NODE_IP}:30081/")
    counts = hits(node, outside, f"http://{NODE_IP}:30081/", 30)
    assert counts == {"pod-a": 30}, counts
    assert f"Received request from {OUTSIDE_IP}" in node.pods["pod-a"]["server"].log()
    # From a pod, the NodePort still reaches every endpoint (kube-proxy's short-circuit).
    counts = hits(node, node.pods["pod-b"]["netns"], f"http://{NODE_IP}:30081/", 60)
    assert set(counts) == set(PODS), counts

    # No endpoint on this node: dropped, as kube-proxy does, not sent elsewhere.
    services("etp-local", [("http", 80, 8080)], remote, node_port=30081, externalTrafficPolicy="Local")
    wait_until(lambda: refused_or_dropped(outside, f"http://{NODE_IP}:30081/") == "timeout")


def test_internal_traffic_policy_local_uses_this_nodes_endpoints(node, services):
    ip = services("itp-local", [("http", 80, 8080)],
                  [node.pods["pod-b"]["ip"], (node.pods["pod-c"]["ip"], "other-node")],
                  internalTrafficPolicy="Local")
    client = node.pods["pod-a"]["netns"]
    wait_answer(client, f"http://{ip}/")
    assert hits(node, client, f"http://{ip}/", 30) == {"pod-b": 30}


def test_external_ip_answers_from_outside(node, services):
    run("ip", "-n", node.outside_ns, "route", "add", "203.0.113.10/32", "via", NODE_IP)
    services("ext-ip", [("http", 8000, 8080)], [node.pods["pod-c"]["ip"]], externalIPs=["203.0.113.10"])
    outside = f"/run/netns/{node.outside_ns}"
    assert wait_answer(outside, "http://203.0.113.10:8000/") == "You've hit pod-c\n"


def test_load_balancer_ingress_ip_with_source_ranges(node, services, cluster):
    run("ip", "-n", node.outside_ns, "route", "add", "203.0.113.20/32", "via", NODE_IP)
    spec = {"type": "LoadBalancer", "loadBalancerSourceRanges": [f"{OUTSIDE_IP}/32"]}
    services("lb", [("http", 80, 8080)], [node.pods["pod-b"]["ip"]], **spec)
    # No cloud controller here: the test plays its part and sets the ingress IP.
    cluster.kubectl("patch", "service", "lb", "--subresource=status", "--type=merge", "-p",
                    json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.20"}]}}}))
    outside = f"/run/netns/{node.outside_ns}"
    assert wait_answer(outside, "http://203.0.113.20/") == "You've hit pod-b\n"

    cluster.kubectl("patch", "service", "lb", "--type=merge", "-p",
                    json.dumps({"spec": {"loadBalancerSourceRanges": ["192.0.2.0/24"]}}))
    wait_until(lambda: refused_or_dropped(outside, "http://203.0.113.20/") == "timeout")


class UdpServer:
    """Answers every datagram on port 5353 with its name, in a network namespace."""

    def __init__(self, netns_path, name):
        code = ("import socket\n"
                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "s.bind(('0.0.0.0', 5353))\n"
                "while True:\n"
                "    data, peer = s.recvfrom(100)\n"
                f"    s.sendto(b'{name}', peer)\n")
        self.proc = subprocess.Popen(["nsenter", f"--net={netns_path}", "python3", "-c", code])

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def udp_ask(netns_path, ip, port, source_port=40000):
    """One datagram from a fixed source port (the same conntrack entry each time): who answered."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('0.0.0.0', {source_port}))\n"
            "s.settimeout(0.5)\n"
            f"s.sendto(b'who', ('{ip}', {port}))\n"
            "try:\n"
            "    print(s.recv(100).decode())\n"
            "except socket.timeout:\n"
            "    print('')\n")
    return run("nsenter", f"--net={netns_path}", "python3", "-c", code).stdout.strip() or None


def test_udp_follows_an_endpoint_change_on_the_same_flow(node, services):
    servers = [UdpServer(node.pods[name]["netns"], name) for name in ("pod-b", "pod-c")]
    try:
        ip = services("dns", [("dns", 53, 5353)], [node.pods["pod-b"]["ip"]], protocol="UDP")
        client = node.pods["pod-a"]["netns"]
        wait_until(lambda: udp_ask(client, ip, 53) == "pod-b")
        # pod-b keeps running and answering; only the conntrack entry would still lead there.
        services("dns", [("dns", 53, 5353)], [node.pods["pod-c"]["ip"]], protocol="UDP")
        wait_until(lambda: udp_ask(client, ip, 53) == "pod-c", timeout=10)
    finally:
        for s in servers:
            s.stop()


def table_snapshot(node):
    """The proxy's table as nft reads it back, comparable across proxies: handles
    dropped, element order ignored."""
    objects = json.loads(node.nft("-j", "list", "table", "ip", "stevedore-proxy").stdout)["nftables"]
    snapshot = []
    for o in objects:
        (kind, body), = o.items()
        if kind in ("metainfo", "table"):
            continue
        body = {k: v for k, v in body.items() if k != "handle"}
        if "elem" in body:
            body["elem"] = sorted(body["elem"], key=json.dumps)
        snapshot.append(json.dumps([kind, body], sort_keys=True))
    return sorted(snapshot)


def test_changes_applied_in_place_equal_a_fresh_full_sync(node, services, cluster):
    """Each change is sent as a partial update; after many, the kernel must hold exactly
    what a newly started proxy programs from scratch."""
    pods = [p["ip"] for p in node.pods.values()]
    client = node.pods["pod-a"]["netns"]
    ip = services("inc-a", [("http", 80, 8080)], pods)
    services("inc-b", [("http", 80, 8080)], pods[:2], sessionAffinity="ClientIP")
    services("inc-c", [("http", 80, 8080)], pods[2:], node_port=30090)
    services("inc-d", [("dns", 53, 5353)], pods, protocol="UDP")
    wait_answer(client, f"http://{ip}/")
    services("inc-a", [("http", 80, 8080)], pods[1:])
    services("inc-b", [("http", 80, 8080)], pods, sessionAffinity="ClientIP",
             sessionAffinityConfig={"clientIP": {"timeoutSeconds": 30}})
    cluster.kubectl("delete", "service", "inc-c")
    services("inc-d", [("dns", 53, 5353)], [], protocol="UDP")
    services("inc-e", [("http", 80, 8080), ("alt", 81, 8080)], pods[:1], externalTrafficPolicy="Local",
             node_port=30091)
    time.sleep(1.5)
    assert hits(node, client, f"http://{ip}/", 30)["pod-a"] == 0
    incremental = table_snapshot(node)
    assert "partial sync" in node.log.read_text()

    node.restart_proxy()
    wait_until(lambda: "full sync" in node.log.read_text())
    assert table_snapshot(node) == incremental


def test_nodeport_addresses_limit_where_node_ports_answer(node, services):
    uplink = run("ip", "-n", node.ns, "-o", "route", "get", OUTSIDE_IP).stdout.split(" dev ")[1].split()[0]
    run("ip", "-n", node.ns, "addr", "add", "203.0.113.1/32", "dev", uplink)
    run("ip", "-n", node.outside_ns, "route", "add", "203.0.113.1/32", "via", NODE_IP)
    services("np-addr", [("http", 80, 8080)], [node.pods["pod-a"]["ip"]], node_port=30085)
    outside = f"/run/netns/{node.outside_ns}"
    assert wait_answer(outside, "http://203.0.113.1:30085/") == "You've hit pod-a\n"

    node.restart_proxy("--nodeport-addresses", "198.51.100.0/24")
    wait_until(lambda: "full sync" in node.log.read_text())
    assert wait_answer(outside, f"http://{NODE_IP}:30085/") == "You've hit pod-a\n"
    assert refused_or_dropped(outside, "http://203.0.113.1:30085/") == "refused"


def test_every_change_is_applied_in_place(node, services, cluster):
    """Adding, changing and removing Services of every kind goes by partial updates; none
    is refused by the kernel (a refused one would fall back to replacing the table)."""
    pods = [p["ip"] for p in node.pods.values()]
    client = node.pods["pod-a"]["netns"]
    ip = services("churn-a", [("http", 80, 8080)], pods, sessionAffinity="ClientIP")
    services("churn-b", [("http", 80, 8080)], pods, node_port=30095, externalTrafficPolicy="Local")
    wait_answer(client, f"http://{ip}/")
    services("churn-a", [("http", 80, 8080)], pods[:1], sessionAffinity="ClientIP")
    services("churn-b", [("http", 80, 8080)], pods[1:], node_port=30095)
    time.sleep(1)
    cluster.kubectl("delete", "service", "churn-a", "churn-b")
    cluster.kubectl("delete", "endpointslice", "churn-a-1", "churn-b-1")
    time.sleep(1.5)
    log = node.log.read_text()
    assert "refused" not in log and log.count("full sync") == 1, log
