"""`stevedore agent` registers the machine as a Node of the real cluster and keeps it
Ready: what `kubectl get nodes` and `kubectl describe node` show an admin."""

import json
import os
import platform
import signal
import socket
import subprocess
import time

import pytest

from hoststate import run
from relay import LoopbackRelay

pytestmark = pytest.mark.cluster

NAME = "node-agent"


class Agent:
    """The agent in a network namespace of its own (the API server reached through a
    loopback relay): the pod network it makes once the node has a pod CIDR stays there."""

    def __init__(self, stevedore_bin, kubeconfig, root, ns, api_port, env=None):
        self.relay = LoopbackRelay(f"/run/netns/{ns}", api_port)
        self.args = [str(stevedore_bin), "--netns", f"/run/netns/{ns}", "--root", str(root), "--run-dir",
                     str(root / "run"), "agent", "--kubeconfig", str(kubeconfig), "--hostname-override", NAME,
                     "--node-ip", "127.0.0.1"]
        self.log = root.parent / "agent.log"
        self.env = env
        self.start()

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, **(self.env or {})})

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)


@pytest.fixture
def agent(cluster, stevedore_bin, tmp_path, netns):
    kubeconfig = cluster.add_node_kubeconfig(NAME)
    (tmp_path / "root").mkdir()
    a = Agent(stevedore_bin, kubeconfig, tmp_path / "root", netns("anode"), cluster.port)
    yield a
    assert a.stop() == 0, a.log.read_text()
    a.relay.close()
    cluster.kubectl("delete", "node", NAME, "--ignore-not-found")


def node(cluster):
    r = cluster.kubectl("get", "node", NAME, "-o", "json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def condition(n, kind):
    return next((c for c in n["status"].get("conditions", []) if c["type"] == kind), None)


def wait_ready(cluster, agent, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = node(cluster)
        if n and (condition(n, "Ready") or {}).get("status") == "True":
            return n
        assert agent.proc.poll() is None, agent.log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"node not Ready: {agent.log.read_text()}")


def lease_renew_time(cluster, timeout=15):
    """(renewTime, holderIdentity, leaseDurationSeconds), once the Lease exists."""
    deadline = time.monotonic() + timeout
    while True:
        r = cluster.kubectl("get", "lease", "-n", "kube-node-lease", NAME, "-o",
                            "jsonpath={.spec.renewTime} {.spec.holderIdentity} "
                            "{.spec.leaseDurationSeconds}", check=False)
        if r.returncode == 0 or time.monotonic() > deadline:
            assert r.returncode == 0, r.stderr
            return r.stdout.split()
        time.sleep(0.2)


def test_node_registers_ready_and_describes_like_a_kubelet_node(cluster, agent, stevedore_bin):
    n = wait_ready(cluster, agent)
    labels = n["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == NAME
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"] == {"x86_64": "amd64", "aarch64": "arm64"}.get(
        platform.machine(), platform.machine())
    # A node that runs pods keeps no taint of its own (the node controller's not-ready
    # one may still be there for a moment).
    assert not [t for t in n["spec"].get("taints", []) if t["key"].startswith("stevedore.io/")]

    status = n["status"]
    info = status["nodeInfo"]
    assert info["kernelVersion"] == platform.release()
    assert info["containerRuntimeVersion"].startswith("stevedore://")
    assert info["kubeletVersion"].startswith("v1.")
    own = dict(line.split(":", 1) for line in run(stevedore_bin, "status").stdout.splitlines())
    assert info["osImage"] == own["OS Image"].strip()
    assert info["machineID"] == own["Machine ID"].strip()
    assert status["capacity"]["cpu"] == str(os.cpu_count())
    assert status["capacity"]["pods"] == "110"
    capacity_ki = int(status["capacity"]["memory"].removesuffix("Ki"))
    assert int(status["allocatable"]["memory"].removesuffix("Ki")) == capacity_ki - 100 * 1024
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    for kind, reason in (("MemoryPressure", "KubeletHasSufficientMemory"),
                         ("DiskPressure", "KubeletHasNoDiskPressure"),
                         ("PIDPressure", "KubeletHasSufficientPID")):
        c = condition(n, kind)
        assert (c["status"], c["reason"]) == ("False", reason)

    listed = cluster.kubectl("get", "nodes", NAME, "--no-headers").stdout.split()
    assert listed[:2] == [NAME, "Ready"]
    described = cluster.kubectl("describe", "node", NAME).stdout
    assert "KubeletReady                 kubelet is posting ready status" in described
    assert "Container Runtime Version:  stevedore://" in described


def test_lease_is_renewed_every_ten_seconds(cluster, agent):
    wait_ready(cluster, agent)
    first, holder, duration = lease_renew_time(cluster)
    assert (holder, duration) == (NAME, "40")
    time.sleep(11)
    second, _, _ = lease_renew_time(cluster)
    assert second > first


def test_controller_manager_assigns_a_pod_cidr(cluster, agent):
    wait_ready(cluster, agent)
    deadline = time.monotonic() + 30
    while not node(cluster)["spec"].get("podCIDR"):
        assert time.monotonic() < deadline, "no podCIDR assigned"
        time.sleep(0.5)
    cidr = node(cluster)["spec"]["podCIDR"]
    assert cidr.startswith("10.244.")
    # The agent (no --pod-cidr) takes it for its pod network.
    while f"pod CIDR {cidr} from spec.podCIDR" not in agent.log.read_text():
        assert time.monotonic() < deadline, agent.log.read_text()
        time.sleep(0.5)


def test_restarted_agent_adopts_its_node(cluster, agent):
    uid = wait_ready(cluster, agent)["metadata"]["uid"]
    agent.stop(signal.SIGKILL)
    agent.start()
    deadline = time.monotonic() + 30
    # Each run says it once: the second, the restarted agent's, found the same Node.
    while agent.log.read_text().count("registered with") < 2:
        assert time.monotonic() < deadline, agent.log.read_text()
        time.sleep(0.2)
    assert node(cluster)["metadata"]["uid"] == uid


def test_lease_renewal_survives_an_api_server_crash(cluster, agent):
    wait_ready(cluster, agent)
    lease_renew_time(cluster)
    cluster.restart_apiserver()
    before, _, _ = lease_renew_time(cluster)
    deadline = time.monotonic() + 30
    while lease_renew_time(cluster)[0] == before:
        assert time.monotonic() < deadline, agent.log.read_text()
        time.sleep(0.5)
    assert (condition(node(cluster), "Ready") or {}).get("status") == "True"


def test_tells_systemd_ready_once_registered(cluster, stevedore_bin, tmp_path, netns):
    """As stevedore.service (Type=notify): STATUS while registering, READY=1 once the Node
    exists, STOPPING=1 on SIGTERM (docs/systemd.md). The test is the notify socket."""
    kubeconfig = cluster.add_node_kubeconfig(NAME)
    (tmp_path / "root").mkdir()
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(30)
        a = Agent(stevedore_bin, kubeconfig, tmp_path / "root", netns("anode"), cluster.port,
                  env={"NOTIFY_SOCKET": str(path)})
        try:
            messages = []
            while not any("READY=1" in m for m in messages):
                messages.append(sock.recv(4096).decode())
            assert messages[0].startswith(f"STATUS=Registering node {NAME} with https://"), messages
            assert messages[-1] == "READY=1\nSTATUS=Ready, 0/0 pods running", messages
            assert node(cluster)["metadata"]["name"] == NAME
            a.proc.send_signal(signal.SIGTERM)
            assert sock.recv(4096).decode() == "STOPPING=1\nSTATUS=Stopping, leaving 0 pods running"
        finally:
            assert a.stop() == 0, a.log.read_text()
            a.relay.close()
            cluster.kubectl("delete", "node", NAME, "--ignore-not-found")
