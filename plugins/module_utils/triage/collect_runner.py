# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running the triage's collectors: concurrently, each with a time limit and a byte limit.

A collector is a function ``collect(box)`` that reads one system and puts what it read into its
``Box``: files for the bundle (``box.add(path, text)``, cut to the box's byte limit, keeping the
end of a log), ``findings`` for the classification and ``events`` for the timeline.
``run_collectors`` starts each in a daemon thread (at most ``workers`` at a time) and waits,
through ``common/waiting.py``, until each has finished or used up its ``timeout``. A collector
that raises is recorded as ``failed`` with the reason, one that is still running at its limit as
``timeout`` (its box is closed and dropped; the thread is a daemon and dies with the module):
neither stops the others.

This file also holds the collectors that read files and the local host (host, logs, reports);
``systems_runner`` has those that talk to Docker, PostgreSQL, Redis and Kubernetes.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import json
import os
import re
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline, waiting
from ansible_collections.runbook.ops.plugins.module_utils.host import argspec as host_argspec
from ansible_collections.runbook.ops.plugins.module_utils.host import probe_runner
from ansible_collections.runbook.ops.plugins.module_utils.triage import timeline_plan

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_ERROR = re.compile(r"\b(?:ERROR|CRITICAL|FATAL|PANIC)\b")


def safe_name(name: Any) -> str:
    """A file name part from any text: letters, digits, ``_``, ``.`` and ``-`` only, never ``..``."""
    text = _SAFE.sub("_", str(name)).strip(".") or "unnamed"
    return text[:100]


def to_json(data: Any) -> str:
    """JSON with dates as ISO 8601 and bytes as text."""
    def default(value: Any) -> Any:
        if isinstance(value, (datetime.datetime, datetime.date)):
            return value.isoformat()
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, (set, tuple)):
            return list(value)
        return str(value)
    return json.dumps(data, indent=2, sort_keys=True, default=default) + "\n"


class Box:
    """What one collector gathered, bounded by ``max_bytes``; closed once its time is up."""

    def __init__(self, name: str, max_bytes: int):
        self.name = name
        self.max_bytes = int(max_bytes)
        self.files: Dict[str, str] = {}
        self.findings: Dict[str, Any] = {}
        self.events: List[Dict[str, Any]] = []
        self.bytes = 0
        self.truncated: List[str] = []
        self.closed = False
        self._lock = threading.Lock()

    def add(self, path: str, text: Any, keep_end: bool = False) -> None:
        """Add a file; past the byte limit it is cut (its end kept for a log, else its start)."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = str(text)
        with self._lock:
            if self.closed:
                return
            room = max(0, self.max_bytes - self.bytes)
            data = text.encode("utf-8")
            if len(data) > room:
                self.truncated.append(path)
                data = data[len(data) - room:] if keep_end else data[:room]
                text = data.decode("utf-8", "ignore")
                note = "[truncated by runbook.ops triage: byte limit %d of collector %s]\n" % (self.max_bytes, self.name)
                text = note + text if keep_end else text + "\n" + note
            self.bytes += len(data)
            self.files[path] = text

    def add_json(self, path: str, data: Any) -> None:
        self.add(path, to_json(data))

    def close(self) -> None:
        with self._lock:
            self.closed = True


Collector = Tuple[str, Callable[[Box], None]]


def _body(state: Dict[str, Any], function: Callable[[Box], None], slots: Any, wake: Any, now: Callable[[], float]) -> None:
    """One collector's thread: wait for a slot, run, record the error or the end, wake the waiter."""
    with slots:
        state["started"] = now()
        try:
            function(state["box"])
        except Exception as exc:  # pylint: disable=broad-exception-caught
            state["error"] = "%s: %s" % (type(exc).__name__, " ".join(str(exc).split())[:500])
        finally:
            state["ended"] = now()
            wake.set()


def run_collectors(collectors: Sequence[Collector], timeout: float, workers: int, max_bytes: int,
                   now: Callable[[], float] = time.monotonic) -> List[Dict[str, Any]]:
    """Run every collector; one outcome each, in the given order:
    ``{"name", "status" (ok, failed, timeout), "seconds", "bytes", "truncated", "error", "box"}``."""
    slots = threading.Semaphore(max(1, int(workers)))
    wake = threading.Event()
    states: List[Dict[str, Any]] = []
    for name, function in collectors:
        state: Dict[str, Any] = {"name": name, "started": None, "ended": None, "error": None, "box": Box(name, max_bytes)}
        states.append(state)
        threading.Thread(target=_body, args=(state, function, slots, wake, now), name="triage-%s" % name, daemon=True).start()

    def running() -> List[Dict[str, Any]]:
        moment = now()
        return [s for s in states if s["ended"] is None and (s["started"] is None or moment - s["started"] < timeout)]

    def pause(seconds: float) -> None:
        wake.wait(seconds)
        wake.clear()

    rounds = -(-len(states) // max(1, int(workers))) if states else 1
    waiting.wait_for(running, lambda left: not left, timeout=timeout * rounds + 1, interval=0.5,
                     now=now, sleep=lifeline.guarded(sleep=pause))
    outcomes = []
    for state in states:
        box = state["box"]
        if state["ended"] is None:
            box.close()
            outcomes.append({"name": state["name"], "status": "timeout", "seconds": round(timeout, 3), "bytes": 0,
                             "truncated": [], "error": "still running after the %ss limit: left out" % timeout, "box": None})
            continue
        outcomes.append({"name": state["name"], "status": "failed" if state["error"] else "ok",
                         "seconds": round(state["ended"] - state["started"], 3), "bytes": box.bytes,
                         "truncated": list(box.truncated), "error": state["error"], "box": box})
    return outcomes


# --------------------------------------------------------------------------- #
# Collectors of the local host and of files
# --------------------------------------------------------------------------- #

def read_tail(path: str, max_bytes: int, max_lines: int) -> Tuple[str, int, bool]:
    """The last ``max_lines`` lines of a file within its last ``max_bytes``: ``(text, size, cut)``."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        start = max(0, size - max_bytes)
        handle.seek(start)
        data = handle.read(max_bytes)
    cut = start > 0
    if cut:
        newline = data.find(b"\n")
        data = data[newline + 1:] if newline >= 0 else data
    lines = data.decode("utf-8", "replace").splitlines()
    if len(lines) > max_lines:
        lines, cut = lines[-max_lines:], True
    return "\n".join(lines) + ("\n" if lines else ""), size, cut


def host_collector(options: Mapping[str, Any]) -> Callable[[Box], None]:
    """Disk, memory and load (host_check's measures with its default thresholds), the raw
    /proc figures, and the top processes by CPU."""
    defaults = {k: v.get("default") for k, v in host_argspec.host_check_argspec()["argument_spec"].items()}

    def collect(box: Box) -> None:
        params = dict(defaults, mounts=list(options.get("mounts") or []))
        box.add_json("host/resources.json", probe_runner.check_host(params))
        for name in ("meminfo", "loadavg", "uptime"):
            try:
                box.add("host/proc_%s.txt" % name, probe_runner.read_text("/proc/%s" % name))
            except OSError as exc:
                box.add("host/proc_%s.txt" % name, "cannot read /proc/%s: %s\n" % (name, exc))
        top = int(options.get("top") or 15)
        done = subprocess.run(["ps", "-eo", "pid,ppid,user,pcpu,pmem,rss,etime,stat,args", "--sort=-pcpu"],  # noqa: S603
                              capture_output=True, text=True, timeout=10, check=False)
        lines = done.stdout.splitlines()
        box.add("host/top_processes.txt", "\n".join(lines[:top + 1]) + "\n" if lines else done.stderr)
    return collect


def log_collector(logs: Sequence[Mapping[str, Any]], max_lines: int, now: float,
                  security: Sequence[str], data_loss: Sequence[str]) -> Callable[[Box], None]:
    """The end of each application log (within the byte limit), its ERROR lines counted, lines
    matching the security and data loss patterns counted, and its first ERROR line's time."""
    sec = [re.compile(p, re.I) for p in security]
    loss = [re.compile(p, re.I) for p in data_loss]

    def collect(box: Box) -> None:
        share = max(1024, box.max_bytes // max(1, len(logs)))
        found = []
        for item in logs:
            name = item.get("name") or os.path.basename(item["path"])
            try:
                text, size, cut = read_tail(item["path"], share, max_lines)
            except OSError as exc:
                found.append({"name": name, "path": item["path"], "error": str(exc)})
                continue
            lines = text.splitlines()
            box.add("logs/%s.log" % safe_name(name), text, keep_end=True)
            found.append({"name": name, "path": item["path"], "size": size, "lines": len(lines), "cut": cut,
                          "errors": sum(1 for line in lines if _ERROR.search(line)),
                          "security": sum(1 for line in lines if any(p.search(line) for p in sec)),
                          "data_loss": sum(1 for line in lines if any(p.search(line) for p in loss))})
            box.events.extend(timeline_plan.first_error_events("log " + name, lines, now))
        box.findings["logs"] = found
        box.add_json("logs/summary.json", found)
    return collect


def reports_collector(reports_dir: str, count: int) -> Callable[[Box], None]:
    """The last ``count`` runs' report.json (runbook.ops.report) and their non-ok outcomes as events."""
    def collect(box: Box) -> None:
        try:
            runs = sorted(e for e in os.listdir(reports_dir) if e != "latest" and os.path.isdir(os.path.join(reports_dir, e)))
        except OSError as exc:
            box.findings["reports"] = {"error": str(exc)}
            box.add("reports/error.txt", "cannot list %s: %s\n" % (reports_dir, exc))
            return
        loaded = []
        for run in runs[-count:] if count else []:
            path = os.path.join(reports_dir, run, "report.json")
            try:
                with open(path, "r", encoding="utf-8", errors="replace") as handle:
                    text = handle.read(4 * 1024 * 1024)
                report = json.loads(text)
            except (OSError, ValueError):
                continue
            box.add("reports/%s/report.json" % safe_name(run), text)
            loaded.append(report)
        box.events.extend(timeline_plan.report_events(loaded))
        box.findings["reports"] = {"count": len(loaded)}
    return collect
