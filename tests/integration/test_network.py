"""Pod networking with real traffic. Each test makes a node (a network namespace with an
uplink to an "outside" host in another namespace) and drives `stevedore --netns <node>
network …` in it, as the agent will: pods get namespaces, veths on cni0, addresses from
the pod CIDR, a default route, and masqueraded egress."""

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import http_get
from hoststate import run

POD_CIDR = "10.244.1.0/24"
NODE_IP = "198.51.100.1"
OUTSIDE_IP = "198.51.100.2"
UPLINK_MTU = 1400


class Node:
    def __init__(self, stevedore_bin, ns, root):
        self.bin = stevedore_bin
        self.ns = ns
        self.root = root / "lib"
        self.run_dir = root / "run"
        self.root.mkdir()

    def network(self, *args, pod_cidr=POD_CIDR, check=True):
        return run(self.bin, "--root", self.root, "--run-dir", self.run_dir,
                   "--netns", f"/run/netns/{self.ns}", "network", "--pod-cidr", pod_cidr,
                   "--cluster-cidr", "10.244.0.0/16", "--cluster-cidr", "10.96.0.0/12",
                   *args, check=check)

    def add(self, uid, **kw):
        return json.loads(self.network("add", uid, **kw).stdout)

    def ip(self, *args):
        return run("ip", "-n", self.ns, *args).stdout

    def pod_veths(self):
        return [line.split()[0].split("@")[0] for line in self.ip("-br", "link").splitlines()
                if line.startswith("sd")]

    def netns_files(self):
        d = self.run_dir / "netns"
        return sorted(p.name for p in d.iterdir()) if d.exists() else []

    def ipam_entries(self):
        return sorted(p.name for p in self.root.glob("ipam/*/*"))


@pytest.fixture
def node(stevedore_bin, netns, veth, root_dir):
    node_ns, outside_ns = netns("node"), netns("out")
    node_end, outside_end = veth(node_ns, f"{NODE_IP}/24", outside_ns, f"{OUTSIDE_IP}/24")
    run("ip", "-n", node_ns, "link", "set", node_end, "mtu", UPLINK_MTU)
    run("ip", "-n", outside_ns, "link", "set", outside_end, "mtu", UPLINK_MTU)
    run("ip", "-n", node_ns, "route", "add", "default", "via", OUTSIDE_IP)
    n = Node(stevedore_bin, node_ns, root_dir)
    n.outside_ns = outside_ns
    yield n
    # Pods first (their namespace mounts live in the host's mount table), then the node.
    if n.run_dir.exists():
        n.network("gc", check=False)


def pod_run(pod, *argv, check=True):
    return run("nsenter", f"--net={pod['netns']}", *argv, check=check)


def ping(pod, address):
    return pod_run(pod, "ping", "-c1", "-W2", address, check=False).returncode == 0


def bare(address):
    return address.split("/")[0]


def test_pods_reach_each_other_the_node_and_themselves(node, kubia):
    a, b = node.add("pod-a"), node.add("pod-b")
    assert (a["address"], b["address"]) == ("10.244.1.2/24", "10.244.1.3/24")
    assert a["gateway"] == "10.244.1.1"

    assert ping(a, bare(b["address"])) and ping(b, bare(a["address"]))
    assert ping(a, "10.244.1.1"), "pod -> its gateway on the node"
    assert ping(a, NODE_IP), "pod -> the node's own address"

    server_b = kubia(b["netns"], "pod-b")
    server_a = kubia(a["netns"], "pod-a")
    assert http_get(a["netns"], f"http://{bare(b['address'])}:8080/") == "You've hit pod-b\n"
    # Pod to pod is not masqueraded: b sees a's own address.
    assert f"Received request from {bare(a['address'])}" in server_b.log()
    # A pod reaches itself by its own address.
    assert http_get(a["netns"], f"http://{bare(a['address'])}:8080/") == "You've hit pod-a\n"
    assert server_a.log().count("Received request") == 1


def test_egress_is_masqueraded_to_the_node_address(node, kubia):
    pod = node.add("pod-a")
    outside = kubia(f"/run/netns/{node.outside_ns}", "outside")
    assert http_get(pod["netns"], f"http://{OUTSIDE_IP}:8080/") == "You've hit outside\n"
    assert f"Received request from {NODE_IP}" in outside.log()
    ruleset = run("ip", "netns", "exec", node.ns, "nft", "list", "table", "ip", "stevedore-net").stdout
    assert "ip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 ip daddr != 10.96.0.0/12 masquerade" in ruleset


def test_pod_gets_the_uplink_mtu_lo_and_a_default_route(node):
    pod = node.add("pod-a")
    assert pod["mtu"] == UPLINK_MTU
    links = pod_run(pod, "ip", "-j", "link").stdout
    by_name = {l["ifname"]: l for l in json.loads(links)}
    assert by_name["eth0"]["mtu"] == UPLINK_MTU and "UP" in by_name["eth0"]["flags"]
    assert "UP" in by_name["lo"]["flags"]
    assert pod_run(pod, "ip", "route", "show", "default").stdout.strip() == \
        "default via 10.244.1.1 dev eth0"
    hairpin = run("ip", "netns", "exec", node.ns, "bridge", "-d", "link", "show", "dev",
                  pod["hostVeth"]).stdout
    assert "hairpin on" in hairpin and "master cni0" in hairpin


def test_delete_removes_everything_and_frees_the_address(node):
    a = node.add("pod-a")
    node.add("pod-b")
    node.network("del", "pod-a")
    assert a["hostVeth"] not in node.pod_veths()
    assert "pod-a" not in node.netns_files()
    assert not Path(a["netns"]).exists()
    assert node.ipam_entries() == ["10.244.1.3"]
    # Deleting again is fine: everything is already gone.
    node.network("del", "pod-a")
    assert node.add("pod-c")["address"] == a["address"]


def test_add_is_idempotent_and_adopts(node):
    first = node.add("pod-a")
    again = node.add("pod-a")
    assert again["adopted"] and not first["adopted"]
    assert again["address"] == first["address"]
    assert len(node.pod_veths()) == 1


def test_500_add_delete_cycles_leave_nothing(node):
    for i in range(500):
        pod = node.add(f"cycle-{i}")
        assert pod["address"] == "10.244.1.2/24"
        node.network("del", f"cycle-{i}")
    assert node.pod_veths() == []
    assert node.netns_files() == []
    assert node.ipam_entries() == []
    with open("/proc/self/mountinfo") as f:
        assert str(node.run_dir) not in f.read()


def test_full_pod_cidr_fails_that_pod_only(node):
    cidr = "10.244.9.0/29"
    pods = [node.add(f"pod-{i}", pod_cidr=cidr) for i in range(5)]
    refused = node.network("add", "pod-5", "default/kubia-x", pod_cidr=cidr, check=False)
    assert refused.returncode == 1
    assert "pod default/kubia-x: no free address in pod CIDR 10.244.9.0/29" in refused.stderr
    assert "pod-5" not in node.netns_files()
    assert len(node.pod_veths()) == 5
    assert ping(pods[0], bare(pods[4]["address"]))


def test_foreign_bridge_address_is_refused(node):
    node.ip("link", "add", "cni0", "type", "bridge")
    node.ip("addr", "add", "10.1.1.1/24", "dev", "cni0")
    r = node.network("add", "pod-a", check=False)
    assert r.returncode == 1
    assert "bridge cni0 holds 10.1.1.1/24, not the gateway of pod CIDR 10.244.1.0/24" in r.stderr
    assert node.netns_files() == [] and node.ipam_entries() == [] and node.pod_veths() == []


def test_bad_pod_uid_is_refused_by_name(node):
    r = node.network("add", "../escape", check=False)
    assert r.returncode == 1
    assert "'../escape' cannot name an address owner" in r.stderr


def test_gc_reaps_leftovers_and_keeps_live_pods(node):
    a, b = node.add("pod-a"), node.add("pod-b")
    # Leftovers of a crashed run: an address whose pod is gone, and a namespace file
    # that never got its namespace mounted.
    ipam_dir = next(node.root.glob("ipam/*"))
    (ipam_dir / "10.244.1.9").write_text("ghost\n")
    (node.run_dir / "netns" / "ghost2").touch()
    # pod-b lost its namespace (say, unmounted by hand).
    run("umount", b["netns"])
    Path(b["netns"]).unlink()

    assert node.network("gc", "pod-a", "pod-b").stdout.strip() == "reaped 2"
    assert node.ipam_entries() == ["10.244.1.2", "10.244.1.3"]
    assert node.netns_files() == ["pod-a"]

    # The live pods are adopted or rebuilt with their own addresses.
    again_a, again_b = node.add("pod-a"), node.add("pod-b")
    assert again_a["adopted"] and again_a["address"] == a["address"]
    assert not again_b["adopted"] and again_b["address"] == b["address"]
    assert ping(again_a, bare(again_b["address"]))


@pytest.mark.parametrize("delay", [0.002, 0.005, 0.01, 0.02])
def test_add_killed_midway_recovers(node, delay):
    node.add("pod-a")
    args = [node.bin, "--root", node.root, "--run-dir", node.run_dir,
            "--netns", f"/run/netns/{node.ns}", "network", "--pod-cidr", POD_CIDR,
            "add", "pod-d"]
    proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.kill()
    proc.wait()

    # Whatever state the kill left, a retry gives pod-d a working network...
    d = node.add("pod-d")
    assert d["address"] == "10.244.1.3/24"
    assert ping(d, "10.244.1.2")
    # ...and a restarted agent that knows only pod-a reaps pod-d completely.
    node.network("gc", "pod-a")
    assert node.netns_files() == ["pod-a"]
    assert node.ipam_entries() == ["10.244.1.2"]
    assert len(node.pod_veths()) == 1
