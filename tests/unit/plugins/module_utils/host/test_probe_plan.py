"""Pure parts of host_check: /proc parsers and threshold decisions, with recorded contents."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.host import argspec, probe_plan
from utils.proc_samples import CONTAINER_MOUNTS, MEMINFO, MOUNTS, OLD_MEMINFO, StatVFS

# The options as the module hands them over: the argument spec's defaults.
PARAMS = {name: option.get("default") for name, option in argspec.host_check_argspec()["argument_spec"].items()}


def test_parse_mounts_unescapes_octal():
    mounts = probe_plan.parse_mounts(MOUNTS)
    assert mounts[5] == {"device": "/dev/sda1", "mount": "/", "fstype": "ext4",
                         "options": "rw,relatime,errors=remount-ro"}
    assert mounts[-1]["mount"] == "/mnt/backup disk"


def test_select_mounts_skips_pseudo_runtime_snaps_and_bind_duplicates():
    assert probe_plan.select_mounts(probe_plan.parse_mounts(MOUNTS)) == ["/", "/var/lib/postgresql", "/mnt/backup disk"]


def test_select_mounts_in_a_container_keeps_the_overlay_root():
    assert probe_plan.select_mounts(probe_plan.parse_mounts(CONTAINER_MOUNTS)) == ["/", "/data"]


def test_select_mounts_with_custom_exclusions():
    mounts = probe_plan.parse_mounts(MOUNTS)
    selected = probe_plan.select_mounts(mounts, exclude_fstypes=["proc", "sysfs", "xfs"], exclude_mounts=["/mnt/*"])
    assert "/var/lib/postgresql" not in selected and "/mnt/backup disk" not in selected
    assert "/run" in selected  # tmpfs no longer excluded


def test_parse_meminfo_and_memory_usage():
    info = probe_plan.parse_meminfo(MEMINFO)
    assert info["MemTotal"] == 8060256 * 1024
    assert info["HugePages_Total"] == 0
    usage = probe_plan.memory_usage(info)
    assert usage["used_percent"] == pytest.approx(85.0, abs=0.01)
    assert usage["source"] == "MemAvailable"
    assert usage["swap_used_percent"] == pytest.approx(50.0, abs=0.01)


def test_memory_usage_without_memavailable_estimates_it():
    usage = probe_plan.memory_usage(probe_plan.parse_meminfo(OLD_MEMINFO))
    assert usage["used_percent"] == 70.0
    assert usage["source"] == "MemFree+Buffers+Cached"
    assert "swap_used_percent" not in usage
    with pytest.raises(ValueError):
        probe_plan.memory_usage({})


def test_parse_loadavg():
    assert probe_plan.parse_loadavg("0.67 0.90 0.71 3/181 12972\n") == (0.67, 0.90, 0.71)
    with pytest.raises(ValueError):
        probe_plan.parse_loadavg("garbage")


def test_disk_usage_matches_df_arithmetic():
    # 1000 blocks of 4 KiB, 300 free of which 250 available to users (50 reserved), 100 of 1000 inodes free.
    usage = probe_plan.disk_usage(StatVFS(4096, 4096, 1000, 300, 250, 1000, 100))
    assert usage["used_percent"] == pytest.approx(700 * 100.0 / 950, abs=0.01)
    assert usage["size_bytes"] == 4096000
    assert usage["free_bytes"] == 250 * 4096
    assert usage["inodes_used_percent"] == 90.0
    no_inodes = probe_plan.disk_usage(StatVFS(4096, 4096, 10, 10, 10, 0, 0))
    assert no_inodes["inodes_used_percent"] is None and no_inodes["used_percent"] == 0.0


def test_evaluate_disk_thresholds_and_inodes():
    usage = probe_plan.disk_usage(StatVFS(4096, 4096, 1000, 100, 100, 1000, 150))  # 90% used, 85% inodes
    checks, metrics = probe_plan.evaluate_disk("/var", usage, PARAMS)
    disk, inodes = checks
    assert disk["name"] == "disk./var" and disk["status"] == "critical"
    assert disk["message"].startswith("disk /var at 90% (critical >= 90%)")
    assert inodes["name"] == "inodes./var" and inodes["status"] == "warning"
    assert metrics['disk_used_ratio{mount="/var"}'] == 0.9
    assert metrics['inodes_used_ratio{mount="/var"}'] == 0.85
    # no inode support: no inode check
    checks, _rest = probe_plan.evaluate_disk("/b", probe_plan.disk_usage(StatVFS(4096, 4096, 10, 9, 9, 0, 0)), PARAMS)
    assert [c["name"] for c in checks] == ["disk./b"]


def test_evaluate_disk_missing_path_is_critical():
    checks, metrics = probe_plan.evaluate_disk("/data", None, PARAMS, "not mounted / no such path: /data")
    assert checks[0]["status"] == "critical" and checks[0]["severity"] == "P1"
    assert checks[0]["message"] == "not mounted / no such path: /data"
    assert metrics == {}


def test_evaluate_memory():
    check, metrics = probe_plan.evaluate_memory(probe_plan.memory_usage(probe_plan.parse_meminfo(MEMINFO)), PARAMS)
    assert check["status"] == "warning"
    assert "available of" in check["message"]
    assert metrics["memory_used_ratio"] == pytest.approx(0.85, abs=0.0001)
    assert metrics["swap_used_ratio"] == pytest.approx(0.5, abs=0.0001)


def test_evaluate_load_per_cpu_and_period():
    check, metrics = probe_plan.evaluate_load((9.0, 6.0, 1.0), 4, PARAMS)
    assert check["status"] == "warning"  # 6.0 / 4 = 1.5
    assert check["value"]["load5_per_cpu"] == 1.5
    assert metrics["load1_per_cpu"] == 2.25 and metrics["host_cpus"] == 4.0
    check, _rest = probe_plan.evaluate_load((9.0, 6.0, 1.0), 4, dict(PARAMS, load_period=1))
    assert check["status"] == "critical" and check["message"].startswith("load1 per CPU at 2.25")
    check, _rest = probe_plan.evaluate_load((9.0, 6.0, 1.0), 4, dict(PARAMS, load_period=15))
    assert check["status"] == "ok"
    check, _rest = probe_plan.evaluate_load((0.5, 0.5, 0.5), 0, PARAMS)  # never divide by zero
    assert check["value"]["cpus"] == 1


def test_human_bytes():
    assert probe_plan.human_bytes(512) == "512 B"
    assert probe_plan.human_bytes(1536) == "1.5 KiB"
    assert probe_plan.human_bytes(3 * 1024 ** 4) == "3.0 TiB"
