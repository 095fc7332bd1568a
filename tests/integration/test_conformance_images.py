"""The conformance suite's images (tests/conformance/build-images): pushed to a registry
at the names e2e.test resolves through the repo list the script writes, pulled back by
stevedore, and run as the suite runs them, in a standalone node's pods."""

import json
import signal
import sys
import urllib.parse
from pathlib import Path

import pytest

from cluster import descendants
from hoststate import run
from test_standalone import StandaloneNode, running

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGES = ROOT / "tests" / "conformance" / "build-images"
E2E = "registry.k8s.io/e2e-test-images"
AGNHOST, BUSYBOX, NGINX = f"{E2E}/agnhost:2.66.1", f"{E2E}/busybox:1.37.0-2", f"{E2E}/nginx:1.27.0-2"
PAUSE = "registry.k8s.io/pause:3.10.2"
KITTEN, NAUTILUS = f"{E2E}/kitten:1.8", f"{E2E}/nautilus:1.8"
NONEWPRIVS, NONROOT, DNS = f"{E2E}/nonewprivs:1.4", f"{E2E}/nonroot:1.5", f"{E2E}/glibc-dns-testing:2.1.1"
APISERVER, ETCD = f"{E2E}/sample-apiserver:1.29.2", "registry.k8s.io/etcd:3.7.0-0"


def build_images(*args):
    return run(sys.executable, BUILD_IMAGES, *args).stdout.strip().splitlines()


@pytest.fixture(scope="session")
def conformance_images():
    """The OCI layout of every image, built once per release (5 minutes from nothing,
    20 s with Go's and Debian's caches warm)."""
    return Path(build_images()[-1])


def index_digests(layout):
    """{reference: manifest digest} of the layout's index."""
    index = json.loads((layout / "index.json").read_text())
    return {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in index["manifests"]}


def test_pushed_images_are_those_e2e_test_asks_for_through_the_repo_list(conformance_images, registry,
                                                                        stevedore_bin, tmp_path):
    build_images("--push", registry.host)
    digests = index_digests(conformance_images)
    assert len(digests) == 12
    # Every registry.k8s.io path is kept under the registry's address.
    pushed = {reference.replace("registry.k8s.io", registry.host, 1) for reference in digests}
    for reference in pushed:
        repo, tag = reference.removeprefix(registry.host + "/").rsplit(":", 1)
        assert tag in registry.get(f"/v2/{repo}/tags/list")["tags"], reference

    # stevedore pulls them back as they were built.
    out = run(stevedore_bin, "image", "--root", tmp_path / "store", "pull", "--insecure-registry", registry.host,
              "--quiet", f"{registry.host}/e2e-test-images/agnhost:2.66.1", f"{registry.host}/pause:3.10.2").stdout
    assert sorted(out.split()) == sorted([digests[AGNHOST], digests[PAUSE]])

    repo_list = tmp_path / "repo-list.yaml"
    repo_list.write_text("\n".join(build_images("--repo-list", registry.host)) + "\n")
    e2e = Path(run(ROOT / "tests" / "conformance" / "build", "--print-dir").stdout.strip()) / "bin" / "e2e.test"
    if not e2e.exists():
        pytest.skip("e2e.test not built (tests/conformance/build)")
    listed = set(run(e2e, "--list-images", env={"KUBE_TEST_REPO_LIST": str(repo_list)}).stdout.split())
    assert pushed <= listed, pushed - listed
    # The one registry left as it was: a spec expects that pull to fail.
    assert "invalid.registry.k8s.io/invalid/alpine:3.1" in listed


POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: {name}
    image: {image}
    imagePullPolicy: Never
{extra}"""


@pytest.fixture
def node(stevedore_bin, netns, tmp_path, conformance_images):
    """node(*references): a standalone node with those images imported from the layout."""
    made = []

    def make(*references):
        n = StandaloneNode(stevedore_bin, netns("scimg"), tmp_path)
        for reference in references:
            run(stevedore_bin, "image", "--root", n.root / "images", "import", "--name", reference,
                conformance_images)
        made.append(n)
        return n
    yield make
    for n in made:
        if getattr(n, "proc", None) and n.proc.poll() is None:
            n.proc.send_signal(signal.SIGINT)
            n.proc.wait(timeout=60)


def test_agnhost_busybox_nginx_and_pause_run_as_the_suite_runs_them(node):
    node = node(AGNHOST, BUSYBOX, NGINX, PAUSE)
    (node.manifests / "pods.yaml").write_text("---\n".join([
        POD.format(name="netexec", image=AGNHOST, extra="    args: [netexec, --http-port=8080]\n"),
        POD.format(name="busybox", image=BUSYBOX,
                   extra="    command: [sh, -c, 'echo \"uid $(id -u) in $(pwd)\"; exec sleep 3600']\n"),
        POD.format(name="nginx", image=NGINX, extra=""),
        POD.format(name="pause", image=PAUSE, extra=""),
    ]))
    node.start()
    names = {"netexec", "busybox", "nginx", "pause"}
    s = node.wait(running(names), "the four pods Running", timeout=120)
    ip = {p["metadata"]["name"]: p["status"]["podIP"] for p in s["pods"]}

    def netexec_shell(cmd):
        query = urllib.parse.urlencode({"cmd": cmd})
        reply = json.loads(node.curl(f"http://{ip['netexec']}:8080/shell?{query}"))
        assert "error" not in reply, (cmd, reply)
        return reply.get("output", "")

    # agnhost: netexec answers, and the tools the specs exec in its pods are there.
    node.wait(lambda _: node.curl(f"http://{ip['netexec']}:8080/hostname") == "netexec", "netexec answering")
    assert "DiG 9" in netexec_shell("dig -v 2>&1")
    assert "OpenBSD netcat" in netexec_shell("nc -h 2>&1 || true")
    assert netexec_shell("curl --version").startswith("curl ")
    assert "GNU Wget" in netexec_shell("wget --version")
    assert "nslookup" in netexec_shell("command -v nslookup getent ss ip bash")
    assert netexec_shell("id user-defined-in-image").strip() == \
        "uid=1000(user-defined-in-image) gid=1000(user-defined-in-image) " \
        "groups=1000(user-defined-in-image),50000(group-defined-in-image)"
    assert netexec_shell("ls /localhost.crt /agnhost-2 /uploads").split() == \
        ["/agnhost-2", "/localhost.crt", "/uploads:"]
    # Pods reach each other through the image's curl and OpenBSD nc, as the network specs do.
    assert "Welcome to nginx" in netexec_shell(f"curl -s --max-time 5 http://{ip['nginx']}/index.html")
    assert netexec_shell(f"nc -v -z -w 2 {ip['nginx']} 80 2>&1").find("succeeded") >= 0

    # busybox ran its shell (as root, in /); pause stayed up and never restarted.
    logs = list(node.log_dir.rglob("busybox/*.log"))
    assert logs and "uid 0 in /" in logs[0].read_text()
    s = node.status()
    pause = next(p for p in s["pods"] if p["metadata"]["name"] == "pause")
    assert pause["status"]["phase"] == "Running"
    assert all(c.get("restartCount", 0) == 0 for p in s["pods"] for c in p["status"].get("containerStatuses", []))
    pause = [pid for pid in descendants(node.proc.pid) if Path(f"/proc/{pid}/comm").read_text() == "pause\n"]
    assert len(pause) == 1, "no /pause process under the agent"
    owner = Path(f"/proc/{pause[0]}/status").read_text()
    assert "\nUid:\t65535\t" in owner and "\nGid:\t65535\t" in owner, owner

    node.proc.send_signal(signal.SIGINT)
    assert node.proc.wait(timeout=60) == 0, node.log.read_text()[-3000:]


def pod(name, image, restart="Always", **container):
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 2,
                                "containers": [{"name": name, "image": image, "imagePullPolicy": "Never",
                                                **container}]}})


def phases(want):
    def check(s):
        got = {p["metadata"]["name"]: p.get("status", {}).get("phase") for p in s["pods"]}
        return got == want
    return check


def test_the_other_images_run_their_programs(node):
    node = node(KITTEN, NAUTILUS, NONEWPRIVS, NONROOT, DNS, APISERVER, ETCD)
    once = {"restart": "Never"}
    (node.manifests / "pods.yaml").write_text("\n---\n".join([
        pod("kitten", KITTEN),
        pod("nautilus", NAUTILUS),
        pod("etcd", ETCD, command=["/usr/local/bin/etcd", "--listen-client-urls", "http://0.0.0.0:2379",
                                   "--advertise-client-urls", "http://127.0.0.1:2379"]),
        # nnp is setuid root: it says 0 unless no_new_privs keeps the caller's 1000.
        pod("nnp-escalating", NONEWPRIVS, **once, securityContext={"runAsUser": 1000}),
        pod("nnp-confined", NONEWPRIVS, **once,
            securityContext={"runAsUser": 1000, "allowPrivilegeEscalation": False}),
        pod("nonroot", NONROOT, **once, command=["id", "-u"]),
        pod("dns", DNS, **once, command=["sh", "-c", "dig -v 2>&1; getent hosts localhost; command -v nslookup"]),
        pod("sample-apiserver", APISERVER, **once, args=["--help"]),
    ]) + "\n")
    node.start()
    done = {"nnp-escalating", "nnp-confined", "nonroot", "dns", "sample-apiserver"}
    s = node.wait(phases({"kitten": "Running", "nautilus": "Running", "etcd": "Running",
                          **{name: "Succeeded" for name in done}}), "the servers Running, the rest Succeeded",
                  timeout=120)
    ip = {p["metadata"]["name"]: p["status"]["podIP"] for p in s["pods"]}

    def logged(name):
        logs = list(node.log_dir.rglob(f"{name}/*.log"))
        assert logs, name
        return logs[0].read_text()

    # kubectl's Update Demo reads data.json through the pod proxy on :80.
    node.wait(lambda _: "kitten.jpg" in node.curl(f"http://{ip['kitten']}/data.json"), "kitten serving")
    assert "nautilus.jpg" in node.curl(f"http://{ip['nautilus']}/data.json")
    # The ImageVolume spec mounts kitten and reads its etc/os-release (test-webserver serves /).
    assert 'NAME="Alpine Linux"' in node.curl(f"http://{ip['kitten']}/etc/os-release")
    node.wait(lambda _: "etcdserver" in node.curl(f"http://{ip['etcd']}:2379/version"), "etcd serving")
    assert "Effective uid: 0" in logged("nnp-escalating")
    assert "Effective uid: 1000" in logged("nnp-confined")
    assert "1234" in logged("nonroot")
    dns = logged("dns")
    assert "DiG 9" in dns and "localhost" in dns and "/usr/bin/nslookup" in dns
    assert "--etcd-servers" in logged("sample-apiserver")

    node.proc.send_signal(signal.SIGINT)
    assert node.proc.wait(timeout=60) == 0, node.log.read_text()[-3000:]
