"""The test substrate itself works: real control plane, real registry, test images that
run, namespaces that carry traffic, and a leak check that catches leaks."""

import json
import subprocess
import time

import pytest

from conftest import ROOT

from hoststate import HostState, remove_leaks, run
from oci import layer_entries, layout_manifest, unpack_layout


# --- control plane ---------------------------------------------------------------------

@pytest.mark.cluster
def test_apiserver_ready_and_kubectl_works(cluster):
    assert cluster.kubectl("get", "--raw", "/readyz").stdout == "ok"
    namespaces = cluster.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert "namespace/default" in namespaces
    assert "namespace/kube-node-lease" in namespaces
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.")


@pytest.mark.cluster
def test_node_credentials_are_held_to_their_own_node(cluster):
    """The node kubeconfig authenticates as system:node:node-a, and the Node authorizer +
    NodeRestriction let it create its own Node object but no other."""
    kc = cluster.node_kubeconfigs["node-a"]
    who = json.loads(cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig=kc).stdout)
    assert who["status"]["userInfo"]["username"] == "system:node:node-a"
    assert "system:nodes" in who["status"]["userInfo"]["groups"]

    def node(name):
        return json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})

    try:
        cluster.kubectl("create", "-f", "-", kubeconfig=kc, input=node("node-a"))
        assert "node/node-a" in cluster.kubectl("get", "nodes", "-o", "name").stdout
        other = cluster.kubectl("create", "-f", "-", kubeconfig=kc, input=node("node-b"),
                                check=False)
        assert other.returncode != 0
        assert "forbidden" in other.stderr.lower()
    finally:
        cluster.kubectl("delete", "node", "node-a", "--ignore-not-found")


@pytest.mark.cluster
def test_walkthrough_manifests_are_accepted_by_the_api_server(cluster):
    """examples/ holds what the walkthrough applies; the real API server (with its
    admission chain, once the controller manager has made the default ServiceAccount)
    accepts every one."""
    deadline = time.monotonic() + 30
    while cluster.kubectl("get", "serviceaccount", "default", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the controller manager made no default ServiceAccount"
        time.sleep(0.5)
    out = cluster.kubectl("apply", "--dry-run=server", "-f", ROOT / "examples").stdout
    assert "replicationcontroller/kubia created (server dry run)" in out
    assert "service/kubia-http created (server dry run)" in out
    assert "pod/hello created (server dry run)" in out


# --- registry and images ---------------------------------------------------------------

def test_skopeo_pushes_kubia_and_registry_lists_it(registry, images):
    digest, _ = layout_manifest(images["kubia"])
    ref = registry.push(images["kubia"], "kubia", "v1")
    # The session's registry: other tests push kubia:latest too.
    assert "v1" in registry.get("/v2/kubia/tags/list")["tags"]
    inspected = json.loads(run("skopeo", "inspect", "--tls-verify=false",
                               f"docker://{ref}").stdout)
    assert inspected["Digest"] == digest


def test_images_share_the_busybox_layer(images):
    _, busybox = layout_manifest(images["busybox"])
    _, kubia = layout_manifest(images["kubia"])
    assert kubia["layers"][0]["digest"] == busybox["layers"][0]["digest"]
    assert len(kubia["layers"]) == 2


def test_layered_image_has_whiteout_and_opaque_dir(images):
    _, manifest = layout_manifest(images["layered"])
    assert len(manifest["layers"]) == 3
    second = layer_entries(images["layered"], 1)
    assert ".wh.a.txt" in second
    assert "dir/.wh..wh..opq" in second


# --- namespaces and real traffic -------------------------------------------------------

def test_kubia_answers_with_its_hostname_across_namespaces(images, netns, veth, root_dir):
    """The kubia image runs in one namespace and a client in another reaches it over a
    veth pair: the substrate carries real traffic and the image behaves as the walkthrough
    expects."""
    rootfs = root_dir / "kubia"
    unpack_layout(images["kubia"], rootfs)
    server_ns, client_ns = netns(), netns()
    veth(server_ns, "10.99.0.1/24", client_ns, "10.99.0.2/24")

    log = root_dir / "kubia.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            ["ip", "netns", "exec", server_ns, "unshare", "--uts", "sh", "-c",
             f"hostname kubia-7x2qp && exec chroot {rootfs} /app/kubia"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            reply = run("ip", "netns", "exec", client_ns, "curl", "-s", "--max-time", "2",
                        "http://10.99.0.1:8080/", check=False)
            if reply.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert reply.stdout == "You've hit kubia-7x2qp\n"
    finally:
        server.terminate()
        server.wait(timeout=10)
    lines = log.read_text().splitlines()
    assert lines[0] == "Kubia server starting..."
    assert "Received request from 10.99.0.2" in lines


def test_namespaces_are_isolated_until_linked(netns):
    a, b = netns(), netns()
    run("ip", "-n", a, "addr", "add", "10.98.0.1/24", "dev", "lo")
    unreachable = run("ip", "netns", "exec", b, "ping", "-c1", "-W1", "10.98.0.1", check=False)
    assert unreachable.returncode != 0


def test_leak_check_sees_what_a_test_leaves_behind(tmp_path):
    before = HostState()
    run("ip", "netns", "add", "sdt-leaktest")
    run("ip", "link", "add", "sdleak0", "type", "veth", "peer", "name", "sdleak1")
    (tmp_path / "m").mkdir()
    run("mount", "-t", "tmpfs", "none", tmp_path / "m")
    run("nft", "add", "table", "inet", "sdt_leaktest")
    sleeper = subprocess.Popen(["sleep", "60"])

    leaks = HostState().leaks_since(before)
    remove_leaks(leaks)
    sleeper.wait(timeout=5)

    assert leaks["netns"] == ["sdt-leaktest"]
    assert leaks["veth"] == ["sdleak0", "sdleak1"]
    assert leaks["mount"] == [str(tmp_path / "m")]
    assert leaks["nft table"] == ["table inet sdt_leaktest"]
    assert leaks["process"] == [sleeper.pid]
    assert HostState().leaks_since(before) == {}
