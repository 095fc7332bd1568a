"""Several stevedore nodes in one real cluster (tests/cluster/cluster.py's network mode):
each node has its own address on the node network and its pod CIDR from the controller
manager; pods on different nodes reach each other directly, with their own source
addresses, through the routes the agents make from the Node objects (host-gw here, and
once with VXLAN forced); the API server reaches pods and the kubelet API of every node
at its InternalIP."""

import ipaddress
import json

import pytest

from cluster import CLUSTER_CIDR, Cluster, wait_for
from hoststate import infrastructure_netns, infrastructure_pids

pytestmark = pytest.mark.cluster

NODE_ROUTE_PROTOCOL = "115"


def pod(name, node, image, command=None, host_network=False, env=None):
    container = {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent"}
    if command:
        container["command"] = command
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    spec = {"nodeName": node, "containers": [container], "terminationGracePeriodSeconds": 1}
    if host_network:
        spec["hostNetwork"] = True
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def running(p):
    return p and p["status"].get("phase") == "Running" and p["status"].get("podIP") and all(
        c.get("ready") for c in p["status"].get("containerStatuses", []))


class Pods:
    """The pods a test makes on a cluster, deleted after it."""

    def __init__(self, cluster, images):
        self.cluster, self.images, self.names = cluster, images, []

    def kubia(self, name, node, **kw):
        """A kubia server, Ready once it listens: on a loaded node its process takes a
        while to, and a request before that is refused."""
        obj = pod(name, node, self.images["kubia"], **kw)
        port = int((kw.get("env") or {}).get("PORT", 8080))
        obj["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": port}, "periodSeconds": 1}
        return self.start(obj)

    def client(self, name, node):
        return self.start(pod(name, node, self.images["busybox"], command=["sleep", "3600"]))

    def start(self, obj):
        self.cluster.apply(obj)
        self.names.append(obj["metadata"]["name"])
        return obj["metadata"]["name"]

    def wait(self):
        """Waits until all are Running; {name: pod IP}."""
        return {n: self.cluster.wait_pod(n, running, what="Running")["status"]["podIP"] for n in self.names}

    def delete(self):
        if self.names:
            self.cluster.kubectl("delete", "pod", *self.names, "--grace-period=1", "--wait=true", "--timeout=60s",
                                 check=False, timeout=90)


@pytest.fixture
def pods(net_cluster, cluster_images):
    p = Pods(net_cluster, cluster_images)
    yield p
    p.delete()


def http_from(cluster, client, address, port=8080):
    """An HTTP GET with busybox nc from inside pod `client` (its wget crashed in these
    images); the response, or raises with kubectl's message."""
    request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {address} {port}"
    r = cluster.kubectl("exec", client, "--", "sh", "-c", request, check=False)
    assert r.returncode == 0 and "200 OK" in r.stdout, f"{client} -> {address}:{port}: {r.stdout!r} {r.stderr!r}"
    return r.stdout


def ping_from(cluster, client, address):
    r = cluster.kubectl("exec", client, "--", "ping", "-c", "2", "-W", "3", address, check=False)
    assert r.returncode == 0 and " 0% packet loss" in r.stdout, f"{client} ping {address}: {r.stdout} {r.stderr}"


def node_routes(node):
    """{pod CIDR: route line} of the agent's own routes in the node's namespace."""
    out = node.exec("ip", "route", "show", "proto", NODE_ROUTE_PROTOCOL).stdout
    return {line.split()[0]: line for line in out.splitlines() if line.strip()}


def pod_cidrs(cluster):
    return {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in cluster.get_json("nodes")["items"]}


def check_pod_to_pod(cluster, pods, a, b):
    """Pods on nodes a and b: ICMP and TCP both ways, each seeing the other's pod IP."""
    pods.kubia("kubia-a", a.name)
    pods.kubia("kubia-b", b.name)
    pods.client("client-a", a.name)
    pods.client("client-b", b.name)
    ips = pods.wait()

    for client, server in (("client-a", "kubia-b"), ("client-b", "kubia-a")):
        assert f"You've hit {server}" in http_from(cluster, client, ips[server])
        # The server saw the client's own address: nothing masqueraded inside the
        # cluster CIDR. Its log comes through the API server from the node's kubelet API.
        logs = cluster.kubectl("logs", server).stdout
        assert f"Received request from {ips[client]}" in logs, logs
    ping_from(cluster, "client-a", ips["client-b"])
    ping_from(cluster, "client-b", ips["client-a"])
    return ips


def test_nodes_ready_with_own_addresses_and_pod_cidrs(net_cluster):
    wide = net_cluster.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in wide[1:]}
    assert set(rows) == {"control-plane", "node-1", "node-2", "node-3"}, wide
    addresses = {n.name: n.ip for n in net_cluster.nodes}
    for name, row in rows.items():
        assert row[1] == "Ready" and addresses[name] in row, wide
    assert rows["control-plane"][2] == "control-plane"

    cidrs = pod_cidrs(net_cluster)
    assert len(set(cidrs.values())) == 4
    assert all(ipaddress.ip_network(c).subnet_of(ipaddress.ip_network(CLUSTER_CIDR)) for c in cidrs.values())
    taints = net_cluster.get_json("node", "control-plane")["spec"]["taints"]
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in taints

    # Every node routes every other node's pod CIDR via that node's InternalIP (host-gw:
    # they share the node network), in routes of the agent's own protocol only.
    for node in net_cluster.nodes:
        routes = node_routes(node)
        want = {cidrs[o.name]: o.ip for o in net_cluster.nodes if o is not node}
        assert set(routes) == set(want), (node.name, routes)
        for cidr, via in want.items():
            assert f"via {via} dev eth0" in routes[cidr], routes[cidr]

    # The kubernetes Service leads to the API server's own address.
    endpoints = net_cluster.get_json("endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes")
    assert [a for e in endpoints["items"][0]["endpoints"] for a in e["addresses"]] == ["10.250.0.2"]


def test_pods_on_two_nodes_talk_with_their_own_addresses(net_cluster, pods):
    check_pod_to_pod(net_cluster, pods, net_cluster.node("node-1"), net_cluster.node("node-2"))


def test_pod_reaches_a_host_network_pod_on_another_node(net_cluster, pods):
    node_2 = net_cluster.node("node-2")
    pods.kubia("host-kubia", "node-2", host_network=True, env={"PORT": "18080"})
    pods.client("client-1", "node-1")
    ips = pods.wait()
    assert ips["host-kubia"] == node_2.ip
    assert "You've hit" in http_from(net_cluster, "client-1", node_2.ip, 18080)


def test_api_server_reaches_pods_and_kubelet_apis_directly(net_cluster, pods):
    for i, node in enumerate(net_cluster.workers):
        pods.kubia(f"kubia-{i + 1}", node.name)
    pods.wait()
    for i, node in enumerate(net_cluster.workers):
        name = f"kubia-{i + 1}"
        # The API server's proxy dials the pod from the control plane's namespace,
        # through the control-plane node's routes.
        body = net_cluster.kubectl("get", "--raw", f"/api/v1/namespaces/default/pods/{name}:8080/proxy/").stdout
        assert body == f"You've hit {name}\n"
        # logs and exec: the API server to the node's kubelet API at its InternalIP,
        # the serving certificate checked against the cluster's CA.
        assert "Kubia server starting..." in net_cluster.kubectl("logs", name).stdout
        assert net_cluster.kubectl("exec", name, "--", "hostname").stdout.strip() == name
    apiserver_args = net_cluster.argv["kube-apiserver"]
    assert any(str(a).startswith("--kubelet-certificate-authority=") for a in apiserver_args)


def test_resync_restores_its_routes_and_leaves_others_alone(net_cluster):
    node_1 = net_cluster.node("node-1")
    cidr = pod_cidrs(net_cluster)["node-2"]
    node_1.exec("ip", "route", "add", "10.99.0.0/24", "via", "10.250.0.1")
    try:
        node_1.exec("ip", "route", "del", cidr)
        # Back within the 30 s resync, with nothing changed in the API.
        wait_for(lambda: cidr in node_routes(node_1), timeout=45, what="the route removed by hand back")
        assert "10.99.0.0/24 via 10.250.0.1" in node_1.exec("ip", "route").stdout
    finally:
        node_1.exec("ip", "route", "del", "10.99.0.0/24", check=False)


def test_deleted_node_takes_its_routes_with_it(net_cluster):
    node_3 = net_cluster.node("node-3")
    others = [n for n in net_cluster.nodes if n is not node_3]
    cidr = pod_cidrs(net_cluster)["node-3"]
    assert all(cidr in node_routes(n) for n in others)

    # As an admin removes a node: drained first (its pods, a CoreDNS replica among them,
    # move to the other nodes), then stopped, so it does not register again until it is
    # started.
    net_cluster.kubectl("drain", "node-3", "--ignore-daemonsets", "--delete-emptydir-data", "--force",
                        "--timeout=120s", timeout=150)
    assert node_3.stop() == 0
    net_cluster.kubectl("delete", "node", "node-3")
    for n in others:
        wait_for(lambda: cidr not in node_routes(n), what=f"the route to node-3's pods gone on {n.name}")

    # Registered anew it gets another pod CIDR: the agent refuses a bridge holding the
    # old one, so the node is reset first, as a machine that rejoins would be.
    node_3.exec("ip", "link", "del", "cni0")
    node_3.start()
    net_cluster.wait_nodes_ready()
    new_cidr = pod_cidrs(net_cluster)["node-3"]
    for n in others:
        wait_for(lambda: new_cidr in node_routes(n), what=f"the route to node-3's pods back on {n.name}")
    # Every pod left is reachable: none kept an address of node-3's old pod CIDR.
    cidrs = [ipaddress.ip_network(c) for c in pod_cidrs(net_cluster).values()]
    for p in net_cluster.get_json("pods", "-A")["items"]:
        ip = p["status"].get("podIP")
        if ip and not p["spec"].get("hostNetwork"):
            assert any(ipaddress.ip_address(ip) in c for c in cidrs), (p["metadata"]["name"], ip, cidrs)


# --- VXLAN forced, and chosen where nodes share no link ---------------------------------

def small_cluster(tmp_path_factory, stevedore_bin, registry, **kw):
    return Cluster(tmp_path_factory.mktemp("cluster"), network=True, workers=2, stevedore_bin=stevedore_bin,
                   registries=[registry.port], on_spawn=infrastructure_pids.add, on_netns=infrastructure_netns.add,
                   dns=False, **kw)


@pytest.fixture(scope="module")
def vxlan_cluster(tmp_path_factory, stevedore_bin, registry):
    with small_cluster(tmp_path_factory, stevedore_bin, registry, pod_routes="vxlan") as c:
        yield c


@pytest.fixture
def vxlan_pods(vxlan_cluster, cluster_images):
    p = Pods(vxlan_cluster, cluster_images)
    yield p
    p.delete()


@pytest.fixture(scope="module")
def routed_cluster(tmp_path_factory, stevedore_bin, registry):
    """node-2 on a subnet of its own behind a router: it shares no link with the others."""
    with small_cluster(tmp_path_factory, stevedore_bin, registry, routed_workers=1) as c:
        yield c


@pytest.fixture
def routed_pods(routed_cluster, cluster_images):
    p = Pods(routed_cluster, cluster_images)
    yield p
    p.delete()


def test_auto_routes_host_gw_on_the_link_and_vxlan_across_a_router(routed_cluster, routed_pods):
    cp, node_1, node_2 = routed_cluster.nodes
    assert node_2.ip.startswith("10.250.1.")
    cidrs = pod_cidrs(routed_cluster)
    wait_for(lambda: cidrs["node-2"] in node_routes(node_1), what="node-1's route to node-2's pods")
    assert f"via {node_1.ip} dev eth0" in node_routes(cp)[cidrs["node-1"]]
    assert "dev stevedore.1 onlink" in node_routes(cp)[cidrs["node-2"]]
    assert "dev stevedore.1 onlink" in node_routes(node_1)[cidrs["node-2"]]
    assert "dev stevedore.1 onlink" in node_routes(node_2)[cidrs["node-1"]]
    check_pod_to_pod(routed_cluster, routed_pods, node_1, node_2)
    # The API server reaches the pod behind the router too.
    body = routed_cluster.kubectl("get", "--raw", "/api/v1/namespaces/default/pods/kubia-b:8080/proxy/").stdout
    assert body == "You've hit kubia-b\n"


def test_vxlan_pods_on_two_nodes_talk_with_their_own_addresses(vxlan_cluster, vxlan_pods):
    a, b = vxlan_cluster.workers
    cidrs = pod_cidrs(vxlan_cluster)
    nodes = {n["metadata"]["name"]: n for n in vxlan_cluster.get_json("nodes")["items"]}
    macs = {}
    for node in vxlan_cluster.nodes:
        link = json.loads(node.exec("ip", "-j", "-d", "link", "show", "stevedore.1").stdout)[0]
        vxlan = link["linkinfo"]["info_data"]
        assert vxlan["id"] == 1 and vxlan["port"] == 8472 and vxlan["local"] == node.ip and not vxlan["learning"]
        assert link["mtu"] == 1450
        macs[node.name] = link["address"]
        data = json.loads(nodes[node.name]["metadata"]["annotations"]["stevedore.io/backend-data"])
        assert data == {"VNI": 1, "VtepMAC": link["address"]}

    for node in vxlan_cluster.nodes:
        routes = node_routes(node)
        fdb = node.exec("bridge", "fdb", "show", "dev", "stevedore.1").stdout
        neigh = node.exec("ip", "neigh", "show", "dev", "stevedore.1").stdout
        for other in vxlan_cluster.nodes:
            if other is node:
                continue
            vtep = cidrs[other.name].split("/")[0]
            assert f"via {vtep} dev stevedore.1 onlink" in routes[cidrs[other.name]], routes
            assert f"{macs[other.name]} dst {other.ip}" in fdb, fdb
            assert f"{vtep} lladdr {macs[other.name]} PERMANENT" in neigh, neigh

    check_pod_to_pod(vxlan_cluster, vxlan_pods, a, b)
    # The pods leave room for the encapsulation.
    mtu = vxlan_cluster.kubectl("exec", "client-a", "--", "cat", "/sys/class/net/eth0/mtu").stdout.strip()
    assert mtu == "1450"
