# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host resources, the I/O half: read /proc, statvfs each mount; ``run(module)`` for host_check.

Standard library only, so it runs inside minimal containers. The decisions are in
``probe_plan``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.host import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import CRITICAL, build, check
from ansible_collections.runbook.ops.plugins.module_utils.host.probe_plan import (
    DEFAULT_EXCLUDE_FSTYPES,
    DEFAULT_EXCLUDE_MOUNTS,
    RESOURCES,
    HostProbeError,
    disk_usage,
    evaluate_disk,
    evaluate_load,
    evaluate_memory,
    memory_usage,
    parse_loadavg,
    parse_meminfo,
    parse_mounts,
    select_mounts,
)


def mount_point_of(path: str, ismount: Callable[[str], bool] = os.path.ismount) -> str:
    """The mount point of the file system holding ``path`` (walks up to a mount)."""
    current = os.path.abspath(path)
    while not ismount(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def read_text(path: str) -> str:
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        return handle.read()


def cpu_count() -> int:
    """CPUs this process may run on (respects affinity / cpusets in containers)."""
    try:
        return len(os.sched_getaffinity(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def statvfs_usage(path: str) -> Tuple[Optional[Dict[str, Any]], str]:
    """``(usage, "")`` for an existing path, ``(None, reason)`` otherwise."""
    if not os.path.exists(path):
        return None, "not mounted / no such path: %s" % path
    try:
        return disk_usage(os.statvfs(path)), ""
    except OSError as exc:
        return None, "cannot stat file system at %s: %s" % (path, exc.strerror or exc)


def check_host(
    params: Mapping[str, Any],
    proc: str = "/proc",
    usage_of: Callable[[str], Tuple[Optional[Dict[str, Any]], str]] = statvfs_usage,
    cpus: Optional[int] = None,
) -> Dict[str, Any]:
    """Run the selected resource checks and build the result."""
    resources = list(params.get("resources") or RESOURCES)
    checks: List[Dict[str, Any]] = []
    metrics: Dict[str, float] = {}
    if "disk" in resources or "inodes" in resources:
        mounts = [os.path.normpath(m) for m in params.get("mounts") or []]
        if not mounts:
            try:
                mounts = select_mounts(parse_mounts(read_text(os.path.join(proc, "mounts"))),
                                       params.get("exclude_fstypes", DEFAULT_EXCLUDE_FSTYPES),
                                       params.get("exclude_mounts", DEFAULT_EXCLUDE_MOUNTS))
            except OSError as exc:
                checks.append(check("disk", CRITICAL, "cannot list mounts from %s/mounts: %s" % (proc, exc)))
                mounts = []
        for mount in mounts:
            usage, error = usage_of(mount)
            disk_checks, disk_metrics = evaluate_disk(mount, usage, params, error, include_inodes="inodes" in resources)
            if "disk" not in resources:
                disk_checks = [c for c in disk_checks if not c["name"].startswith("disk.") or usage is None]
                disk_metrics = {k: v for k, v in disk_metrics.items() if not k.startswith("disk_")}
            checks.extend(disk_checks)
            metrics.update(disk_metrics)
    if "memory" in resources:
        try:
            usage = memory_usage(parse_meminfo(read_text(os.path.join(proc, "meminfo"))))
        except (OSError, ValueError) as exc:
            checks.append(check("memory", CRITICAL, "cannot read memory usage: %s" % exc))
        else:
            memory_check, memory_metrics = evaluate_memory(usage, params)
            checks.append(memory_check)
            metrics.update(memory_metrics)
    if "load" in resources:
        try:
            loadavg = parse_loadavg(read_text(os.path.join(proc, "loadavg")))
        except (OSError, ValueError) as exc:
            checks.append(check("load", CRITICAL, "cannot read load average: %s" % exc))
        else:
            load_check, load_metrics = evaluate_load(loadavg, cpus or cpu_count(), params)
            checks.append(load_check)
            metrics.update(load_metrics)
    return build(checks, metrics, subject="host")


def run(module: Any) -> None:
    """``host_check``: check the thresholds, measure the host, exit with the result."""
    validation.validate(module, argspec.RULES)
    try:
        result = check_host(module.params)
    except HostProbeError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)
