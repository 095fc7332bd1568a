"""`stevedore agent` runs the pods bound to its node, as a cluster admin sees it through
kubectl: Running with an IP, answering on it, events, CRI logs on the node, restarts
with back-off, and deletion within the grace period. The node runs in a network
namespace of its own (the API server reached through a loopback relay), so its bridge
and pods stay inside what the test made."""

import base64
import fcntl
import hashlib
import ipaddress
import json
import os
import select
import signal
import socket
import ssl
import struct
import subprocess
import termios
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from hoststate import run
from cluster import free_port
from relay import LoopbackRelay

pytestmark = pytest.mark.cluster

NAME = "node-pods"
POD_CIDR = "10.77.0.0/24"


class Node:
    def __init__(self, stevedore_bin, cluster, ns, tmp_path, registry, auth_registry, pod_cidr=POD_CIDR,
                 config=None):
        self.bin, self.cluster, self.ns = stevedore_bin, cluster, ns
        self.root, self.run_dir, self.log_dir = tmp_path / "root", tmp_path / "run", tmp_path / "log"
        for d in (self.root, self.run_dir, self.log_dir):
            d.mkdir()
        self.relay = LoopbackRelay(f"/run/netns/{ns}", cluster.port)
        # The API server reaches the node's kubelet API (kubectl logs) at 127.0.0.1:port.
        self.kubelet_port = free_port()
        self.kubelet_relay = LoopbackRelay(f"/run/netns/{ns}", self.kubelet_port, inward=False)
        # The loopback registry, as the node sees it: plain HTTP, named insecure.
        self.registry_relay = LoopbackRelay(f"/run/netns/{ns}", registry.port)
        self.auth_registry_relay = LoopbackRelay(f"/run/netns/{ns}", auth_registry.port)
        kubeconfig = cluster.add_node_kubeconfig(NAME)
        self.log = tmp_path / "agent.log"
        self.args = [str(stevedore_bin), "--netns", f"/run/netns/{ns}", "--root", str(self.root), "--run-dir",
                     str(self.run_dir), "agent", "--kubeconfig", str(kubeconfig), "--hostname-override", NAME,
                     "--node-ip", "127.0.0.1", "--log-dir", str(self.log_dir),
                     "--port", str(self.kubelet_port), "--insecure-registry", registry.host,
                     "--insecure-registry", auth_registry.host]
        if pod_cidr:
            self.args += ["--pod-cidr", pod_cidr]
        if config:
            (tmp_path / "config.yaml").write_text(config)
            at = self.args.index("agent") + 1
            self.args[at:at] = ["--config", str(tmp_path / "config.yaml")]
        self.start()

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout=15)

    def image_import(self, layout, name):
        run(str(self.bin), "image", "--root", str(self.root / "images"), "import", "--name", name, str(layout))

    def kubectl(self, *args, **kwargs):
        return self.cluster.kubectl(*args, **kwargs)

    def apply(self, pod):
        pod.setdefault("apiVersion", "v1")
        pod.setdefault("kind", "Pod")
        pod["metadata"].setdefault("namespace", "default")
        pod["spec"]["nodeName"] = NAME
        # The controller manager makes the namespace's default service account a moment
        # after the cluster starts; pods are refused until then.
        deadline = time.monotonic() + 30
        while True:
            r = self.kubectl("apply", "-f", "-", input=json.dumps(pod), check=False)
            if r.returncode == 0:
                return
            assert "serviceaccount" in r.stderr and time.monotonic() < deadline, r.stderr
            time.sleep(0.5)

    def pod(self, name):
        r = self.kubectl("get", "pod", name, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def wait(self, name, predicate, timeout=60, what="the condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.pod(name)
            if predicate(p):
                return p
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.25)
        raise AssertionError(f"pod {name}: {what} not reached: {json.dumps(p and p.get('status'))}\n"
                             + self.log.read_text()[-4000:])

    def in_node(self, *cmd, **kwargs):
        return run("ip", "netns", "exec", self.ns, *cmd, **kwargs)


@pytest.fixture
def node(request, stevedore_bin, cluster, netns, tmp_path, images, registry, auth_registry):
    """The node; `@pytest.mark.parametrize("node", [{…}], indirect=True)` gives it other
    arguments of Node ({"pod_cidr": None}: without --pod-cidr)."""
    n = Node(stevedore_bin, cluster, netns("pnode"), tmp_path, registry, auth_registry,
             **getattr(request, "param", {}))
    n.image_import(images["kubia"], "kubia")
    n.image_import(images["busybox"], "busybox")
    yield n
    # Pods outlive the agent by design: delete them while it runs, then stop it.
    n.kubectl("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and n.kubectl("get", "pods", "-o", "name").stdout.strip():
        time.sleep(0.25)
    assert n.stop() == 0, n.log.read_text()[-4000:]
    n.relay.close()
    n.kubelet_relay.close()
    n.registry_relay.close()
    n.auth_registry_relay.close()
    n.kubectl("delete", "node", NAME, "--ignore-not-found")


def kubia_pod(name):
    return {"metadata": {"name": name, "labels": {"app": "kubia"}},
            "spec": {"containers": [{"name": "kubia", "image": "kubia", "imagePullPolicy": "IfNotPresent",
                                     "ports": [{"containerPort": 8080}]}],
                     "terminationGracePeriodSeconds": 5}}


def running(p):
    return p and p["status"].get("phase") == "Running" and p["status"].get("podIP") and all(
        c.get("ready") for c in p["status"].get("containerStatuses", []))


def test_pod_runs_with_an_ip_answers_and_is_deleted(node):
    node.apply(kubia_pod("kubia-x"))
    p = node.wait("kubia-x", running, what="Running with an IP")
    ip = p["status"]["podIP"]
    assert ip.startswith("10.77.0.")
    status = p["status"]["containerStatuses"][0]
    assert status["containerID"].startswith("stevedore://") and status["restartCount"] == 0
    assert status["imageID"].startswith("sha256:") and "running" in status["state"]

    wide = node.kubectl("get", "pods", "-o", "wide").stdout
    row = next(line.split() for line in wide.splitlines() if line.startswith("kubia-x"))
    assert row[1:3] == ["1/1", "Running"] and ip in row and NAME in row

    # The app answers with the pod's name: its hostname.
    body = node.in_node("wget", "-qO-", f"http://{ip}:8080/").stdout
    assert "kubia-x" in body

    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=kubia-x",
                          "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "Created" in events and "Started" in events

    uid = p["metadata"]["uid"]
    log = node.log_dir / "pods" / f"default_kubia-x_{uid}" / "kubia" / "0.log"
    assert log.exists()
    links = list((node.log_dir / "containers").glob("kubia-x_default_kubia-*.log"))
    assert links and links[0].resolve() == log

    # kubectl logs goes through the API server to the node's kubelet API.
    logs = node.kubectl("logs", "kubia-x").stdout.splitlines()
    assert logs[0] == "Kubia server starting..." and any(line.startswith("Received request from") for line in logs)
    stamped = node.kubectl("logs", "kubia-x", "--timestamps", "--tail=1").stdout.splitlines()
    assert len(stamped) == 1 and stamped[0].split(" ", 1)[0].endswith("Z")
    assert "Received request from" in stamped[0]

    started = time.monotonic()
    node.kubectl("delete", "pod", "kubia-x", "--wait=false")
    node.wait("kubia-x", lambda p: p is None, timeout=30, what="deleted")
    assert time.monotonic() - started < 5 + 10
    assert not (node.run_dir / "pods" / uid).exists()
    # BestEffort: kubelet's /kubepods/besteffort/pod<uid>, removed with the pod.
    assert list(Path("/sys/fs/cgroup").glob("*/kubepods/besteffort"))
    assert not list(Path("/sys/fs/cgroup").glob(f"*/kubepods/**/pod{uid}")), "the pod's cgroup is removed"


@pytest.mark.parametrize("node", [{"pod_cidr": None}], indirect=True)
def test_pod_network_from_the_nodes_pod_cidr(node):
    """Without --pod-cidr the node is not Ready and its pods wait until the node
    controller assigns spec.podCIDR; then pods get addresses from it."""
    node.apply(kubia_pod("kubia-cidr"))
    p = node.wait("kubia-cidr", running, what="Running")
    n = json.loads(node.kubectl("get", "node", NAME, "-o", "json").stdout)
    network = ipaddress.ip_network(n["spec"]["podCIDR"])
    assert ipaddress.ip_address(p["status"]["podIP"]) in network
    ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    assert f"pod CIDR {network} from spec.podCIDR" in node.log.read_text()


@pytest.mark.parametrize("node", [{"config": "kubeAPIQPS: 2\nkubeAPIBurst: 1\n"}], indirect=True)
def test_rate_limited_api_client_still_runs_pods(node):
    """kubeAPIQPS/kubeAPIBurst as kubelet's: requests beyond the limit wait their turn
    (here nearly all of them), none is lost."""
    started = time.monotonic()
    for name in ("kubia-slow-a", "kubia-slow-b"):
        node.apply(kubia_pod(name))
    for name in ("kubia-slow-a", "kubia-slow-b"):
        node.wait(name, running, timeout=90, what="Running")
    # Registration, lease, list and watch, two pods' tokens, ConfigMaps, status and
    # events: more than a dozen requests at two a second.
    assert time.monotonic() - started > 5


def test_crashing_container_restarts_with_back_off(node):
    node.apply({"metadata": {"name": "crasher"},
                "spec": {"containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                         "command": ["sh", "-c", "echo attempt; exit 3"]}]}})
    p = node.wait("crasher", lambda p: p and any(
        c["restartCount"] >= 1 and c["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff"
        for c in p["status"].get("containerStatuses", [])), timeout=60, what="CrashLoopBackOff")
    c = p["status"]["containerStatuses"][0]
    assert c["lastState"]["terminated"]["exitCode"] == 3
    assert c["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off 10s" in c["state"]["waiting"]["message"]
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=crasher",
                          "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "BackOff" in events
    assert node.kubectl("logs", "crasher", "--previous").stdout == "attempt\n"


def test_completed_pod_succeeds(node):
    node.apply({"metadata": {"name": "once"},
                "spec": {"restartPolicy": "Never", "initContainers": [
                    {"name": "init", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", "echo init > /work/x"],
                     "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
                    "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["cat", "/work/x"],
                                    "volumeMounts": [{"name": "work", "mountPath": "/work"}]}],
                    "volumes": [{"name": "work", "emptyDir": {}}]}})
    p = node.wait("once", lambda p: p and p["status"].get("phase") == "Succeeded", what="Succeeded")
    main = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert main["exitCode"] == 0 and main["reason"] == "Completed"
    conditions = {c["type"]: c for c in p["status"]["conditions"]}
    assert conditions["Initialized"]["status"] == "True" and conditions["Initialized"].get("reason") == "PodCompleted"
    assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == "PodCompleted"
    uid = p["metadata"]["uid"]
    log = (node.log_dir / "pods" / f"default_once_{uid}" / "main" / "0.log").read_text()
    assert log.endswith(" stdout F init\n")
    assert node.kubectl("logs", "once", "-c", "main").stdout == "init\n"

    # Finished, as kubelet's SyncTerminatedPod: its address, network namespace and
    # sandbox go now, before any deletion; its status and logs stay.
    def holds_address():
        return any(f.read_text().strip() == uid for f in (node.root / "ipam").rglob("*") if f.is_file())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (holds_address() or (node.run_dir / "netns" / uid).exists()):
        time.sleep(0.2)
    assert not holds_address(), "a Succeeded pod still holds its address"
    assert not (node.run_dir / "netns" / uid).exists()
    assert node.kubectl("get", "pod", "once", "-o", "jsonpath={.status.podIP}").stdout

    # An agent started after it finished serves its logs and runs nothing again.
    assert node.stop() == 0
    node.start()
    time.sleep(3)
    assert node.kubectl("logs", "once", "-c", "main").stdout == "init\n"
    p = node.wait("once", lambda p: p and p["status"].get("phase") == "Succeeded", what="still Succeeded")
    assert p["status"]["containerStatuses"][0]["restartCount"] == 0
    assert not (node.run_dir / "netns" / uid).exists()


def test_failed_init_container_fails_the_pod_and_names_itself(node):
    """restartPolicy Never and an init container that fails: the pod is Failed, its app
    container never starts (PodInitializing), and the conditions name the container as
    kubelet does, which `kubectl describe pod` shows."""
    busybox = {"image": "busybox", "imagePullPolicy": "IfNotPresent"}
    node.apply({"metadata": {"name": "init-fails"},
                "spec": {"restartPolicy": "Never", "initContainers": [
                    {"name": "init1", **busybox, "command": ["true"]},
                    {"name": "init2", **busybox, "command": ["false"]}],
                    "containers": [{"name": "run1", **busybox, "command": ["true"]}]}})
    p = node.wait("init-fails", lambda p: p and p["status"].get("phase") == "Failed", what="Failed")
    conditions = {c["type"]: c for c in p["status"]["conditions"]}
    assert conditions["Initialized"]["status"] == "False"
    assert conditions["Initialized"]["reason"] == "ContainersNotInitialized"
    assert conditions["Initialized"]["message"] == "containers with incomplete status: [init2]"
    assert conditions["Ready"]["reason"] == "PodFailed"
    assert p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert [s["state"]["terminated"]["exitCode"] for s in p["status"]["initContainerStatuses"]] == [0, 1]


def test_env_from_config_maps_and_secrets(node):
    """env valueFrom configMapKeyRef/secretKeyRef and envFrom (with a prefix) from the
    API's objects, env over envFrom; a missing required Secret leaves the container
    waiting with CreateContainerConfigError naming it."""
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "env-cfg", "namespace": "default"},
                "data": {"MODE": "fast", "LEVEL": "3"}},
               {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "env-sec", "namespace": "default"},
                "stringData": {"PASSWORD": "s3cret"}}]
    node.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    node.apply({"metadata": {"name": "env-refs"},
                "spec": {"containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                         "command": ["sleep", "3600"],
                                         "envFrom": [{"configMapRef": {"name": "env-cfg"}},
                                                     {"prefix": "S_", "secretRef": {"name": "env-sec"}},
                                                     {"configMapRef": {"name": "absent", "optional": True}}],
                                         "env": [{"name": "LEVEL", "value": "9"},
                                                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "env-sec",
                                                                                              "key": "PASSWORD"}}},
                                                 {"name": "M", "valueFrom": {"configMapKeyRef": {"name": "env-cfg",
                                                                                                "key": "MODE"}}}]}]}})
    node.wait("env-refs", running, what="Running")
    env = dict(line.split("=", 1) for line in node.kubectl("exec", "env-refs", "--", "env").stdout.splitlines()
               if "=" in line)
    assert {k: env.get(k) for k in ("MODE", "LEVEL", "S_PASSWORD", "PW", "M")} == {
        "MODE": "fast", "LEVEL": "9", "S_PASSWORD": "s3cret", "PW": "s3cret", "M": "fast"}

    node.apply({"metadata": {"name": "env-missing"},
                "spec": {"containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                         "command": ["sleep", "3600"], "envFrom": [{"secretRef": {"name": "absent"}}]}]}})
    p = node.wait("env-missing", lambda p: p and "CreateContainerConfigError" in json.dumps(p["status"]),
                  what="CreateContainerConfigError")
    waiting = p["status"]["containerStatuses"][0]["state"]["waiting"]
    assert "Secret absent not found" in waiting["message"], waiting


def test_sub_path_expr_waits_for_its_annotation(node):
    """subPathExpr from an env var that a missing annotation leaves empty: the container
    waits with CreateContainerConfigError; once the pod is annotated it starts, its
    subPath made inside the volume."""
    node.apply({"metadata": {"name": "subpath", "annotations": {"other": "x"}},
                "spec": {"containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                         "command": ["sleep", "3600"],
                                         "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                                 {"name": "DIR", "valueFrom": {"fieldRef": {
                                                     "fieldPath": "metadata.annotations['dir']"}}}],
                                         "volumeMounts": [{"name": "work", "mountPath": "/sub", "subPathExpr": "$(DIR)/$(POD)"},
                                                          {"name": "work", "mountPath": "/whole"}]}],
                         "volumes": [{"name": "work", "emptyDir": {}}]}})
    p = node.wait("subpath", lambda p: p and "CreateContainerConfigError" in json.dumps(p["status"]),
                  what="CreateContainerConfigError")
    assert "missing value for DIR" in p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    node.kubectl("annotate", "pod", "subpath", "dir=logs")
    node.wait("subpath", running, timeout=60, what="Running once annotated")
    node.kubectl("exec", "subpath", "--", "touch", "/sub/here")
    assert node.kubectl("exec", "subpath", "--", "ls", "/whole/logs/subpath").stdout.split() == ["here"]


def test_ephemeral_container_joins_the_running_pod(node):
    """kubectl debug: an ephemeral container starts in the running pod (its network),
    answers exec and logs, is reported in ephemeralContainerStatuses, is never restarted,
    and leaves the pod's own container and readiness alone."""
    node.apply({"metadata": {"name": "debug-me"},
                "spec": {"terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                         "command": ["sleep", "3600"]}]}})
    before = node.wait("debug-me", running, what="Running")
    node.kubectl("debug", "debug-me", "--image=busybox", "--image-pull-policy=IfNotPresent", "-c", "debugger",
                 "--attach=false", "-i", "-t", "--", "sh", "-c", "while [ ! -e /tmp/stop ]; do echo polo; sleep 1; done")
    p = node.wait("debug-me", lambda p: p and any(s["state"].get("running")
                                                   for s in p["status"].get("ephemeralContainerStatuses", [])),
                  what="the ephemeral container running")
    assert running(p) and p["status"]["podIP"] == before["status"]["podIP"]
    assert p["status"]["containerStatuses"][0]["restartCount"] == 0
    # The spec changed (generation 2): observed, and the Ready condition kept its time.
    p = node.wait("debug-me", lambda p: p and p["status"].get("observedGeneration") == p["metadata"]["generation"] == 2,
                  what="generation 2 observed")
    ready = {c["type"]: c for c in p["status"]["conditions"]}["Ready"]
    was = {c["type"]: c for c in before["status"]["conditions"]}["Ready"]
    assert ready["observedGeneration"] == 2 and ready["lastTransitionTime"] == was["lastTransitionTime"] is not None
    assert node.kubectl("exec", "debug-me", "-c", "debugger", "--", "echo", "marco").stdout.strip() == "marco"
    # In the pod's network namespace: the pod's address is its own.
    assert before["status"]["podIP"] in node.kubectl("exec", "debug-me", "-c", "debugger", "--", "ip", "addr").stdout
    deadline = time.monotonic() + 30
    while "polo" not in node.kubectl("logs", "debug-me", "-c", "debugger", check=False).stdout:
        assert time.monotonic() < deadline, "no polo in the ephemeral container's log"
        time.sleep(1)

    # It ends for good: an ephemeral container is never restarted.
    node.kubectl("exec", "debug-me", "-c", "debugger", "--", "touch", "/tmp/stop")
    p = node.wait("debug-me", lambda p: p and p["status"]["ephemeralContainerStatuses"][0]["state"].get("terminated"),
                  what="the ephemeral container ended")
    time.sleep(3)
    p = node.pod("debug-me")
    assert p["status"]["ephemeralContainerStatuses"][0]["restartCount"] == 0
    assert p["status"]["ephemeralContainerStatuses"][0]["state"].get("terminated"), p["status"]
    assert running(p)


def test_pod_sysctls_are_set(node):
    """securityContext.sysctls (safe ones, of the pod's IPC and network namespaces) are
    set before /proc/sys is made read-only, as runc sets them."""
    node.apply({"metadata": {"name": "sysctls"},
                "spec": {"restartPolicy": "Never",
                         "securityContext": {"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"},
                                                         {"name": "net.ipv4.ip_local_port_range", "value": "20000 30000"}]},
                         "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                                         "command": ["sh", "-c", "cat /proc/sys/kernel/shm_rmid_forced "
                                                     "/proc/sys/net/ipv4/ip_local_port_range"]}]}})
    node.wait("sysctls", lambda p: p and p["status"].get("phase") == "Succeeded", what="Succeeded")
    assert node.kubectl("logs", "sysctls").stdout.split() == ["1", "20000", "30000"]


def test_bad_image_is_reported(node):
    node.apply({"metadata": {"name": "noimage"},
                "spec": {"containers": [{"name": "c", "image": "no-such-image:1"}]}})
    p = node.wait("noimage", lambda p: p and any(
        c["state"].get("waiting", {}).get("reason") == "ErrImagePull"
        for c in p["status"].get("containerStatuses", [])), timeout=30, what="ErrImagePull")
    assert "no-such-image" in p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]


def test_agent_restart_adopts_containers(node):
    """kill -9 of the agent: the pod keeps running and answering; a new agent adopts it
    (same container, no restart) and port-forwards to it; a container that exits while no
    agent runs is reported and restarted by the next one."""
    node.apply(kubia_pod("kubia-a"))
    p = node.wait("kubia-a", running, what="Running")
    ip, before = p["status"]["podIP"], p["status"]["containerStatuses"][0]
    node.proc.kill()
    node.proc.wait()
    assert "kubia-a" in node.in_node("wget", "-qO-", f"http://{ip}:8080/").stdout

    node.start()
    time.sleep(2)
    p = node.wait("kubia-a", running, what="Running after the restart")
    after = p["status"]["containerStatuses"][0]
    assert after["containerID"] == before["containerID"] and after["restartCount"] == 0
    assert p["status"]["podIP"] == ip
    pf, local = port_forward(node, "kubia-a", 8080)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{local[8080]}/", timeout=30) as r:
            assert r.read() == b"You've hit kubia-a\n"
    finally:
        pf.terminate()
        pf.wait(timeout=10)

    node.proc.kill()
    node.proc.wait()
    container_id = before["containerID"].removeprefix("stevedore://")
    run(str(node.bin), "runtime", "--root", str(node.run_dir / "runtime"), "kill", container_id, "KILL")
    time.sleep(0.5)
    node.start()
    p = node.wait("kubia-a", lambda p: running(p) and p["status"]["containerStatuses"][0]["restartCount"] == 1,
                  what="the exit seen and the container restarted")
    last = p["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["containerID"] == before["containerID"]


def test_pods_deleted_while_the_agent_was_down_are_stopped(node):
    """kubelet's cleanup after a restart: a pod deleted from the API while no agent ran
    (forced: its object gone) and one being deleted (its object waiting for the node) are
    stopped by the next agent, nothing of them left on the node, and the second's object
    goes; the pod still bound keeps its container."""
    names = ("gone", "going", "kept")
    for name in names:
        node.apply(kubia_pod(name))
    pods = {name: node.wait(name, running, what="Running") for name in names}
    uids = {name: p["metadata"]["uid"] for name, p in pods.items()}
    node.proc.kill()
    node.proc.wait()
    node.kubectl("delete", "pod", "gone", "--grace-period=0", "--force")
    node.kubectl("delete", "pod", "going", "--wait=false")
    assert node.pod("gone") is None and node.pod("going")["metadata"].get("deletionTimestamp")

    def containers():
        r = run(str(node.bin), "runtime", "--root", str(node.run_dir / "runtime"), "list")
        return {line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip()}

    assert {c.split("-kubia-")[0] for c in containers()} == set(uids.values())
    node.start()
    node.wait("going", lambda p: p is None, what="the object deleted once its pod stopped")
    deadline = time.monotonic() + 30
    while {c.split("-kubia-")[0] for c in containers()} != {uids["kept"]}:
        assert time.monotonic() < deadline, (containers(), node.log.read_text()[-4000:])
        time.sleep(0.25)
    for name in ("gone", "going"):
        assert not (node.run_dir / "pods" / uids[name]).exists()
        assert not (node.root / "pods" / uids[name]).exists()
        assert node.in_node("ping", "-c", "1", "-W", "1", pods[name]["status"]["podIP"], check=False).returncode != 0
    kept = node.wait("kept", running, what="Running after the restart")["status"]["containerStatuses"][0]
    assert kept["containerID"] == pods["kept"]["status"]["containerStatuses"][0]["containerID"]
    assert kept["restartCount"] == 0
    assert "no longer bound to this node" in node.log.read_text()


def test_images_pulled_by_policy_from_the_registry(node, registry, images):
    """An image the node does not have is pulled from the registry (Pulling, Pulled);
    one the registry does not have either is ErrImagePull, then ImagePullBackOff."""
    ref = registry.push(images["kubia"], "walkthrough/kubia", "v1")
    pod = kubia_pod("pulled")
    pod["spec"]["containers"][0]["image"] = ref
    del pod["spec"]["containers"][0]["imagePullPolicy"]  # v1: IfNotPresent by default
    node.apply(pod)
    p = node.wait("pulled", running, what="Running from a pulled image")
    assert "pulled" in node.in_node("wget", "-qO-", f"http://{p['status']['podIP']}:8080/").stdout
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=pulled",
                          "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}").stdout
    assert f'Pulling: Pulling image "{ref}"' in events and f'Pulled: Successfully pulled image "{ref}"' in events

    missing = f"{registry.host}/walkthrough/kubia:nope"
    pod = kubia_pod("unpullable")
    pod["spec"]["containers"][0]["image"] = missing
    del pod["spec"]["containers"][0]["imagePullPolicy"]
    node.apply(pod)
    p = node.wait("unpullable", lambda p: p and any(
        c["state"].get("waiting", {}).get("reason") == "ImagePullBackOff"
        for c in p["status"].get("containerStatuses", [])), timeout=40, what="ImagePullBackOff")
    assert "walkthrough/kubia:nope" in p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]


def test_logs_follow_until_the_container_exits(node):
    node.apply({"metadata": {"name": "counter"},
                "spec": {"restartPolicy": "Never", "containers": [
                    {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                     "command": ["sh", "-c", "for i in 1 2 3 4; do echo line $i; sleep 1; done"]}]}})
    node.wait("counter", lambda p: p and p["status"].get("phase") in ("Running", "Succeeded"), what="started")
    started = time.monotonic()
    r = node.kubectl("logs", "-f", "counter", timeout=30)
    assert r.stdout == "line 1\nline 2\nline 3\nline 4\n"
    assert time.monotonic() - started < 15, "the stream ends when the container exits"


def test_probes_decide_ready_and_restart(node):
    """A readiness probe that answers makes the pod Ready; one that does not keeps it
    0/1 with Unhealthy events; a failing liveness probe restarts the container."""
    good = kubia_pod("probed")
    good["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    node.apply(good)
    node.wait("probed", running, what="Ready through its readiness probe")

    node.apply({"metadata": {"name": "unready"},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"],
                     "ports": [{"name": "web", "containerPort": 8080}],
                     "readinessProbe": {"httpGet": {"path": "/", "port": "web"}, "periodSeconds": 1,
                                        "failureThreshold": 1},
                     "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 2}}]}})
    p = node.wait("unready", lambda p: p and p["status"].get("containerStatuses") and
                  p["status"]["containerStatuses"][0]["restartCount"] >= 1, timeout=40, what="restarted by liveness")
    assert p["status"]["containerStatuses"][0]["ready"] is False
    rows = node.kubectl("get", "pod", "unready", "--no-headers").stdout.split()
    assert rows[1] == "0/1"
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=unready",
                          "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}").stdout
    assert "Unhealthy: Readiness probe failed: Get \"http://" in events
    assert "Killing: Container c failed liveness probe, will be restarted" in events


def test_api_server_away_pods_untouched_changes_applied_after(node):
    """The API server gone for a while: the pod keeps running and answering, the agent
    stays up; a deletion made after it returns is carried out."""
    node.apply(kubia_pod("steady"))
    p = node.wait("steady", running, what="Running")
    ip, container = p["status"]["podIP"], p["status"]["containerStatuses"][0]["containerID"]

    def while_down():
        time.sleep(2)
        assert "steady" in node.in_node("wget", "-qO-", f"http://{ip}:8080/").stdout
        assert node.proc.poll() is None, node.log.read_text()
    node.cluster.restart_apiserver(down_seconds=15, while_down=while_down)

    p = node.wait("steady", running, what="still Running after the API server returned")
    assert p["status"]["containerStatuses"][0]["containerID"] == container
    assert p["status"]["containerStatuses"][0]["restartCount"] == 0
    node.kubectl("delete", "pod", "steady", "--wait=false")
    node.wait("steady", lambda p: p is None, timeout=30, what="deleted after the API server returned")


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def in_pty(args, timeout=30, size=None, resize=None):
    """Runs args with a terminal for its stdio (as a user typing kubectl -it would);
    returns its exit code and what it wrote. size: the terminal's (rows, cols); resize:
    (seconds, (rows, cols)) — the terminal resized after that long (and SIGWINCH sent)."""
    master, slave = os.openpty()
    if size:
        set_size(slave, *size)
    p = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out, start = b"", time.monotonic()
    deadline = start + timeout
    try:
        while time.monotonic() < deadline:
            if resize and time.monotonic() - start >= resize[0]:
                set_size(master, *resize[1])
                p.send_signal(signal.SIGWINCH)
                resize = None
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:  # EIO: the terminal's other side is closed
                    break
                if not data:
                    break
                out += data
            elif p.poll() is not None:
                break
        return p.wait(timeout=5), out.decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)


def test_exec_through_the_api_server(node):
    # kubectl (WebSocket) -> API server -> SPDY/3.1 -> the kubelet API -> stevedore-runc exec.
    node.apply(kubia_pod("kubia-x"))
    node.wait("kubia-x", running, what="Running")
    r = node.kubectl("exec", "kubia-x", "--", "hostname", timeout=30)
    assert r.stdout == "kubia-x\n", r.stderr

    r = node.kubectl("exec", "kubia-x", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False, timeout=30)
    assert r.returncode == 3, r.stderr
    assert r.stdout == "out\n" and "err\n" in r.stderr

    data = "".join(f"line {i}\n" for i in range(2000))  # more than a pipe and a frame hold
    r = node.kubectl("exec", "-i", "kubia-x", "--", "cat", input=data, timeout=30)
    assert r.stdout == data

    code, out = in_pty([str(node.cluster.kubectl_bin), f"--kubeconfig={node.cluster.admin_kubeconfig}", "exec", "-it", "kubia-x", "--",
                        "tty"])
    assert code == 0 and "/dev/pts/" in out, out

    r = node.kubectl("exec", "kubia-x", "-c", "nope", "--", "true", check=False, timeout=30)
    assert r.returncode != 0 and "nope" in r.stderr
    assert "bad SPDY" not in node.log.read_text()


def websocket_exec(cluster, pod, command, protocol, stdin=None):
    """exec over a WebSocket through the API server, as the conformance suite's
    e2ewebsocket client does it (which the API server passes on to the kubelet API as it
    is, for any subprotocol but v5): {channel: bytes} of the messages received until the
    server closed, and the subprotocol it chose."""
    ctx = ssl.create_default_context(cafile=str(cluster.pki.ca_crt))
    ctx.load_cert_chain(str(cluster.pki.dir / "admin.crt"), str(cluster.pki.dir / "admin.key"))
    query = "&".join([f"command={urllib.parse.quote(c)}" for c in command] + ["stdout=1", "stderr=1"]
                     + (["stdin=1"] if stdin is not None else []))
    key = base64.b64encode(os.urandom(16)).decode()
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", cluster.port), timeout=30),
                         server_hostname="127.0.0.1") as sock:
        sock.sendall((f"GET /api/v1/namespaces/default/pods/{pod}/exec?{query} HTTP/1.1\r\n"
                      f"Host: 127.0.0.1:{cluster.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        head = head.decode()
        assert head.startswith("HTTP/1.1 101"), head
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert f"Sec-WebSocket-Accept: {accept.decode()}".lower() in head.lower(), head
        chosen = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                      if line.lower().startswith("sec-websocket-protocol:"))

        def send(opcode, payload):
            mask = os.urandom(4)
            n = len(payload)
            length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
            sock.sendall(bytes([0x80 | opcode]) + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

        if stdin is not None:
            send(2, b"\x00" + stdin)
        messages = {}
        while True:
            while len(data) < 2 or len(data) < frame_size(data):
                chunk = sock.recv(65536)
                assert chunk, "the connection ended before a close frame"
                data += chunk
            size = frame_size(data)
            frame, data = data[:size], data[size:]
            opcode, payload = frame[0] & 0x0F, frame[size - payload_length(frame):]
            if opcode == 8:
                send(8, payload[:2])
                return messages, chosen
            if opcode in (1, 2) and payload:
                messages[payload[0]] = messages.get(payload[0], b"") + payload[1:]


def payload_length(frame):
    n = frame[1] & 0x7F
    if n == 126:
        return struct.unpack("!H", frame[2:4])[0]
    if n == 127:
        return struct.unpack("!Q", frame[2:10])[0]
    return n


def frame_size(data):
    """The size of the unmasked frame at the start of data (what is known of it)."""
    n = data[1] & 0x7F
    header = 2 + (2 if n == 126 else 8 if n == 127 else 0)
    return header if len(data) < header else header + payload_length(data)


def test_exec_over_websockets(node):
    """The kubelet API's exec as a WebSocket (GET, wsstream's channels): channel.k8s.io as
    the conformance suite asks for it, v4.channel.k8s.io with its Status on channel 3."""
    node.apply(kubia_pod("kubia-ws"))
    node.wait("kubia-ws", running, what="Running")
    messages, chosen = websocket_exec(node.cluster, "kubia-ws", ["echo", "remote execution test"], "channel.k8s.io")
    assert chosen == "channel.k8s.io"
    assert messages.get(1) == b"remote execution test\n", messages
    assert 3 not in messages  # v1: nothing on the error channel on success

    messages, chosen = websocket_exec(node.cluster, "kubia-ws", ["sh", "-c", "read line; echo got $line; echo err >&2; exit 3"],
                                      "v4.channel.k8s.io", stdin=b"from stdin\n")
    assert chosen == "v4.channel.k8s.io"
    assert messages.get(1) == b"got from stdin\n", messages
    assert messages.get(2) == b"err\n", messages
    assert 3 in messages, messages
    status = json.loads(messages[3])
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode", status
    assert status["details"]["causes"][0]["message"] == "3"


def test_exec_readiness_probe(node):
    """An exec probe runs its command in the container: not ready until the file it tests
    for is made (through kubectl exec), ready after."""
    node.apply({"metadata": {"name": "gated"},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"],
                     "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1}}]}})
    p = node.wait("gated", lambda p: p and p["status"].get("phase") == "Running", what="Running")
    time.sleep(3)
    assert node.pod("gated")["status"]["containerStatuses"][0]["ready"] is False
    node.kubectl("exec", "gated", "--", "touch", "/tmp/ready")
    node.wait("gated", running, timeout=20, what="ready once the file is there")


def test_startup_probe_gates_the_other_probes(node):
    """Until its startupProbe succeeds a container is not started, not ready, and its
    liveness probe (which would fail and restart it) does not run; once the probe's file
    is made it is started and ready. A startupProbe that keeps failing gets the container
    killed (Unhealthy, Killing) and restarted."""
    node.apply({"metadata": {"name": "slow-start"},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"],
                     "startupProbe": {"exec": {"command": ["test", "-f", "/tmp/started"]}, "periodSeconds": 1,
                                      "failureThreshold": 60},
                     "livenessProbe": {"exec": {"command": ["test", "-f", "/tmp/started"]}, "periodSeconds": 1,
                                       "failureThreshold": 1}}]}})
    node.wait("slow-start", lambda p: p and p["status"].get("phase") == "Running", what="Running")
    time.sleep(4)
    s = node.pod("slow-start")["status"]["containerStatuses"][0]
    assert s["started"] is False and s["ready"] is False and s["restartCount"] == 0, s
    node.kubectl("exec", "slow-start", "--", "touch", "/tmp/started")
    p = node.wait("slow-start", running, timeout=20, what="started and ready once the file is there")
    assert p["status"]["containerStatuses"][0]["started"] is True

    node.apply({"metadata": {"name": "never-starts"},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"],
                     "startupProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2}}]}})
    p = node.wait("never-starts", lambda p: p and p["status"].get("containerStatuses") and
                  p["status"]["containerStatuses"][0]["restartCount"] >= 1, timeout=40,
                  what="restarted by its startup probe")
    assert p["status"]["containerStatuses"][0]["started"] is False
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=never-starts",
                          "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}").stdout
    assert "Unhealthy: Startup probe failed: " in events
    assert "Killing: Container c failed startup probe, will be restarted" in events


def test_oom_killed_container(node):
    """A container over its memory limit is killed by the OOM killer: terminated with
    reason OOMKilled and exit code 137, as kubelet with containerd reports it."""
    node.apply({"metadata": {"name": "hungry"},
                "spec": {"restartPolicy": "Never", "containers": [
                    {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                     "command": ["tail", "/dev/zero"],
                     "resources": {"limits": {"memory": "20Mi"}}}]}})
    p = node.wait("hungry", lambda p: p and p["status"].get("phase") == "Failed", timeout=60, what="Failed")
    t = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert t["reason"] == "OOMKilled" and t["exitCode"] == 137, t


def test_image_pull_secrets(node, auth_registry, images):
    """An image from a registry that wants credentials: without a usable pull secret (one
    that does not exist gets a FailedToRetrieveImagePullSecret warning) the pull fails
    with ErrImagePull, then ImagePullBackOff; with a kubernetes.io/dockerconfigjson
    Secret named in imagePullSecrets the pod runs."""
    ref = auth_registry.push(images["busybox"], "private/busybox", "v1")
    user, password = auth_registry.credentials

    def pod(name, secret):
        return {"metadata": {"name": name},
                "spec": {"terminationGracePeriodSeconds": 1, "imagePullSecrets": [{"name": secret}],
                         "containers": [{"name": "c", "image": ref, "command": ["sleep", "3600"]}]}}

    node.apply(pod("no-creds", "absent"))
    p = node.wait("no-creds", lambda p: p and any(
        c["state"].get("waiting", {}).get("reason") in ("ErrImagePull", "ImagePullBackOff")
        for c in p["status"].get("containerStatuses", [])), timeout=40, what="ErrImagePull")
    assert "private/busybox" in p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=no-creds",
                          "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}").stdout
    assert "FailedToRetrieveImagePullSecret: Unable to retrieve some image pull secrets (absent)" in events

    node.kubectl("delete", "secret", "regcred", "--ignore-not-found")
    node.kubectl("create", "secret", "docker-registry", "regcred", f"--docker-server={auth_registry.host}",
                 f"--docker-username={user}", f"--docker-password={password}")
    node.apply(pod("with-creds", "regcred"))
    p = node.wait("with-creds", running, timeout=60, what="Running from the registry that wants credentials")
    assert p["status"]["containerStatuses"][0]["imageID"]


def test_watch_gone_relists_pods(node):
    """The agent frozen while the API server restarts, one pod created and another
    deleted meanwhile: when it thaws its pod watch's resourceVersion is too old for the
    new server (410 Gone), it lists again, runs the new pod and stops the deleted one's
    container."""
    def sleeper(name):
        return {"metadata": {"name": name},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                     "command": ["sleep", "3600"]}]}}

    node.apply(sleeper("before"))
    p = node.wait("before", running, what="Running")
    before_dir = node.run_dir / "pods" / p["metadata"]["uid"]
    monitor = int((before_dir / "containers" / "c" / "0" / "monitor.pid").read_text())

    # The changes are made between two restarts: none reaches the agent's old connection,
    # and the second server's watch cache starts after them, so the agent's
    # resourceVersion is too old for it.
    node.proc.send_signal(signal.SIGSTOP)
    try:
        node.cluster.restart_apiserver()
        node.apply(sleeper("during"))
        node.kubectl("delete", "pod", "before", "--grace-period=0", "--force")
        node.cluster.restart_apiserver()
    finally:
        node.proc.send_signal(signal.SIGCONT)

    node.wait("during", running, timeout=60, what="Running after the relist")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (before_dir.exists() or os.path.exists(f"/proc/{monitor}")):
        time.sleep(0.25)
    assert not before_dir.exists() and not os.path.exists(f"/proc/{monitor}"), node.log.read_text()[-4000:]
    assert "too old resource version" in node.log.read_text(), "no 410 Gone was forced"


def test_exec_terminal_resize(node):
    """kubectl exec -it: the terminal's size goes to the command's pty through the resize
    stream — the size kubectl starts with, and a new one after SIGWINCH."""
    node.apply({"metadata": {"name": "sized"},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                     "command": ["sleep", "3600"]}]}})
    node.wait("sized", running, what="Running")
    code, out = in_pty([str(node.cluster.kubectl_bin), f"--kubeconfig={node.cluster.admin_kubeconfig}", "exec", "-it", "sized", "--",
                        "sh", "-c", "sleep 1; stty size; sleep 3; stty size"], size=(33, 101), resize=(2.5, (44, 123)))
    assert code == 0, out
    assert out.split() == ["33", "101", "44", "123"], out


def port_forward(node, pod, *ports, timeout=30):
    """`kubectl port-forward pod/<pod> :PORT…` running; returns the process (its stderr
    in p.err, a file) and the local port for each remote one."""
    err = open(node.log.parent / f"port-forward-{pod}.err", "w+")
    p = subprocess.Popen([str(node.cluster.kubectl_bin), f"--kubeconfig={node.cluster.admin_kubeconfig}", "port-forward", f"pod/{pod}",
                          *[f":{port}" for port in ports]], stdout=subprocess.PIPE, stderr=err)
    p.err = err
    out, local, deadline = b"", {}, time.monotonic() + timeout
    while len(local) < len(ports) and time.monotonic() < deadline and p.poll() is None:
        if select.select([p.stdout], [], [], 0.5)[0]:
            out += os.read(p.stdout.fileno(), 4096)
        # "Forwarding from 127.0.0.1:40000 -> 8080" (and [::1]:40000 likewise)
        for line in out.decode().splitlines():
            if line.startswith("Forwarding from 127.0.0.1:"):
                local[int(line.split()[-1])] = int(line.split()[2].rsplit(":", 1)[1])
    if len(local) < len(ports):
        p.kill()
        p.wait()
        raise AssertionError(out.decode() + open(err.name).read())
    return p, local


def echo_through(port, data, read_after=0):
    """Sends data to 127.0.0.1:port, half-closes, returns all that comes back (read from
    read_after seconds on)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        def send():
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(read_after)
        got = bytearray()
        while chunk := s.recv(65536):
            got += chunk
        sender.join()
        return bytes(got)


def test_port_forward_through_the_api_server(node):
    # kubectl (WebSocket) -> API server -> SPDY/3.1 -> the kubelet API -> TCP in the pod's netns.
    pod = kubia_pod("kubia-pf")
    pod["spec"]["containers"].append({"name": "echo", "image": "kubia", "imagePullPolicy": "IfNotPresent",
                                      "command": ["nc", "-ll", "-p", "9000", "-e", "cat"]})
    # One that reads nothing for 2 s: what the client sends piles up in the agent, which
    # stops reading the client until the pod takes it.
    pod["spec"]["containers"].append({"name": "late", "image": "kubia", "imagePullPolicy": "IfNotPresent",
                                      "command": ["nc", "-ll", "-p", "9002", "-e", "sh", "-c", "sleep 2; exec cat"]})
    node.apply(pod)
    node.wait("kubia-pf", running, what="Running")
    pf, local = port_forward(node, "kubia-pf", 8080, 9000, 9002)
    try:
        for _ in range(5):
            with urllib.request.urlopen(f"http://127.0.0.1:{local[8080]}/", timeout=30) as r:
                assert r.read() == b"You've hit kubia-pf\n"

        answers = []
        def get():
            with urllib.request.urlopen(f"http://127.0.0.1:{local[8080]}/", timeout=30) as r:
                answers.append(r.read())
        threads = [threading.Thread(target=get) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [b"You've hit kubia-pf\n"] * 12

        # Both ways at once, more than the output mark holds, ended by a half-close: the pod's
        # cat sees the end, exits, and its end comes back as the data stream's FIN.
        data = os.urandom(3 << 20)
        assert echo_through(local[9000], data) == data
        datas = [os.urandom(200_000) for _ in range(4)]
        results = [None] * len(datas)
        def echo(i):
            results[i] = echo_through(local[9000], datas[i])
        threads = [threading.Thread(target=echo, args=(i,)) for i in range(len(datas))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == datas
        data = os.urandom(16 << 20)
        assert echo_through(local[9002], data) == data
        # A client that reads nothing for 3 s: the pod's answer piles up towards it, and the
        # agent stops reading the pod until it drains.
        assert echo_through(local[9000], data, read_after=3) == data

        # Clients that leave mid-transfer: kubectl resets their data streams, and the agent
        # closes its connections to the pod (none stays established), then serves on.
        for _ in range(4):
            with socket.create_connection(("127.0.0.1", local[9000]), timeout=30) as s:
                s.sendall(os.urandom(500_000))
                s.recv(1000)
        uid = node.pod("kubia-pf")["metadata"]["uid"]
        deadline = time.monotonic() + 20
        while run("nsenter", f"--net={node.run_dir}/netns/{uid}", "ss", "-Htn", "state", "established",
                  "( sport = :9000 )").stdout.strip():
            assert time.monotonic() < deadline, "connections to the pod left open"
            time.sleep(0.2)
        assert echo_through(local[9000], b"still here") == b"still here"
    finally:
        pf.terminate()
        pf.wait(timeout=10)

    # Nobody listens on 8081: kubectl is told kubelet's words and gives up.
    pf, local = port_forward(node, "kubia-pf", 8081)
    try:
        with socket.create_connection(("127.0.0.1", local[8081]), timeout=30) as s:
            s.settimeout(30)
            assert s.recv(100) == b""
        deadline = time.monotonic() + 20
        while "connection refused" not in open(pf.err.name).read() and time.monotonic() < deadline:
            time.sleep(0.2)
        err = open(pf.err.name).read()
        assert "error forwarding port 8081 to pod default/kubia-pf" in err and "connection refused" in err, err
        assert pf.wait(timeout=20) != 0  # "lost connection to pod"
    finally:
        pf.terminate()
        pf.wait(timeout=10)

    r = node.kubectl("port-forward", "pod/nope", ":8080", check=False, timeout=30)
    assert r.returncode != 0 and "not found" in r.stderr, r.stderr
    assert "bad SPDY" not in node.log.read_text()


def test_port_forward_to_a_host_network_pod(node):
    """A hostNetwork pod's ports are the node's: port-forward connects in the node's network
    namespace (the agent's), not a pod network's."""
    node.apply({"metadata": {"name": "on-host"},
                "spec": {"hostNetwork": True, "terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                     "command": ["nc", "-ll", "-p", "9001", "-e", "echo", "from the host"]}]}})
    node.wait("on-host", lambda p: p and p["status"].get("phase") == "Running", what="Running")
    # The same port answers on the node's loopback (once nc listens).
    deadline = time.monotonic() + 20
    while node.in_node("busybox", "nc", "-w", "5", "127.0.0.1", "9001", input="", check=False).stdout != "from the host\n":
        assert time.monotonic() < deadline, "nc does not answer on the node"
        time.sleep(0.2)
    pf, local = port_forward(node, "on-host", 9001)
    try:
        for _ in range(3):
            assert echo_through(local[9001], b"") == b"from the host\n"
    finally:
        pf.terminate()
        pf.wait(timeout=10)
