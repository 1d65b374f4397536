"""runbook.ops.host_check on this machine: real /proc, real statvfs, thresholds forced low and high."""

from __future__ import annotations

import os

import pytest

from utils.run import ModuleFailed, run_module


def _by_name(result):
    return {c["name"]: c for c in result["checks"]}


def test_defaults_check_root_memory_and_load():
    result = run_module("host_check", {})
    checks = _by_name(result)
    assert result["changed"] is False
    assert {"disk./", "inodes./", "memory", "load"} <= set(checks)
    # Pseudo file systems are not disks.
    assert not any(name in checks for name in ("disk./proc", "disk./sys", "disk./dev/shm", "disk./dev"))
    root = checks["disk./"]["value"]
    stat = os.statvfs("/")
    assert root["size_bytes"] == stat.f_blocks * stat.f_frsize
    assert 0 <= root["used_percent"] <= 100
    metrics = result["metrics"]
    # The metrics carry shares as ratios (Prometheus's base unit), the checks percentages.
    assert metrics['disk_used_ratio{mount="/"}'] == pytest.approx(root["used_percent"] / 100.0)
    assert 0 < metrics["memory_used_ratio"] < 1
    assert metrics["memory_used_ratio"] == pytest.approx(checks["memory"]["value"]["used_percent"] / 100.0)
    assert metrics["host_cpus"] == float(len(os.sched_getaffinity(0)))
    with open("/proc/loadavg") as handle:
        assert metrics["load15"] == pytest.approx(float(handle.read().split()[2]), abs=0.5)
    assert checks["memory"]["threshold"] == {"warning": 85.0, "critical": 95.0}
    assert checks["disk./"]["threshold"] == {"warning": 80.0, "critical": 90.0}


def test_thresholds_forced_low_give_warning_and_critical():
    warn = run_module("host_check", {"mounts": ["/"], "resources": ["disk"], "disk_warning": 0.001,
                                     "disk_critical": 100})
    assert warn["status"] == "warning" and warn["severity"] == "P2"
    assert "warning >= 0" in warn["checks"][0]["message"]

    crit = run_module("host_check", {"mounts": ["/"], "resources": ["disk"], "disk_warning": 0, "disk_critical": 0.001})
    assert crit["status"] == "critical" and crit["severity"] == "P1"
    assert crit["summary"].startswith("host: disk./ disk / at ")

    memory = run_module("host_check", {"resources": ["memory"], "memory_warning": 0, "memory_critical": 0.001})
    assert [c["name"] for c in memory["checks"]] == ["memory"]
    assert memory["status"] == "critical"

    load = run_module("host_check", {"resources": ["load"], "load_warning": 0, "load_critical": 1000})
    assert load["checks"][0]["status"] == "warning"

    relaxed = run_module("host_check", {"mounts": ["/"], "disk_warning": 100, "disk_critical": 100,
                                        "inodes_warning": 100, "inodes_critical": 100, "memory_warning": 100,
                                        "memory_critical": 100, "load_warning": 1000, "load_critical": 1000})
    assert relaxed["status"] == "ok" and relaxed["severity"] == "P3"


def test_inodes_only():
    result = run_module("host_check", {"mounts": ["/"], "resources": ["inodes"], "inodes_warning": 0,
                                       "inodes_critical": 100})
    assert [c["name"] for c in result["checks"]] == ["inodes./"]
    assert result["checks"][0]["status"] == "warning"
    assert list(result["metrics"]) == ['inodes_used_ratio{mount="/"}']


def test_nonexistent_mount_is_critical_not_a_crash(tmp_path):
    missing = str(tmp_path / "no" / "such" / "mount")
    result = run_module("host_check", {"mounts": ["/", missing], "resources": ["disk", "inodes"]})
    checks = _by_name(result)
    assert checks["disk." + missing]["status"] == "critical"
    assert "not mounted / no such path" in checks["disk." + missing]["message"]
    assert checks["disk./"]["status"] in ("ok", "warning", "critical")
    assert result["status"] == "critical"


def test_a_directory_reports_its_file_system(tmp_path):
    result = run_module("host_check", {"mounts": [str(tmp_path)], "resources": ["disk"]})
    value = result["checks"][0]["value"]
    stat = os.statvfs(str(tmp_path))
    assert value["size_bytes"] == stat.f_blocks * stat.f_frsize


def test_check_mode_is_the_same_read_only_probe():
    real = run_module("host_check", {"mounts": ["/"], "disk_warning": 0, "disk_critical": 100})
    checked = run_module("host_check", {"mounts": ["/"], "disk_warning": 0, "disk_critical": 100}, check_mode=True)
    assert checked["changed"] is False
    assert [(c["name"], c["status"]) for c in checked["checks"]] == [(c["name"], c["status"]) for c in real["checks"]]


def test_bad_thresholds_fail_clearly():
    with pytest.raises(ModuleFailed, match=r"disk_warning must be at most disk_critical \(90.0\), got 95.0"):
        run_module("host_check", {"disk_warning": 95, "disk_critical": 90})
    with pytest.raises(ModuleFailed, match="between 0 and 100"):
        run_module("host_check", {"memory_critical": 150})
    with pytest.raises(ModuleFailed, match="value of resources must be one or more of"):
        run_module("host_check", {"resources": ["cpu"]})


@pytest.mark.docker
def test_runs_inside_a_minimal_container():
    """The probe needs only python3: run it in the bare Debian image, where / is an overlay."""
    import json
    import uuid

    import docker

    client = docker.from_env(timeout=60)
    code = ("import json; from ansible_collections.runbook.ops.plugins.module_utils.host.probe_runner import check_host; "
            "print(json.dumps(check_host({'resources': ['disk', 'inodes', 'memory', 'load'], 'disk_warning': 80, "
            "'disk_critical': 90, 'inodes_warning': 80, 'inodes_critical': 90, 'memory_warning': 85, "
            "'memory_critical': 95, 'load_period': 5, 'load_warning': 1.5, 'load_critical': 2.0})))")
    container = client.containers.run(
        "runbook-ops/debian12-python:1", ["python3", "-c", code], detach=True,
        name="rbops-hostcheck-%s" % uuid.uuid4().hex[:10], labels={"runbook.ops.test": "1"},
        volumes={"/work/main": {"bind": "/work/main", "mode": "ro"}},
        environment={"PYTHONPATH": "/work/main/collection"})
    try:
        exit_code = container.wait(timeout=60)["StatusCode"]
        output = container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)
        client.close()
    assert exit_code == 0, output
    result = json.loads(output)
    names = [c["name"] for c in result["checks"]]
    assert names[0] == "disk./" and names[-2:] == ["memory", "load"]
    assert "disk./etc/hosts" not in names and "disk./work/main" in names
    assert result["schema"] == "runbook.ops/result/v1"
