"""A node lost and back, on a cluster of its own (its agent is stopped): the Node goes
NotReady once its Lease is older than the controller manager's grace period and gets
the unreachable taints; a Deployment whose pods tolerate them for 10 s has them evicted
and started again on the other worker, and the Service's EndpointSlice follows; with the
agent started again, the pods deleted meanwhile are stopped and cleaned on the node
(no sandbox, network namespace, veth or container left) and the Node is Ready again."""

import time

import pytest

from cluster import Cluster, wait_for
from hoststate import infrastructure_netns, infrastructure_pids

pytestmark = pytest.mark.cluster

# kube-controller-manager's default is 50 s; the agent renews its Lease every 10 s.
GRACE_PERIOD = "20s"
REPLICAS = 4
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"


@pytest.fixture
def lost_cluster(tmp_path, stevedore_bin, registry):
    with Cluster(tmp_path / "cluster", network=True, workers=2, stevedore_bin=stevedore_bin,
                 registries=[registry.port], on_spawn=infrastructure_pids.add, on_netns=infrastructure_netns.add,
                 dns=False, controller_args=[f"--node-monitor-grace-period={GRACE_PERIOD}"]) as c:
        yield c


def deployment(image):
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}
                   for key in (UNREACHABLE, NOT_READY)]
    labels = {"app": "kubia"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kubia", "namespace": "default"},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "terminationGracePeriodSeconds": 1, "tolerations": tolerations,
                         "containers": [{"name": "kubia", "image": image, "imagePullPolicy": "IfNotPresent",
                                         "ports": [{"containerPort": 8080}]}]}}}}


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubia", "namespace": "default"},
           "spec": {"selector": {"app": "kubia"}, "ports": [{"port": 8080, "targetPort": 8080}]}}


def kubia_pods(c):
    return c.get_json("pods", "-l", "app=kubia")["items"]


def serving(pods):
    """{name: (node, pod IP)} of the Running, Ready pods not being deleted (the node
    controller turns Ready False on a lost node's pods)."""
    def ready(p):
        return any(x["type"] == "Ready" and x["status"] == "True" for x in p["status"].get("conditions", []))
    return {p["metadata"]["name"]: (p["spec"].get("nodeName"), p["status"].get("podIP")) for p in pods
            if p["status"].get("phase") == "Running" and "deletionTimestamp" not in p["metadata"] and ready(p)}


def ready_endpoints(c):
    slices = c.get_json("endpointslices", "-l", "kubernetes.io/service-name=kubia")["items"]
    return {a for s in slices for e in s.get("endpoints") or [] if e.get("conditions", {}).get("ready")
            for a in e["addresses"]}


def node_state(c, name):
    node = c.get_json("node", name)
    ready = next((x["status"] for x in node["status"].get("conditions", []) if x["type"] == "Ready"), None)
    taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
    return ready, taints


def containers(node):
    """The container ids the node's runtime has (its `runtime list`, header left out)."""
    r = node.exec(str(node.cluster.stevedore_bin), "runtime", "--root", node.run_dir / "runtime", "list")
    return [line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip()]


def test_node_lost_and_back(lost_cluster, cluster_images):
    c = lost_cluster
    c.apply(SERVICE)
    c.apply(deployment(cluster_images["kubia"]))
    before = wait_for(lambda: (lambda s: len(s) == REPLICAS and s)(serving(kubia_pods(c))), 180,
                      f"{REPLICAS} kubia pods Running")
    per_node = {w.name: [n for n, (node, _) in before.items() if node == w.name] for w in c.workers}
    lost = c.node(max(per_node, key=lambda n: len(per_node[n])))
    other = next(w for w in c.workers if w is not lost)
    lost_pods = {p["metadata"]["name"]: p["metadata"]["uid"] for p in kubia_pods(c)
                 if p["spec"].get("nodeName") == lost.name}
    assert lost_pods, per_node
    wait_for(lambda: ready_endpoints(c) == {ip for _, ip in before.values()}, 60, "the endpoints of all pods")

    # SIGTERM, as systemd stops the agent: its pods keep running, as kubelet's do.
    running_before = containers(lost)
    assert lost.stop() == 0, lost.log_tail()
    assert containers(lost) == running_before

    stopped = time.monotonic()
    wait_for(lambda: (lambda r, t: r != "True" and (UNREACHABLE, "NoExecute") in t)(*node_state(c, lost.name)),
             120, f"{lost.name} NotReady with the unreachable NoExecute taint")
    not_ready_after = time.monotonic() - stopped

    # Evicted once the 10 s toleration ran out, replaced on the other worker.
    after = wait_for(lambda: (lambda s: len(s) == REPLICAS and {n for n, _ in s.values()} == {other.name} and s)(
        serving(kubia_pods(c))), 120, f"{REPLICAS} kubia pods serving again, all on the other worker")
    terminating = {p["metadata"]["name"] for p in kubia_pods(c) if "deletionTimestamp" in p["metadata"]}
    assert set(lost_pods) <= terminating, (lost_pods, terminating)
    wait_for(lambda: ready_endpoints(c) == {ip for _, ip in after.values()}, 60,
             "the EndpointSlice holding the replacements only")

    # Back: the agent finds its pods deleted and stops them, and the API lets them go.
    lost.start()
    wait_for(lambda: not set(lost_pods) & {p["metadata"]["name"] for p in kubia_pods(c)}, 120,
             "the evicted pods gone from the API")
    wait_for(lambda: (lambda r, t: r == "True" and not {k for k, _ in t} & {UNREACHABLE, NOT_READY})(
        *node_state(c, lost.name)), 120, f"{lost.name} Ready without the taints")
    assert containers(lost) == [], lost.log_tail()
    for uid in lost_pods.values():
        assert not (lost.run_dir / "pods" / uid).exists()
        assert not (lost.run_dir / "netns" / uid).exists()
    veths = lost.exec("ip", "-o", "link", "show", "master", "cni0", check=False).stdout
    assert veths.strip() == "", veths
    assert serving(kubia_pods(c)) == after
    print(f"{lost.name} NotReady {not_ready_after:.0f} s after its agent stopped")
