# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run report from many check results, and its renderers (controller side).

The report callback feeds every task result of a run through :func:`task_entry`,
collects the entries per host, and calls :func:`build_report` at the end::

    {
      "schema": "runbook.ops/report/v1",
      "run": {"playbook", "started", "finished", "duration_seconds", "ansible_version", "check_mode"},
      "status": "ok" | "warning" | "critical",
      "severity": "P0" .. "P3",
      "summary": "one line",
      "hosts": {host: {"status", "severity", "results": [
          {"task", "module", "status", "summary", "checks", "metrics", "duration_seconds"}]}},
      "failures": ["host: critical redis.ping: connection refused", ...],
    }

Unreachable hosts become a critical ``host.reachable`` check (P0) and failed tasks
(module errors) a critical ``task.<task name>`` check, so nothing silently
disappears. The renderers (:func:`to_json`, :func:`to_markdown`, :func:`to_junit`,
:func:`to_prometheus`) are pure; :func:`write_report` writes the four files
atomically (temporary file + rename) into a per-run directory.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.common import result as schema
from ansible_collections.runbook.ops.plugins.module_utils.common.fileio import atomic_write
from ansible_collections.runbook.ops.plugins.plugin_utils import metric_help

REPORT_SCHEMA = "runbook.ops/report/v1"

# What each incident level asks of people, from the seeds' severity tables.
SEVERITY_MEANING = {
    "P0": "critical: a service is down; respond within 15 minutes, escalate immediately",
    "P1": "high: major functionality broken or degraded; respond within 1 hour",
    "P2": "medium: partial degradation or a warning threshold crossed; respond within 4 hours",
    "P3": "low: informational, everything ok; next business day",
}
SEVERITY_NUMBER = {"P0": 0, "P1": 1, "P2": 2, "P3": 3}
STATUS_NUMBER = {schema.OK: 0, schema.WARNING: 1, schema.CRITICAL: 2}

# Modules whose results are the gate's verdict, not checks: left out of the report.
GATE_MODULES = ("health_gate",)

REPORT_FILES = {
    "json": "report.json",
    "markdown": "report.md",
    "junit": "junit.xml",
    "prometheus": "runbook_ops.prom",
}

_METRIC_KEY = re.compile(r"^([a-zA-Z_][a-zA-Z0-9_]*)(?:\{(.*)\})?$")
_LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


# ---------------------------------------------------------------------------
# entries: one per task result
# ---------------------------------------------------------------------------

def short_module(action: Optional[str]) -> str:
    """``runbook.ops.redis_check`` -> ``redis_check``; None -> ``""``."""
    return (action or "").rsplit(".", 1)[-1]


def is_gate(action: Optional[str]) -> bool:
    """True for the health gate's own task (its verdict is not a check)."""
    return short_module(action) in GATE_MODULES


def is_runbook_module(action: Optional[str]) -> bool:
    """True for ``runbook.ops.*`` actions (FQCN or the short name of one of our checks)."""
    name = action or ""
    if name.startswith("runbook.ops."):
        return True
    return name.endswith("_check") and "." not in name


def _entry(task: str, module: str, checks: List[Dict[str, Any]], metrics: Optional[Mapping[str, Any]],
           duration: Optional[float], summary: Optional[str] = None) -> Dict[str, Any]:
    built = schema.build(checks, metrics, subject="")
    return {
        "task": task,
        "module": module,
        "status": built["status"],
        "severity": built["severity"],
        "summary": summary if summary is not None else built["summary"],
        "checks": built["checks"],
        "metrics": built["metrics"],
        "duration_seconds": _round(duration),
    }


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(float(value), 3)


def task_check_name(task: str) -> str:
    """The check name for a failed task: ``task.<task name>``."""
    return "task.%s" % (task or "unnamed")


def unreachable_entry(task: str, message: str, duration: Optional[float] = None) -> Dict[str, Any]:
    """The host could not be reached at all: a P0 ``host.reachable`` check."""
    check = schema.down("host.reachable", _one_line(message) or "host unreachable")
    return _entry(task, "", [check], None, duration)


def failed_entry(task: str, module: str, message: str, duration: Optional[float] = None) -> Dict[str, Any]:
    """A task failed (module error, bad input, gate-less failure): a critical ``task.<name>`` check."""
    check = schema.check(task_check_name(task), schema.CRITICAL, _one_line(message) or "task failed")
    return _entry(task, module, [check], None, duration)


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())[:500]


def task_entry(task: str, action: Optional[str], result: Mapping[str, Any], failed: bool = False,
               unreachable: bool = False, duration: Optional[float] = None) -> Optional[Dict[str, Any]]:
    """Turn one (already censored) task result into a report entry, or None to leave it out.

    - unreachable -> ``host.reachable`` critical (P0);
    - a result carrying the schema -> its checks and metrics (plus ``task.<name>`` critical if the
      task failed anyway);
    - a failed task, or a ``runbook.ops`` check that returned no result (a module error hidden by
      ``failed_when: false``) -> ``task.<name>`` critical;
    - skipped tasks, the health gate's verdict, and other modules' successful results -> None
      (a health gate that failed without a verdict, e.g. on bad input, is a ``task.<name>`` check).
    """
    module = short_module(action)
    if unreachable:
        return unreachable_entry(task, result.get("msg") or "host unreachable", duration)
    if result.get("skipped"):
        return None
    if is_gate(action):
        # The gate's verdict repeats the checks already reported; its own error (bad input) does not.
        if failed and "failures" not in result:
            return failed_entry(task, module, result.get("msg") or "health gate failed", duration)
        return None
    if "censored" in result and not schema.is_result(result):
        if failed:
            return failed_entry(task, module, "task failed (output hidden by no_log)", duration)
        return _entry(task, module, [], None, duration, summary="result hidden by no_log")
    if schema.is_result(result):
        checks = [dict(c) for c in result.get("checks") or []]
        if failed:
            checks.append(schema.check(task_check_name(task), schema.CRITICAL,
                                       _one_line(result.get("msg")) or "task failed"))
        return _entry(task, module, checks, result.get("metrics"), duration,
                      summary=None if failed else result.get("summary"))
    module_error = result.get("failed_when_result") is not None and result.get("msg")
    if failed or (is_runbook_module(action) and (module_error or result.get("exception"))):
        return failed_entry(task, module, result.get("msg") or "task failed", duration)
    return None


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------

def _iso(value: Optional[float]) -> Optional[str]:
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).isoformat(timespec="milliseconds")


def _status_severity(checks: List[Mapping[str, Any]]) -> Dict[str, str]:
    status = schema.worst(c.get("status", schema.OK) for c in checks)
    failing = [c.get("severity") for c in checks if c.get("status") != schema.OK]
    return {"status": status, "severity": schema.worst_severity(failing) if failing else "P3"}


def all_checks(report: Mapping[str, Any]) -> Iterable[Dict[str, Any]]:
    """Yield every check of the report with ``host``, ``task`` and ``duration`` added."""
    for host in sorted(report.get("hosts", {})):
        for res in report["hosts"][host]["results"]:
            checks = res.get("checks") or []
            share = (res.get("duration_seconds") or 0.0) / len(checks) if checks else 0.0
            for item in checks:
                out = dict(item)
                out.update(host=host, task=res.get("task"), module=res.get("module"), duration=share)
                yield out


def failure_lines(report_hosts: Mapping[str, Any], minimum: str = schema.WARNING) -> List[str]:
    """One line per check at or above ``minimum``, most urgent first: ``host: critical x: why``."""
    rows = []
    for host in sorted(report_hosts):
        for res in report_hosts[host]["results"]:
            for item in res.get("checks") or []:
                if item.get("status") == schema.OK:
                    continue
                if schema.status_rank(item["status"]) < schema.status_rank(minimum):
                    continue
                line = schema.failure_lines({"checks": [item]}, minimum=minimum, prefix=host + ": ")
                rows.append((-schema.status_rank(item["status"]), item.get("severity") or "P3", host, line[0]))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [r[3] for r in rows]


def summary_line(status: str, severity: str, checks: int, hosts: int, counts: Mapping[str, int]) -> str:
    """The run's one line: ``critical (P1): 9 checks on 1 host: 1 critical, 0 warning, 8 ok``."""
    return "%s (%s): %d check%s on %d host%s: %d critical, %d warning, %d ok" % (
        status, severity, checks, "" if checks == 1 else "s", hosts, "" if hosts == 1 else "s",
        counts.get(schema.CRITICAL, 0), counts.get(schema.WARNING, 0), counts.get(schema.OK, 0))


def build_report(hosts: Mapping[str, List[Dict[str, Any]]], playbook: str = "", started: Optional[float] = None,
                 finished: Optional[float] = None, ansible_version: str = "", check_mode: bool = False) -> Dict[str, Any]:
    """Gather per-host entries (from :func:`task_entry`) into one run report."""
    out_hosts: Dict[str, Any] = {}
    every: List[Mapping[str, Any]] = []
    for host in sorted(hosts):
        results = [r for r in hosts[host] if r is not None]
        checks = [c for r in results for c in r.get("checks") or []]
        every.extend(checks)
        out_hosts[host] = dict(_status_severity(checks), results=results)
    verdict = _status_severity(every)
    counts = {s: sum(1 for c in every if c.get("status") == s) for s in schema.STATUSES}
    duration = None
    if started is not None and finished is not None:
        duration = round(max(0.0, finished - started), 3)
    summary = summary_line(verdict["status"], verdict["severity"], len(every), len(out_hosts), counts)
    return {
        "schema": REPORT_SCHEMA,
        "run": {
            "playbook": playbook,
            "started": _iso(started),
            "finished": _iso(finished),
            "duration_seconds": duration,
            "ansible_version": ansible_version,
            "check_mode": bool(check_mode),
        },
        "status": verdict["status"],
        "severity": verdict["severity"],
        "summary": summary,
        "counts": counts,
        "hosts": out_hosts,
        "failures": failure_lines(out_hosts),
    }


# ---------------------------------------------------------------------------
# renderers
# ---------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """Make a value JSON-safe (Ansible's tagged types, sets, odd floats)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return str(value)
    return str(value)


def to_json(report: Mapping[str, Any]) -> str:
    """The report as indented JSON (keys sorted for stable diffs)."""
    return json.dumps(_plain(report), indent=2, sort_keys=True) + "\n"


def _md(text: Any) -> str:
    return _one_line("" if text is None else text).replace("|", "\\|")


def _value(value: Any, limit: int = 160) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return ("%.3f" % value).rstrip("0").rstrip(".")
    if isinstance(value, (dict, list)):
        text = json.dumps(_plain(value), sort_keys=True)
    else:
        text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def to_markdown(report: Mapping[str, Any]) -> str:
    """A summary for a person at 9 AM: the verdict and what it means, the failures, then per host."""
    run = report.get("run", {})
    sev = report.get("severity", "P3")
    status = report.get("status", schema.OK)
    lines = ["# Health report: %s (%s)" % (status.upper(), sev), ""]
    lines.append("**%s** — %s" % (sev, SEVERITY_MEANING.get(sev, "")))
    lines.append("")
    lines.append(report.get("summary", ""))
    lines.append("")
    meta = []
    if run.get("playbook"):
        meta.append("playbook `%s`" % run["playbook"])
    if run.get("started"):
        meta.append("started %s" % run["started"])
    if run.get("duration_seconds") is not None:
        meta.append("took %ss" % _value(run["duration_seconds"]))
    if run.get("check_mode"):
        meta.append("check mode")
    if run.get("ansible_version"):
        meta.append("ansible-core %s" % run["ansible_version"])
    if meta:
        lines.extend(["_" + ", ".join(meta) + "_", ""])
    if report.get("failures"):
        lines.append("## Needs attention")
        lines.append("")
        lines.extend("- %s" % _md(f) for f in report["failures"])
        lines.append("")
    for host, data in sorted(report.get("hosts", {}).items()):
        lines.append("## %s: %s (%s)" % (host, data["status"], data["severity"]))
        lines.append("")
        checks = [(res, c) for res in data["results"] for c in res.get("checks") or []]
        bad = [(res, c) for res, c in checks if c.get("status") != schema.OK]
        bad.sort(key=lambda rc: (-schema.status_rank(rc[1]["status"]), rc[1].get("severity") or "P3"))
        ok_count = len(checks) - len(bad)
        if bad:
            lines.append("| status | severity | check | message | value |")
            lines.append("|---|---|---|---|---|")
            for _res, item in bad:
                lines.append("| %s | %s | %s | %s | %s |" % (
                    item["status"], item.get("severity", ""), _md(item.get("name")),
                    _md(item.get("message")), _md(_value(item.get("value")))))
            lines.append("")
        lines.append("%d check%s ok%s." % (ok_count, "" if ok_count == 1 else "s",
                                           "" if bad else " (nothing needs attention)"))
        lines.append("")
        if checks:
            lines.append("<details><summary>All %d checks on %s</summary>" % (len(checks), host))
            lines.append("")
            lines.append("| task | check | status | message | value |")
            lines.append("|---|---|---|---|---|")
            for res, item in checks:
                lines.append("| %s | %s | %s | %s | %s |" % (
                    _md(res.get("task")), _md(item.get("name")), item.get("status"),
                    _md(item.get("message")), _md(_value(item.get("value")))))
            lines.append("")
            lines.append("</details>")
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _secs(value: Optional[float]) -> str:
    return "%.3f" % (value or 0.0)


def to_junit(report: Mapping[str, Any], warning_as_failure: bool = False) -> str:
    """JUnit XML: one testsuite per host, one testcase per check.

    A critical check is a ``<failure>``; a warning is one too when ``warning_as_failure``,
    otherwise its message goes to ``<system-out>``. Nothing is skipped. A testcase's time is
    its task's duration shared evenly among the task's checks.
    """
    failing = {schema.CRITICAL, schema.WARNING} if warning_as_failure else {schema.CRITICAL}
    root = ET.Element("testsuites", name="runbook.ops health check")
    total_tests = total_failures = 0
    total_time = 0.0
    by_host: Dict[str, List[Dict[str, Any]]] = {}
    for item in all_checks(report):
        by_host.setdefault(item["host"], []).append(item)
    for host in sorted(report.get("hosts", {})):
        items = by_host.get(host, [])
        failures = sum(1 for i in items if i.get("status") in failing)
        time_ = sum(i["duration"] for i in items)
        suite = ET.SubElement(root, "testsuite", name=host, tests=str(len(items)), failures=str(failures),
                              errors="0", skipped="0", time=_secs(time_))
        if report.get("run", {}).get("started"):
            suite.set("timestamp", str(report["run"]["started"]))
        for item in items:
            case = ET.SubElement(suite, "testcase", name=str(item.get("name")),
                                 classname="%s.%s" % (host, item.get("task") or "task"), time=_secs(item["duration"]))
            text = "%s %s (%s): %s" % (item["status"], item.get("name"), item.get("severity"),
                                       item.get("message") or "no detail")
            if item.get("status") in failing:
                failure = ET.SubElement(case, "failure", message=_one_line(item.get("message")) or item["status"],
                                        type="%s %s" % (item["status"], item.get("severity")))
                failure.text = text
            elif item.get("status") != schema.OK:
                ET.SubElement(case, "system-out").text = text
        total_tests += len(items)
        total_failures += failures
        total_time += time_
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    root.set("time", _secs(total_time))
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _escape_label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def parse_metric_key(key: str) -> Optional[Dict[str, Any]]:
    """``'x{a="1"}'`` -> ``{"name": "x", "labels": [("a", "1")]}``; None when malformed.

    Label values stay escaped as in the key.
    """
    match = _METRIC_KEY.match(str(key).strip())
    if not match:
        return None
    labels = []
    text = match.group(2) or ""
    pos = 0
    while pos < len(text):
        pair = _LABEL_PAIR.match(text, pos)
        if not pair or pair.end() == pos:
            return None
        labels.append((pair.group(1), pair.group(2)))
        pos = pair.end()
    return {"name": match.group(1), "labels": labels}


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
        return number if not math.isnan(number) else None
    return None


def _fmt_number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape_help(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("\n", "\\n")


def to_prometheus(report: Mapping[str, Any], timestamp: Optional[float] = None) -> str:
    """node_exporter textfile collector format: HELP/TYPE once per metric family.

    ``runbook_ops_check_status{host,check}`` is 0 ok, 1 warning, 2 critical;
    ``runbook_ops_run_severity`` is 0 for P0 ... 3 for P3; every metric of the results
    becomes ``runbook_ops_<name>{host="...",<labels>}``, typed by its name
    (:func:`metric_help.metric_type`: ``_total`` a counter, else a gauge) and explained by
    :data:`metric_help.METRIC_HELP`.
    Non-numeric values are left out.
    """
    families: Dict[str, Dict[str, Any]] = {}

    def add(name: str, help_: str, labels: List[Any], value: float) -> None:
        family = families.setdefault(name, {"help": help_, "type": metric_help.metric_type(name), "samples": {}})
        label_text = ",".join('%s="%s"' % (k, v) for k, v in labels)
        family["samples"]["%s{%s}" % (name, label_text) if labels else name] = value

    add("runbook_ops_run_status", "Worst check status of the run: 0 ok, 1 warning, 2 critical.", [],
        float(STATUS_NUMBER.get(report.get("status"), 2)))
    add("runbook_ops_run_severity", "Incident level of the run: 0 P0 (respond within 15 min) .. 3 P3 (all ok).", [],
        float(SEVERITY_NUMBER.get(report.get("severity"), 0)))
    if timestamp is None:
        finished = report.get("run", {}).get("finished")
        timestamp = _parse_iso(finished) if finished else None
    if timestamp is not None:
        add("runbook_ops_run_timestamp_seconds", "Unix time the health check run finished.", [], float(timestamp))
    duration = report.get("run", {}).get("duration_seconds")
    if duration is not None:
        add("runbook_ops_run_duration_seconds", "Wall time of the health check run in seconds.", [], float(duration))
    for host, data in sorted(report.get("hosts", {}).items()):
        add("runbook_ops_host_status", "Worst check status per host: 0 ok, 1 warning, 2 critical.",
            [("host", _escape_label(host))], float(STATUS_NUMBER.get(data.get("status"), 2)))
    for item in all_checks(report):
        add("runbook_ops_check_status", "Status of one check: 0 ok, 1 warning, 2 critical.",
            [("host", _escape_label(item["host"])), ("check", _escape_label(item.get("name")))],
            float(STATUS_NUMBER.get(item.get("status"), 2)))
    for host, data in sorted(report.get("hosts", {}).items()):
        for res in data["results"]:
            for key, value in sorted((res.get("metrics") or {}).items()):
                number = _number(value)
                parsed = parse_metric_key(key)
                if number is None or parsed is None:
                    continue
                labels = [(k, v) for k, v in parsed["labels"] if k != "host"]
                labels.insert(0, ("host", _escape_label(host)))
                name = "runbook_ops_" + parsed["name"]
                add(name, metric_help.metric_help(parsed["name"], res.get("module") or ""), labels, number)
    lines = []
    for name in sorted(families):
        family = families[name]
        lines.append("# HELP %s %s" % (name, _escape_help(family["help"])))
        lines.append("# TYPE %s %s" % (name, family["type"]))
        for sample in sorted(family["samples"]):
            lines.append("%s %s" % (sample, _fmt_number(family["samples"][sample])))
    return "\n".join(lines) + "\n"


def _parse_iso(text: str) -> Optional[float]:
    try:
        return datetime.datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------

def run_directory_name(started: float) -> str:
    """``20260122T090000Z``-style name of a run's directory (UTC, sortable)."""
    return datetime.datetime.fromtimestamp(started, datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def write_report(report: Mapping[str, Any], report_dir: str, started: float,
                 warning_as_failure: bool = False) -> Dict[str, str]:
    """Write the four renderings into ``report_dir/<timestamp>/`` and point ``report_dir/latest`` at it.

    Returns the written paths by kind (json, markdown, junit, prometheus) plus ``directory``.
    """
    base = os.path.abspath(report_dir)
    run_dir = os.path.join(base, run_directory_name(started))
    os.makedirs(run_dir, exist_ok=True)
    texts = {
        "json": to_json(report),
        "markdown": to_markdown(report),
        "junit": to_junit(report, warning_as_failure=warning_as_failure),
        "prometheus": to_prometheus(report),
    }
    paths = {"directory": run_dir}
    for kind, text in texts.items():
        path = os.path.join(run_dir, REPORT_FILES[kind])
        atomic_write(path, text)
        paths[kind] = path
    latest = os.path.join(base, "latest")
    tmp_link = os.path.join(base, ".latest.%d.tmp" % os.getpid())
    try:
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(os.path.basename(run_dir), tmp_link)
        os.replace(tmp_link, latest)
        paths["latest"] = latest
    except OSError:
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
    return paths
