# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance mode, carried out: the page and flag files, the reload, the verification.

``run(module)`` is runbook.ops.maintenance_mode's one call. Decisions come from
``maintenance_page_plan``; the files are written with atomic renames (page first) so that
nginx never reads a half-written page, and ``verify()`` asks the URL in front of the
application until it answers as expected, bounded by ``verify_timeout`` (``common.waiting``,
at most ``lifeline.MAX_WAIT_SECONDS``) and ended at once if the task is killed
(``common.lifeline``). A switch that could not be carried out (a directory that cannot be
written) fails the task, keeping the result schema; a reload or a verification that failed
after the switch is a critical check of a successful result, for the health gate.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline
from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.host import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.fileio import atomic_write
from ansible_collections.runbook.ops.plugins.module_utils.common.result import CRITICAL, OK, build, check
from ansible_collections.runbook.ops.plugins.module_utils.common.waiting import wait_for
from ansible_collections.runbook.ops.plugins.module_utils.host import maintenance_page_plan
from ansible_collections.runbook.ops.plugins.module_utils.http.probe_runner import (
    EndpointError,
    fetch,
    normalize_endpoint,
)

ON = maintenance_page_plan.ON


def read_text(path: str) -> Optional[str]:
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def apply_plan(steps: Mapping[str, Any], directory: str, page_path: str, flag_path: str, page_text: str) -> None:
    """Carry the plan out; raises OSError on a file system problem."""
    if steps.get("write_page") or steps.get("create_flag"):
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
    if steps.get("write_page"):
        atomic_write(page_path, page_text)
    if steps.get("create_flag"):
        atomic_write(flag_path, maintenance_page_plan.FLAG_TEXT)
    if steps.get("remove_flag"):
        try:
            os.unlink(flag_path)
        except FileNotFoundError:
            pass


def since(flag_path: str) -> Optional[str]:
    """When maintenance was turned on (the flag's modification time, UTC ISO 8601), or None."""
    try:
        stamp = os.stat(flag_path).st_mtime
    except OSError:
        return None
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def answered_as_wanted(verdict: Mapping[str, Any]) -> bool:
    """Predicate of the verification wait: the URL answered as the state wants."""
    return bool(verdict["passed"])


def verify(url: str, state: str, page_text: str, timeout: float, validate_certs: bool, interval: float = 0.25,
           now: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """Request ``url`` until it answers as ``state`` wants or ``timeout`` passes: a check."""
    endpoint = normalize_endpoint({"name": "maintenance", "url": url, "status_codes": list(range(100, 600)),
                                   "timeout": 2.0, "validate_certs": validate_certs, "follow_redirects": False})
    outcome = wait_for(lambda: maintenance_page_plan.verify_verdict(state, fetch(endpoint), page_text),
                       answered_as_wanted, timeout, interval, now=now, sleep=sleep)
    message = "%s %s" % (url, outcome.value["message"])
    if not outcome.done:
        message += " after %gs" % timeout
    return check("maintenance.verify", OK if outcome.done else CRITICAL, message,
                 value={"url": url, "attempts": outcome.attempts})


def reload_check(module: Any, command: List[str]) -> Dict[str, Any]:
    """Run the reload command (an argument list, no shell): its check."""
    rc, _stdout, stderr = module.run_command(command, use_unsafe_shell=False)
    text = " ".join(command)
    if rc == 0:
        return check("maintenance.reload", OK, "%s: done" % text, value=rc)
    return check("maintenance.reload", CRITICAL, "%s exited %s: %s"
                 % (text, rc, (stderr or "").strip()[-300:] or "no output"), value=rc)


def run(module: Any) -> None:
    """runbook.ops.maintenance_mode: switch the page on or off, reload, verify, exit."""
    validation.validate(module, argspec.RULES)
    params = module.params
    state = params["state"]
    problem = maintenance_page_plan.option_problem(params)
    if problem:
        module.fail_json(msg=problem)
    if params["verify_url"]:
        try:
            normalize_endpoint({"name": "maintenance", "url": params["verify_url"]})
        except EndpointError as exc:
            module.fail_json(msg="verify_url: %s" % exc)
    directory = params["path"]
    if os.path.exists(directory) and not os.path.isdir(directory):
        module.fail_json(msg="path %s exists and is not a directory" % directory)
    page_path = os.path.join(directory, params["page_name"])
    flag_path = os.path.join(directory, params["flag_name"])
    try:
        current_page = read_text(page_path)
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (page_path, exc))
    flag_exists = os.path.lexists(flag_path)
    page_text = maintenance_page_plan.render_page(params["notice"], params["title"], params["page_content"])
    if state != ON and current_page is not None:
        page_text = current_page  # off verifies against the page that was served
    steps = maintenance_page_plan.plan(state, page_text, current_page, flag_exists)
    actions = [k for k in ("write_page", "create_flag", "remove_flag") if steps[k]]
    out: Dict[str, Any] = dict(state=state, page=page_path, flag=flag_path, actions=actions, since=None)
    if module._diff:  # pylint: disable=protected-access  # AnsibleModule's --diff flag
        out["diff"] = maintenance_page_plan.diff(steps, page_path, flag_path, page_text, current_page, flag_exists)

    checks = []
    if module.check_mode:
        out["since"] = since(flag_path) if state == ON else None
        message = maintenance_page_plan.state_message(state, steps, actions, check_mode=True)
        checks.append(check("maintenance.state", OK, "%s: %s" % (message, page_path), value=state))
        result = build(checks, {"maintenance_on": 1.0 if flag_exists else 0.0}, subject="maintenance")
        module.exit_json(changed=steps["changed"], **dict(result, **out))
    try:
        apply_plan(steps, directory, page_path, flag_path, page_text)
    except OSError as exc:
        checks.append(check("maintenance.state", CRITICAL, "cannot turn maintenance %s in %s: %s"
                            % (state, directory, exc), value=state))
        result = build(checks, {"maintenance_on": 1.0 if os.path.lexists(flag_path) else 0.0},
                       subject="maintenance")
        module.fail_json(msg=result["summary"], changed=False, **dict(result, **out))
    out["since"] = since(flag_path) if state == ON else None
    message = maintenance_page_plan.state_message(state, steps, actions, check_mode=False)
    if state == ON:
        message += " since %s, page %s" % (out["since"], page_path)
    checks.append(check("maintenance.state", OK, message, value=state))
    if steps["changed"] and params["reload_command"]:
        checks.append(reload_check(module, params["reload_command"]))
        out["actions"] = actions + ["reload"]
    if params["verify_url"]:
        try:
            checks.append(verify(params["verify_url"], state, page_text, params["verify_timeout"],
                                 params["validate_certs"], sleep=lifeline.guarded()))
        except lifeline.TaskGone as exc:
            module.fail_json(msg=str(exc), changed=steps["changed"], **out)
    result = build(checks, {"maintenance_on": 1.0 if state == ON else 0.0}, subject="maintenance")
    module.exit_json(changed=steps["changed"], **dict(result, **out))
