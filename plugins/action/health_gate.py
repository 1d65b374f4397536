# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""runbook.ops.health_gate: fail the host when a check result is bad enough (controller side)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible.plugins.action import ActionBase

from ansible_collections.runbook.ops.plugins.module_utils.common import result as schema

FAIL_ON = (schema.CRITICAL, schema.WARNING)
# Top-level task_vars that are never registered results (and would repeat everything).
_NOT_REGISTERED = frozenset(("hostvars", "vars", "groups", "group_names", "inventory_hostname",
                             "ansible_facts", "environment", "omit", "play_hosts", "ansible_play_hosts",
                             "ansible_play_hosts_all", "ansible_play_batch"))


def _is_skipped(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value.get("skipped")) and not schema.is_result(value)


def _is_error(value: Any) -> bool:
    """A registered result of a task that failed (or whose failure ``failed_when`` hid)."""
    if not isinstance(value, Mapping) or schema.is_result(value):
        return False
    return bool(value.get("failed")) or ("failed_when_result" in value and bool(value.get("msg"))) \
        or bool(value.get("exception"))


def flatten(label: str, value: Any) -> List[Tuple[str, Any]]:
    """Expand a registered loop result (``{"results": [...]}``) into its items."""
    if isinstance(value, Mapping) and not schema.is_result(value) and isinstance(value.get("results"), list):
        out: List[Tuple[str, Any]] = []
        for index, item in enumerate(value["results"]):
            name = label
            if isinstance(item, Mapping):
                item_label = item.get("_ansible_item_label", item.get("item"))
                name = "%s[%s]" % (label, item_label if isinstance(item_label, (str, int)) else index)
            out.extend(flatten(name, item))
        return out
    return [(label, value)]


def collect_given(results: Any) -> List[Tuple[str, Any]]:
    """The ``results`` option: a list of registered results, or a dict naming each one."""
    if isinstance(results, Mapping) and not schema.is_result(results):
        pairs = [(str(k), results[k]) for k in results]
    elif isinstance(results, (list, tuple)):
        pairs = [("results[%d]" % i, r) for i, r in enumerate(results)]
    else:
        pairs = [("results", results)]
    out: List[Tuple[str, Any]] = []
    for label, value in pairs:
        out.extend(flatten(label, value))
    return out


def collect_registered(task_vars: Mapping[str, Any]) -> List[Tuple[str, Any]]:
    """Registered results carrying the schema among the host's variables (loop items too)."""
    out: List[Tuple[str, Any]] = []
    for key in sorted(task_vars):
        if key in _NOT_REGISTERED or key.startswith("ansible_"):
            continue
        value = task_vars[key]
        if not isinstance(value, Mapping):
            continue
        for label, item in flatten(key, value):
            if schema.is_result(item):
                out.append((label, item))
    return out


def check_problem(label: str, value: Mapping[str, Any]) -> Optional[str]:
    """What is wrong with the ``checks`` of a result carrying the schema, or None."""
    checks = value.get("checks")
    if not isinstance(checks, list):
        return "%s.checks must be a list of checks, got %s" % (label, type(checks).__name__)
    for index, item in enumerate(checks):
        where = "%s.checks[%d]" % (label, index)
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            return "%s must be a check (a dict with a name and a status), got %s" % (where, type(item).__name__)
        if item.get("status") not in schema.STATUSES:
            return "%s.status must be one of %s, got %r" % (where, ", ".join(schema.STATUSES), item.get("status"))
        if item.get("severity") is not None and item.get("severity") not in schema.SEVERITIES:
            return "%s.severity must be one of %s, got %r" % (where, ", ".join(schema.SEVERITIES), item.get("severity"))
    return None


def decide(pairs: List[Tuple[str, Any]], fail_on: str = schema.CRITICAL) -> Dict[str, Any]:
    """The gate's verdict over (label, registered result) pairs. Pure."""
    if fail_on not in FAIL_ON:
        raise ValueError("fail_on must be one of %s, got %r" % (", ".join(FAIL_ON), fail_on))
    lines: List[str] = []
    checks: List[Dict[str, Any]] = []
    counted = 0
    for label, value in pairs:
        if value is None or _is_skipped(value):
            continue
        if schema.is_result(value):
            problem = check_problem(label, value)
            if problem:
                raise ValueError(problem)
            counted += 1
            checks.extend(value.get("checks") or [])
            lines.extend(schema.failure_lines(value, minimum=fail_on))
        elif _is_error(value):
            counted += 1
            message = " ".join(str(value.get("msg") or "task failed").split())
            item = schema.check("task.%s" % label, schema.CRITICAL, message)
            checks.append(item)
            lines.extend(schema.failure_lines({"checks": [item]}, minimum=fail_on))
        elif not isinstance(value, Mapping):
            raise ValueError("%s is not a registered task result (got %s)" % (label, type(value).__name__))
    status = schema.worst(c.get("status", schema.OK) for c in checks)
    failing = [c.get("severity") for c in checks if c.get("status") != schema.OK]
    severity = schema.worst_severity(failing) if failing else "P3"
    failed = bool(lines)
    if failed:
        msg = "health gate: %d check%s at or above %s:\n%s" % (
            len(lines), "" if len(lines) == 1 else "s", fail_on, "\n".join(lines))
    elif counted:
        msg = "health gate passed: %d result%s, worst status %s (fail_on %s)" % (
            counted, "" if counted == 1 else "s", status, fail_on)
    else:
        msg = "health gate passed: no runbook.ops results to judge"
    return {"failed": failed, "msg": msg, "failures": lines, "results_checked": counted,
            "status": status, "severity": severity, "fail_on": fail_on}


class ActionModule(ActionBase):
    """Judge registered runbook.ops results on the controller; never changes anything."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("fail_on", "results"))
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Optional[str] = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        result["changed"] = False
        args = self._task.args
        fail_on = args.get("fail_on", schema.CRITICAL)
        if fail_on not in FAIL_ON:
            result.update(failed=True, msg="fail_on must be one of %s, got %r" % (", ".join(FAIL_ON), fail_on))
            return result
        try:
            if args.get("results") is not None:
                pairs = collect_given(args["results"])
            else:
                pairs = collect_registered(task_vars)
            verdict = decide(pairs, fail_on)
        except ValueError as exc:
            result.update(failed=True, msg="health gate: %s" % exc)
            return result
        result.update(verdict)
        result["changed"] = False
        return result
