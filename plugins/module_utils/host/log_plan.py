# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log checks, the pure half: timestamps, counting matches in a time window, verdicts.

Line timestamps are parsed from the common formats (``parse_timestamp``); a line
without one (a stack trace) belongs to the entry above it. ``scan_reverse`` counts
lines given newest first and says where reading may stop; ``scan_forward`` counts
a stream read from the start (gzip). ``evaluate_target`` turns the counts of a log's
files into checks. The files themselves are read by ``log_runner``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import calendar
import glob
import json
import os
import re
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    WARNING,
    check,
    metric_key,
)

DEFAULT_PATTERNS = [{"name": "error", "regex": "ERROR", "warning": 10, "critical": None, "ignore_case": False}]
DEFAULT_TIME_FIELDS = ("timestamp", "time", "@timestamp", "ts", "asctime", "datetime", "date", "t")
MISSING_CHOICES = (OK, WARNING, CRITICAL)

# Entries this much older than the window start do not stop the backwards read at once,
# so that lines written slightly out of order (threads, several processes) are still counted.
ORDER_SLACK_SECONDS = 300.0
MAX_SAMPLE_CHARS = 500

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}

# ISO 8601 and Python logging (``2026-11-22 08:12:01,123``), optionally in brackets.
_ISO = re.compile(
    r"^\[?(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s?(Z|z|[+-]\d{2}(?::?\d{2})?)?(?![\d])"
)
# Classic syslog: ``Nov 22 08:12:01`` (no year).
_SYSLOG = re.compile(r"^([A-Za-z]{3}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\b")
# Common / combined log format (nginx, Apache): ``[22/Nov/2026:08:12:01 +0000]``.
_CLF = re.compile(r"\[(\d{2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]")
# logfmt (Go services, Prometheus): ``level=error ts=2026-11-22T08:12:01.5Z msg=...``.
_LOGFMT = re.compile(r"(?:^|\s)(?:ts|time|timestamp|t)=\"?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}[^\s\"]*)")
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


class LogScanError(ValueError):
    """Bad input: an invalid regex, an unreadable file; the message names it."""


# --------------------------------------------------------------------------- #
# Pure: timestamps
# --------------------------------------------------------------------------- #

def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: int,
           fraction: str = "", offset: Optional[str] = None) -> Optional[float]:
    """Seconds since the epoch. Without ``offset`` the time is local time of this host."""
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
        return None
    frac = float("0." + fraction) if fraction else 0.0
    if offset is None:
        try:
            return time.mktime((year, month, day, hour, minute, second, 0, 0, -1)) + frac
        except (OverflowError, ValueError):
            return None
    base = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) + frac
    if offset in ("Z", "z"):
        return base
    sign = -1 if offset[0] == "-" else 1
    digits = offset[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
    return base - sign * minutes * 60


def parse_iso(text: str) -> Optional[float]:
    """Epoch seconds of an ISO 8601 / Python logging timestamp at the start of ``text``."""
    match = _ISO.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    return _epoch(int(year), int(month), int(day), int(hour), int(minute), int(second), fraction or "", offset)


def _json_time(line: str, time_fields: Iterable[str]) -> Optional[float]:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for field in time_fields:
        value = data.get(field)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            # Epoch seconds, or milliseconds when the number is too large for seconds.
            return float(value) / 1000.0 if value > 1e11 else float(value)
        if isinstance(value, str):
            parsed = parse_iso(value.strip())
            if parsed is not None:
                return parsed
            try:
                number = float(value)
            except ValueError:
                continue
            return number / 1000.0 if number > 1e11 else number
    return None


def parse_timestamp(line: str, now: float, time_fields: Iterable[str] = DEFAULT_TIME_FIELDS) -> Optional[float]:
    """Epoch seconds of the timestamp that starts ``line``, or None when it has none.

    Understands ISO 8601 (``2026-11-22T08:12:01.5Z``, ``2026-11-22 08:12:01+01:00``),
    Python logging (``2026-11-22 08:12:01,123``), syslog (``Nov 22 08:12:01``; the
    year is the one that puts it not more than a day in the future of ``now``),
    the common log format of nginx and Apache (``[22/Nov/2026:08:12:01 +0000]``,
    anywhere in the first 200 characters), logfmt (``level=error ts=2026-11-22T08:12:01Z``)
    and JSON lines with a time field.
    Timestamps without a zone are local time of the host reading the log.
    """
    if not line:
        return None
    first = line[0]
    if first.isdigit() or first == "[":
        parsed = parse_iso(line)
        if parsed is not None:
            return parsed
    elif first == "{":
        return _json_time(line, time_fields)
    elif first.isalpha():
        match = _SYSLOG.match(line)
        if match and match.group(1).lower() in _MONTHS:
            month = _MONTHS[match.group(1).lower()]
            year = time.localtime(now).tm_year
            parsed = _epoch(year, month, int(match.group(2)), int(match.group(3)), int(match.group(4)),
                            int(match.group(5)))
            if parsed is not None and parsed > now + 86400:
                parsed = _epoch(year - 1, month, int(match.group(2)), int(match.group(3)), int(match.group(4)),
                                int(match.group(5)))
            return parsed
    match = _CLF.search(line, 0, 200)
    if match and match.group(2).lower() in _MONTHS:
        day, mon, year, hour, minute, second, offset = match.groups()
        return _epoch(int(year), _MONTHS[mon.lower()], int(day), int(hour), int(minute), int(second), "", offset)
    if "=" in line:
        match = _LOGFMT.search(line, 0, 200)
        if match:
            return parse_iso(match.group(1))
    return None


# --------------------------------------------------------------------------- #
# Pure: counting
# --------------------------------------------------------------------------- #

class Tally:
    """Matches per pattern for one file, with tentative counts for lines whose time is not known yet.

    Lines without a timestamp are added tentatively; ``commit`` keeps them (their
    entry is in the window), ``discard`` drops them. Samples keep the newest
    ``sample_lines`` matches per pattern.
    """

    def __init__(self, patterns: List[Mapping[str, Any]], sample_lines: int, reverse: bool = False):
        self.patterns = patterns
        self._step = -1 if reverse else 1  # so that ``_seq`` grows with time in either read direction
        self.sample_lines = sample_lines
        self.counts = {p["name"]: 0 for p in patterns}
        self.samples: Dict[str, List[Tuple[float, int, str]]] = {p["name"]: [] for p in patterns}
        self._pending_counts = {p["name"]: 0 for p in patterns}
        self._pending_samples: Dict[str, List[Tuple[int, str]]] = {p["name"]: [] for p in patterns}
        self._seq = 0  # order of lines within equal timestamps
        self.lines = 0

    def _matches(self, line: str) -> Iterator[str]:
        for pattern in self.patterns:
            if pattern["compiled"].search(line):
                yield pattern["name"]

    def add(self, line: str, ts: float) -> None:
        """A line known to be in the window, at time ``ts``."""
        self.lines += 1
        self._seq += self._step
        for name in self._matches(line):
            self.counts[name] += 1
            self._sample(name, ts, self._seq, line)

    def add_tentative(self, line: str) -> None:
        """A line whose time is only known once its entry's timestamp is seen."""
        self.lines += 1
        self._seq += self._step
        for name in self._matches(line):
            self._pending_counts[name] += 1
            pending = self._pending_samples[name]
            pending.append((self._seq, line))
            if len(pending) > 2 * max(self.sample_lines, 1):
                # Keep the first and the last few: which end is newest depends on the read direction.
                del pending[self.sample_lines:len(pending) - self.sample_lines]

    def commit(self, ts: float) -> None:
        for name in self.counts:
            self.counts[name] += self._pending_counts[name]
            for seq, line in self._pending_samples[name]:
                self._sample(name, ts, seq, line)
        self.discard()

    def discard(self) -> None:
        self._pending_counts = {name: 0 for name in self.counts}
        self._pending_samples = {name: [] for name in self.counts}

    def _sample(self, name: str, ts: float, seq: int, line: str) -> None:
        if self.sample_lines <= 0:
            return
        samples = self.samples[name]
        samples.append((ts, seq, line[:MAX_SAMPLE_CHARS]))
        if len(samples) > 4 * self.sample_lines:
            samples.sort()
            del samples[:len(samples) - self.sample_lines]


def scan_reverse(
    lines_newest_first: Iterable[str],
    tally: Tally,
    window_start: float,
    now: float,
    time_fields: Iterable[str] = DEFAULT_TIME_FIELDS,
    slack: float = ORDER_SLACK_SECONDS,
) -> Dict[str, Any]:
    """Count matches going from the newest line back; stop at the first entry older than the window.

    A line without a timestamp belongs to the nearest timestamped line above it,
    so in reverse order it is counted tentatively until that line shows up.
    Returns ``{"timestamps": bool, "stopped": bool}``: whether any timestamp
    was seen and whether reading stopped before the top of the file. Lines above
    the first timestamp of the file stay pending (the caller decides).
    """
    seen = False
    for line in lines_newest_first:
        if not line:
            continue
        ts = parse_timestamp(line, now, time_fields)
        if ts is None:
            tally.add_tentative(line)
            continue
        seen = True
        if ts >= window_start:
            tally.add_tentative(line)
            tally.commit(ts)
        else:
            tally.discard()
            if ts < window_start - slack:
                return {"timestamps": True, "stopped": True, "oldest": ts}
    return {"timestamps": seen, "stopped": False, "oldest": None}


def scan_forward(
    lines_oldest_first: Iterable[str],
    tally: Tally,
    window_start: float,
    now: float,
    time_fields: Iterable[str] = DEFAULT_TIME_FIELDS,
) -> Dict[str, Any]:
    """The same count for a stream read from the start (gzip): lines inherit the previous timestamp.

    Lines before the first timestamp stay pending for the caller.
    """
    current: Optional[float] = None
    for line in lines_oldest_first:
        if not line:
            continue
        ts = parse_timestamp(line, now, time_fields)
        if ts is not None:
            if current is None:
                # Lines above the first timestamp: they belong to the time of the first entry.
                if ts >= window_start:
                    tally.commit(ts)
                else:
                    tally.discard()
            current = ts
        if current is None:
            tally.add_tentative(line)
        elif current >= window_start:
            tally.add(line, current)
    return {"timestamps": current is not None, "stopped": False, "oldest": None}


def count_status(count: int, warning: Optional[float], critical: Optional[float]) -> str:
    """Critical when more than ``critical`` lines match, warning when more than ``warning`` (None disables)."""
    if critical is not None and count > critical:
        return CRITICAL
    if warning is not None and count > warning:
        return WARNING
    return OK


# --------------------------------------------------------------------------- #
# Pure: input
# --------------------------------------------------------------------------- #

def default_log_name(path: str) -> str:
    """``/var/log/finchat/app.log`` -> ``app``; ``/var/log/finchat/*.log`` -> ``finchat``."""
    base = os.path.basename(path.rstrip("/"))
    for ext in (".gz", ".log", ".txt", ".json", ".jsonl"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    if glob.has_magic(base) or not base:
        base = os.path.basename(os.path.dirname(path.rstrip("/"))) or "log"
    return _SLUG.sub("_", base).strip("_") or "log"


def default_pattern_name(regex: str, index: int) -> str:
    name = re.sub(r"\W+", "_", regex).strip("_").lower()
    return name[:40] or "pattern%d" % (index + 1)


def normalize_patterns(raw: Optional[List[Mapping[str, Any]]], where: str) -> List[Dict[str, Any]]:
    """Compile and name the patterns; LogScanError for an invalid regex or duplicate name."""
    items = raw if raw else DEFAULT_PATTERNS
    patterns = []
    names = set()
    for index, item in enumerate(items):
        regex = item.get("regex")
        if not regex:
            raise LogScanError("%s: patterns[%d] needs a regex" % (where, index))
        flags = re.IGNORECASE if item.get("ignore_case") else 0
        try:
            compiled = re.compile(regex, flags)
        except re.error as exc:
            raise LogScanError("%s: invalid regex %r in patterns[%d]: %s" % (where, regex, index, exc))
        name = item.get("name") or default_pattern_name(regex, index)
        if name in names:
            raise LogScanError("%s: two patterns are named %r; give them distinct names" % (where, name))
        names.add(name)
        warning, critical = item.get("warning"), item.get("critical")
        for label, value in (("warning", warning), ("critical", critical)):
            if value is not None and value < 0:
                raise LogScanError("%s: pattern %r %s must not be negative" % (where, name, label))
        if warning is not None and critical is not None and warning > critical:
            raise LogScanError("%s: pattern %r warning (%s) is above critical (%s)" % (where, name, warning, critical))
        patterns.append({"name": name, "regex": regex, "compiled": compiled, "warning": warning,
                         "critical": critical, "ignore_case": bool(item.get("ignore_case"))})
    return patterns


def normalize_logs(params: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One dict per log target with every default filled in; LogScanError on bad input."""
    logs = params.get("logs") or []
    if not logs:
        raise LogScanError("logs must name at least one file")
    if params.get("sample_lines") is not None and params["sample_lines"] < 0:
        raise LogScanError("sample_lines must not be negative")
    if params.get("max_scan_mb") is not None and params["max_scan_mb"] <= 0:
        raise LogScanError("max_scan_mb must be positive")
    targets = []
    names = set()
    for index, raw in enumerate(logs):
        path = raw.get("path")
        if not path:
            raise LogScanError("logs[%d] needs a path" % index)
        name = raw.get("name") or default_log_name(path)
        if name in names:
            raise LogScanError("two logs are named %r; set a distinct name for each" % name)
        names.add(name)
        since = raw.get("since_hours") if raw.get("since_hours") is not None else params.get("since_hours", 24)
        if since is None or since <= 0:
            raise LogScanError("log %s: since_hours must be positive" % name)
        missing = raw.get("missing") or params.get("missing") or WARNING
        if missing not in MISSING_CHOICES:
            raise LogScanError("log %s: missing must be one of ok, warning, critical" % name)
        patterns = normalize_patterns(raw.get("patterns") or params.get("patterns"), "log %s" % name)
        targets.append({
            "name": name,
            "path": os.path.expanduser(path),
            "since_hours": float(since),
            "missing": missing,
            "patterns": patterns,
        })
    return targets


# --------------------------------------------------------------------------- #
# Pure: verdicts
# --------------------------------------------------------------------------- #

def evaluate_target(target: Mapping[str, Any], files: List[Dict[str, Any]], sample_lines: int,
                    primary: Mapping[str, str]) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """Checks ``log.<name>.<pattern>`` and metrics for one log target from its scanned files.

    ``primary`` maps each scanned file (rotated ones too) to the file named by the
    path or glob, which labels the metric.
    """
    name = target["name"]
    hours = target["since_hours"]
    window = _hours(hours)
    checks = []
    metrics: Dict[str, float] = {}
    if not files:
        for pattern in target["patterns"]:
            checks.append(check(
                "log.%s.%s" % (name, pattern["name"]), target["missing"],
                "no file matches %s" % target["path"],
                value={"count": None, "path": target["path"], "missing": True, "pattern": pattern["regex"]},
                threshold={"warning": pattern["warning"], "critical": pattern["critical"]},
            ))
        return checks, metrics
    notes = []
    mtime_files = [f["path"] for f in files if f["mode"] == "mtime"]
    if mtime_files:
        notes.append("no timestamps in %s: counted whole file (modified within the window)" % ", ".join(mtime_files))
    untimed_old = [f["path"] for f in files if f["mode"] == "mtime-old"]
    if untimed_old:
        notes.append("no timestamps in %s and not modified within the window: not counted" % ", ".join(untimed_old))
    truncated = [f["path"] for f in files if f["truncated"]]
    if truncated:
        notes.append("read only the last part of %s (max_scan_mb)" % ", ".join(truncated))
    for pattern in target["patterns"]:
        pname = pattern["name"]
        per_file: Dict[str, int] = {}
        samples: List[Tuple[float, int, str, str]] = []
        for info in files:
            label = primary.get(info["path"], info["path"])
            per_file[label] = per_file.get(label, 0) + info["counts"].get(pname, 0)
            for ts, seq, line in info["samples"].get(pname, []):
                samples.append((ts, seq, info["path"], line))
        total = sum(per_file.values())
        samples.sort(key=lambda item: (item[0], item[1]))
        shown = [item[3] for item in samples[-sample_lines:]] if sample_lines else []
        status = count_status(total, pattern["warning"], pattern["critical"])
        message = "%d line%s match%s %r in the last %s" % (
            total, "" if total == 1 else "s", "es" if total == 1 else "", pattern["regex"], window)
        if status == CRITICAL:
            message += " (critical above %s)" % _num(pattern["critical"])
        elif status == WARNING:
            message += " (warning above %s)" % _num(pattern["warning"])
        if notes:
            message += "; " + "; ".join(notes)
        checks.append(check(
            "log.%s.%s" % (name, pname), status, message,
            value={
                "count": total,
                "pattern": pattern["regex"],
                "since_hours": hours,
                "files": per_file,
                "timestamps": {f["path"]: f["mode"] for f in files},
                "sample": shown,
            },
            threshold={"warning": pattern["warning"], "critical": pattern["critical"]},
        ))
        for label, count in per_file.items():
            metrics[metric_key("log_matches", file=label, pattern=pname)] = float(count)
    return checks, metrics


def _hours(hours: float) -> str:
    return "%sh" % _num(hours)


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
