"""Helpers for bench/<name> scripts (see bench/README.md): alternate ours and the peer
in rounds, report medians and p99, print a table and the FIGURE lines last."""

import statistics
import subprocess
import time


def ensure_packages(*packages):
    """Installs Debian packages the peer needs (the bench contract allows it)."""
    missing = [p for p in packages
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                 text=True).stdout != "install ok installed"]
    if missing:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                       check=True, stdout=subprocess.DEVNULL)


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
