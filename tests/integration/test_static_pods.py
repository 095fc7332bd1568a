"""Static pods beside the API server, as kubelet runs them: `stevedore agent --kubeconfig`
with staticPodPath (or --pod-manifest-path) runs the Pods of that directory's manifests and
keeps their mirror pods in the API — seen through kubectl as a cluster admin sees them.
The node is test_agent_pods.py's: a network namespace of its own, the API server reached
through a loopback relay, with NodeRestriction and the Node authorizer on."""

import json
import time

import pytest

import test_agent_pods as agent_pods

pytestmark = pytest.mark.cluster

NODE = agent_pods.NAME


def kubia_manifest(name, env=None, host_port=None):
    container = {"name": "kubia", "image": "kubia", "imagePullPolicy": "IfNotPresent",
                 "ports": [{"containerPort": 8080}]}
    if host_port:
        container["ports"][0]["hostPort"] = host_port
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 2}}


class StaticNode(agent_pods.Node):
    """The agent with a manifest directory: staticPodPath in its config file, or
    --pod-manifest-path."""

    def __init__(self, *args, manifests, flag=False, **kwargs):
        self.manifests, self.flag = manifests, flag
        super().__init__(*args, **kwargs)

    def start(self):
        if self.flag and "--pod-manifest-path" not in self.args:
            self.args += ["--pod-manifest-path", str(self.manifests)]
        super().start()

    def write(self, name, manifest):
        # Written beside, then renamed in: the agent never reads half a file.
        tmp = self.manifests / f".{name}.tmp"
        tmp.write_text(json.dumps(manifest))
        tmp.rename(self.manifests / name)

    def wait_registered(self, timeout=60):
        deadline = time.monotonic() + timeout
        while self.kubectl("get", "node", NODE, check=False).returncode != 0:
            assert time.monotonic() < deadline and self.proc.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.25)

    def mirror(self, name, predicate, timeout=60, what="the condition"):
        return self.wait(f"{name}-{NODE}", predicate, timeout=timeout, what=what)


@pytest.fixture
def static_node(request, stevedore_bin, cluster, netns, tmp_path, images, registry, auth_registry):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    flag = getattr(request, "param", {}).get("flag", False)
    config = None if flag else f"staticPodPath: {manifests}\n"
    n = StaticNode(stevedore_bin, cluster, netns("snode"), tmp_path, registry, auth_registry,
                   manifests=manifests, flag=flag, config=config)
    n.image_import(images["kubia"], "kubia")
    yield n
    # Static pods go with their manifests; API pods with kubectl delete.
    for f in manifests.iterdir():
        f.unlink()
    n.kubectl("delete", "pods", "--all", "--grace-period=1", "--wait=false", check=False)
    # Gone from the API, and stopped on the node (a static pod whose mirror pod was
    # deleted may still be stopping).
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and (n.kubectl("get", "pods", "-o", "name").stdout.strip()
                                           or list((n.run_dir / "pods").glob("*"))):
        time.sleep(0.25)
    leftover = n.kubectl("get", "pods", "-A", "--field-selector", f"spec.nodeName={NODE}", "-o", "name").stdout.strip()
    assert n.stop() == 0, n.log.read_text()[-4000:]
    n.relay.close()
    n.kubelet_relay.close()
    n.registry_relay.close()
    n.auth_registry_relay.close()
    n.kubectl("delete", "node", NODE, "--ignore-not-found")
    assert not leftover, leftover
    # Nothing of the pods is left on the node.
    assert not list((n.run_dir / "pods").glob("*")), list((n.run_dir / "pods").glob("*"))


def container(p):
    return p["status"]["containerStatuses"][0]


def test_static_pod_and_its_mirror_pod(static_node):
    node = static_node
    node.write("web.json", kubia_manifest("web"))
    p = node.mirror("web", agent_pods.running, what="the mirror pod Running with an IP")
    name, ip = f"web-{NODE}", p["status"]["podIP"]
    meta = p["metadata"]
    hash_ = meta["annotations"]["kubernetes.io/config.hash"]
    assert meta["annotations"]["kubernetes.io/config.mirror"] == hash_
    assert meta["annotations"]["kubernetes.io/config.source"] == "file"
    assert "kubernetes.io/config.seen" in meta["annotations"]
    assert len(hash_) == 32 and hash_ != meta["uid"]
    node_uid = json.loads(node.kubectl("get", "node", NODE, "-o", "json").stdout)["metadata"]["uid"]
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": node_uid,
                                        "controller": True}]
    assert p["spec"]["nodeName"] == NODE
    assert {"operator": "Exists", "effect": "NoExecute"} in p["spec"]["tolerations"]

    # kubectl shows it as any pod of the node; the container answers on its IP with
    # its name (the static pod's: <pod>-<node>).
    row = next(line.split() for line in node.kubectl("get", "pods", "-o", "wide").stdout.splitlines()
               if line.startswith(name))
    assert row[1:3] == ["1/1", "Running"] and ip in row and NODE in row
    assert f"You've hit {name}" in node.in_node("wget", "-qO-", f"http://{ip}:8080/").stdout
    # Its logs through the kubelet API, its CRI log under the static pod's UID.
    assert node.kubectl("logs", name).stdout.startswith("Kubia server starting...")
    assert (node.log_dir / "pods" / f"default_{name}_{hash_}" / "kubia" / "0.log").exists()

    # Deleted through the API: made again, the static pod untouched.
    before = container(p)
    node.kubectl("delete", "pod", name, "--wait=true", timeout=60)
    again = node.mirror("web", lambda q: agent_pods.running(q) and q["metadata"]["uid"] != meta["uid"],
                        what="the mirror pod created again")
    after = container(again)
    assert after["containerID"] == before["containerID"] and after["restartCount"] == 0
    assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]
    assert again["status"]["podIP"] == ip
    assert again["metadata"]["annotations"]["kubernetes.io/config.mirror"] == hash_

    # The agent restarted: the same static pod (its UID is the manifest's), adopted; the
    # mirror pod stays as it is.
    node.proc.kill()
    node.proc.wait()
    node.start()
    time.sleep(3)
    kept = node.mirror("web", agent_pods.running, what="Running after the agent's restart")
    assert kept["metadata"]["uid"] == again["metadata"]["uid"]
    assert container(kept)["containerID"] == before["containerID"] and container(kept)["restartCount"] == 0

    # The manifest changed: the old pod stops, a new one runs; the mirror pod is made
    # again with the new hash.
    node.write("web.json", kubia_manifest("web", env={"VERSION": "2"}))
    changed = node.mirror("web", lambda q: agent_pods.running(q) and
                          q["metadata"]["annotations"]["kubernetes.io/config.mirror"] != hash_,
                          what="the mirror pod of the changed manifest Running")
    new_hash = changed["metadata"]["annotations"]["kubernetes.io/config.hash"]
    assert container(changed)["containerID"] != before["containerID"]
    assert changed["metadata"]["annotations"]["kubernetes.io/config.mirror"] == new_hash
    new_ip = changed["status"]["podIP"]
    assert f"You've hit {name}" in node.in_node("wget", "-qO-", f"http://{new_ip}:8080/").stdout
    old_id = before["containerID"].removeprefix("stevedore://")
    assert not (node.run_dir / "runtime" / old_id).exists()
    assert not (node.run_dir / "pods" / hash_).exists()

    # The manifest removed: the pod stops, its mirror pod goes, nothing of it is left.
    (node.manifests / "web.json").unlink()
    node.mirror("web", lambda q: q is None, timeout=30, what="the mirror pod deleted")
    deadline = time.monotonic() + 30
    while (node.run_dir / "pods" / new_hash).exists() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not (node.run_dir / "pods" / new_hash).exists()
    assert not (node.root / "pods" / new_hash).exists()
    assert node.in_node("wget", "-T", "2", "-qO-", f"http://{new_ip}:8080/", check=False).returncode != 0


@pytest.mark.parametrize("static_node", [{"flag": True}], indirect=True)
def test_stale_and_orphaned_mirrors_refused_manifest_and_api_pods_beside(static_node):
    """--pod-manifest-path: a mirror pod whose hash is not the manifest's (made for an
    older manifest while no agent ran) is deleted and made again; one without a manifest
    is deleted; a static pod that refers to a Secret is refused as kubelet refuses it; the
    API server's pods run beside the static ones, admitted against them (a hostPort the
    static pod holds refused); a mirror pod is never run itself."""
    node = static_node

    def mirror_object(name):
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{name}-{NODE}", "namespace": "default",
                             "annotations": {"kubernetes.io/config.mirror": "0" * 32}},
                "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}

    node.wait_registered()
    node.proc.terminate()
    node.proc.wait(timeout=15)
    node.kubectl("create", "-f", "-", input=json.dumps(mirror_object("old")))
    stale_uid = node.pod(f"old-{NODE}")["metadata"]["uid"]
    node.write("old.json", kubia_manifest("old", host_port=18080))
    node.start()
    p = node.mirror("old", lambda q: agent_pods.running(q) and q["metadata"]["uid"] != stale_uid,
                    what="the stale mirror pod replaced")
    assert p["metadata"]["annotations"]["kubernetes.io/config.mirror"] == \
        p["metadata"]["annotations"]["kubernetes.io/config.hash"]
    assert p["spec"]["containers"][0]["image"] == "kubia"
    assert not (node.run_dir / "pods" / stale_uid).exists()

    node.kubectl("create", "-f", "-", input=json.dumps(mirror_object("orphan")))
    node.mirror("orphan", lambda q: q is None, timeout=30, what="the orphaned mirror pod deleted")

    secretive = kubia_manifest("secretive")
    secretive["spec"]["containers"][0]["env"] = [
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    node.write("secretive.json", secretive)
    deadline = time.monotonic() + 20
    while "static pods may not reference secrets" not in node.log.read_text():
        assert time.monotonic() < deadline, node.log.read_text()[-3000:]
        time.sleep(0.25)
    assert node.pod(f"secretive-{NODE}") is None

    node.apply(agent_pods.kubia_pod("api-kubia"))
    q = node.wait("api-kubia", agent_pods.running, what="the API's pod Running beside the static one")
    assert "You've hit api-kubia" in node.in_node("wget", "-qO-", f"http://{q['status']['podIP']}:8080/").stdout
    assert node.mirror("old", agent_pods.running)["metadata"]["uid"] == p["metadata"]["uid"]

    conflicting = agent_pods.kubia_pod("api-hostport")
    conflicting["spec"]["containers"][0]["ports"][0]["hostPort"] = 18080
    node.apply(conflicting)
    r = node.wait("api-hostport", lambda q: q and q["status"].get("phase") == "Failed", timeout=30,
                  what="refused: the static pod holds the hostPort")
    assert r["status"]["reason"] == "NodePorts"
    assert r["status"]["message"].endswith("didn't have free ports for the requested pod ports")
