"""Fixtures for stevedore's integration tests: they run as root, make their own network
namespaces, veth links and root directories, and start the real parts (kube-apiserver +
etcd, Debian's docker-registry) on loopback. Every fixture removes what it made, and the
autouse `no_leaks` fixture fails a test that leaves anything behind."""

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from hoststate import (HostState, infrastructure_mounts, infrastructure_netns, infrastructure_pids, kill_netns_pids,
                       remove_leaks, run)
from oci import unpack_layout
from systemd_machine import SystemdMachine, machine_image

from cluster import NODE_GATEWAY, Cluster  # noqa: E402
from registry import Registry  # noqa: E402


def pytest_sessionstart(session):
    if os.geteuid() != 0:
        pytest.exit("integration tests run as root (namespaces, mounts, nftables)", 2)


@pytest.fixture(scope="session")
def session_dir():
    d = Path(tempfile.mkdtemp(prefix="stevedore-it-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_leaks(request):
    """Fails the test if it left a netns, veth, mount, nft table or process behind.

    With STEVEDORE_TEST_SHARED_HOST=1 (several test runs at once on one machine) only
    this run's own processes are checked: netns, links, mounts and tables are global,
    and another run's would be taken for this test's leaks and removed under it."""
    before = HostState()
    yield
    leaks = HostState().leaks_since(before)
    if os.environ.get("STEVEDORE_TEST_SHARED_HOST") == "1":
        leaks = {k: v for k, v in leaks.items() if k == "process"}
    if leaks:
        remove_leaks(leaks)
        pytest.fail(f"{request.node.nodeid} leaked: {leaks}")


# --- the built program -----------------------------------------------------------------

@pytest.fixture(scope="session")
def stevedore_bin():
    path = Path(os.environ.get("STEVEDORE_BIN", ROOT / "build" / "agent" / "stevedore"))
    if not path.exists():
        pytest.fail(f"{path} not built; run scripts/test or set STEVEDORE_BIN")
    return path


# --- namespaces, links, directories ----------------------------------------------------

@pytest.fixture
def netns():
    """netns() makes a network namespace with lo up and returns its name."""
    made = []

    def make(prefix="sdt"):
        name = f"{prefix}-{secrets.token_hex(3)}"
        run("ip", "netns", "add", name)
        made.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    yield make
    for name in reversed(made):
        kill_netns_pids(name)
        run("ip", "netns", "del", name, check=False)


@pytest.fixture
def veth():
    """veth(ns_a, addr_a, ns_b, addr_b) links two namespaces (None = the host) with a veth
    pair, addresses in CIDR form, both ends up. Returns the two link names."""
    made = []

    def make(ns_a, addr_a, ns_b, addr_b):
        tag = secrets.token_hex(3)
        a, b = f"tva{tag}", f"tvb{tag}"
        run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        made.append(a)
        for link, ns, addr in ((a, ns_a, addr_a), (b, ns_b, addr_b)):
            prefix = ["ip"] + (["-n", ns] if ns else [])
            if ns:
                run("ip", "link", "set", link, "netns", ns)
            if addr:
                run(*prefix, "addr", "add", addr, "dev", link)
            run(*prefix, "link", "set", link, "up")
        return a, b

    yield make
    for a in made:
        # Deleting one end removes both; it is already gone if its namespace went first.
        run("ip", "link", "del", a, check=False)


@pytest.fixture
def root_dir(tmp_path):
    """A fresh directory for a test's state; whatever is mounted beneath it is unmounted."""
    d = tmp_path / "root"
    d.mkdir()
    yield d
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for m in sorted((m for m in mounts if m.startswith(str(d))), key=len, reverse=True):
        run("umount", "-l", m, check=False)


# --- test images and the registry ------------------------------------------------------

@pytest.fixture(scope="session")
def images(session_dir):
    """OCI image layouts built offline: {"busybox": Path, "kubia": Path, "layered": Path}."""
    out = session_dir / "images"
    run(sys.executable, ROOT / "tests" / "images" / "build-images", out)
    return {name: out / name for name in ("busybox", "kubia", "layered")}


@pytest.fixture(scope="session")
def kubia_bin(images, session_dir):
    """The walkthrough's kubia server (static), unpacked from the kubia test image."""
    rootfs = session_dir / "kubia-rootfs"
    unpack_layout(images["kubia"], rootfs)
    return rootfs / "app" / "kubia"


class Kubia:
    """A kubia server in a network namespace (a path), with its own hostname."""

    def __init__(self, kubia_bin, netns_path, hostname, log_path):
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["nsenter", f"--net={netns_path}", "unshare", "--uts", "sh", "-c",
                 f"hostname {hostname} && exec {kubia_bin}"],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while "Kubia server starting..." not in self.log():
            assert self.proc.poll() is None, f"kubia exited: {self.log()}"
            assert time.monotonic() < deadline, "kubia did not start"
            time.sleep(0.02)

    def log(self):
        return self.log_path.read_text()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def kubia(kubia_bin, tmp_path):
    """kubia(netns_path, hostname) starts a kubia server there; all stop after the test."""
    servers = []

    def start(netns_path, hostname):
        k = Kubia(kubia_bin, netns_path, hostname, tmp_path / f"kubia-{len(servers)}.log")
        servers.append(k)
        return k

    yield start
    for k in servers:
        k.stop()


def http_get(netns_path, url, timeout=5):
    """curl from inside a network namespace; returns the body, or None on failure."""
    r = run("nsenter", f"--net={netns_path}", "curl", "-s", "--max-time", str(timeout), url,
            check=False)
    return r.stdout if r.returncode == 0 else None


@pytest.fixture(scope="session")
def registry(session_dir):
    d = session_dir / "registry"
    d.mkdir()
    r = Registry(d, on_spawn=infrastructure_pids.add).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def auth_registry(session_dir):
    """A registry that wants basic credentials: .credentials (user, password)."""
    d = session_dir / "auth-registry"
    d.mkdir()
    r = Registry(d, credentials=("puller", "pull-s3cret"), on_spawn=infrastructure_pids.add).start()
    yield r
    r.stop()


# --- the control plane -----------------------------------------------------------------

@pytest.fixture(scope="session")
def cluster(session_dir):
    """etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback, with
    a kubeconfig for node `node-a`."""
    with Cluster(session_dir / "cluster", controllers=True, nodes=["node-a"],
                 on_spawn=infrastructure_pids.add) as c:
        yield c


@pytest.fixture(scope="session")
def net_cluster(session_dir, stevedore_bin, registry):
    """A cluster on a node network of its own (tests/cluster/cluster.py, network mode):
    the control plane and a stevedore agent at 10.250.0.2 (tainted control-plane), three
    stevedore workers node-1..node-3 at 10.250.0.11-13, each Ready with its pod CIDR, pod
    routes between them; the session registry reachable from every node at
    net_cluster.registry_host(registry.port). Tests delete the pods they make."""
    with Cluster(session_dir / "net-cluster", network=True, workers=3, stevedore_bin=stevedore_bin,
                 registries=[registry.port], on_spawn=infrastructure_pids.add,
                 on_netns=infrastructure_netns.add) as c:
        def kube_system_pod_mount(mount):
            """A mount of a kube-system pod's, its network namespace's among them
            (CoreDNS restarted, or moved by a drain, while a test ran)."""
            kind = next((k for k in ("/run/pods/", "/run/netns/") if k in mount), None)
            if not kind or not mount.startswith(str(c.dir)):
                return False
            uids = c.kubectl("get", "pods", "-n", "kube-system", "-o", "jsonpath={.items[*].metadata.uid}").stdout
            return mount.split(kind, 1)[1].split("/", 1)[0] in uids.split()
        infrastructure_mounts.append(kube_system_pod_mount)
        yield c
        infrastructure_mounts.remove(kube_system_pod_mount)


@pytest.fixture(scope="session")
def cluster_images(images, registry):
    """The test images pushed to the session registry, as the nodes of a network-mode
    cluster (made with registries=[registry.port]) pull them:
    {"busybox": "10.250.0.1:<port>/busybox:latest", "kubia": …}."""
    refs = {}
    for name in ("busybox", "kubia"):
        registry.push(images[name], name)
        refs[name] = f"{NODE_GATEWAY}:{registry.port}/{name}:latest"
    return refs


# --- a machine with systemd as PID 1 ---------------------------------------------------

@pytest.fixture
def systemd_machine(tmp_path):
    """systemd_machine(binds={host: guest}, disks=[guest path]) makes a Debian machine whose
    PID 1 is systemd (tests/integration/systemd_machine.py), not yet booted; all are
    stopped and removed after the test."""
    image = machine_image()
    if not (image / ".complete").exists():
        pytest.fail(f"{image} not built; run scripts/test or tests/systemd/build-machine")
    machines = []

    def make(binds=None, disks=()):
        m = SystemdMachine(tmp_path, binds=binds, disks=disks, image=image)
        machines.append(m)
        return m

    yield make
    for m in reversed(machines):
        m.stop()
