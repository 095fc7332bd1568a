"""Container lifecycle as kubelet drives it, on one stevedore node against the real
control plane: lifecycle hooks (postStart, preStop with exec, httpGet and sleep),
termination messages, and sidecars (init containers with restartPolicy Always)."""

import time

from test_agent_pods import node, running  # noqa: F401  (the fixture)

BUSYBOX = {"image": "busybox", "imagePullPolicy": "IfNotPresent"}


def host_dir(tmp_path, name):
    d = tmp_path / name
    d.mkdir(mode=0o777)
    return d


def gone(node, name, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and node.pod(name):
        time.sleep(0.2)
    assert not node.pod(name), f"pod {name} still there\n" + node.log.read_text()[-4000:]


def test_post_start_and_pre_stop_hooks(node, tmp_path):
    """postStart runs once the container started, before the probes; preStop runs at the
    deletion before SIGTERM, an httpGet one against the pod's own server."""
    out = host_dir(tmp_path, "hooks")
    node.apply({"metadata": {"name": "hooked"},
                "spec": {"terminationGracePeriodSeconds": 10, "containers": [
                    {"name": "c", **BUSYBOX, "command": ["sh", "-c", "trap 'echo TERM >> /out/events; exit 0' TERM; "
                                                                   "echo main >> /out/events; while true; do sleep 0.2; done"],
                     "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo postStart >> /out/events"]}},
                                   "preStop": {"exec": {"command": ["sh", "-c", "echo preStop >> /out/events"]}}},
                     "readinessProbe": {"exec": {"command": ["grep", "-q", "postStart", "/out/events"]},
                                        "periodSeconds": 1},
                     "volumeMounts": [{"name": "out", "mountPath": "/out"}]},
                    {"name": "web", "image": "kubia", "imagePullPolicy": "IfNotPresent",
                     "ports": [{"containerPort": 8080, "name": "http"}],
                     "lifecycle": {"preStop": {"httpGet": {"path": "/pre-stop", "port": "http"}}}}],
                    "volumes": [{"name": "out", "hostPath": {"path": str(out)}}]}})
    p = node.wait("hooked", running, timeout=60, what="Running and Ready")
    uid = p["metadata"]["uid"]
    assert (out / "events").read_text().splitlines()[-1] == "postStart"
    node.kubectl("delete", "pod", "hooked", "--wait=false")
    gone(node, "hooked")
    assert (out / "events").read_text().splitlines()[-2:] == ["preStop", "TERM"]
    web_log = (node.log_dir / "pods" / f"default_hooked_{uid}" / "web" / "0.log").read_text()
    assert "Received request from" in web_log, web_log


def test_failed_post_start_hook_restarts_the_container(node):
    node.apply({"metadata": {"name": "badhook"},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", **BUSYBOX, "command": ["sleep", "3600"],
                     "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "exit 3"]}}}}]}})
    node.wait("badhook", lambda p: p and any(c.get("restartCount", 0) >= 1
                                             for c in p["status"].get("containerStatuses", [])),
              timeout=60, what="restarted after its postStart hook failed")
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=badhook",
                          "-o", "jsonpath={.items[*].reason}").stdout.split()
    assert "FailedPostStartHook" in events, events
    assert node.pod("badhook")["status"]["containerStatuses"][0]["ready"] is False


def test_sleep_pre_stop_delays_the_stop(node):
    node.apply({"metadata": {"name": "sleeper"},
                "spec": {"terminationGracePeriodSeconds": 20, "containers": [
                    {"name": "c", **BUSYBOX, "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"],
                     "lifecycle": {"preStop": {"sleep": {"seconds": 3}}}}]}})
    node.wait("sleeper", running, what="Running")
    started = time.monotonic()
    node.kubectl("delete", "pod", "sleeper", "--wait=false")
    gone(node, "sleeper")
    took = time.monotonic() - started
    # 3 s of preStop, then SIGTERM, which it takes to end (well before the 20 s).
    assert 3 <= took < 10, took


def test_termination_messages(node):
    node.apply({"metadata": {"name": "messages"},
                "spec": {"restartPolicy": "Never", "containers": [
                    {"name": "file", **BUSYBOX, "command": ["sh", "-c", "echo -n DONE > /dev/termination-custom; echo noise"],
                     "terminationMessagePath": "/dev/termination-custom", "securityContext": {"runAsUser": 1000}},
                    {"name": "fallback", **BUSYBOX, "command": ["sh", "-c", "echo first; echo -n LAST; exit 1"],
                     "terminationMessagePolicy": "FallbackToLogsOnError"},
                    {"name": "succeeded", **BUSYBOX, "command": ["sh", "-c", "echo logged"],
                     "terminationMessagePolicy": "FallbackToLogsOnError"}]}})
    p = node.wait("messages", lambda p: p and p["status"].get("phase") == "Failed", what="Failed")
    states = {c["name"]: c["state"]["terminated"] for c in p["status"]["containerStatuses"]}
    assert states["file"].get("message") == "DONE"
    assert states["fallback"].get("message") == "first\nLAST"
    assert "message" not in states["succeeded"]


def test_sidecar_runs_beside_the_pod_and_stops_after_it(node, tmp_path):
    """A restartable init container starts before the next init container, keeps running
    with the main container, is Ready with the pod, and is stopped once the main container
    ended (restartPolicy Never: the pod Succeeds)."""
    out = host_dir(tmp_path, "sidecar")
    node.apply({"metadata": {"name": "withsidecar"},
                "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 5, "initContainers": [
                    {"name": "side", **BUSYBOX, "restartPolicy": "Always",
                     "command": ["sh", "-c", "trap 'echo side-TERM >> /out/events; exit 0' TERM; "
                                             "echo side >> /out/events; while true; do sleep 0.2; done"],
                     "startupProbe": {"exec": {"command": ["grep", "-q", "side", "/out/events"]}, "periodSeconds": 1},
                     "volumeMounts": [{"name": "out", "mountPath": "/out"}]},
                    {"name": "setup", **BUSYBOX, "command": ["sh", "-c", "echo setup >> /out/events"],
                     "volumeMounts": [{"name": "out", "mountPath": "/out"}]}],
                    "containers": [
                    {"name": "main", **BUSYBOX, "command": ["sh", "-c", "echo main >> /out/events; sleep 4"],
                     "volumeMounts": [{"name": "out", "mountPath": "/out"}]}],
                    "volumes": [{"name": "out", "hostPath": {"path": str(out)}}]}})
    p = node.wait("withsidecar", lambda p: p and p["status"].get("phase") == "Running", what="Running")
    side = p["status"]["initContainerStatuses"][0]
    assert side["name"] == "side" and "running" in side["state"] and side["started"] is True
    p = node.wait("withsidecar", lambda p: p and p["status"].get("phase") == "Succeeded", timeout=30,
                  what="Succeeded once main ended")
    assert (out / "events").read_text().splitlines() == ["side", "setup", "main", "side-TERM"], (p["status"], node.log.read_text()[-3000:])
    side = p["status"]["initContainerStatuses"][0]
    assert "terminated" in side["state"] and side["restartCount"] == 0, (p["status"], node.log.read_text()[-3000:])


def test_active_deadline_fails_the_pod_and_can_be_shortened(node):
    """activeDeadlineSeconds: past it the containers stop and the pod is Failed with
    DeadlineExceeded, not deleted; an update that shortens it applies to the running pod."""
    node.apply({"metadata": {"name": "deadline"},
                "spec": {"activeDeadlineSeconds": 3600, "terminationGracePeriodSeconds": 1, "containers": [
                    {"name": "c", **BUSYBOX, "command": ["sleep", "3600"]}]}})
    node.wait("deadline", running, what="Running")
    node.kubectl("patch", "pod", "deadline", "-p", '{"spec": {"activeDeadlineSeconds": 2}}')
    p = node.wait("deadline", lambda p: p and p["status"].get("phase") == "Failed"
                  and "terminated" in p["status"]["containerStatuses"][0]["state"], timeout=30,
                  what="Failed past its shortened deadline, its container stopped")
    assert p["status"]["reason"] == "DeadlineExceeded"
    time.sleep(2)
    assert node.pod("deadline")["status"]["phase"] == "Failed"
