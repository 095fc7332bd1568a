#!/usr/bin/env python3
"""A Debian machine whose PID 1 is systemd, for testing stevedore as a systemd service.

The userspace is Debian 12 from Debian's packages, bootstrapped once by
tests/systemd/build-machine into a cache outside the checkout. Each machine boots it with
systemd-nspawn from an overlay of its own (the cache is never written), in a private
network namespace, with the built stevedore installed inside by `meson install`.
Commands run inside through nsenter. stop() leaves nothing: no process, mount or cgroup.

This host has no systemd as PID 1, so systemd-nspawn runs with --register=no and
--keep-unit (no machined, no scope unit): it runs in a cgroup the harness makes for it
and removes again, and makes the machine's cgroups below it."""

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_MACHINE = ROOT / "tests" / "systemd" / "build-machine"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def machine_image():
    """The cached root file system (built by scripts/test through build-machine)."""
    out = subprocess.run([BUILD_MACHINE, "--print-dir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def own_cgroups():
    """The hierarchies this process is in, as (mount point, its cgroup there): on a hybrid
    host the v1 controllers, the named systemd hierarchy and the unified one; on a
    unified host /sys/fs/cgroup."""
    base = Path("/sys/fs/cgroup")
    found = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if not controllers:
                mount = base if (base / "cgroup.controllers").exists() else base / "unified"
            else:
                mount = base / controllers.replace("name=", "")
            if (mount / "cgroup.procs").exists() and not mount.is_symlink():
                found.append((mount, path.lstrip("/")))
    return found


def make_cgroup(path):
    """A child cgroup a process can join: v1 cpuset wants its CPUs and memory nodes set."""
    path.mkdir()
    for name in ("cpuset.cpus", "cpuset.mems"):
        if (path / name).exists():
            (path / name).write_text((path.parent / name).read_text())


def remove_cgroup_tree(path):
    """Kills what is left in a cgroup tree, then removes it bottom-up."""
    deadline = time.monotonic() + 10
    while path.exists():
        dirs = sorted((Path(d) for d, _, _ in os.walk(path)), key=lambda p: len(p.parts), reverse=True)
        for d in dirs:
            try:
                for pid in (d / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                d.rmdir()
            except OSError:
                pass
        if path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot remove cgroup {path}")
            time.sleep(0.05)


def ns_pids(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return line.split()[1:]
    return []


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


class SystemdMachine:
    """SystemdMachine(workdir, binds={host: guest}, disks=[guest path]) — then
    install(build_dir), write(), boot(), run(), stop()."""

    def __init__(self, workdir, binds=None, disks=(), image=None):
        self.name = f"sdm-{secrets.token_hex(3)}"
        self.image = Path(image or machine_image())
        self.dir = Path(workdir) / self.name
        self.root = self.dir / "root"
        self.binds = dict(binds or {})
        # Directories on the host's file system, read-write: overlayfs (the machine's
        # root) cannot be the upper layer of the containers' overlays.
        self.disks = {}
        for guest in disks:
            host = self.dir / "disks" / guest.strip("/").replace("/", "-")
            host.mkdir(parents=True)
            self.disks[str(host)] = guest
        # In a cgroup of its own in every hierarchy: the cgroup namespaces' roots, where
        # whatever the machine makes lands, and what stop() removes.
        self.cgroups = [mount / path / f"stevedore-{self.name}" for mount, path in own_cgroups()]
        self.proc = None
        self.leader = None
        self.mounted = False
        for d in ("upper", "work", "root"):
            (self.dir / d).mkdir(parents=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={self.image},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}",
                        self.root], check=True, capture_output=True)
        self.mounted = True
        # A test machine powers off in seconds: what ignores SIGTERM (a container's PID 1
        # without a handler) is killed after 3 s, not 90.
        self.write("/etc/systemd/system.conf.d/50-test-machine.conf", "[Manager]\nDefaultTimeoutStopSec=3s\n")

    # --- before boot ----------------------------------------------------------------

    def install(self, build_dir):
        """`meson install` of build_dir into the machine (binaries, units, config)."""
        subprocess.run(["meson", "install", "-C", build_dir, "--no-rebuild", "--quiet",
                        "--destdir", self.root], check=True, capture_output=True)

    def write(self, path, text, mode=0o644):
        """Writes a file of the machine's file system (before boot, or on its disk after)."""
        p = self.root / str(path).lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)

    # --- the machine ----------------------------------------------------------------

    def _enter_cgroup(self):
        for cg in self.cgroups:
            (cg / "cgroup.procs").write_text(str(os.getpid()))

    def boot(self, timeout=60):
        """Boots the machine; returns once `systemctl is-system-running` says running
        (or degraded: a unit irrelevant here may fail in a container)."""
        for cg in self.cgroups:
            make_cgroup(cg)
        argv = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--private-network",
                "--capability=all", "--console=read-only", "-D", str(self.root), "-M", self.name]
        argv += [f"--bind-ro={host}:{guest}" for host, guest in self.binds.items()]
        argv += [f"--bind={host}:{guest}" for host, guest in self.disks.items()]
        argv += ["--boot"]
        self.console = open(self.dir / "console.log", "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.console,
                                     stderr=subprocess.STDOUT, preexec_fn=self._enter_cgroup)
        deadline = time.monotonic() + timeout
        while self.leader is None:
            self._check_alive()
            self.leader = self._find_leader()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no PID 1 appeared: {self.console_log()}")
            time.sleep(0.05)
        # systemctl needs PID 1's socket (on the machine's own /run).
        while not Path(f"/proc/{self.leader}/root/run/systemd/private").exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: systemd did not start: {self.console_log()}")
            time.sleep(0.05)
        state = self.run("systemctl", "is-system-running", "--wait", check=False,
                         timeout=max(1, deadline - time.monotonic())).stdout.strip()
        if state not in ("running", "degraded"):
            raise RuntimeError(f"{self.name}: system is {state!r}: {self.console_log()}")
        self._writable_cgroup_controllers()
        return self

    def _writable_cgroup_controllers(self):
        """systemd-nspawn mounts the v1 controllers read-only; a node's agent makes its pods'
        cgroups there. They are the machine's own (below its cgroup namespace's root)."""
        mounts = self.run("findmnt", "-n", "-l", "-t", "cgroup", "-o", "TARGET").stdout.split()
        for m in mounts:
            subprocess.run(["nsenter", "-t", str(self.leader), "-m", "mount", "-o", "remount,bind,rw", m],
                           check=True, capture_output=True)

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name}: systemd-nspawn exited {self.proc.returncode}: "
                               f"{self.console_log()}")

    def _find_leader(self):
        """The machine's PID 1 as the host sees it: a descendant of systemd-nspawn that is
        PID 1 of its own PID namespace."""
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                nspids = ns_pids(pid)
            except FileNotFoundError:
                continue
            if len(nspids) > 1 and nspids[-1] == "1":
                return pid
            todo += children_of(pid)
        return None

    def console_log(self):
        return (self.dir / "console.log").read_text(errors="replace")[-4000:]

    def run(self, *argv, check=True, timeout=60, input=None):
        """Runs a command inside (every namespace of the machine's PID 1)."""
        cmd = ["nsenter", "-t", str(self.leader), "-a", "env", "-i", f"PATH={PATH}", "TERM=dumb",
               "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", *[str(a) for a in argv]]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"{self.name}: {' '.join(map(str, argv))} exited {r.returncode}:\n"
                                 f"{r.stdout}{r.stderr}")
        return r

    def host_pid(self, guest_pid):
        """The host's PID of a process of the machine (for checks from outside)."""
        for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
            try:
                nspids = ns_pids(pid)
                if len(nspids) > 1 and nspids[-1] == str(guest_pid) and \
                        os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{self.leader}/ns/pid"):
                    return pid
            except (FileNotFoundError, ProcessLookupError):
                continue
        return None

    def stop(self, timeout=15):
        """Powers the machine off (SIGKILL to its PID 1 after timeout), then removes its
        overlay and cgroups."""
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.terminate()  # systemd-nspawn asks PID 1 to power off
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    if self.leader:
                        try:
                            os.kill(self.leader, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            if self.proc:
                self.console.close()
            for cg in self.cgroups:
                remove_cgroup_tree(cg)
            if self.mounted:
                subprocess.run(["umount", self.root], check=False, capture_output=True)
                self.mounted = False


def main():
    """A machine for manual work: boots it with a build installed and runs CMD inside (a
    shell by default), then removes it. Run as root."""
    import argparse
    import sys
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--build", default=str(ROOT / "build"), help="build directory to install (default build/)")
    parser.add_argument("cmd", nargs="*", help="command to run inside (default: a shell)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stevedore-machine-") as workdir:
        m = SystemdMachine(workdir, disks=["/var/lib/stevedore"])
        try:
            m.install(args.build)
            m.boot()
            print(f"{m.name}: PID 1 is {m.leader} on the host; nsenter -t {m.leader} -a to enter", file=sys.stderr)
            argv = args.cmd or ["bash", "-l"]
            rc = subprocess.call(["nsenter", "-t", str(m.leader), "-a", "env", "-i", f"PATH={PATH}",
                                  f"TERM={os.environ.get('TERM', 'dumb')}", *argv])
        finally:
            m.stop()
    sys.exit(rc)


if __name__ == "__main__":
    main()
