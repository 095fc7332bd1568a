"""The stevedore command as an admin meets it."""

import os
import platform

from hoststate import run


def test_version(stevedore_bin):
    out = run(stevedore_bin, "version").stdout
    assert out.startswith("stevedore version ")


def test_status_reports_the_node(stevedore_bin):
    out = run(stevedore_bin, "status").stdout
    fields = dict(line.split(":", 1) for line in out.splitlines())
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["Node"] == platform.node()
    assert fields["Kernel Version"] == platform.release()
    assert fields["Architecture"] == {"x86_64": "amd64", "aarch64": "arm64"}.get(
        platform.machine(), platform.machine())
    assert fields["CPU"] == str(os.cpu_count())
    assert fields["Container Runtime"].startswith("stevedore://")
    assert fields["Cgroups"] in ("v1", "v2", "hybrid (v1 + unified)")


def test_status_names_the_file_it_cannot_read(stevedore_bin, tmp_path):
    (tmp_path / "etc").mkdir()
    r = run(stevedore_bin, "status", "--sysroot", tmp_path, check=False)
    assert r.returncode == 1
    assert f"{tmp_path}/etc/machine-id" in r.stderr
    assert "No such file or directory" in r.stderr


def test_unknown_verb_and_bad_options_are_usage_errors(stevedore_bin):
    r = run(stevedore_bin, "frobnicate", check=False)
    assert r.returncode == 2 and "unknown verb 'frobnicate'" in r.stderr
    r = run(stevedore_bin, "--log-level", "loud", "version", check=False)
    assert r.returncode == 2 and "invalid log level 'loud'" in r.stderr
