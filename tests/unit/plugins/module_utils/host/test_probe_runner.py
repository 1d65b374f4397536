"""host_check's runner: a recorded /proc in a directory, statvfs of real paths."""

from __future__ import annotations

import os

from ansible_collections.runbook.ops.plugins.module_utils.host import argspec, probe_plan, probe_runner
from utils.proc_samples import MEMINFO, MOUNTS, StatVFS

# The options as the module hands them over: the argument spec's defaults.
PARAMS = {name: option.get("default") for name, option in argspec.host_check_argspec()["argument_spec"].items()}


def test_mount_point_of_walks_up():
    mounts = {"/", "/var/lib/postgresql"}
    assert probe_runner.mount_point_of("/var/lib/postgresql/15/main", mounts.__contains__) == "/var/lib/postgresql"
    assert probe_runner.mount_point_of("/etc/hosts", mounts.__contains__) == "/"


def test_check_host_with_recorded_proc(tmp_path):
    (tmp_path / "mounts").write_text(MOUNTS)
    (tmp_path / "meminfo").write_text(MEMINFO)
    (tmp_path / "loadavg").write_text("0.10 0.20 0.30 1/100 42\n")
    usages = {"/": probe_plan.disk_usage(StatVFS(4096, 4096, 1000, 500, 500, 100, 50)),
              "/var/lib/postgresql": probe_plan.disk_usage(StatVFS(4096, 4096, 1000, 50, 50, 0, 0))}

    def usage_of(path):
        return (usages[path], "") if path in usages else (None, "not mounted / no such path: %s" % path)

    result = probe_runner.check_host(dict(PARAMS, resources=list(probe_plan.RESOURCES)), proc=str(tmp_path), usage_of=usage_of, cpus=2)
    names = [c["name"] for c in result["checks"]]
    assert names == ["disk./", "inodes./", "disk./var/lib/postgresql", "disk./mnt/backup disk", "memory", "load"]
    statuses = {c["name"]: c["status"] for c in result["checks"]}
    assert statuses["disk./var/lib/postgresql"] == "critical"
    assert statuses["disk./mnt/backup disk"] == "critical"
    assert statuses["memory"] == "warning"
    assert result["metrics"]["load5_per_cpu"] == 0.1
    assert result["summary"].startswith("host: disk./var/lib/postgresql disk /var/lib/postgresql at 95%")


def test_check_host_selected_resources_and_explicit_mounts(tmp_path):
    (tmp_path / "loadavg").write_text("1 1 1 1/1 1\n")
    usage = probe_plan.disk_usage(StatVFS(1, 1, 10, 5, 5, 10, 1))
    result = probe_runner.check_host(dict(PARAMS, resources=["inodes", "load"], mounts=["/data/"]), proc=str(tmp_path),
                                     usage_of=lambda p: (usage, ""), cpus=1)
    assert [c["name"] for c in result["checks"]] == ["inodes./data", "load"]
    assert list(result["metrics"])[0] == 'inodes_used_ratio{mount="/data"}'


def test_check_host_without_proc_reports_instead_of_crashing(tmp_path):
    result = probe_runner.check_host(dict(PARAMS, resources=list(probe_plan.RESOURCES)), proc=str(tmp_path / "missing"), cpus=1)
    assert [(c["name"], c["status"]) for c in result["checks"]] == [
        ("disk", "critical"), ("memory", "critical"), ("load", "critical")]


def test_statvfs_usage_real_and_missing(tmp_path):
    usage, error = probe_runner.statvfs_usage(str(tmp_path))
    assert error == "" and usage["size_bytes"] > 0
    usage, error = probe_runner.statvfs_usage(str(tmp_path / "nope"))
    assert usage is None and error.startswith("not mounted / no such path")
    assert probe_runner.cpu_count() == len(os.sched_getaffinity(0))
