"""Services and cluster DNS across stevedore nodes (tests/cluster/cluster.py's network
mode, with CoreDNS deployed as kubeadm deploys it): names resolve from pods through
kube-dns, an in-cluster client finds and authenticates to the API server with what the
pod is given, a Deployment spread over the workers answers through its Service's name
from every worker and through its NodePort on every node's address, and the API server
reaches a Service through the control-plane node's rules. All traffic is real, between
the nodes' network namespaces."""

import collections
import importlib.machinery
import importlib.util
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from cluster import CLUSTER_DNS, wait_for
from hoststate import kill_netns_pids, run

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CLIENT_IP = "10.250.0.200"


def running(p):
    return p and p["status"].get("phase") == "Running" and p["status"].get("podIP") and all(
        c.get("ready") for c in p["status"].get("containerStatuses", []))


@pytest.fixture
def ns(net_cluster):
    """A namespace of the test's own, deleted with everything in it afterwards."""
    name = f"svc-{secrets.token_hex(3)}"
    net_cluster.kubectl("create", "namespace", name)
    yield name
    net_cluster.kubectl("delete", "namespace", name, "--wait=true", "--timeout=120s", check=False, timeout=150)


def pod(name, ns, image, node=None, command=None, labels=None):
    container = {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent"}
    if command:
        container["command"] = command
    spec = {"containers": [container], "terminationGracePeriodSeconds": 1}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {}}, "spec": spec}


def start_pods(cluster, ns, *objs):
    """Applies the pods and waits until all are Running; {name: pod}."""
    for obj in objs:
        cluster.apply(obj)
    return {o["metadata"]["name"]: cluster.wait_pod(o["metadata"]["name"], running, namespace=ns, what="Running")
            for o in objs}


def service(name, ns, selector, port=8080, **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": selector, "ports": [{"port": port, "targetPort": 8080}], **spec}}


def exec_in(cluster, ns, pod_name, script, timeout=120):
    r = cluster.kubectl("exec", "-n", ns, pod_name, "--", "sh", "-c", script, check=False, timeout=timeout)
    return r


def nslookup(cluster, ns, client, name):
    """The addresses busybox's nslookup gives for name from inside pod client (the answer
    section only: the server's own address is printed first)."""
    # Retried for a while: a CoreDNS replica restarting (under load here) drops queries.
    deadline = time.monotonic() + 60
    while True:
        r = exec_in(cluster, ns, client, f"nslookup {name}")
        if r.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert r.returncode == 0, f"nslookup {name} in {client}: {r.stdout!r} {r.stderr!r}"
    answer = r.stdout.split("Name:", 1)[1] if "Name:" in r.stdout else ""
    return set(re.findall(r"Address:\s*([0-9.]+)", answer)), r.stdout


def hostnames_by_http(cluster, ns, client, address, port=8080, count=40):
    """count HTTP GETs with busybox nc from pod client to address:port in one exec; the
    hostnames that answered (kubia says "You've hit <hostname>")."""
    request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {address} {port}"
    r = exec_in(cluster, ns, client, f"for i in $(seq {count}); do {request}; done", timeout=300)
    return collections.Counter(re.findall(r"You've hit (\S+)", r.stdout)), r


def test_cluster_dns_names(net_cluster, cluster_images, ns):
    c = net_cluster
    start_pods(c, ns,
               pod("web-a", ns, cluster_images["kubia"], node="node-1", labels={"app": "web"}),
               pod("web-b", ns, cluster_images["kubia"], node="node-2", labels={"app": "web"}),
               pod("client", ns, cluster_images["busybox"], node="node-3", command=["sleep", "3600"]))
    c.apply(service("web", ns, {"app": "web"}))
    c.apply(service("web-headless", ns, {"app": "web"}, clusterIP="None"))
    web_ip = c.get_json("service", "-n", ns, "web")["spec"]["clusterIP"]
    api_ip = c.get_json("service", "-n", "default", "kubernetes")["spec"]["clusterIP"]
    pod_ips = {p["status"]["podIP"] for p in c.get_json("pods", "-n", ns, "-l", "app=web")["items"]}
    assert len(pod_ips) == 2

    # The pod's resolver is kube-dns, searching the pod's namespace first.
    resolv = exec_in(c, ns, "client", "cat /etc/resolv.conf").stdout
    assert f"nameserver {CLUSTER_DNS}" in resolv, resolv
    assert f"search {ns}.svc.cluster.local svc.cluster.local cluster.local" in resolv, resolv

    addresses, out = nslookup(c, ns, "client", "kubernetes.default.svc.cluster.local")
    assert addresses == {api_ip}, out
    addresses, out = nslookup(c, ns, "client", f"web.{ns}.svc.cluster.local")
    assert addresses == {web_ip}, out
    # <svc>.<ns> through the search path, as getaddrinfo resolves it (busybox's ping).
    # Retried: glibc sends A and AAAA from one socket at once, and under load one of the
    # two answers was seen lost once (the UDP conntrack race of DNAT'd DNS).
    wait_for(lambda: f"({web_ip})" in exec_in(c, ns, "client", f"ping -c 1 -W 2 web.{ns} 2>&1 | head -1").stdout,
             timeout=30, what=f"web.{ns} resolving to {web_ip}")
    # A headless Service's name: an A record for each ready pod, as they become ready.
    wait_for(lambda: nslookup(c, ns, "client", f"web-headless.{ns}.svc.cluster.local")[0] == pod_ips,
             what="the headless Service's records")
    # And the name leads somewhere: the Service answers by name.
    hits, r = hostnames_by_http(c, ns, "client", f"web.{ns}", count=10)
    assert hits and set(hits) <= {"web-a", "web-b"}, r


def kubectl_image(workdir, kubectl_bin):
    """An OCI layout: the busybox layer and the cluster's own kubectl (static Go) as
    /usr/local/bin/kubectl, made with build-images' layer and layout writers."""
    loader = importlib.machinery.SourceFileLoader("build_images", str(ROOT / "tests" / "images" / "build-images"))
    spec = importlib.util.spec_from_loader("build_images", loader)
    images = importlib.util.module_from_spec(spec)
    loader.exec_module(images)
    layer = images.Layer()
    for d in ("usr", "usr/local", "usr/local/bin"):
        layer.dir(d)
    layer.file("usr/local/bin/kubectl", Path(kubectl_bin).read_bytes(), 0o755)
    layout = workdir / "kubectl"
    images.Layout(layout).image([images.busybox_layer(), layer.finish()],
                                {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin:/sbin", "HOME=/tmp"]})
    return layout


def test_in_cluster_client_lists_pods(net_cluster, registry, cluster_images, ns, tmp_path):
    c = net_cluster
    registry.push(kubectl_image(tmp_path, c.kubectl_bin), "kubectl")
    image = f"{c.registry_host(registry.port)}/kubectl:latest"
    start_pods(c, ns, pod("in-cluster", ns, image, node="node-2", command=["sleep", "3600"]))
    env = exec_in(c, ns, "in-cluster", "env").stdout
    assert "KUBERNETES_SERVICE_HOST=10.96.0.1" in env and "KUBERNETES_SERVICE_PORT=443" in env, env

    # No kubeconfig: kubectl takes client-go's InClusterConfig (KUBERNETES_SERVICE_HOST/
    # PORT, the mounted token and CA). Without a grant the API server knows who it is.
    r = exec_in(c, ns, "in-cluster", "kubectl get pods -o name")
    assert r.returncode != 0 and f"system:serviceaccount:{ns}:default" in r.stderr, r

    c.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "pod-reader", "namespace": ns},
             "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    c.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "pod-reader", "namespace": ns},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
             "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]})
    r = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
        exec_in(c, ns, "in-cluster", "kubectl get pods -o name")), what="the pod list from inside")
    assert r.stdout.split() == ["pod/in-cluster"], r.stdout


@pytest.fixture
def client_netns(net_cluster):
    """A client on the node network, outside every node: a namespace with a veth onto the
    node network's bridge, at 10.250.0.200/24. Yields its name."""
    name = f"dns-client-{secrets.token_hex(3)}"
    port = f"vdns{secrets.token_hex(3)}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        run("ip", "-n", net_cluster.bridge_netns, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", name)
        run("ip", "-n", net_cluster.bridge_netns, "link", "set", port, "master", "br0", "up")
        run("ip", "-n", name, "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
        run("ip", "-n", name, "link", "set", "eth0", "up")
        yield name
    finally:
        kill_netns_pids(name)
        run("ip", "netns", "del", name, check=False)


def curl_hostnames(netns, url, count=40):
    """count GETs with curl from netns; {hostname: answers} and the failures' count."""
    hits, failures = collections.Counter(), 0
    for _ in range(count):
        r = subprocess.run(["ip", "netns", "exec", netns, "curl", "-s", "--max-time", "3", url],
                           capture_output=True, text=True)
        m = re.search(r"You've hit (\S+)", r.stdout)
        if m:
            hits[m.group(1)] += 1
        else:
            failures += 1
    return hits, failures


def test_deployment_across_workers(net_cluster, cluster_images, ns, client_netns):
    c = net_cluster
    c.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kubia", "namespace": ns},
             "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "kubia"}},
                      "template": {"metadata": {"labels": {"app": "kubia"}},
                                   "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                       {"name": "kubia", "image": cluster_images["kubia"],
                                        "imagePullPolicy": "IfNotPresent",
                                        "ports": [{"containerPort": 8080}],
                                        "readinessProbe": {"httpGet": {"path": "/", "port": 8080},
                                                           "periodSeconds": 2}}]}}}})
    c.apply(service("kubia", ns, {"app": "kubia"}, type="NodePort"))
    c.apply(service("kubia-local", ns, {"app": "kubia"}, type="NodePort", externalTrafficPolicy="Local"))

    def all_ready():
        items = c.get_json("pods", "-n", ns, "-l", "app=kubia")["items"]
        return items if len(items) == 6 and all(running(p) for p in items) else None
    kubia_pods = wait_for(all_ready, timeout=240, what="6 kubia pods Running and Ready")
    names = {p["metadata"]["name"] for p in kubia_pods}
    by_node = collections.defaultdict(set)
    for p in kubia_pods:
        by_node[p["spec"]["nodeName"]].add(p["metadata"]["name"])
    worker_names = {n.name for n in c.workers}
    assert set(by_node) <= worker_names, by_node  # the control-plane taint kept them off
    assert len(by_node) >= 2, f"the scheduler spread 6 replicas over {dict(by_node)}"

    # From a pod on every worker, through the Service's name: all six answer.
    clients = [pod(f"client-{n.name}", ns, cluster_images["busybox"], node=n.name, command=["sleep", "3600"])
               for n in c.workers]
    start_pods(c, ns, *clients)
    for client in clients:
        hits, r = hostnames_by_http(c, ns, client["metadata"]["name"], "kubia", count=60)
        assert set(hits) == names, f"{client['metadata']['name']}: {hits} of {names}; {r.stderr}"

    # The NodePort on every node's address (the control plane's too), from outside the
    # nodes: all six answer on each.
    node_port = c.get_json("service", "-n", ns, "kubia")["spec"]["ports"][0]["nodePort"]
    for node in c.nodes:
        hits, failures = curl_hostnames(client_netns, f"http://{node.ip}:{node_port}/", count=60)
        assert set(hits) == names and not failures, f"{node.name}:{node_port}: {hits}, {failures} failed"

    # externalTrafficPolicy Local: only nodes with endpoints answer, only from their own
    # pods, and the pod sees the client's own address (no masquerade).
    local_port = c.get_json("service", "-n", ns, "kubia-local")["spec"]["ports"][0]["nodePort"]
    for node in c.nodes:
        url = f"http://{node.ip}:{local_port}/"
        if node.name not in by_node:
            hits, failures = curl_hostnames(client_netns, url, count=3)
            assert not hits, f"{node.name} has no kubia pod, yet answered on {local_port}: {hits}"
            continue
        hits, failures = curl_hostnames(client_netns, url, count=30)
        assert set(hits) == by_node[node.name] and not failures, \
            f"{node.name}:{local_port}: {hits}, {failures} failed; its pods {by_node[node.name]}"
        for pod_name in hits:
            logs = c.kubectl("logs", "-n", ns, pod_name).stdout
            assert f"Received request from {CLIENT_IP}" in logs, f"{pod_name}: {logs}"

    # The API server's Service proxy: through the control-plane node's own rules.
    r = c.kubectl("get", "--raw", f"/api/v1/namespaces/{ns}/services/kubia:8080/proxy/", check=False)
    assert r.returncode == 0 and re.search(r"You've hit (\S+)", r.stdout).group(1) in names, r
