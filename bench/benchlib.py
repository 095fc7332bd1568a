"""Helpers for bench/<name> scripts (see bench/README.md): alternate ours and the peer
in rounds, report medians and p99, print a table and the FIGURE lines last; for the
benches against a cluster, a private /run/netns and HTTPS to kube-apiserver."""

import ctypes
import http.client
import json
import os
import statistics
import subprocess
import threading
import time

CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 16384, 1 << 18
libc = ctypes.CDLL(None, use_errno=True)


def ensure_packages(*packages):
    """Installs Debian packages the peer needs (the bench contract allows it)."""
    missing = [p for p in packages
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                 text=True).stdout != "install ok installed"]
    if missing:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}  # iperf3 asks about a daemon
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                       check=True, stdout=subprocess.DEVNULL, env=env)


def time_once(argv):
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def alternate(candidates, rounds, per_round):
    """candidates: {name: callable returning seconds}. Runs them in turn, per_round
    samples each per round, so machine noise falls on all alike. Returns {name: [s]}."""
    samples = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, measure in candidates.items():
            samples[name].extend(measure() for _ in range(per_round))
    return samples


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def print_table(samples, unit_scale=1e3, unit="ms"):
    print(f"{'':<24}{'median ' + unit:>14}{'p99 ' + unit:>12}{'samples':>10}")
    for name, values in samples.items():
        print(f"{name:<24}{statistics.median(values) * unit_scale:>14.3f}"
              f"{p99(values) * unit_scale:>12.3f}{len(values):>10}")


def figure(metric, value, unit):
    """A count (int) is printed as is, a measurement to three decimals."""
    print(f"FIGURE {metric} {value if isinstance(value, int) else f'{value:.3f}'} {unit}")


class BenchError(Exception):
    """The bench could not measure: the reason is the message."""


def sh(*argv):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(map(str, argv))}: {r.stderr.strip()}")
    return r.stdout


def private_netns_dir():
    """This process (and what it starts) gets a mount namespace of its own with an empty
    /run/netns: the network namespaces the bench makes with `ip netns` are its alone, out
    of sight of other `ip netns` users on the machine (a test suite's leak sweeper running
    meanwhile would delete them, and count them as its own leaks). Call while single-threaded."""
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    os.makedirs("/run/netns", exist_ok=True)
    if libc.mount(b"tmpfs", b"/run/netns", b"tmpfs", 0, b"mode=0755") != 0:
        raise OSError(ctypes.get_errno(), "mount tmpfs /run/netns")


class Api:
    """HTTPS to kube-apiserver with the admin certificate; one kept-alive connection per
    thread, so many threads create objects at once."""

    def __init__(self, cluster):
        self.port = cluster.port
        self.ctx = cluster._ssl_context()
        self.local = threading.local()

    def request(self, method, path, body=None, content_type="application/json"):
        for attempt in range(3):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPSConnection(
                    "127.0.0.1", self.port, context=self.ctx, timeout=60)
            try:
                conn.request(method, path, body=json.dumps(body) if body is not None else None,
                             headers={"Content-Type": content_type, "Accept": "application/json"})
                r = conn.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                continue
            if r.status == 429 or r.status >= 500:  # busy: try again
                time.sleep(0.2 * (attempt + 1))
                if attempt < 2:
                    continue
            if r.status >= 300:
                raise BenchError(f"{method} {path}: HTTP {r.status}: {data[:300]!r}")
            return json.loads(data)
