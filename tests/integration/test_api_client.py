"""The API client (kubeconfig, TLS, list+watch) against the real kube-apiserver, through
`stevedore watch`, which runs the same list+watch the agent uses, with the node's own
credentials."""

import json
import signal
import subprocess
import threading
import time

import pytest

from hoststate import run

pytestmark = pytest.mark.cluster

NODE = "node-a"


class Watcher:
    """`stevedore watch …` in the background, its output lines collected as they come."""

    def __init__(self, stevedore_bin, kubeconfig, *args):
        self.lines = []
        self.proc = subprocess.Popen(
            [str(stevedore_bin), "watch", "--kubeconfig", str(kubeconfig), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True).start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line.rstrip("\n"))

    def wait_for(self, prefix, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.startswith(prefix) for line in self.lines):
                return
            assert self.proc.poll() is None, f"watch exited: {self.stderr}"
            time.sleep(0.05)
        raise AssertionError(f"no '{prefix}' in {self.lines}; stderr: {self.stderr}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
        assert self.proc.wait(timeout=10) == 0, self.stderr


@pytest.fixture
def watcher(stevedore_bin, cluster):
    started = []

    def start(*args, kubeconfig=None):
        w = Watcher(stevedore_bin, kubeconfig or cluster.node_kubeconfigs[NODE], *args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


@pytest.fixture
def pods(cluster):
    """pods(name, node) creates a pod bound to node (no kubelet runs it); all are
    force-deleted after the test."""
    made = []
    deadline = time.monotonic() + 30
    while cluster.kubectl("get", "serviceaccount", "default", check=False).returncode != 0:
        assert time.monotonic() < deadline, "no default ServiceAccount"
        time.sleep(0.3)

    def create(name, node=NODE):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "kubia"}]}}
        cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
        made.append(name)

    yield create
    if made:
        cluster.kubectl("delete", "pod", "--force", "--grace-period=0", "--ignore-not-found",
                        *made, check=False)


def force_delete(cluster, name):
    cluster.kubectl("delete", "pod", name, "--force", "--grace-period=0")


def test_node_lists_only_its_own_pods(cluster, stevedore_bin, pods):
    pods("mine-1")
    pods("theirs-1", node="node-b")
    r = run(stevedore_bin, "watch", "--kubeconfig", cluster.node_kubeconfigs[NODE], "--once",
            "--field-selector", f"spec.nodeName={NODE}", "pods")
    lines = r.stdout.splitlines()
    assert any(l.startswith("ADDED default/mine-1 ") for l in lines)
    assert not any("theirs-1" in l for l in lines)
    assert lines[-1] == "SYNCED 1"


def test_node_authorizer_refusal_is_reported(cluster, stevedore_bin):
    # A node may read Secrets only of its own pods, one by one: never list them all.
    r = run(stevedore_bin, "watch", "--kubeconfig", cluster.node_kubeconfigs[NODE], "--once",
            "secrets", check=False)
    assert r.returncode == 1
    assert "HTTP 403" in r.stderr and f'"system:node:{NODE}" cannot list resource "secrets"' in r.stderr


def test_watch_follows_adds_changes_and_deletes(cluster, watcher, pods):
    w = watcher("--field-selector", f"spec.nodeName={NODE}", "pods")
    w.wait_for("SYNCED")
    pods("followed")
    w.wait_for("ADDED default/followed ")
    cluster.kubectl("label", "pod", "followed", "tier=web")
    w.wait_for("MODIFIED default/followed ")
    force_delete(cluster, "followed")
    w.wait_for("DELETED default/followed ")


def test_nothing_is_lost_when_the_api_server_goes_away(cluster, watcher, pods):
    """The watcher is frozen while the API server restarts and pods come and go; when it
    thaws, its connection is gone and its resourceVersion too old for the new server's
    cache (410 Gone): it lists again and reports exactly what changed meanwhile."""
    pods("before")
    w = watcher("--field-selector", f"spec.nodeName={NODE}", "pods")
    w.wait_for("SYNCED")
    w.wait_for("ADDED default/before ")

    w.proc.send_signal(signal.SIGSTOP)
    try:
        cluster.restart_apiserver()
        pods("during")
        force_delete(cluster, "before")
    finally:
        w.proc.send_signal(signal.SIGCONT)

    w.wait_for("ADDED default/during ")
    w.wait_for("DELETED default/before ")
    assert sum(l.startswith("ADDED default/during ") for l in w.lines) == 1


def test_broken_kubeconfig_names_file_and_line(stevedore_bin, tmp_path):
    bad = tmp_path / "bad.kubeconfig"
    bad.write_text("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n")
    r = run(stevedore_bin, "watch", "--kubeconfig", bad, "--once", "pods", check=False)
    assert r.returncode == 1
    assert f"{bad}:4: contexts[0].context: needs both cluster and user" in r.stderr


def test_server_with_an_untrusted_certificate_is_refused(cluster, stevedore_bin, tmp_path):
    """A kubeconfig whose CA did not sign the API server's certificate: TLS fails, with
    curl's reason, and nothing is listed."""
    other_ca = tmp_path / "other-ca.crt"
    run("openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-keyout", tmp_path / "other-ca.key", "-out", other_ca,
        "-days", "1", "-subj", "/CN=somebody-else")
    text = cluster.admin_kubeconfig.read_text().replace(str(cluster.pki.ca_crt), str(other_ca))
    kc = tmp_path / "untrusted.kubeconfig"
    kc.write_text(text)
    r = run(stevedore_bin, "watch", "--kubeconfig", kc, "--once", "namespaces", check=False)
    assert r.returncode == 1
    assert "SSL certificate problem" in r.stderr or "certificate verify failed" in r.stderr
    assert "SYNCED" not in r.stdout
