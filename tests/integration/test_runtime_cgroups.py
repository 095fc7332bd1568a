"""The runtime's cgroups: each limit of linux.resources seen in the cgroup files and felt
by the container's processes (a denied device cannot be opened, a pids limit stops forks,
a memory limit kills, a read throttle slows reads, a hugetlb limit refuses pages), and
the verbs around them: update, ps, pause and resume. Every test's cgroups are below
/stevedore-cg/<pid>-<test> and must be gone after delete; the autouse no_leaks fixture checks
mounts and processes as everywhere."""

import ctypes
import glob
import json
import os
import struct
import time
from pathlib import Path

import pytest

from test_runtime import bundle, default_config  # noqa: F401 (the bundle fixture)

CGROUP = Path("/sys/fs/cgroup")
V2 = (CGROUP / "cgroup.controllers").exists()
HYBRID = not V2 and (CGROUP / "unified" / "cgroup.controllers").exists()
UNIFIED = CGROUP if V2 else CGROUP / "unified" if HYBRID else None


def v1(controller, path):
    """The container's directory in a v1 hierarchy, or None (v2, or not mounted)."""
    return None if V2 or not (CGROUP / controller).is_dir() else CGROUP / controller / path.lstrip("/")


def where(controller, path):
    """(directory, is_v2) of a controller's files for cgroupsPath path, as the runtime
    places them: its v1 hierarchy if mounted, else the cgroup2 tree if it offers it."""
    d = v1(controller, path)
    if d:
        return d, False
    offered = (UNIFIED / "cgroup.controllers").read_text().split() if UNIFIED else []
    v2name = {"blkio": "io"}.get(controller, controller)
    if v2name not in offered:
        pytest.skip(f"no {controller} controller on this host")
    return UNIFIED / path.lstrip("/"), True


def read(d, name):
    return (d / name).read_text().strip()


@pytest.fixture
def cgroups_path(bundle, tmp_path):  # noqa: F811
    """A cgroupsPath for the test; after it, containers left are deleted and none of its
    cgroup directories may remain."""
    path = f"/stevedore-cg/{os.getpid()}-{tmp_path.name}"
    subtree = UNIFIED / "cgroup.subtree_control" if HYBRID else None
    enabled = subtree.read_text().split() if subtree else []
    yield path
    for cid in os.listdir(bundle.state) if bundle.state.exists() else []:
        bundle.runtime("delete", "--force", cid, check=False)
    left = [d for d in glob.glob(f"{CGROUP}/*{path}") if os.path.isdir(d)]
    for d in sorted(left, key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass
    for parent in glob.glob(f"{CGROUP}/*/stevedore-cg"):
        try:
            os.rmdir(parent)
        except OSError:
            pass  # another test's cgroup is still below
    if subtree and "hugetlb" not in enabled and "hugetlb" in subtree.read_text().split():
        try:
            subtree.write_text("-hugetlb")  # as it was (enabled for a hugepageLimits)
        except OSError:
            pass
    assert not left, f"cgroups left behind: {left}"


def shared_dir(path):
    """A change binding the host directory path at /shared, read-write."""
    path.mkdir(exist_ok=True)
    return lambda config: config["mounts"].append({"destination": "/shared", "type": "bind", "source": str(path),
                                                   "options": ["rbind", "rw"]})


def configure(bundle, args, cgroups_path, resources=None, devices=None, change=None):  # noqa: F811
    def c(config):
        config["linux"]["cgroupsPath"] = cgroups_path
        if resources is not None:
            config["linux"]["resources"] = resources
        if devices is not None:
            config["linux"]["devices"] = devices
        if change:
            change(config)
    bundle.configure(args, c)


def wait_for(predicate, what, timeout=5):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


# --- devices ---------------------------------------------------------------------------

libc = ctypes.CDLL(None, use_errno=True)
SYS_BPF, BPF_PROG_QUERY, BPF_CGROUP_DEVICE = 321, 16, 6


def device_programs(directory):
    """Ids of the BPF_CGROUP_DEVICE programs attached to a cgroup2 directory."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ids = (ctypes.c_uint32 * 64)()
        attr = ctypes.create_string_buffer(128)
        struct.pack_into("IIIIQI", attr, 0, fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), 64)
        if libc.syscall(SYS_BPF, BPF_PROG_QUERY, attr, 128) < 0:
            raise OSError(ctypes.get_errno(), "bpf(BPF_PROG_QUERY)")
        return list(ids[:struct.unpack_from("I", attr, 24)[0]])
    finally:
        os.close(fd)


# c 240:0 and 241:0 have no driver: an allowed open fails with ENXIO, a denied one EPERM.
NODEVS = [{"path": "/dev/nodev240", "type": "c", "major": 240, "minor": 0, "fileMode": 0o666},
          {"path": "/dev/nodev241", "type": "c", "major": 241, "minor": 0, "fileMode": 0o666}]
DENIED, ALLOWED = "Operation not permitted", "No such device or address"


def test_devices_default_rules_and_denials(bundle, cgroups_path):  # noqa: F811
    resources = {"devices": [{"allow": False, "access": "rwm"},
                             {"allow": True, "type": "c", "major": 241, "minor": 0, "access": "r"}]}
    script = ("echo x > /dev/null && head -c 3 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c; "
              "cat /dev/nodev240; cat /dev/nodev241; echo x > /dev/nodev241; "
              "mknod /tmp/made c 240 0 && echo mknod-allowed")

    def tmp_and_mknod(config):
        config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
        for capabilities in config["process"]["capabilities"].values():
            capabilities.append("CAP_MKNOD")
    configure(bundle, ["sh", "-c", script], cgroups_path, resources, NODEVS, tmp_and_mknod)
    r = bundle.runtime("run", "c1", check=False)
    lines = (r.stdout + r.stderr).splitlines()
    assert lines[:2] == ["3", "4"], r  # /dev/null, zero, urandom: runc's defaults
    assert f"cat: can't open '/dev/nodev240': {DENIED}" in lines, r  # not allowed at all
    assert f"cat: read error: {ALLOWED}" in lines or f"cat: can't open '/dev/nodev241': {ALLOWED}" in lines, r
    assert any(DENIED in line and "nodev241" in line for line in lines), r  # allowed for reading only
    assert "mknod-allowed" in lines, r  # runc's default: mknod of any char device


def test_devices_rules_in_the_cgroup_and_the_device_program(bundle, cgroups_path):  # noqa: F811
    """v1: devices.list is the allow list; with cgroup2 (v2 or hybrid) a device program
    is attached, and on its own denies (v1 opened up to everything underneath); an
    update replaces it, allowing the device."""
    configure(bundle, ["sleep", "60"], cgroups_path,
              {"devices": [{"allow": False, "access": "rwm"}]}, NODEVS)
    bundle.runtime("run", "--detach", "c1")
    devices = v1("devices", cgroups_path)
    if devices:
        listed = read(devices, "devices.list").splitlines()
        assert "c 1:3 rwm" in listed and "c 136:* rwm" in listed and "b *:* m" in listed, listed
        assert "a *:* rwm" not in listed and not any("240" in rule for rule in listed), listed
    if not UNIFIED:
        return
    unified = UNIFIED / cgroups_path.lstrip("/")
    assert len(device_programs(unified)) == 1
    if devices:
        (devices / "devices.allow").write_text("a")  # v1 no longer denies anything
        assert read(devices, "devices.list") == "a *:* rwm"
    r = bundle.runtime("exec", "c1", "cat", "/dev/nodev240", check=False)
    assert r.returncode == 1 and DENIED in r.stderr, r  # the program alone
    update = bundle.path.parent / "devices.json"
    update.write_text(json.dumps({"devices": [{"allow": False, "access": "rwm"},
                                              {"allow": True, "type": "c", "major": 240, "access": "rw"}]}))
    bundle.runtime("update", "--resources", str(update), "c1")
    r = bundle.runtime("exec", "c1", "cat", "/dev/nodev240", check=False)
    assert r.returncode == 1 and ALLOWED in r.stderr, r
    assert len(device_programs(unified)) == 1, "replaced, not added"
    if devices:
        assert "c 240:* rw" in read(devices, "devices.list").splitlines()
    bundle.runtime("delete", "--force", "c1")


def test_punching_a_hole_into_a_wildcard_is_refused(bundle, cgroups_path):  # noqa: F811
    configure(bundle, ["true"], cgroups_path,
              {"devices": [{"allow": True, "type": "c", "access": "rwm"},
                           {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]})
    r = bundle.runtime("create", "c1", check=False)
    assert r.returncode == 1 and "denying 'c 1:3 w' cannot be carved out of 'c *:* rwm'" in r.stderr, r
    assert not (bundle.state / "c1").exists()


# --- memory, pids, cpu -----------------------------------------------------------------

def test_memory_limit_kills_and_update_raises_it(bundle, cgroups_path):  # noqa: F811
    configure(bundle, ["sleep", "60"], cgroups_path, {"memory": {"limit": 32 << 20}})
    bundle.runtime("run", "--detach", "c1")
    memory, is_v2 = where("memory", cgroups_path)
    limit_file = "memory.max" if is_v2 else "memory.limit_in_bytes"
    assert read(memory, limit_file) == str(32 << 20)
    eat = ["exec", "c1", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]
    r = bundle.runtime(*eat, check=False)
    assert r.returncode == 128 + 9, f"64 MiB in a 32 MiB cgroup: killed ({r})"
    bundle.runtime("update", "--memory", "256m", "c1")
    assert read(memory, limit_file) == str(256 << 20)
    r = bundle.runtime(*eat, check=False)
    assert r.returncode == 0, r
    bundle.runtime("delete", "--force", "c1")


def test_pids_limit_stops_forks_and_update_raises_it(bundle, cgroups_path):  # noqa: F811
    configure(bundle, ["sleep", "60"], cgroups_path, {"pids": {"limit": 4}})
    bundle.runtime("run", "--detach", "c1")
    pids, _ = where("pids", cgroups_path)
    assert read(pids, "pids.max") == "4"
    forks = ["exec", "c1", "sh", "-c", "for i in 1 2 3 4 5; do sleep 0.2 & done; wait; echo all-forked"]
    r = bundle.runtime(*forks, check=False)
    # sleep 60, sh and two sleeps: the third fails (and busybox's sh gives up)
    assert r.returncode != 0 and "can't fork: Resource temporarily unavailable" in r.stderr, r
    assert "all-forked" not in r.stdout, r
    bundle.runtime("update", "--pids-limit", "20", "c1")
    assert read(pids, "pids.max") == "20"
    r = bundle.runtime(*forks)
    assert "can't fork" not in r.stderr and r.stdout.strip() == "all-forked", r
    bundle.runtime("delete", "--force", "c1")


def test_cpu_and_memory_values_in_the_cgroup_files(bundle, cgroups_path):  # noqa: F811
    resources = {"cpu": {"shares": 512, "quota": 20000, "period": 50000, "burst": 1000, "idle": 0},
                 "memory": {"limit": 64 << 20, "reservation": 32 << 20}}
    if not V2:
        resources["memory"].update(swappiness=10, kernelTCP=8 << 20, disableOOMKiller=True)
    configure(bundle, ["sleep", "60"], cgroups_path, resources)
    bundle.runtime("run", "--detach", "c1")
    cpu, cpu_v2 = where("cpu", cgroups_path)
    memory, memory_v2 = where("memory", cgroups_path)
    if cpu_v2:
        assert read(cpu, "cpu.weight") == str(1 + (512 - 2) * 9999 // 262142)
        assert read(cpu, "cpu.max") == "20000 50000" and read(cpu, "cpu.max.burst") == "1000"
    else:
        assert read(cpu, "cpu.shares") == "512" and read(cpu, "cpu.cfs_period_us") == "50000"
        assert read(cpu, "cpu.cfs_quota_us") == "20000" and read(cpu, "cpu.cfs_burst_us") == "1000"
    if memory_v2:
        assert read(memory, "memory.low") == str(32 << 20)
    else:
        assert read(memory, "memory.soft_limit_in_bytes") == str(32 << 20)
        assert read(memory, "memory.swappiness") == "10"
        assert read(memory, "memory.kmem.tcp.limit_in_bytes") == str(8 << 20)
        assert "oom_kill_disable 1" in read(memory, "memory.oom_control")
    # update --resources - (stdin) and the flags: only what they give changes
    update = bundle.path.parent / "update.json"
    update.write_text(json.dumps({"cpu": {"quota": 40000}}))
    with open(update) as stdin:
        bundle.runtime("update", "--resources", "-", "--cpu-period", "80000", "c1", stdin=stdin)
    if cpu_v2:
        assert read(cpu, "cpu.max") == "40000 80000"
    else:
        assert read(cpu, "cpu.cfs_quota_us") == "40000" and read(cpu, "cpu.cfs_period_us") == "80000"
        assert read(cpu, "cpu.shares") == "512"
    bundle.runtime("delete", "--force", "c1")


@pytest.mark.skipif(V2, reason="realtime scheduling budgets are v1 only")
def test_cpu_realtime_budget(bundle, tmp_path):  # noqa: F811
    # Directly below the root: a v1 child gets no more realtime budget than its parent.
    path = f"/stevedore-cg-rt-{tmp_path.name}"
    configure(bundle, ["sleep", "60"], path,
              {"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 10000}})
    try:
        bundle.runtime("run", "--detach", "c1")
        cpu = v1("cpu", path)
        assert read(cpu, "cpu.rt_period_us") == "1000000" and read(cpu, "cpu.rt_runtime_us") == "10000"
        bundle.runtime("delete", "--force", "c1")
        assert not cpu.exists()
    finally:
        bundle.runtime("delete", "--force", "c1", check=False)


# --- block I/O, huge pages -------------------------------------------------------------

def disk_of(path):
    """major, minor of the whole disk holding path (a partition's parent)."""
    dev = os.stat(path).st_dev
    sysfs = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not sysfs.exists():
        pytest.skip(f"{path} is not on a block device")
    if (sysfs / "partition").exists():
        sysfs = sysfs.resolve().parent
    major, minor = (sysfs / "dev").read_text().split(":")
    return int(major), int(minor)


def test_block_io_read_throttle_slows_reads(bundle, cgroups_path, tmp_path):  # noqa: F811
    """A file on the disk read with O_DIRECT (no page cache: every byte a read from the
    disk, by the container's process) at 1 MiB/s."""
    shared = tmp_path / "shared"
    shared.mkdir()
    with open(shared / "blob", "wb") as f:
        f.write(os.urandom(2 << 20))
        os.fsync(f.fileno())
    major, minor = disk_of(shared / "blob")
    # A weight only where the kernel has one: cgroup v1's blkio offers it with the CFQ or
    # BFQ scheduler only (neither with none, mq-deadline or kyber), and asking for it
    # there fails the create, as with runc.
    v1_blkio = Path("/sys/fs/cgroup/blkio")
    with_weight = not v1_blkio.is_dir() or any((v1_blkio / f).exists() for f in ("blkio.weight", "blkio.bfq.weight"))
    resources = {"blockIO": {**({"weight": 300} if with_weight else {}),
                             "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1 << 20}]}}
    dd = "dd if=/shared/blob of=/dev/null bs=256k iflag=direct 2>/shared/dd; echo $? >> /shared/dd"
    configure(bundle, ["sh", "-c", dd], cgroups_path, resources, change=shared_dir(shared))
    bundle.runtime("create", "c1")
    blkio, is_v2 = where("blkio", cgroups_path)
    if is_v2:
        assert f"{major}:{minor} rbps={1 << 20}" in read(blkio, "io.max")
    else:
        assert read(blkio, "blkio.throttle.read_bps_device") == f"{major}:{minor} {1 << 20}"
        if with_weight:
            weight = "blkio.weight" if (blkio / "blkio.weight").exists() else "blkio.bfq.weight"
            assert read(blkio, weight).split()[-1] == "300"
    start = time.monotonic()
    bundle.runtime("start", "c1")
    wait_for(lambda: bundle.state_of("c1")["status"] == "stopped", "dd finishes", timeout=20)
    elapsed = time.monotonic() - start
    out = (shared / "dd").read_text()
    assert out.endswith("\n0\n") and "8+0 records in" in out, out
    assert elapsed >= 1.0, f"2 MiB at 1 MiB/s took {elapsed:.2f} s"
    bundle.runtime("delete", "c1")


@pytest.fixture
def hugepages():
    """Four 2 MiB huge pages in the host's pool for the test (and the pool, and the
    unified root's controllers, as they were afterwards)."""
    pool = Path("/proc/sys/vm/nr_hugepages")
    subtree = UNIFIED / "cgroup.subtree_control" if UNIFIED and not V2 else None
    before, enabled = pool.read_text(), subtree.read_text().split() if subtree else []
    pool.write_text("4")
    try:
        if int(pool.read_text()) < 4:
            pytest.skip("cannot reserve 4 huge pages")
        yield
    finally:
        pool.write_text(before)
        if subtree and "hugetlb" not in enabled:
            try:
                subtree.write_text("-hugetlb")
            except OSError:
                pass


def test_hugetlb_limit_refuses_pages_beyond_it(bundle, cgroups_path, hugepages, tmp_path):  # noqa: F811
    script = ("(fallocate -l 4M /tmp/a && echo 4M-ok; fallocate -l 2M /tmp/b || echo 2M-more-refused)"
              " >/shared/out 2>&1")

    def mounts(config):
        shared_dir(tmp_path / "shared")(config)
        config["mounts"].append({"destination": "/tmp", "type": "hugetlbfs", "source": "none"})
    configure(bundle, ["sh", "-c", script], cgroups_path,
              {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}, change=mounts)
    bundle.runtime("create", "c1")
    hugetlb, is_v2 = where("hugetlb", cgroups_path)
    assert read(hugetlb, "hugetlb.2MB.max" if is_v2 else "hugetlb.2MB.limit_in_bytes") == str(4 << 20)
    bundle.runtime("start", "c1")
    wait_for(lambda: bundle.state_of("c1")["status"] == "stopped", "the script ends")
    bundle.runtime("delete", "c1")
    out = (tmp_path / "shared" / "out").read_text()
    assert "4M-ok" in out and "2M-more-refused" in out, out


# --- bad values ------------------------------------------------------------------------

@pytest.mark.parametrize("resources, message", [
    ({"memory": {"limit": "64m"}}, "linux.resources.memory.limit: '\"64m\"' is not a number"),
    ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness: '101' is not a number from 0 to 100"),
    ({"blockIO": {"weight": 5}}, "linux.resources.blockIO.weight: '5' is not a number from 10 to 1000"),
    ({"devices": [{"allow": True, "type": "c", "access": "rwx"}]},
     "linux.resources.devices[0].access: '\"rwx\"' is not made of r, w and m"),
    ({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}, "linux.resources.hugepageLimits[0]: no 3MB huge pages"),
    ({"cpu": {"quota": 10, "period": 100000}}, "'10': Invalid argument"),  # the kernel refuses it
])
def test_bad_resources_are_refused_naming_the_field(bundle, cgroups_path, resources, message):  # noqa: F811
    configure(bundle, ["true"], cgroups_path, resources)
    r = bundle.runtime("create", "bad", check=False)
    assert r.returncode == 1 and message in r.stderr and "container bad" in r.stderr, r.stderr
    assert not (bundle.state / "bad").exists()


def test_bad_update_is_refused_and_changes_nothing(bundle, cgroups_path):  # noqa: F811
    configure(bundle, ["sleep", "60"], cgroups_path, {"pids": {"limit": 10}})
    bundle.runtime("run", "--detach", "c1")
    pids, _ = where("pids", cgroups_path)
    r = bundle.runtime("update", "--memory", "lots", "c1", check=False)
    assert r.returncode == 1 and "update: --memory: 'lots' is not a size" in r.stderr, r
    update = bundle.path.parent / "bad.json"
    update.write_text(json.dumps({"pids": {"limit": 20}, "memory": {"swappiness": -1}}))
    r = bundle.runtime("update", "--resources", str(update), "c1", check=False)
    assert r.returncode == 1 and "container c1: update: linux.resources.memory.swappiness: '-1'" in r.stderr, r
    assert read(pids, "pids.max") == "10"
    r = bundle.runtime("update", "--pids-limit", "5", "nope", check=False)
    assert r.returncode == 1 and "nope does not exist" in r.stderr
    bundle.runtime("delete", "--force", "c1")


# --- ps, pause, resume -----------------------------------------------------------------

def test_ps_lists_the_container_processes(bundle, cgroups_path):  # noqa: F811
    configure(bundle, ["sh", "-c", "sleep 61 & sleep 62 & wait"], cgroups_path)
    bundle.runtime("run", "--detach", "c1")
    wait_for(lambda: len(json.loads(bundle.runtime("ps", "--format", "json", "c1").stdout)) == 3,
             "sh and its two sleeps")
    pids = json.loads(bundle.runtime("ps", "--format", "json", "c1").stdout)
    init = bundle.state_of("c1")["pid"]
    assert init in pids
    assert sorted(Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].decode() for p in pids) == \
        ["sh", "sleep", "sleep"]
    table = bundle.runtime("ps", "c1").stdout.splitlines()
    assert table[0].split()[:3] == ["UID", "PID", "PPID"], table
    assert len(table) == 4 and {int(line.split()[1]) for line in table[1:]} == set(pids), table
    assert any(line.endswith("sleep 61") for line in table), table
    table = bundle.runtime("ps", "c1", "-o", "pid,comm").stdout.split()
    assert table[:2] == ["PID", "COMMAND"] and sorted(table[3::2]) == ["sh", "sleep", "sleep"], table
    bundle.runtime("delete", "--force", "c1")


def test_pause_and_resume_freeze_the_processes(bundle, cgroups_path, tmp_path):  # noqa: F811
    ticks = tmp_path / "shared" / "ticks"
    configure(bundle, ["sh", "-c", "while true; do echo . >> /shared/ticks; sleep 0.02; done"], cgroups_path,
              change=shared_dir(tmp_path / "shared"))
    bundle.runtime("run", "--detach", "c1")
    wait_for(ticks.exists, "ticking")
    bundle.runtime("pause", "c1")
    assert bundle.state_of("c1")["status"] == "paused"
    assert "paused" in bundle.runtime("list").stdout
    freezer = v1("freezer", cgroups_path)
    assert read(freezer, "freezer.state") == "FROZEN" if freezer else \
        read(UNIFIED / cgroups_path.lstrip("/"), "cgroup.freeze") == "1"
    frozen = ticks.read_text()
    time.sleep(0.3)
    assert ticks.read_text() == frozen, "no tick while paused"
    r = bundle.runtime("exec", "c1", "true", check=False)
    assert r.returncode == 1 and "is paused, not running" in r.stderr
    r = bundle.runtime("pause", "c1", check=False)
    assert r.returncode == 1 and "is paused, not running: cannot pause it" in r.stderr
    bundle.runtime("resume", "c1")
    assert bundle.state_of("c1")["status"] == "running"
    wait_for(lambda: len(ticks.read_text()) > len(frozen) + 4, "ticking again")
    bundle.runtime("pause", "c1")
    bundle.runtime("delete", "--force", "c1")  # a paused container too
    assert not (bundle.state / "c1").exists()


# --- cgroup v2 alone, on a hybrid host -------------------------------------------------

@pytest.fixture
def v2_view(bundle, tmp_path):  # noqa: F811
    """The runtime run in a mount namespace where /sys/fs/cgroup is the unified (cgroup2)
    hierarchy: v2 mode as the runtime detects it, with the controllers that tree has
    (hugetlb here; the others are bound to v1)."""
    if not HYBRID:
        pytest.skip("needs a hybrid host")
    wrapper = tmp_path / "v2-runtime"
    wrapper.write_text("#!/bin/sh\nexec unshare --mount --propagation private sh -c "
                       "'mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec \"$0\" \"$@\"' "
                       f"{bundle.bin} \"$@\"\n")
    wrapper.chmod(0o755)
    bundle.bin = wrapper


def test_v2_device_program_freezer_and_ps(bundle, v2_view, cgroups_path):  # noqa: F811
    configure(bundle, ["sleep", "60"], cgroups_path, devices=NODEVS)
    bundle.runtime("run", "--detach", "c1")
    unified = UNIFIED / cgroups_path.lstrip("/")
    assert len(device_programs(unified)) == 1
    r = bundle.runtime("exec", "c1", "sh", "-c", "echo x > /dev/null && echo null-ok; cat /dev/nodev240", check=False)
    assert r.stdout == "null-ok\n" and DENIED in r.stderr, r  # the program is all there is
    update = bundle.path.parent / "devices.json"
    update.write_text(json.dumps({"devices": [{"allow": True, "type": "c", "major": 240, "minor": 0, "access": "r"}]}))
    bundle.runtime("update", "--resources", str(update), "c1")
    r = bundle.runtime("exec", "c1", "cat", "/dev/nodev240", check=False)
    assert ALLOWED in r.stderr, r
    assert len(device_programs(unified)) == 1
    bundle.runtime("pause", "c1")
    assert read(unified, "cgroup.freeze") == "1" and "frozen 1" in read(unified, "cgroup.events")
    assert bundle.state_of("c1")["status"] == "paused"
    bundle.runtime("resume", "c1")
    assert read(unified, "cgroup.freeze") == "0" and bundle.state_of("c1")["status"] == "running"
    assert json.loads(bundle.runtime("ps", "--format", "json", "c1").stdout) == [bundle.state_of("c1")["pid"]]
    # memory is a v1 hierarchy on this host: not in this cgroup2 tree
    r = bundle.runtime("update", "--memory", "64m", "c1", check=False)
    assert r.returncode == 1 and "controller memory (for linux.resources.memory): not mounted" in r.stderr, r
    bundle.runtime("delete", "--force", "c1")
