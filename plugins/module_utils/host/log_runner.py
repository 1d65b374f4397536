# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log checks, the I/O half: find the files, read them from the end; ``run(module)`` for log_check.

Standard library only. Plain files are read backwards in blocks and reading stops at the
first entry clearly older than the window, so a 1 GB log costs only its last hours.
Rotated siblings (``app.log.1``, ``app.log.2.gz``) are read when they were written
within the window. A file without any parseable timestamp falls back to its
modification time: all of it counts when it changed within the window, none of it
otherwise, and the check says so. The decisions are in ``log_plan``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import glob
import gzip
import os
import time
from typing import Any, BinaryIO, Callable, Dict, Iterable, Iterator, List, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.host import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import build
from ansible_collections.runbook.ops.plugins.module_utils.host.log_plan import (
    DEFAULT_TIME_FIELDS,
    ORDER_SLACK_SECONDS,
    LogScanError,
    Tally,
    evaluate_target,
    normalize_logs,
    scan_forward,
    scan_reverse,
)

BLOCK_SIZE = 64 * 1024
MAX_ROTATED = 20


def iter_reverse_lines(handle: BinaryIO, size: int, max_bytes: Optional[int] = None,
                       block_size: int = BLOCK_SIZE) -> Iterator[str]:
    """Decoded lines of a binary file, newest (last) first, reading blocks from the end.

    At most ``max_bytes`` are read; the partial line where the limit cuts is dropped.
    """
    limit = max(0, size - max_bytes) if max_bytes else 0
    position = size
    remainder = b""
    first_block = True
    while position > limit:
        start = max(limit, position - block_size)
        handle.seek(start)
        data = handle.read(position - start) + remainder
        position = start
        parts = data.split(b"\n")
        remainder = parts[0]
        rest = parts[1:]
        if first_block and rest and rest[-1] == b"":
            rest.pop()  # the newline that ends the file
        first_block = False
        for raw in reversed(rest):
            yield raw.decode("utf-8", "replace").rstrip("\r")
    if limit == 0:
        if first_block and remainder == b"":
            return
        yield remainder.decode("utf-8", "replace").rstrip("\r")


def rotated_siblings(path: str, window_start: float, exists: Callable[[str], bool] = os.path.exists,
                     mtime: Callable[[str], float] = os.path.getmtime) -> List[str]:
    """``path.1``, ``path.1.gz``, ``path.2.gz`` ... written within the window, newest first."""
    found = []
    for number in range(1, MAX_ROTATED + 1):
        candidates = [c for c in ("%s.%d" % (path, number), "%s.%d.gz" % (path, number)) if exists(c)]
        if not candidates:
            break
        recent = [c for c in candidates if mtime(c) >= window_start - ORDER_SLACK_SECONDS]
        if not recent:
            break
        found.extend(recent)
    return found


def expand_path(path: str) -> List[str]:
    """Files named by a path or glob, sorted; directories are ignored."""
    if glob.has_magic(path):
        matches = glob.glob(path)
    else:
        matches = [path] if os.path.exists(path) else []
    return sorted(m for m in matches if not os.path.isdir(m))


def scan_file(path: str, patterns: List[Dict[str, Any]], window_start: float, now: float, sample_lines: int,
              max_bytes: Optional[int] = None, time_fields: Iterable[str] = DEFAULT_TIME_FIELDS) -> Dict[str, Any]:
    """Counts for one file (plain: read backwards; ``.gz``: streamed).

    Returns ``{"path", "counts", "samples", "mode", "truncated", "mtime"}``; ``mode`` is
    ``timestamps``, ``mtime`` (no timestamps: counted the whole file, it changed within
    the window), ``mtime-old`` (no timestamps, not changed within the window) or ``old``
    (last written before the window, not read). Raises LogScanError when unreadable.
    """
    compressed = path.endswith(".gz")
    tally = Tally(patterns, sample_lines, reverse=not compressed)
    try:
        stat = os.stat(path)
        mtime = stat.st_mtime
        info = {"path": path, "mtime": mtime, "truncated": False}
        if mtime < window_start - ORDER_SLACK_SECONDS:
            info.update(counts=dict(tally.counts), samples={}, mode="old")
            return info
        if compressed:
            with gzip.open(path, "rb") as handle:
                lines = (raw.decode("utf-8", "replace").rstrip("\r\n") for raw in handle)
                outcome = scan_forward(lines, tally, window_start, now, time_fields)
        else:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                info["truncated"] = bool(max_bytes and size > max_bytes)
                outcome = scan_reverse(iter_reverse_lines(handle, size, max_bytes), tally, window_start, now,
                                       time_fields)
                if outcome["stopped"]:
                    info["truncated"] = False
    except (OSError, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise LogScanError("cannot read log file %s: %s" % (path, reason))
    if outcome["timestamps"]:
        mode = "timestamps"
        # Lines above the first timestamp (reached the top of the file): they precede an entry in the window.
        tally.commit(window_start)
    elif mtime >= window_start:
        mode = "mtime"
        tally.commit(mtime)
    else:
        mode = "mtime-old"
        tally.discard()
    info.update(counts=dict(tally.counts), samples={k: sorted(v) for k, v in tally.samples.items()}, mode=mode)
    return info


def check_logs(params: Mapping[str, Any], now: Optional[float] = None) -> Dict[str, Any]:
    """Scan every log target and build the result. Raises LogScanError on bad input."""
    now = time.time() if now is None else now
    targets = normalize_logs(params)
    sample_lines = params.get("sample_lines", 5)
    max_mb = params.get("max_scan_mb")
    max_bytes = int(max_mb * 1024 * 1024) if max_mb else None
    time_fields = params.get("time_fields") or DEFAULT_TIME_FIELDS
    include_rotated = params.get("rotated", True)
    include_gzip = params.get("compressed", True)
    checks: List[Dict[str, Any]] = []
    metrics: Dict[str, float] = {}
    for target in targets:
        window_start = now - target["since_hours"] * 3600.0
        primary: Dict[str, str] = {}  # file to scan -> file named by the path or glob
        seen = set()
        for path in expand_path(target["path"]):
            family = [path] + (rotated_siblings(path, window_start) if include_rotated else [])
            for member in family:
                real = os.path.realpath(member)
                if real in seen or (member.endswith(".gz") and not include_gzip):
                    continue
                seen.add(real)
                primary[member] = path
        files = []
        for path in primary:
            files.append(scan_file(path, target["patterns"], window_start, now, sample_lines, max_bytes, time_fields))
        target_checks, target_metrics = evaluate_target(target, files, sample_lines, primary)
        checks.extend(target_checks)
        metrics.update(target_metrics)
    return build(checks, metrics, subject="log")


def run(module: Any) -> None:
    """``log_check``: check the options, scan the logs, exit with the result."""
    validation.validate(module, argspec.RULES)
    try:
        result = check_logs(module.params)
    except LogScanError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)
