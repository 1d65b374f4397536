# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine side of runbook.ops.container_check: select containers, read them, judge them.

``run(module)`` is the module's one call: it checks the options, connects, reads each
selected container (inspect attributes, a window of its logs) and exits with a
``runbook.ops/result/v1`` result whose checks come from ``container_plan``. An engine that
does not answer is a P0 check, never a failed task.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from typing import Any, Dict, List, Mapping, Optional, Pattern, Tuple

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.docker import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import CRITICAL, build, check, down, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.docker import container_plan
from ansible_collections.runbook.ops.plugins.module_utils.docker.client import (
    DEFAULT_DOCKER_HOST,
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    APIError,
    DockerClientError,
    DockerException,
    EngineUnreachable,
    NotFound,
    RequestException,
    api_error_message,
    close_quietly,
    connect,
    describe_error,
)


def read_logs(container: Any, since: Optional[float], tail: int) -> List[str]:
    """The container's log lines (stdout and stderr), the last ``tail`` of them since ``since``."""
    kwargs: Dict[str, Any] = {"stdout": True, "stderr": True, "stream": False, "tail": tail}
    if since is not None:
        kwargs["since"] = int(since)
    data = container.logs(**kwargs)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def evaluate_container(container: Any, params: Mapping[str, Any], pattern: Pattern[str], now: float
                       ) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """All checks and metrics for one container object of the SDK."""
    attrs = container.attrs
    name = container_plan.container_name(attrs)
    state = attrs.get("State") or {}
    running = bool(state.get("Running")) and not state.get("Restarting")
    last_logs = None
    if not running:
        try:
            last_logs = read_logs(container, None, 5)
        except (DockerException, RequestException, OSError):
            last_logs = None
    checks = [container_plan.state_check(name, attrs, now, last_logs)]
    health = container_plan.health_check(name, attrs)
    if health is not None:
        checks.append(health)
    checks.append(container_plan.restarts_check(name, attrs, now, params.get("restarts_warning"),
                                                params.get("restarts_critical"),
                                                params.get("restart_loop_seconds") or 300.0))
    log_count = None
    if params.get("check_logs", True):
        since_hours = float(params.get("log_since_hours") or 24)
        max_lines = int(params.get("log_max_lines") or 10000)
        try:
            lines: Optional[List[str]] = read_logs(container, now - since_hours * 3600.0, max_lines)
            error = ""
        except (DockerException, RequestException, OSError) as exc:
            lines, error = None, api_error_message(exc)
        log_check = container_plan.log_errors_check(name, lines, pattern, since_hours,
                                                    params.get("log_errors_warning"),
                                                    params.get("log_errors_critical"), max_lines,
                                                    params.get("sample_lines", 5), error)
        checks.append(log_check)
        log_count = log_check["value"]["count"]
    return checks, container_plan.container_metrics(name, attrs, log_count)


def select_containers(client: Any, selection: Mapping[str, Any], include_stopped: bool,
                      checks: List[Dict[str, Any]], metrics: Dict[str, float]) -> List[Any]:
    """The containers named or matching the labels, once each and sorted by name; a missing
    named container and labels that match nothing are P0 checks appended to ``checks``."""
    containers: Dict[str, Any] = {}
    for wanted in selection["names"]:
        try:
            found = client.containers.get(wanted)
        except NotFound:
            checks.append(down("container.%s.state" % wanted, "container %s not found" % wanted,
                               value={"status": "missing"}))
            metrics[metric_key("container_up", container=wanted)] = 0.0
            continue
        containers.setdefault(found.id, found)
    if selection["labels"]:
        listed = client.containers.list(all=include_stopped, filters={"label": selection["labels"]})
        if not listed:
            checks.append(down("containers.selected", "no container has labels %s" % ", ".join(selection["labels"]),
                               value={"labels": selection["labels"], "count": 0}))
        for found in listed:
            containers.setdefault(found.id, found)
    return sorted(containers.values(), key=lambda c: container_plan.container_name(c.attrs))


def check_containers(params: Mapping[str, Any], now: Optional[float] = None, connector: Any = None
                     ) -> Dict[str, Any]:
    """Select containers by name and labels and check each; an unreachable engine is a P0 check."""
    now = time.time() if now is None else now
    selection = container_plan.normalize_container_params(params)
    try:
        client = (connector or connect)(params)
    except EngineUnreachable as exc:
        return build([container_plan.engine_down_check(str(exc))], {"docker_up": 0.0}, subject="containers")
    checks: List[Dict[str, Any]] = []
    metrics: Dict[str, float] = {"docker_up": 1.0}
    try:
        for found in select_containers(client, selection, params.get("include_stopped", True), checks, metrics):
            try:
                found_checks, found_metrics = evaluate_container(found, params, selection["pattern"], now)
            except NotFound:
                # Removed between listing and inspecting.
                name = container_plan.container_name(found.attrs)
                found_checks = [down("container.%s.state" % name, "container %s disappeared" % name)]
                found_metrics = {metric_key("container_up", container=name): 0.0}
            checks.extend(found_checks)
            metrics.update(found_metrics)
    except APIError as exc:
        # The engine answered, with an error (500, bad filter): critical, but not "down".
        checks.append(check(container_plan.ENGINE_CHECK, CRITICAL, "docker engine error: %s" % api_error_message(exc)))
    except (DockerException, RequestException, OSError) as exc:
        checks.append(container_plan.engine_down_check(describe_error(
            exc, params.get("docker_host") or DEFAULT_DOCKER_HOST, params.get("timeout"))))
        metrics["docker_up"] = 0.0
    finally:
        close_quietly(client)
    return build(checks, metrics, subject="containers")


def run(module: Any) -> None:
    """runbook.ops.container_check: exit with the result (read-only, so never changed)."""
    validation.validate(module, argspec.RULES)
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    try:
        result = check_containers(module.params)
    except DockerClientError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)
