# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host resources, the pure half: parse /proc texts, judge disk, inodes, memory and load.

The parsers take the text of ``/proc/mounts``, ``/proc/meminfo`` and ``/proc/loadavg``
and the evaluators take numbers, so all of it is unit-tested with recorded contents;
``probe_runner`` reads the files and calls ``statvfs``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import fnmatch
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    check,
    metric_key,
    threshold_check,
)
from ansible_collections.runbook.ops.plugins.module_utils.common.units import human_bytes, ratio

RESOURCES = ("disk", "inodes", "memory", "load")

# Pseudo and virtual file systems: never "disks".
DEFAULT_EXCLUDE_FSTYPES = (
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
    "efivarfs", "fuse.gvfsd-fuse", "fuse.lxcfs", "fuse.portal", "fusectl", "hugetlbfs", "mqueue", "nsfs",
    "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs",
    "tracefs", "nfsd",
)
# Mounts that belong to the container runtime (each container's overlay root, the files
# it binds into containers) or snaps.
DEFAULT_EXCLUDE_MOUNTS = (
    "/var/lib/docker/*", "/run/docker/*", "/var/lib/containerd/*", "/run/containerd/*",
    "/var/lib/kubelet/*", "/run/k3s/*", "/snap/*", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf",
)

_OCTAL = re.compile(r"\\([0-7]{3})")


class HostProbeError(ValueError):
    """Bad input (a threshold pair in the wrong order, an unknown resource)."""


# --------------------------------------------------------------------------- #
# Pure: parsers
# --------------------------------------------------------------------------- #

def _unescape(field: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as octal (``\\040``)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> List[Dict[str, str]]:
    """``[{"device", "mount", "fstype", "options"}]`` from /proc/mounts (or /etc/mtab) text."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mounts.append({
            "device": _unescape(parts[0]),
            "mount": _unescape(parts[1]),
            "fstype": parts[2],
            "options": parts[3] if len(parts) > 3 else "",
        })
    return mounts


def select_mounts(
    mounts: Iterable[Mapping[str, str]],
    exclude_fstypes: Iterable[str] = DEFAULT_EXCLUDE_FSTYPES,
    exclude_mounts: Iterable[str] = DEFAULT_EXCLUDE_MOUNTS,
) -> List[str]:
    """The mount points worth checking, in /proc/mounts order, each once.

    Pseudo file systems (by type) and runtime mounts (by glob) are skipped. When
    one block device is mounted several times (bind mounts) only its first
    mount point is kept: their usage is the same numbers.
    """
    fstypes = set(exclude_fstypes)
    patterns = list(exclude_mounts)
    seen_mounts = set()
    seen_devices = set()
    selected = []
    for entry in mounts:
        mount = entry["mount"]
        if entry["fstype"] in fstypes or mount in seen_mounts:
            continue
        if any(fnmatch.fnmatchcase(mount, pattern) for pattern in patterns):
            continue
        device = entry["device"]
        if device.startswith("/"):
            if device in seen_devices:
                continue
            seen_devices.add(device)
        seen_mounts.add(mount)
        selected.append(mount)
    return selected


def parse_meminfo(text: str) -> Dict[str, int]:
    """``{"MemTotal": bytes, ...}`` from /proc/meminfo (values in kB become bytes)."""
    values = {}
    for line in text.splitlines():
        key, _sep, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            number = int(parts[0])
        except ValueError:
            continue
        if len(parts) > 1 and parts[1].lower() == "kb":
            number *= 1024
        values[key.strip()] = number
    return values


def parse_loadavg(text: str) -> Tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages from /proc/loadavg."""
    parts = text.split()
    if len(parts) < 3:
        raise ValueError("unexpected /proc/loadavg content: %r" % text[:80])
    return float(parts[0]), float(parts[1]), float(parts[2])


def memory_usage(meminfo: Mapping[str, int]) -> Dict[str, Any]:
    """Used percent of memory from parsed meminfo.

    Uses ``MemAvailable`` (what can be had without swapping); kernels before 3.14
    lack it, then ``MemFree + Buffers + Cached`` estimates it.
    """
    total = meminfo.get("MemTotal")
    if not total:
        raise ValueError("MemTotal missing from /proc/meminfo")
    if "MemAvailable" in meminfo:
        available = meminfo["MemAvailable"]
        source = "MemAvailable"
    else:
        available = meminfo.get("MemFree", 0) + meminfo.get("Buffers", 0) + meminfo.get("Cached", 0)
        source = "MemFree+Buffers+Cached"
    used_percent = round((total - available) * 100.0 / total, 2)
    usage = {
        "total_bytes": total,
        "available_bytes": available,
        "used_percent": used_percent,
        "source": source,
    }
    swap_total = meminfo.get("SwapTotal", 0)
    if swap_total:
        usage["swap_total_bytes"] = swap_total
        usage["swap_used_percent"] = round((swap_total - meminfo.get("SwapFree", 0)) * 100.0 / swap_total, 2)
    return usage


def disk_usage(stat: Any) -> Dict[str, Any]:
    """Block and inode usage from an ``os.statvfs`` result, the way ``df`` computes it.

    ``used_percent`` is used / (used + available to unprivileged users), so the
    blocks reserved for root count as unavailable. ``inodes_used_percent`` is
    None when the file system does not report inodes (btrfs, some network fs).
    """
    frsize = stat.f_frsize or stat.f_bsize
    used_blocks = stat.f_blocks - stat.f_bfree
    usable = used_blocks + stat.f_bavail
    used_percent = round(used_blocks * 100.0 / usable, 2) if usable > 0 else 0.0
    inodes_used = stat.f_files - stat.f_ffree
    inodes_percent = round(inodes_used * 100.0 / stat.f_files, 2) if stat.f_files > 0 else None
    return {
        "size_bytes": stat.f_blocks * frsize,
        "used_bytes": used_blocks * frsize,
        "free_bytes": stat.f_bavail * frsize,
        "used_percent": used_percent,
        "inodes_total": stat.f_files,
        "inodes_used": inodes_used,
        "inodes_used_percent": inodes_percent,
    }


# --------------------------------------------------------------------------- #
# Pure: decisions
# --------------------------------------------------------------------------- #

def evaluate_disk(
    mount: str,
    usage: Optional[Mapping[str, Any]],
    params: Mapping[str, Any],
    error: str = "",
    include_inodes: bool = True,
) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """Checks ``disk.<mount>`` (and ``inodes.<mount>``) plus metrics for one mount.

    ``usage`` is None when the path could not be read; ``error`` says why and
    the disk check is critical.
    """
    checks = []
    metrics = {}
    if usage is None:
        checks.append(check("disk." + mount, CRITICAL, error or "not mounted / no such path",
                            value={"path": mount}))
        return checks, metrics
    value = dict(usage)
    value["path"] = mount
    disk = threshold_check("disk." + mount, usage["used_percent"], params.get("disk_warning"),
                           params.get("disk_critical"), unit="%", what="disk %s" % mount)
    disk["value"] = value
    disk["message"] += ", %s free of %s" % (human_bytes(usage["free_bytes"]), human_bytes(usage["size_bytes"]))
    checks.append(disk)
    metrics[metric_key("disk_used_ratio", mount=mount)] = ratio(usage["used_percent"])
    metrics[metric_key("disk_free_bytes", mount=mount)] = float(usage["free_bytes"])
    metrics[metric_key("disk_size_bytes", mount=mount)] = float(usage["size_bytes"])
    if include_inodes and usage.get("inodes_used_percent") is not None:
        inodes = threshold_check("inodes." + mount, usage["inodes_used_percent"], params.get("inodes_warning"),
                                 params.get("inodes_critical"), unit="%", what="inodes %s" % mount)
        inodes["value"] = {"path": mount, "inodes_total": usage["inodes_total"],
                           "inodes_used": usage["inodes_used"], "used_percent": usage["inodes_used_percent"]}
        checks.append(inodes)
        metrics[metric_key("inodes_used_ratio", mount=mount)] = ratio(usage["inodes_used_percent"])
    return checks, metrics


def evaluate_memory(usage: Mapping[str, Any], params: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, float]]:
    """Check ``memory`` and its metrics."""
    result = threshold_check("memory", usage["used_percent"], params.get("memory_warning"),
                             params.get("memory_critical"), unit="%", what="memory used")
    result["value"] = dict(usage)
    result["message"] += ", %s available of %s" % (
        human_bytes(usage["available_bytes"]), human_bytes(usage["total_bytes"]))
    metrics = {
        "memory_used_ratio": ratio(usage["used_percent"]),
        "memory_available_bytes": float(usage["available_bytes"]),
        "memory_total_bytes": float(usage["total_bytes"]),
    }
    if "swap_used_percent" in usage:
        metrics["swap_used_ratio"] = ratio(usage["swap_used_percent"])
    return result, metrics


def evaluate_load(
    loadavg: Tuple[float, float, float],
    cpus: int,
    params: Mapping[str, Any],
) -> Tuple[Dict[str, Any], Dict[str, float]]:
    """Check ``load``: the O(load_period) minute load average divided by the CPU count."""
    cpus = max(int(cpus), 1)
    per_cpu = {minutes: round(value / cpus, 3) for minutes, value in zip((1, 5, 15), loadavg)}
    period = int(params.get("load_period") or 5)
    result = threshold_check("load", per_cpu[period], params.get("load_warning"), params.get("load_critical"),
                             what="load%d per CPU" % period)
    result["message"] += " (%d CPU%s; load %.2f %.2f %.2f)" % (cpus, "" if cpus == 1 else "s", *loadavg)
    result["value"] = {
        "cpus": cpus,
        "period_minutes": period,
        "load1": loadavg[0], "load5": loadavg[1], "load15": loadavg[2],
        "load1_per_cpu": per_cpu[1], "load5_per_cpu": per_cpu[5], "load15_per_cpu": per_cpu[15],
    }
    metrics = {"host_cpus": float(cpus)}
    for minutes, value in zip((1, 5, 15), loadavg):
        metrics["load%d" % minutes] = float(value)
        metrics["load%d_per_cpu" % minutes] = float(per_cpu[minutes])
    return result, metrics
