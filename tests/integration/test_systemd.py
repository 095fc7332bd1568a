"""stevedore as a systemd service, in a machine whose PID 1 is systemd (docs/systemd.md)."""


def test_machine_boots_and_leaves_nothing(systemd_machine):
    m = systemd_machine().boot()
    assert m.run("systemctl", "is-system-running").stdout.strip() in ("running", "degraded")
    assert m.run("cat", "/proc/1/comm").stdout.strip() == "systemd"
    # The pods' cgroups are made in the machine's own part of each hierarchy.
    m.run("mkdir", "/sys/fs/cgroup/memory/probe")
    m.stop()
    assert not any(cg.exists() for cg in m.cgroups)
    assert str(m.root) not in open("/proc/self/mountinfo").read()
