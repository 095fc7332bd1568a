"""bench/network's cross-node part: pods on two stevedore nodes of a real cluster
(tests/cluster/cluster.py's network mode: the nodes are namespaces with their own
addresses on one bridge), once with host-gw routes and once with VXLAN forced.

- TCP request/response (bench-tcp-rr, one byte each way): pod -> pod on another node
  over pod -> pod on the same node, in the same cluster, rounds alternating.
- Throughput (Debian's iperf3, one TCP stream): pod -> pod on another node over node ->
  node on the same link, which is what the pods' traffic crosses.

The programs run in the pods' own network namespaces (nsenter), so the packets take
the pods' path: veth, bridge, the node's routes (or its vxlan link), the node network."""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
import benchlib  # noqa: E402
from cluster import Cluster  # noqa: E402

RR_PORT, IPERF_POD_PORT, IPERF_NODE_PORT = 7000, 5201, 5202
RR_COUNT = 5000
IPERF_SECONDS = 4
ROUNDS = 3


def busybox_pod(name, node):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "Never",
                                     "command": ["sleep", "3600"]}]}}


def pod_netns(cluster, node, name):
    """The pod's network namespace, as its agent recorded it; and its IP."""
    pod = cluster.wait_pod(name, lambda p: p and p["status"].get("phase") == "Running" and p["status"].get("podIP"),
                           what="Running")
    path = (node.run_dir / "pods" / pod["metadata"]["uid"] / "netns").read_text().strip()
    return path, pod["status"]["podIP"]


def in_netns(path, *argv, **kw):
    return subprocess.run(["nsenter", f"--net={path}", *map(str, argv)], capture_output=True, text=True,
                          check=True, **kw)


def background(path, *argv):
    return subprocess.Popen(["nsenter", f"--net={path}", *map(str, argv)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def rr_us(rr_bin, client_netns, address):
    out = in_netns(client_netns, rr_bin, "client", address, RR_PORT, RR_COUNT, timeout=120).stdout
    return [float(line.split()[1]) for line in out.splitlines() if line.startswith("rr ")]


def throughput_gbps(client_netns, address, port):
    out = in_netns(client_netns, "iperf3", "-c", address, "-p", port, "-t", IPERF_SECONDS, "-J",
                   timeout=IPERF_SECONDS + 60).stdout
    return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e9


def wait_listening(netns, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f":{port} " in in_netns(netns, "ss", "-Htln").stdout:
            return
        time.sleep(0.1)
    raise benchlib.BenchError(f"nothing listens on :{port} in {netns}")


def measure_mode(work, stevedore, busybox, rr_bin, mode):
    """{"rr local": [µs], "rr cross": [µs], "tput pod": [Gbit/s], "tput link": [Gbit/s]}."""
    print(f"cross-node, {mode}: starting a cluster of two stevedore workers ...", flush=True)
    with Cluster(work / f"cluster-{mode}", network=True, workers=2, stevedore_bin=stevedore, pod_routes=mode,
                 dns=False) as c:
        one, two = c.workers
        for node in (one, two):
            node.image_import(busybox, "busybox")
        for name, node in (("server", one), ("local", one), ("remote", two)):
            c.apply(busybox_pod(name, node.name))
        server, server_ip = pod_netns(c, one, "server")
        local, _ = pod_netns(c, one, "local")
        remote, _ = pod_netns(c, two, "remote")
        servers = [background(server, rr_bin, "server", RR_PORT),
                   background(server, "iperf3", "-s", "-p", IPERF_POD_PORT),
                   background(one.netns_path, "iperf3", "-s", "-p", IPERF_NODE_PORT)]
        try:
            wait_listening(server, RR_PORT)
            wait_listening(server, IPERF_POD_PORT)
            wait_listening(one.netns_path, IPERF_NODE_PORT)
            samples = {"rr local": [], "rr cross": [], "tput pod": [], "tput link": []}
            for r in range(ROUNDS):
                rr = [("rr local", local), ("rr cross", remote)]
                for key, client in rr if r % 2 == 0 else rr[::-1]:
                    samples[key] += rr_us(rr_bin, client, server_ip)
                tput = [("tput pod", remote, server_ip, IPERF_POD_PORT),
                        ("tput link", two.netns_path, one.ip, IPERF_NODE_PORT)]
                for key, client, address, port in tput if r % 2 == 0 else tput[::-1]:
                    samples[key].append(throughput_gbps(client, address, port))
            return samples
        finally:
            for p in servers:
                p.terminate()
                p.wait()


def measure(work, stevedore, busybox, rr_bin):
    """Both modes; prints their tables and returns the figures {metric: ratio}."""
    results = {mode: measure_mode(work, stevedore, busybox, rr_bin, mode) for mode in ("host-gw", "vxlan")}
    figures = {}
    for mode, metric_rr, metric_tput in (("host-gw", "net_cross_node_rr_over_local", "net_cross_node_tput_ratio"),
                                         ("vxlan", "net_vxlan_rr_over_local", "net_vxlan_tput_ratio")):
        s = results[mode]
        print(f"\ncross-node, {mode}: TCP_RR of one byte ({RR_COUNT} x {ROUNDS} rounds), "
              f"iperf3 one stream {IPERF_SECONDS} s x {ROUNDS}")
        benchlib.print_table({k: [v / 1e6 for v in s[k]] for k in ("rr local", "rr cross")}, 1e6, "us")
        for k in ("tput pod", "tput link"):
            print(f"{k:<24}{statistics.median(s[k]):>14.2f} Gbit/s (median of {len(s[k])})")
        med = {k: statistics.median(v) for k, v in s.items()}
        figures[metric_rr] = med["rr cross"] / med["rr local"]
        figures[metric_tput] = med["tput pod"] / med["tput link"]
    return figures
