"""Standalone mode, the embedded default: `stevedore agent --manifests DIR` runs the Pods
and Services of a manifest directory without an API server — the user story of the
README's demo. The node runs in a network namespace the test made, with a link and a
default route so that its address and ClusterIPs are reachable from it."""

import json
import signal
import subprocess
import time

import pytest

from hoststate import run

NODE_IP = "192.168.254.10"

KUBIA = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: kubia}}
spec:
  containers:
  - name: kubia
    image: kubia
    imagePullPolicy: IfNotPresent
    ports:
    - {{name: http, containerPort: 8080}}
  terminationGracePeriodSeconds: 3
"""

SERVICE = """apiVersion: v1
kind: Service
metadata: {name: kubia}
spec:
  type: NodePort
  selector: {app: kubia}
  ports:
  - {port: 80, targetPort: http, nodePort: 30080}
"""


class StandaloneNode:
    def __init__(self, stevedore_bin, ns, tmp_path):
        self.bin, self.ns = stevedore_bin, ns
        self.root, self.run_dir, self.log_dir = tmp_path / "root", tmp_path / "run", tmp_path / "log"
        self.manifests = tmp_path / "manifests"
        for d in (self.root, self.run_dir, self.log_dir, self.manifests):
            d.mkdir()
        self.log = tmp_path / "agent.log"
        run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer")
        run("ip", "-n", ns, "link", "set", "eth0-peer", "up")
        run("ip", "-n", ns, "addr", "add", f"{NODE_IP}/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "route", "add", "default", "via", "192.168.254.1", "dev", "eth0", "onlink")

    def stevedore(self, *args):
        return [str(self.bin), "--root", str(self.root), "--run-dir", str(self.run_dir), *args]

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.stevedore("--netns", f"/run/netns/{self.ns}", "agent", "--manifests", str(self.manifests),
                               "--pod-cidr", "10.66.0.0/24", "--node-ip", NODE_IP, "--log-dir", str(self.log_dir)),
                stdout=log, stderr=subprocess.STDOUT)

    def status(self):
        try:
            return json.loads((self.run_dir / "status.json").read_text())
        except (OSError, ValueError):
            return None

    def wait(self, predicate, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status()
            if s and predicate(s):
                return s
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.1)
        raise AssertionError(f"{what} not reached: {json.dumps(self.status())}\n{self.log.read_text()[-3000:]}")

    def curl(self, url):
        r = run("ip", "netns", "exec", self.ns, "curl", "-s", "--max-time", "2", url, check=False)
        return r.stdout.strip()


def running(names):
    def check(s):
        pods = {p["metadata"]["name"]: p.get("status", {}) for p in s["pods"]}
        return set(pods) == set(names) and all(p.get("phase") == "Running" for p in pods.values())
    return check


@pytest.fixture
def node(stevedore_bin, netns, tmp_path, images):
    n = StandaloneNode(stevedore_bin, netns("sanode"), tmp_path)
    for name in ("kubia", "busybox"):
        run(str(stevedore_bin), "image", "--root", str(n.root / "images"), "import", "--name", name, images[name])
    yield n
    if getattr(n, "proc", None) and n.proc.poll() is None:
        n.proc.send_signal(signal.SIGINT)
        n.proc.wait(timeout=30)


def test_pods_and_nodeport_service_from_manifests(node):
    (node.manifests / "pods.yaml").write_text(KUBIA.format(name="kubia-a") + "---\n" + KUBIA.format(name="kubia-b"))
    (node.manifests / "service.yml").write_text(SERVICE)
    node.start()
    s = node.wait(lambda s: running({"kubia-a", "kubia-b"})(s) and
                  len(s["services"][0].get("endpoints", [])) == 2, "two pods Running behind the Service")

    answers = {node.curl(f"http://{NODE_IP}:30080/") for _ in range(30)}
    assert answers == {"You've hit kubia-a", "You've hit kubia-b"}
    cluster_ip = s["services"][0]["spec"]["clusterIP"]
    assert cluster_ip.startswith("10.") and node.curl(f"http://{cluster_ip}/").startswith("You've hit kubia-")

    out = run(*node.stevedore("status")).stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("kubia-")}
    assert rows["kubia-a"][1:3] == ["1/1", "Running"] and rows["kubia-a"][5].startswith("10.66.0.")
    service = next(line.split() for line in out.splitlines() if line.startswith("kubia "))
    assert service[1:4] == ["NodePort", cluster_ip, "80:30080/TCP"] and len(service[4].split(",")) == 2

    # Ctrl-C stops the pods and removes what the node made; the fixture checks for leaks.
    node.proc.send_signal(signal.SIGINT)
    assert node.proc.wait(timeout=30) == 0, node.log.read_text()
    assert not list((node.run_dir / "pods").iterdir())
    assert "stevedore-proxy" not in run("ip", "netns", "exec", node.ns, "nft", "list", "tables").stdout


def test_manifest_changes_are_followed_and_bad_files_named(node):
    (node.manifests / "a.yaml").write_text(KUBIA.format(name="kubia-a"))
    node.start()
    node.wait(running({"kubia-a"}), "kubia-a Running")

    (node.manifests / "hello.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: sleeper}\nspec:\n  containers:\n"
        "  - {name: c, image: busybox, imagePullPolicy: Never, command: [sleep, '3600']}\n  terminationGracePeriodSeconds: 1\n")
    node.wait(running({"kubia-a", "sleeper"}), "a new file's pod Running")

    (node.manifests / "broken.yaml").write_text("kind: Pod\nmetadata:\n  name: [oops\n")
    deadline = time.monotonic() + 10
    while "broken.yaml:" not in node.log.read_text():
        assert time.monotonic() < deadline, node.log.read_text()
        time.sleep(0.1)
    assert f"manifest {node.manifests}/broken.yaml:4:" in node.log.read_text()
    assert running({"kubia-a", "sleeper"})(node.status())

    (node.manifests / "hello.yaml").unlink()
    node.wait(running({"kubia-a"}), "the removed file's pod gone")
