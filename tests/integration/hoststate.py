"""Snapshots of host state that tests may leave behind, and their removal.

A test must leave the host as it found it: no network namespaces, veth links, mounts,
nftables tables or child processes of its own once it is over."""

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from cluster import descendants


def run(*argv, check=True, **kw):
    return subprocess.run([str(a) for a in argv], check=check, capture_output=True,
                          text=True, **kw)


def netns_names():
    out = run("ip", "netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def veth_names():
    out = run("ip", "-o", "link", "show", "type", "veth").stdout
    # "12: veth0@if11: <...>" -> "veth0"
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def mount_points():
    """Mount points, less iproute2's /run/netns (made once, shared by every `ip netns`)
    and the namespaces bound below it, which netns_names() accounts for."""
    with open("/proc/self/mountinfo") as f:
        points = {line.split()[4] for line in f}
    return {p for p in points if p != "/run/netns" and not p.startswith("/run/netns/")}


def nft_tables():
    out = run("nft", "list", "tables", check=False).stdout
    return {line.strip() for line in out.splitlines() if line.startswith("table ")}


# Long-lived processes of session fixtures (the control plane, the registry, a test
# cluster's agents): not leaks, even when one is restarted during a test, and neither is
# what they run (an agent's pod monitors and containers).
infrastructure_pids = set()
# Network namespaces of a test cluster (tests/cluster/cluster.py's node network): its
# fixture removes them.
infrastructure_netns = set()
# Callables telling whether a mount belongs to a test cluster's own pods (CoreDNS in
# kube-system), whose containers may restart while a test runs.
infrastructure_mounts = []


@dataclass
class HostState:
    netns: set = field(default_factory=lambda: netns_names() - infrastructure_netns)
    veths: set = field(default_factory=veth_names)
    mounts: set = field(default_factory=mount_points)
    tables: set = field(default_factory=nft_tables)
    procs: set = field(default_factory=lambda: descendants(skip=frozenset(infrastructure_pids)))

    def leaks_since(self, before):
        """What exists now that did not exist in `before`, as {kind: sorted list}."""
        leaks = {
            "netns": self.netns - before.netns,
            "veth": self.veths - before.veths,
            "mount": {m for m in self.mounts - before.mounts if not any(f(m) for f in infrastructure_mounts)},
            "nft table": self.tables - before.tables,
            "process": self.procs - before.procs,
        }
        return {k: sorted(v) for k, v in leaks.items() if v}


def remove_leaks(leaks):
    """Best-effort removal of what leaks_since() reported, so one test's leak does not
    fail the tests after it."""
    for pid in leaks.get("process", []):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for mnt in sorted(leaks.get("mount", []), key=len, reverse=True):
        run("umount", "-l", mnt, check=False)
    for name in leaks.get("veth", []):
        run("ip", "link", "del", name, check=False)
    for name in leaks.get("netns", []):
        kill_netns_pids(name)
        run("ip", "netns", "del", name, check=False)
    for table in leaks.get("nft table", []):
        run("nft", "delete", *table.split(), check=False)


def kill_netns_pids(name):
    pids = run("ip", "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = run("ip", "netns", "pids", name, check=False).stdout.split()
        time.sleep(0.05)
