"""The embedded OCI runtime through its runc-shaped CLI (`stevedore runtime`), on bundles
made from the busybox test image. The autouse no_leaks fixture also checks that no
mount or process is left behind by any test, failed setups included."""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from oci import unpack_layout


def default_config(args):
    """What `runc spec` writes, with the given process."""
    return {
        "ociVersion": "1.0.2",  # what Debian's crun and runc accept
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0}, "args": args, "cwd": "/",
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "capabilities": {s: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                             for s in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


class Bundle:
    def __init__(self, stevedore_bin, path, state):
        self.bin, self.path, self.state = Path(stevedore_bin).resolve(), path, state

    def configure(self, args, change=None):
        config = default_config(args)
        if change:
            change(config)
        (self.path / "config.json").write_text(json.dumps(config))

    def runtime(self, *args, check=True, **kwargs):
        """Output through files, not pipes: a created container keeps the stdio it got
        from `create` (as with runc), so a pipe would stay open while it lives."""
        out, err = self.path.parent / "stdout", self.path.parent / "stderr"
        with open(out, "w") as o, open(err, "w") as e:
            code = subprocess.run([str(self.bin), "runtime", "--root", str(self.state), *args], cwd=self.path,
                                  stdin=kwargs.pop("stdin", subprocess.DEVNULL), stdout=o, stderr=e, timeout=30,
                                  **kwargs).returncode
        r = subprocess.CompletedProcess(args, code, out.read_text(), err.read_text())
        if check:
            assert r.returncode == 0, r.stderr
        return r

    def state_of(self, cid):
        return json.loads(self.runtime("state", cid).stdout)


@pytest.fixture
def bundle(stevedore_bin, images, tmp_path, session_dir):
    rootfs = session_dir / "runtime-rootfs"
    if not rootfs.exists():
        unpack_layout(images["busybox"], rootfs)
    path = tmp_path / "bundle"
    path.mkdir()
    # The root is shared by tests (read-only in the default config): a bind of it.
    (path / "rootfs").symlink_to(rootfs)
    b = Bundle(stevedore_bin, path, tmp_path / "state")
    yield b
    for cid in os.listdir(b.state) if b.state.exists() else []:
        b.runtime("delete", "--force", cid, check=False)


def test_run_shows_output_and_exit_status(bundle):
    bundle.configure(["sh", "-c", "echo hello from $(hostname), pid $$; exit 3"])
    r = bundle.runtime("run", "c1", check=False)
    assert r.returncode == 3, r.stderr
    assert r.stdout == "hello from runc, pid 1\n"
    assert not (bundle.state / "c1").exists()


def test_create_start_state_kill_delete(bundle, tmp_path):
    marker = tmp_path / "shared"
    marker.mkdir()

    def shared_dir(config):
        config["mounts"].append({"destination": "/shared", "type": "bind", "source": str(marker),
                                 "options": ["rbind", "rw"]})
    bundle.configure(["sh", "-c", "touch /shared/started; exec sleep 60"], shared_dir)
    pid_file = tmp_path / "pid"
    bundle.runtime("create", "--bundle", str(bundle.path), "--pid-file", str(pid_file), "c1")
    state = bundle.state_of("c1")
    assert state["status"] == "created" and state["pid"] == int(pid_file.read_text())
    time.sleep(0.3)
    assert not (marker / "started").exists(), "the process must not run before start"

    bundle.runtime("start", "c1")
    deadline = time.monotonic() + 5
    while not (marker / "started").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert bundle.state_of("c1")["status"] == "running"
    assert "c1" in bundle.runtime("list").stdout

    r = bundle.runtime("delete", "c1", check=False)
    assert r.returncode == 1 and "running" in r.stderr
    bundle.runtime("kill", "c1", "KILL")
    deadline = time.monotonic() + 5
    while bundle.state_of("c1")["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    bundle.runtime("delete", "c1")
    assert not (bundle.state / "c1").exists()
    r = bundle.runtime("state", "c1", check=False)
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_duplicate_id_and_unknown_container(bundle):
    bundle.configure(["sleep", "60"])
    bundle.runtime("create", "c1")
    r = bundle.runtime("create", "c1", check=False)
    assert r.returncode == 1 and "already exists" in r.stderr
    r = bundle.runtime("kill", "nope", check=False)
    assert r.returncode == 1 and "nope does not exist" in r.stderr
    bundle.runtime("delete", "--force", "c1")


def test_isolation_and_security_defaults(bundle):
    script = ("ps -o pid | wc -l; "
              "touch /written 2>/dev/null && echo root-writable || echo root-read-only; "
              "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; "
              "echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable || echo sys-read-only; "
              "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status; ls /proc/self/fd")
    bundle.configure(["sh", "-c", script])
    r = bundle.runtime("run", "c1", pass_fds=(os.open("/etc/hostname", os.O_RDONLY),))
    lines = r.stdout.split("\n")
    assert int(lines[0]) <= 4, "only the container's own processes: " + r.stdout
    assert lines[1] == "root-read-only"
    assert lines[2] == "0", "/proc/timer_list is masked (it is not empty on the host)"
    assert lines[3] == "0", "/sys/firmware is masked"
    assert lines[4] == "sys-read-only"
    # CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29)
    assert "CapBnd:\t0000000020000420" in lines and "CapEff:\t0000000020000420" in lines
    assert "NoNewPrivs:\t1" in lines
    # Only stdio and ls's own directory: no descriptor of the runtime or its caller.
    assert sorted(lines[8:-1]) == ["0", "1", "2", "3"], r.stdout


def test_user_and_working_directory(bundle):
    def as_user(config):
        config["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [2000]}
        config["process"]["cwd"] = "/tmp"
    bundle.configure(["sh", "-c", "id -u; id -g; id -G; pwd"], as_user)
    assert bundle.runtime("run", "c1").stdout.split() == ["1000", "1000", "1000", "2000", "/tmp"]


def test_mount_destination_cannot_escape_the_root_through_a_symlink(bundle, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    rootfs = tmp_path / "own-rootfs"
    subprocess.run(["cp", "-a", str(bundle.path / "rootfs") + "/.", str(rootfs)], check=True)
    (rootfs / "evil").symlink_to(outside)  # absolute: out of the root if followed on the host
    (rootfs / str(outside).lstrip("/")).mkdir(parents=True)  # where it leads within the root
    (bundle.path / "rootfs").unlink()
    (bundle.path / "rootfs").symlink_to(rootfs)

    def escape(config):
        config["root"]["readonly"] = False
        config["mounts"].append({"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"})
    bundle.configure(["sh", "-c", "ls -d /evil/x"], escape)
    bundle.runtime("run", "c1")
    assert not (outside / "x").exists(), "created outside the root"
    assert (rootfs / str(outside).lstrip("/") / "x").is_dir(), "created inside the root instead"


@pytest.mark.parametrize("change, message", [
    (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_FOO"),
     "process.capabilities.bounding[3]: 'CAP_FOO' is not a capability"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pidd"}),
     "linux.namespaces[5].type: 'pidd' is not a namespace type"),
    (lambda c: c["process"].update(cwd="relative"), "process.cwd: 'relative' is not an absolute path"),
    (lambda c: c["root"].update(path="missing"), "root.path"),
    (lambda c: c["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"}),
     "mount none (nosuchfs) on /x"),
    (lambda c: c["process"].update(args=["/no/such/program"]), "exec /no/such/program: not found"),
])
def test_bad_config_is_refused_naming_the_field_and_leaves_nothing(bundle, change, message):
    bundle.configure(["true"], change)
    r = bundle.runtime("create", "bad", check=False)
    assert r.returncode == 1 and message in r.stderr and "container bad" in r.stderr, r.stderr
    assert not (bundle.state / "bad").exists()


def cgroup_dir(pid, controller):
    for line in open(f"/proc/{pid}/cgroup"):
        _, controllers, path = line.rstrip("\n").split(":", 2)
        if controller in controllers.split(",") or (controller == "" and controllers == ""):
            mount = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") \
                else f"/sys/fs/cgroup/{controller or 'unified'}"
            return Path(mount + path)
    raise AssertionError(f"no {controller} cgroup for {pid}")


def test_cgroup_limits_applied_and_removed(bundle, tmp_path):
    def limits(config):
        config["linux"]["cgroupsPath"] = f"/stevedore-test/{tmp_path.name}"
        config["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 20},
                                        "cpu": {"quota": 50000, "period": 100000}}
    bundle.configure(["sleep", "60"], limits)
    pid_file = tmp_path / "pid"
    bundle.runtime("create", "--pid-file", str(pid_file), "c1")
    pid = int(pid_file.read_text())
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    memory, pids = cgroup_dir(pid, "" if v2 else "memory"), cgroup_dir(pid, "" if v2 else "pids")
    assert str(memory).endswith(f"/stevedore-test/{tmp_path.name}")
    if v2:
        assert (memory / "memory.max").read_text().strip() == str(64 << 20)
        assert (memory / "cpu.max").read_text().strip() == "50000 100000"
    else:
        assert (memory / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        assert (cgroup_dir(pid, "cpu") / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (pids / "pids.max").read_text().strip() == "20"
    bundle.runtime("delete", "--force", "c1")
    assert not memory.exists() and not pids.exists()
    for parent in Path("/sys/fs/cgroup").glob("*/stevedore-test"):  # in every hierarchy
        try:
            parent.rmdir()
        except OSError:
            pass  # in use by another run


def test_hooks_run_in_order_with_the_state(bundle, tmp_path):
    log = tmp_path / "hooks"
    log.mkdir()
    sh = "/bin/sh"  # the host's, except for startContainer, which runs in the container

    def hook(kind, where):
        return {"path": sh, "args": ["sh", "-c", f"cat > {where}/{kind}.json; echo {kind} >> {where}/order"]}

    def hooks(config):
        config["mounts"].append({"destination": "/hooks", "type": "bind", "source": str(log),
                                 "options": ["rbind", "rw"]})
        config["hooks"] = {k: [hook(k, "/hooks" if k == "startContainer" else log)]
                           for k in ("createRuntime", "createContainer", "startContainer", "poststart", "poststop")}
    bundle.configure(["true"], hooks)
    bundle.runtime("run", "c1")
    order = (log / "order").read_text().split()
    assert order == ["createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    state = json.loads((log / "createRuntime.json").read_text())
    assert state["id"] == "c1" and state["status"] == "creating" and state["pid"] > 0
    assert state["bundle"] == str(bundle.path)
    assert json.loads((log / "poststop.json").read_text())["status"] == "stopped"


def test_failing_create_hook_fails_create_and_leaves_nothing(bundle):
    def hooks(config):
        config["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]}]}
    bundle.configure(["true"], hooks)
    r = bundle.runtime("create", "c1", check=False)
    assert r.returncode == 1 and "createRuntime hook: hook /bin/sh: exited with status 7" in r.stderr, r.stderr
    assert not (bundle.state / "c1").exists()


def test_seccomp_filter_denies_what_it_lists(bundle):
    def seccomp(config):
        config["root"]["readonly"] = False
        config["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    bundle.configure(["sh", "-c", "mkdir /tmp/seccomp-test-dir; echo $?; ls -d /tmp"], seccomp)
    r = bundle.runtime("run", "c1", check=False)
    assert "Permission denied" in r.stdout + r.stderr and r.stdout.split()[-2:] == ["1", "/tmp"], r

    def without_no_new_privs(config):
        seccomp(config)
        config["process"]["noNewPrivileges"] = False
    bundle.configure(["sh", "-c", "mkdir /tmp/seccomp-test-dir; grep NoNewPrivs /proc/self/status"],
                     without_no_new_privs)
    r = bundle.runtime("run", "c1", check=False)
    assert "Permission denied" in r.stderr and r.stdout.split() == ["NoNewPrivs:", "0"], r


def test_bad_seccomp_action_is_named(bundle):
    def seccomp(config):
        config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOPE"}]}
    bundle.configure(["true"], seccomp)
    r = bundle.runtime("create", "bad", check=False)
    assert r.returncode == 1 and "linux.seccomp.syscalls[0].action: 'SCMP_ACT_NOPE' is not an action" in r.stderr


def test_linux_devices_are_made_with_mode_and_owner(bundle):
    def devices(config):
        config["linux"]["devices"] = [{"path": "/dev/fuse-like", "type": "c", "major": 1, "minor": 7,
                                       "fileMode": 0o640, "uid": 1000, "gid": 1001}]
    bundle.configure(["sh", "-c", "stat -c '%F %t,%T %a %u %g' /dev/fuse-like"], devices)
    assert bundle.runtime("run", "c1").stdout.strip() == "character special file 1,7 640 1000 1001"


def test_exec_joins_the_running_container(bundle, tmp_path):
    bundle.configure(["sleep", "60"])
    bundle.runtime("create", "c1")
    bundle.runtime("start", "c1")
    r = bundle.runtime("exec", "c1", "sh", "-c", "hostname; echo pid 1 is $(cat /proc/1/comm); exit 5",
                       check=False)
    assert r.returncode == 5 and r.stdout.split() == ["runc", "pid", "1", "is", "sleep"], r
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["id", "-u"], "cwd": "/", "user": {"uid": 123, "gid": 123},
                                   "env": ["PATH=/bin"]}))
    assert bundle.runtime("exec", "--process", str(process), "c1").stdout.strip() == "123"
    bundle.runtime("delete", "--force", "c1")
    r = bundle.runtime("exec", "c1", "true", check=False)
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_stevedore_runc_is_the_runtime(bundle):
    runc = bundle.bin.parent / "stevedore-runc"
    bundle.configure(["echo", "from stevedore-runc"])
    r = subprocess.run([str(runc), "--root", str(bundle.state), "run", "--bundle", str(bundle.path), "c1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "from stevedore-runc\n", r


def user_namespace(config, host_id=100000):
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]


def test_user_namespace_maps_ids(bundle, tmp_path):
    """Root in the container is uid 100000 outside: a file it makes in a shared
    directory belongs to 100000 on the host, and it cannot read a root-only host file."""
    # As with runc, the root and the mount sources must be reachable by the container's
    # root user, which is no one special on the host.
    for d in (tmp_path, bundle.path, bundle.path.resolve().parent, (bundle.path / "rootfs").resolve()):
        for p in [d, *d.parents]:
            os.chmod(p, os.stat(p).st_mode | 0o111)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    secret = shared / "secret"
    secret.write_text("host only\n")
    os.chmod(secret, 0o600)

    def change(config):
        user_namespace(config)
        config["mounts"].append({"destination": "/var", "type": "bind", "source": str(shared),
                                 "options": ["rbind", "rw"]})
    bundle.configure(["sh", "-c", "id -u; cat /proc/self/uid_map; touch /var/made; "
                      "cat /var/secret 2>/dev/null || echo denied; mount -t tmpfs t /tmp 2>/dev/null && echo mounted; true"],
                     change)
    r = bundle.runtime("run", "u1", check=False)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", "100000", "65536"]
    assert "denied" in lines and "mounted" not in lines
    assert (shared / "made").stat().st_uid == 100000


def test_user_namespace_without_mappings_is_refused(bundle):
    bundle.configure(["true"], lambda c: c["linux"]["namespaces"].append({"type": "user"}))
    r = bundle.runtime("run", "u2", check=False)
    assert r.returncode == 1
    assert "linux.uidMappings: a new user namespace needs uid and gid mappings" in r.stderr
    assert not (bundle.state / "u2").exists()


def test_exec_joins_the_user_namespace(bundle, tmp_path):
    for d in (tmp_path, (bundle.path / "rootfs").resolve()):
        for p in [d, *d.parents]:
            os.chmod(p, os.stat(p).st_mode | 0o111)
    bundle.configure(["sleep", "30"], user_namespace)
    pid_file = tmp_path / "pid"
    bundle.runtime("create", "--pid-file", str(pid_file), "u3")
    bundle.runtime("start", "u3")
    r = bundle.runtime("exec", "u3", "sh", "-c", "id -u; readlink /proc/self/ns/user")
    init_ns = os.readlink(f"/proc/{pid_file.read_text()}/ns/user")
    assert r.stdout.split() == ["0", init_ns]
    assert init_ns != os.readlink("/proc/self/ns/user")
    bundle.runtime("delete", "--force", "u3")


def test_pod_sandbox_shares_namespaces_without_a_process(bundle, tmp_path):
    """Two containers joining one sandbox talk over its loopback and share its hostname;
    the sandbox outlives them with no process in it, and deleting it leaves nothing."""
    sandbox = tmp_path / "sandbox"
    bundle.runtime("sandbox", "create", "--hostname", "kubia-7b4xd", str(sandbox))
    again = bundle.runtime("sandbox", "create", str(sandbox), check=False)
    assert again.returncode == 1 and "File exists" in again.stderr

    def in_sandbox(config):
        config["linux"]["namespaces"] = [{"type": t} for t in ("pid", "mount")] + [
            {"type": t, "path": str(sandbox / f)} for t, f in (("network", "net"), ("ipc", "ipc"), ("uts", "uts"))]
        del config["hostname"]
        config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    bundle.configure(["sh", "-c", "hostname > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"], in_sandbox)
    bundle.runtime("create", "web")
    bundle.runtime("start", "web")
    bundle.configure(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do "
                      "wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.2; done; exit 1"], in_sandbox)
    r = bundle.runtime("run", "client", check=False)
    assert (r.returncode, r.stdout) == (0, "kubia-7b4xd\n"), r.stderr
    bundle.runtime("delete", "--force", "web")
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(sandbox / "net")], capture_output=True, text=True).stdout
    assert fs.strip() == "nsfs", "the namespace is held by the bind mount alone"
    bundle.runtime("sandbox", "delete", str(sandbox))
    assert not sandbox.exists()


def test_container_cannot_reach_the_runtime_binary(bundle, tmp_path):
    """CVE-2019-5736: a container process that gets hold of /proc/<pid>/exe of a runtime
    process in it (here the init waiting for start) must find a sealed copy, never the
    runtime's file on the host, and must not be able to write it once the runtime is
    gone. Run from a copy of the program, so a failure cannot damage the build."""
    copy = tmp_path / "stevedore"
    shutil.copy(bundle.bin, copy)
    before = copy.read_bytes()
    bundle.bin = copy
    bundle.configure(["true"])
    pid_file = tmp_path / "pid"
    bundle.runtime("create", "--pid-file", str(pid_file), "c5736")
    exe = os.open(f"/proc/{pid_file.read_text()}/exe", os.O_PATH)
    try:
        assert os.fstat(exe).st_ino != copy.stat().st_ino
        assert os.readlink(f"/proc/{pid_file.read_text()}/exe").startswith("/memfd:")
        bundle.runtime("delete", "--force", "c5736")
        # The seal refuses the write itself (the open may succeed).
        with pytest.raises(PermissionError):
            w = os.open(f"/proc/self/fd/{exe}", os.O_WRONLY)
            try:
                os.write(w, b"\x7fELF pwned")
            finally:
                os.close(w)
    finally:
        os.close(exe)
    assert copy.read_bytes() == before


def test_bind_mount_options_apply_to_the_mount(bundle, tmp_path):
    """`ro` on a bind mount and a propagation option reach the new mount (not the
    directory under it): the container cannot write there, the host directory stays
    writable, and the mount is shared as asked."""
    shared = tmp_path / "data"
    shared.mkdir()

    def change(config):
        config["mounts"].append({"destination": "/var", "type": "bind", "source": str(shared),
                                 "options": ["bind", "ro", "shared"]})
    bundle.configure(["sh", "-c", "touch /var/x 2>/dev/null && echo wrote; grep ' /var ' /proc/self/mountinfo"],
                     change)
    r = bundle.runtime("run", "ro1")
    assert "wrote" not in r.stdout
    fields = r.stdout.split()
    assert "ro" in fields[5].split(",") and any(f.startswith("shared:") for f in fields[6:])
    (shared / "y").write_text("host still writes\n")


def receive_console(sock):
    conn, _ = sock.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 64, 1)
    return fds[0]


def read_until_eof(fd, timeout=10):
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    return out.decode()


def test_terminal_through_the_console_socket(bundle, tmp_path):
    """process.terminal: the process runs on a pty whose master arrives on the console
    socket (as runc's --console-socket): it is the controlling terminal, /dev/console is
    it, and what is typed on the master reaches the process."""
    path = str(tmp_path / "console.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    bundle.configure(["sh", "-c", "tty; [ /dev/console -ef $(tty) ] && echo console; read line; echo got $line"],
                     lambda c: c["process"].update(terminal=True))
    r = bundle.runtime("create", "--console-socket", path, "t1")
    master = receive_console(sock)
    try:
        bundle.runtime("start", "t1")
        os.write(master, b"hello\n")
        out = read_until_eof(master)
    finally:
        os.close(master)
        sock.close()
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0].startswith("/dev/pts/") and "console" in lines and "got hello" in lines, out
    refused = bundle.runtime("create", "t2", check=False)
    assert refused.returncode == 1 and "console socket" in refused.stderr
    assert not (bundle.state / "t2").exists()


def test_run_and_exec_with_a_terminal(bundle, tmp_path):
    """Without a console socket, `run` and `exec --tty` join the caller to the pty."""
    bundle.configure(["sh", "-c", "tty; exit 4"], lambda c: c["process"].update(terminal=True))
    r = bundle.runtime("run", "t3", check=False)
    assert r.returncode == 4 and r.stdout.startswith("/dev/pts/"), r.stderr
    bundle.configure(["sleep", "30"])
    bundle.runtime("run", "--detach", "t4")
    r = bundle.runtime("exec", "--tty", "t4", "tty")
    assert r.stdout.startswith("/dev/pts/")
    assert bundle.runtime("exec", "t4", "tty", check=False).stdout.startswith("not a tty")


def test_monitor_writes_the_cri_log_and_the_exit_status(bundle, tmp_path):
    """The container monitor: the container's stdout and stderr become CRI log lines
    (long lines in P parts), its exit status lands in the exit file, and the container
    keeps running while whoever started the monitor is gone."""
    log, exit_file = tmp_path / "0.log", tmp_path / "exit.json"
    bundle.configure(["sh", "-c", "echo out; echo err >&2; head -c 20000 /dev/zero | tr '\\0' x; echo; "
                      "printf unterminated; exit 7"])
    r = bundle.runtime("monitor", "--log", str(log), "--exit-file", str(exit_file), "m1", check=False)
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    tagged = [line.split(" ", 3)[1:] for line in lines]
    assert ["stdout", "F", "out"] in tagged and ["stderr", "F", "err"] in tagged
    # The unterminated last line is a P part, as containerd writes it.
    assert [t[:2] for t in tagged if t[0] == "stdout"][1:] == [["stdout", "P"], ["stdout", "F"], ["stdout", "P"]]
    assert "".join(t[2] for t in tagged if t[0] == "stdout" and t[2].startswith("x")) == "x" * 20000
    assert tagged[-1] == ["stdout", "P", "unterminated"]
    status = json.loads(exit_file.read_text())
    assert status["exitCode"] == 7 and status["signal"] == 0 and status["finishedAt"] >= status["startedAt"]
    assert "oomKilled" not in status
    bundle.runtime("delete", "m1")


def test_monitor_logs_a_terminal_container(bundle, tmp_path):
    """A container with process.terminal (a pod's tty: true): the pty's output is its
    stdout in the CRI log, as containerd logs it, and the monitor ends with it."""
    log, exit_file = tmp_path / "0.log", tmp_path / "exit.json"
    bundle.configure(["sh", "-c", "tty; echo hi; exit 3"], lambda c: c["process"].update(terminal=True))
    r = bundle.runtime("monitor", "--log", str(log), "--exit-file", str(exit_file), "t5", check=False)
    assert r.returncode == 0, r.stderr
    tagged = [line.split(" ", 3)[1:] for line in log.read_text().split("\n") if line]
    assert tagged[0][:2] == ["stdout", "F"] and tagged[0][2].startswith("/dev/pts/"), tagged
    assert any(t[:2] == ["stdout", "F"] and t[2].rstrip("\r") == "hi" for t in tagged), tagged
    assert json.loads(exit_file.read_text())["exitCode"] == 3
    bundle.runtime("delete", "t5")


def test_monitor_records_an_oom_kill(bundle, tmp_path):
    """A container over its memory limit: the OOM killer's kill (its memory cgroup's
    oom_kill count, v1 or v2) is in the exit file with the status."""
    log, exit_file = tmp_path / "0.log", tmp_path / "exit.json"
    limit = {"limit": 20 << 20, "swap": 20 << 20}
    bundle.configure(["tail", "/dev/zero"], change=lambda c: c["linux"].setdefault("resources", {}).update(memory=limit))
    r = bundle.runtime("monitor", "--log", str(log), "--exit-file", str(exit_file), "oom1", check=False)
    assert r.returncode == 0, r.stderr
    status = json.loads(exit_file.read_text())
    assert status["oomKilled"] is True and status["exitCode"] == 137 and status["signal"] == 9, status
    bundle.runtime("delete", "oom1")


def test_monitor_reports_readiness_and_signals(bundle, tmp_path):
    log, exit_file = tmp_path / "0.log", tmp_path / "exit.json"
    bundle.configure(["sleep", "60"])
    ready_r, ready_w = os.pipe()
    monitor = subprocess.Popen([str(bundle.bin), "runtime", "--root", str(bundle.state), "monitor",
                                "--bundle", str(bundle.path), "--log", str(log), "--exit-file", str(exit_file),
                                "--ready-fd", str(ready_w), "m2"], pass_fds=(ready_w,), start_new_session=True)
    os.close(ready_w)
    pid = int(os.read(ready_r, 100).decode())
    os.close(ready_r)
    assert bundle.state_of("m2") == {**bundle.state_of("m2"), "status": "running", "pid": pid}
    bundle.runtime("kill", "m2", "KILL")
    assert monitor.wait(timeout=10) == 0
    assert json.loads(exit_file.read_text())["exitCode"] == 137
    bundle.runtime("delete", "m2")
    bundle.configure(["/no/such/program"])
    ready_r, ready_w = os.pipe()
    r = subprocess.run([str(bundle.bin), "runtime", "--root", str(bundle.state), "monitor", "--bundle",
                        str(bundle.path), "--log", str(log), "--exit-file", str(exit_file), "--ready-fd",
                        str(ready_w), "m3"], pass_fds=(ready_w,), capture_output=True, text=True, timeout=30)
    os.close(ready_w)
    told = os.read(ready_r, 1000).decode()
    os.close(ready_r)
    assert r.returncode == 1 and told.startswith("error: container m3:") and "/no/such/program" in told
    assert not (bundle.state / "m3").exists()


def test_runtime_default_seccomp_annotation(bundle):
    """The agent's RuntimeDefault profile by annotation: what containerd's profile
    refuses (a new user namespace, keyctl) fails in the container, and runs without it."""
    script = "unshare -U true && echo userns; echo ok"

    bundle.configure(["sh", "-c", script])
    assert bundle.runtime("run", "s0").stdout == "userns\nok\n"
    bundle.configure(["sh", "-c", script],
                     lambda c: c.update(annotations={"org.stevedore.seccomp": "runtime/default"}))
    assert bundle.runtime("run", "s1").stdout == "ok\n"
    bundle.configure(["true"], lambda c: c.update(annotations={"org.stevedore.seccomp": "unconfined"}))
    r = bundle.runtime("run", "s2", check=False)
    assert r.returncode == 1 and "annotations.org.stevedore.seccomp: 'unconfined' is not a profile" in r.stderr
