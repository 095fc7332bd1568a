"""stevedore as a systemd service (docs/systemd.md), in a Debian machine whose PID 1 is
systemd (tests/integration/systemd_machine.py): the built stevedore and its unit are
installed inside by `meson install`, and the node runs standalone from the manifests of
the installed config file, the kubia image imported into its store."""

import json
import os
import re
import time

import pytest

MANIFESTS = "/etc/stevedore/manifests"

KUBIA = """apiVersion: v1
kind: Pod
metadata:
  name: kubia
  labels: {app: kubia}
spec:
  containers:
  - name: kubia
    image: kubia
    imagePullPolicy: IfNotPresent
    ports:
    - {name: http, containerPort: 8080}
  terminationGracePeriodSeconds: 3
"""

CONFIG = f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: {MANIFESTS}
podCIDR: 10.244.0.0/24
cgroupDriver: cgroupfs
"""

# A hung agent is found within seconds, not the unit's 30.
FAST_WATCHDOG = """[Service]
WatchdogSec=3s
TimeoutAbortSec=2s
RestartSec=1s
"""


def test_machine_boots_and_leaves_nothing(systemd_machine):
    m = systemd_machine().boot()
    assert m.run("systemctl", "is-system-running").stdout.strip() in ("running", "degraded")
    assert m.run("cat", "/proc/1/comm").stdout.strip() == "systemd"
    # The pods' cgroups are made in the machine's own part of each hierarchy.
    m.run("mkdir", "/sys/fs/cgroup/memory/probe")
    m.stop()
    assert not any(cg.exists() for cg in m.cgroups)
    assert str(m.root) not in open("/proc/self/mountinfo").read()


class Node:
    """The machine with stevedore installed, its config file and the kubia image."""

    def __init__(self, machine, build_dir, images):
        self.m = machine
        machine.binds[str(images["kubia"])] = "/srv/images/kubia"
        machine.install(build_dir)
        unit = next(machine.root.glob("usr/**/systemd/system/stevedore.service")).read_text()
        self.config_path = re.search(r"--config (\S+)", unit).group(1)
        self.bin = re.search(r"ExecStart=(\S+)", unit).group(1)
        self.write_config(CONFIG)
        # A sanitizer build reports as the test run asks (scripts/test makes UBSan fatal).
        env = [f"{k}={os.environ[k]}" for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS") if k in os.environ]
        if env:
            machine.write("/etc/systemd/system/stevedore.service.d/sanitizers.conf",
                          "[Service]\n" + "".join(f"Environment={e}\n" for e in env))

    def write_config(self, text):
        self.m.write(self.config_path, text)

    def boot(self):
        m = self.m.boot()
        # The node's address: a link with the default route, as on a real machine.
        m.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer")
        m.run("ip", "link", "set", "eth0-peer", "up")
        m.run("ip", "addr", "add", "192.168.254.10/24", "dev", "eth0")
        m.run("ip", "link", "set", "eth0", "up")
        m.run("ip", "route", "add", "default", "via", "192.168.254.1", "dev", "eth0", "onlink")
        m.run(self.bin, "image", "import", "--name", "kubia", "/srv/images/kubia")
        return self

    def show(self, *props):
        out = self.m.run("systemctl", "show", "stevedore", *[f"--property={p}" for p in props]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait(self, check, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.show("ActiveState", "SubState", "StatusText", "MainPID", "NRestarts", "Result")
            if check(state):
                return state
            time.sleep(0.2)
        raise AssertionError(f"{what} not reached: {state}\n{self.journal_text()}")

    def journal(self, *args):
        out = self.m.run("journalctl", "-u", "stevedore", "-o", "json", "--no-pager", *args).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def journal_text(self):
        return self.m.run("journalctl", "-u", "stevedore", "--no-pager", "-n", "60", check=False).stdout

    def container_pid(self):
        """The kubia container's process, as the machine sees it."""
        return self.m.run("pgrep", "-x", "kubia", check=False).stdout.split()


@pytest.fixture
def node(systemd_machine, stevedore_bin, images):
    return Node(systemd_machine(disks=["/var/lib/stevedore"]), stevedore_bin.parents[1], images)


def ready_with(running, total):
    return lambda s: s["ActiveState"] == "active" and s["StatusText"] == f"Ready, {running}/{total} pods running"


def sanitizer_reports(node):
    return [e["MESSAGE"] for e in node.journal()
            if "Sanitizer" in str(e.get("MESSAGE", "")) or "runtime error:" in str(e.get("MESSAGE", ""))]


def test_start_returns_after_ready_and_status_shows_the_pods(node):
    node.write_config(CONFIG)
    node.m.write(f"{MANIFESTS}/kubia.yaml", KUBIA)
    node.boot()

    # Type=notify: start returns once the agent sent READY=1, the manifests read and the
    # pod scheduled.
    node.m.run("systemctl", "start", "stevedore", timeout=120)
    s = node.show("ActiveState", "SubState", "StatusText")
    assert (s["ActiveState"], s["SubState"]) == ("active", "running")
    assert s["StatusText"].startswith("Ready, ") and s["StatusText"].endswith("/1 pods running")

    node.wait(ready_with(1, 1), "the pod Running")
    status = node.m.run("systemctl", "status", "stevedore", "--no-pager", check=False).stdout
    assert 'Status: "Ready, 1/1 pods running"' in status

    # The agent's READY came from its own PID; the watchdog is armed.
    assert node.show("WatchdogUSec")["WatchdogUSec"] == "30s"
    assert node.m.run("systemctl", "stop", "stevedore").returncode == 0
    assert node.container_pid(), "the pod stopped with the agent"
    assert not sanitizer_reports(node)


def test_watchdog_restarts_a_hung_agent(node):
    node.m.write("/etc/systemd/system/stevedore.service.d/watchdog.conf", FAST_WATCHDOG)
    node.m.write(f"{MANIFESTS}/kubia.yaml", KUBIA)
    node.boot()
    node.m.run("systemctl", "start", "stevedore", timeout=120)
    first = node.wait(ready_with(1, 1), "the pod Running")
    pods_before = node.container_pid()

    # Alive but not running its loop: no WATCHDOG=1, so systemd aborts and restarts it.
    node.m.run("kill", "-STOP", first["MainPID"])
    after = node.wait(lambda s: s["MainPID"] not in ("0", first["MainPID"]) and int(s["NRestarts"]) >= 1 and
                      ready_with(1, 1)(s), "a restart after the watchdog fired", timeout=60)
    assert after["ActiveState"] == "active"
    assert any("Watchdog timeout" in str(e.get("MESSAGE", "")) for e in node.journal())
    # The new agent adopted the pod the hung one ran.
    assert node.container_pid() == pods_before


def test_restart_keeps_the_pods_and_adopts_them(node):
    node.m.write(f"{MANIFESTS}/kubia.yaml", KUBIA)
    node.boot()
    node.m.run("systemctl", "start", "stevedore", timeout=120)
    first = node.wait(ready_with(1, 1), "the pod Running")
    pid = node.container_pid()
    assert len(pid) == 1

    node.m.run("systemctl", "restart", "stevedore", timeout=120)
    second = node.wait(ready_with(1, 1), "the pod Running after the restart")
    assert second["MainPID"] != first["MainPID"]
    # KillMode=process: the container is the same process, the new agent adopted it.
    assert node.container_pid() == pid
    assert any("adopted" in str(e.get("MESSAGE", "")) and e.get("_PID") == second["MainPID"] for e in node.journal())
    assert not sanitizer_reports(node)


def test_journal_has_structured_fields(node):
    node.m.write(f"{MANIFESTS}/kubia.yaml", KUBIA)
    node.boot()
    node.m.run("systemctl", "start", "stevedore", timeout=120)
    node.wait(ready_with(1, 1), "the pod Running")

    entries = node.journal()
    started = [e for e in entries if "Started container kubia" in str(e.get("MESSAGE", ""))]
    assert started, node.journal_text()
    e = started[-1]
    assert (e.get("NAMESPACE"), e.get("POD"), e.get("CONTAINER"), e.get("PRIORITY")) == ("default", "kubia", "kubia", "6")
    assert e.get("SYSLOG_IDENTIFIER") == "stevedore" and e.get("CODE_FUNC")
    # journalctl finds a pod's messages by field.
    by_pod = node.m.run("journalctl", "-u", "stevedore", "POD=kubia", "-o", "cat", "--no-pager").stdout
    assert "Started container kubia" in by_pod
    assert "standalone node" not in by_pod


@pytest.mark.parametrize("text,line,message", [
    (CONFIG + "imageGCHighThresholdPercent: 85\n", 6, 'unknown field "imageGCHighThresholdPercent"'),
    (CONFIG.replace("podCIDR: 10.244.0.0/24", "podCIDR: [10.244.0.0/24]"), 4,
     'field "podCIDR": want a string, not a list'),
])
def test_bad_config_is_refused_with_file_line_and_field(node, text, line, message):
    node.write_config(text)
    node.boot()

    r = node.m.run("systemctl", "start", "stevedore", check=False, timeout=120)
    assert r.returncode != 0
    expected = f"{node.config_path}:{line}: {message}"
    s = node.wait(lambda s: s["ActiveState"] == "failed", "the unit failed")
    assert s["Result"] == "exit-code"
    status = node.m.run("systemctl", "status", "stevedore", "--no-pager", "-n", "20", check=False).stdout
    assert expected in status, status
    assert f'Status: "Refused the config file: {expected}"' in status, status
    # A configuration error does not go away by restarting.
    assert s["NRestarts"] == "0"


LIMITED = """apiVersion: v1
kind: Pod
metadata:
  name: limited
spec:
  containers:
  - name: kubia
    image: kubia
    imagePullPolicy: IfNotPresent
    resources:
      requests: {cpu: 250m, memory: 64Mi}
      limits: {cpu: 500m, memory: 64Mi}
  terminationGracePeriodSeconds: 2
"""


def test_systemd_cgroup_driver_pods_are_slices_containers_scopes(node):
    node.write_config(CONFIG.replace("cgroupDriver: cgroupfs", "cgroupDriver: systemd"))
    node.m.write(f"{MANIFESTS}/limited.yaml", LIMITED)
    node.boot()
    node.m.run("systemctl", "start", "stevedore", timeout=120)
    node.wait(ready_with(1, 1), "the pod Running")

    # The container: a scope with Delegate, in the pod's slice below kubepods-burstable.
    scope = node.m.run("systemctl", "list-units", "--no-legend", "--plain", "cri-stevedore-*.scope").stdout.split()[0]
    tree = node.m.run("systemctl", "status", "--no-pager", "kubepods.slice", check=False).stdout
    assert "kubepods-burstable.slice" in tree and scope in tree, tree
    pod_slice = node.m.run("systemctl", "show", "-p", "Slice", "--value", scope).stdout.strip()
    assert re.fullmatch(r"kubepods-burstable-pod[0-9a-f_]+\.slice", pod_slice), pod_slice

    def props(unit, *names):
        out = node.m.run("systemctl", "show", unit, *[f"--property={n}" for n in names]).stdout
        return dict(line.split("=", 1) for line in out.splitlines())

    assert props(scope, "MemoryMax", "CPUQuotaPerSecUSec", "Delegate") == {
        "MemoryMax": str(64 << 20), "CPUQuotaPerSecUSec": "500ms", "Delegate": "yes"}
    # The pod's slice has the pod's limits (kubelet's ResourceConfigForPod).
    assert props(pod_slice, "MemoryMax", "CPUQuotaPerSecUSec") == {
        "MemoryMax": str(64 << 20), "CPUQuotaPerSecUSec": "500ms"}
    # And the kernel enforces them in the scope's cgroup.
    cgroup = node.m.run("systemctl", "show", "-p", "ControlGroup", "--value", scope).stdout.strip()
    limit = node.m.run("sh", "-c", f"cat /sys/fs/cgroup/memory{cgroup}/memory.limit_in_bytes "
                       f"/sys/fs/cgroup{cgroup}/memory.max 2>/dev/null", check=False).stdout.split()
    assert str(64 << 20) in limit, limit

    # Gone with the pod.
    node.m.run("rm", f"{MANIFESTS}/limited.yaml")
    deadline = time.monotonic() + 30
    while node.m.run("systemctl", "list-units", "--no-legend", "--plain", scope, pod_slice).stdout.strip():
        assert time.monotonic() < deadline, node.journal_text()
        time.sleep(0.3)
    assert not sanitizer_reports(node)


HUNGRY = """apiVersion: v1
kind: Pod
metadata:
  name: hungry
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: kubia
    imagePullPolicy: IfNotPresent
    command: [tail, /dev/zero]
    resources:
      limits: {memory: 20Mi}
"""


def test_systemd_cgroup_driver_oom_killed(node):
    """An OOM kill in a container's scope is reported although systemd removes the
    scope's cgroup as soon as it is empty: the monitor saw it while it happened."""
    node.write_config(CONFIG.replace("cgroupDriver: cgroupfs", "cgroupDriver: systemd"))
    node.m.write(f"{MANIFESTS}/hungry.yaml", HUNGRY)
    node.boot()
    node.m.run("systemctl", "start", "stevedore", timeout=120)
    deadline, status = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        text = node.m.run("cat", "/run/stevedore/status.json", check=False).stdout
        pods = json.loads(text)["pods"] if text.strip() else []
        statuses = [c for p in pods for c in p.get("status", {}).get("containerStatuses", [])]
        status = statuses[0]["state"] if statuses else None
        if status and "terminated" in status:
            break
        time.sleep(0.3)
    assert status and status.get("terminated", {}).get("reason") == "OOMKilled", (status, node.journal_text())
    assert status["terminated"]["exitCode"] == 137
    assert not sanitizer_reports(node)
