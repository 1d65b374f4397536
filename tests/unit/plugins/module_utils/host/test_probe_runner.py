"""Pure parts of host_check: /proc parsers and threshold decisions, with recorded contents."""

from __future__ import annotations

import os
from collections import namedtuple

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.host import probe_runner as hp

# /proc/mounts of a Docker host (recorded, shortened), with a mount point that has a space in it.
MOUNTS = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=4011396k,nr_inodes=1002849,mode=755 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=807412k,mode=755 0 0
/dev/sda1 / ext4 rw,relatime,errors=remount-ro 0 0
securityfs /sys/kernel/security securityfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
/dev/sdb1 /var/lib/postgresql xfs rw,relatime,attr2,inode64 0 0
/dev/sda1 /var/lib/docker ext4 rw,relatime,errors=remount-ro 0 0
overlay /var/lib/docker/overlay2/abc123/merged overlay rw,relatime,lowerdir=/x,upperdir=/y,workdir=/z 0 0
nsfs /run/docker/netns/default nsfs rw 0 0
/dev/loop0 /snap/core20/1828 squashfs ro,nodev,relatime 0 0
/dev/sdc1 /mnt/backup\\040disk ext4 rw,relatime 0 0
"""

# Inside a container: the root is overlay.
CONTAINER_MOUNTS = """\
overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0
shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0
/dev/vda /etc/hosts ext4 rw,relatime 0 0
/dev/vda /etc/resolv.conf ext4 rw,relatime 0 0
/dev/vda /data ext4 rw,relatime 0 0
"""

MEMINFO = """\
MemTotal:        8060256 kB
MemFree:          312348 kB
MemAvailable:    1209052 kB
Buffers:          102400 kB
Cached:           901120 kB
SwapCached:            0 kB
SwapTotal:       2097148 kB
SwapFree:        1048574 kB
HugePages_Total:       0
"""

OLD_MEMINFO = """\
MemTotal:        1000000 kB
MemFree:          100000 kB
Buffers:           50000 kB
Cached:           150000 kB
"""

StatVFS = namedtuple("StatVFS", "f_bsize f_frsize f_blocks f_bfree f_bavail f_files f_ffree")

PARAMS = {"disk_warning": 80, "disk_critical": 90, "inodes_warning": 80, "inodes_critical": 90,
          "memory_warning": 85, "memory_critical": 95, "load_period": 5, "load_warning": 1.5, "load_critical": 2.0}


def test_parse_mounts_unescapes_octal():
    mounts = hp.parse_mounts(MOUNTS)
    assert mounts[5] == {"device": "/dev/sda1", "mount": "/", "fstype": "ext4",
                         "options": "rw,relatime,errors=remount-ro"}
    assert mounts[-1]["mount"] == "/mnt/backup disk"


def test_select_mounts_skips_pseudo_runtime_snaps_and_bind_duplicates():
    assert hp.select_mounts(hp.parse_mounts(MOUNTS)) == ["/", "/var/lib/postgresql", "/mnt/backup disk"]


def test_select_mounts_in_a_container_keeps_the_overlay_root():
    assert hp.select_mounts(hp.parse_mounts(CONTAINER_MOUNTS)) == ["/", "/data"]


def test_select_mounts_with_custom_exclusions():
    mounts = hp.parse_mounts(MOUNTS)
    selected = hp.select_mounts(mounts, exclude_fstypes=["proc", "sysfs", "xfs"], exclude_mounts=["/mnt/*"])
    assert "/var/lib/postgresql" not in selected and "/mnt/backup disk" not in selected
    assert "/run" in selected  # tmpfs no longer excluded


def test_parse_meminfo_and_memory_usage():
    info = hp.parse_meminfo(MEMINFO)
    assert info["MemTotal"] == 8060256 * 1024
    assert info["HugePages_Total"] == 0
    usage = hp.memory_usage(info)
    assert usage["used_percent"] == pytest.approx(85.0, abs=0.01)
    assert usage["source"] == "MemAvailable"
    assert usage["swap_used_percent"] == pytest.approx(50.0, abs=0.01)


def test_memory_usage_without_memavailable_estimates_it():
    usage = hp.memory_usage(hp.parse_meminfo(OLD_MEMINFO))
    assert usage["used_percent"] == 70.0
    assert usage["source"] == "MemFree+Buffers+Cached"
    assert "swap_used_percent" not in usage
    with pytest.raises(ValueError):
        hp.memory_usage({})


def test_parse_loadavg():
    assert hp.parse_loadavg("0.67 0.90 0.71 3/181 12972\n") == (0.67, 0.90, 0.71)
    with pytest.raises(ValueError):
        hp.parse_loadavg("garbage")


def test_disk_usage_matches_df_arithmetic():
    # 1000 blocks of 4 KiB, 300 free of which 250 available to users (50 reserved), 100 of 1000 inodes free.
    usage = hp.disk_usage(StatVFS(4096, 4096, 1000, 300, 250, 1000, 100))
    assert usage["used_percent"] == pytest.approx(700 * 100.0 / 950, abs=0.01)
    assert usage["size_bytes"] == 4096000
    assert usage["free_bytes"] == 250 * 4096
    assert usage["inodes_used_percent"] == 90.0
    no_inodes = hp.disk_usage(StatVFS(4096, 4096, 10, 10, 10, 0, 0))
    assert no_inodes["inodes_used_percent"] is None and no_inodes["used_percent"] == 0.0


def test_evaluate_disk_thresholds_and_inodes():
    usage = hp.disk_usage(StatVFS(4096, 4096, 1000, 100, 100, 1000, 150))  # 90% used, 85% inodes
    checks, metrics = hp.evaluate_disk("/var", usage, PARAMS)
    disk, inodes = checks
    assert disk["name"] == "disk./var" and disk["status"] == "critical"
    assert disk["message"].startswith("disk /var at 90% (critical >= 90%)")
    assert inodes["name"] == "inodes./var" and inodes["status"] == "warning"
    assert metrics['disk_used_percent{mount="/var"}'] == 90.0
    assert metrics['inodes_used_percent{mount="/var"}'] == 85.0
    # no inode support: no inode check
    checks, _rest = hp.evaluate_disk("/b", hp.disk_usage(StatVFS(4096, 4096, 10, 9, 9, 0, 0)), PARAMS)
    assert [c["name"] for c in checks] == ["disk./b"]


def test_evaluate_disk_missing_path_is_critical():
    checks, metrics = hp.evaluate_disk("/data", None, PARAMS, "not mounted / no such path: /data")
    assert checks[0]["status"] == "critical" and checks[0]["severity"] == "P1"
    assert checks[0]["message"] == "not mounted / no such path: /data"
    assert metrics == {}


def test_evaluate_memory():
    check, metrics = hp.evaluate_memory(hp.memory_usage(hp.parse_meminfo(MEMINFO)), PARAMS)
    assert check["status"] == "warning"
    assert "available of" in check["message"]
    assert metrics["memory_used_percent"] == pytest.approx(85.0, abs=0.01)
    assert metrics["swap_used_percent"] == pytest.approx(50.0, abs=0.01)


def test_evaluate_load_per_cpu_and_period():
    check, metrics = hp.evaluate_load((9.0, 6.0, 1.0), 4, PARAMS)
    assert check["status"] == "warning"  # 6.0 / 4 = 1.5
    assert check["value"]["load5_per_cpu"] == 1.5
    assert metrics["load1_per_cpu"] == 2.25 and metrics["cpu_count"] == 4.0
    check, _rest = hp.evaluate_load((9.0, 6.0, 1.0), 4, dict(PARAMS, load_period=1))
    assert check["status"] == "critical" and check["message"].startswith("load1 per CPU at 2.25")
    check, _rest = hp.evaluate_load((9.0, 6.0, 1.0), 4, dict(PARAMS, load_period=15))
    assert check["status"] == "ok"
    check, _rest = hp.evaluate_load((0.5, 0.5, 0.5), 0, PARAMS)  # never divide by zero
    assert check["value"]["cpus"] == 1


def test_validate_thresholds():
    hp.validate_thresholds(PARAMS)
    with pytest.raises(hp.HostProbeError, match="load_warning"):
        hp.validate_thresholds(dict(PARAMS, load_warning=3))
    with pytest.raises(hp.HostProbeError, match="between 0 and 100"):
        hp.validate_thresholds(dict(PARAMS, disk_critical=101))


def test_mount_point_of_walks_up():
    mounts = {"/", "/var/lib/postgresql"}
    assert hp.mount_point_of("/var/lib/postgresql/15/main", mounts.__contains__) == "/var/lib/postgresql"
    assert hp.mount_point_of("/etc/hosts", mounts.__contains__) == "/"


def test_human_bytes():
    assert hp.human_bytes(512) == "512 B"
    assert hp.human_bytes(1536) == "1.5 KiB"
    assert hp.human_bytes(3 * 1024 ** 4) == "3.0 TiB"


def test_check_host_with_recorded_proc(tmp_path):
    (tmp_path / "mounts").write_text(MOUNTS)
    (tmp_path / "meminfo").write_text(MEMINFO)
    (tmp_path / "loadavg").write_text("0.10 0.20 0.30 1/100 42\n")
    usages = {"/": hp.disk_usage(StatVFS(4096, 4096, 1000, 500, 500, 100, 50)),
              "/var/lib/postgresql": hp.disk_usage(StatVFS(4096, 4096, 1000, 50, 50, 0, 0))}

    def usage_of(path):
        return (usages[path], "") if path in usages else (None, "not mounted / no such path: %s" % path)

    result = hp.check_host(dict(PARAMS, resources=list(hp.RESOURCES)), proc=str(tmp_path), usage_of=usage_of, cpus=2)
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
    result = hp.check_host(dict(PARAMS, resources=["inodes", "load"], mounts=["/data/"]), proc=str(tmp_path),
                           usage_of=lambda p: (hp.disk_usage(StatVFS(1, 1, 10, 5, 5, 10, 1)), ""), cpus=1)
    assert [c["name"] for c in result["checks"]] == ["inodes./data", "load"]
    assert list(result["metrics"])[0] == 'inodes_used_percent{mount="/data"}'


def test_check_host_without_proc_reports_instead_of_crashing(tmp_path):
    result = hp.check_host(dict(PARAMS, resources=list(hp.RESOURCES)), proc=str(tmp_path / "missing"), cpus=1)
    assert [(c["name"], c["status"]) for c in result["checks"]] == [
        ("disk", "critical"), ("memory", "critical"), ("load", "critical")]


def test_statvfs_usage_real_and_missing(tmp_path):
    usage, error = hp.statvfs_usage(str(tmp_path))
    assert error == "" and usage["size_bytes"] > 0
    usage, error = hp.statvfs_usage(str(tmp_path / "nope"))
    assert usage is None and error.startswith("not mounted / no such path")
    assert hp.cpu_count() == len(os.sched_getaffinity(0))
