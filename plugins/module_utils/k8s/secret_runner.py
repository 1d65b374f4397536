# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Secret rotation: new values, the workloads that use the Secret restarted one after another, rolled back on failure.

The I/O half of ``runbook.ops.k8s_secret_rotate``; decisions are in ``secret_plan``. ``run(module)``
is the module's one call. The new values are resolved first (a literal, a file or an environment
variable on the module's host, or generated with ``secrets``), the Secret is patched once (guarded
by its resourceVersion), then each Deployment is restarted with ``rollout_runner`` (its wait, its HTTP
gate, its own undo) and each StatefulSet by the restartedAt annotation and a wait. When a restart
fails, the Secret's former data is put back and the workloads already restarted are restarted
again, so that they run with the values they had. No value ever appears in the result.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import secrets
import string
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline, validation
from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    build,
    check,
    down,
    metric_key,
)
from ansible_collections.runbook.ops.plugins.module_utils.common.waiting import wait_for
from ansible_collections.runbook.ops.plugins.module_utils.http.probe_runner import EndpointError, normalize_endpoints
from ansible_collections.runbook.ops.plugins.module_utils.k8s import argspec, rollout_plan, rollout_runner, secret_plan
from ansible_collections.runbook.ops.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    K8sApiError,
    K8sConfigError,
    K8sUnreachable,
    connect,
)

ALPHABET = string.ascii_letters + string.digits


def resolve(items: List[Mapping[str, Any]], environ: Optional[Mapping[str, str]] = None,
            choose: Callable[[str], str] = secrets.choice) -> Dict[str, str]:
    """The new plain values by key; ``SecretRotationError`` names the item (never a value)."""
    environ = os.environ if environ is None else environ
    out: Dict[str, str] = {}
    for index, item in enumerate(items):
        key = str(item["key"])
        if item.get("value") is not None:
            out[key] = str(item["value"])
        elif item.get("file") is not None:
            try:
                with open(str(item["file"]), "r", encoding="utf-8") as handle:
                    out[key] = handle.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise secret_plan.SecretRotationError("data[%d].file %s cannot be read: %s"
                                                      % (index, item["file"], getattr(exc, "strerror", None) or type(exc).__name__))
        elif item.get("env") is not None:
            if str(item["env"]) not in environ:
                raise secret_plan.SecretRotationError("data[%d].env: the variable %s is not set" % (index, item["env"]))
            out[key] = environ[str(item["env"])]
        else:
            out[key] = "".join(choose(ALPHABET) for _index in range(int(item["generate"])))
    return out


class Rotation:
    """One run: the API, the options, the time functions; its checks and metrics."""

    def __init__(self, api: Any, params: Mapping[str, Any], clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, now: Callable[[], str] = rollout_runner.utc_now):
        self.api, self.params, self.clock, self.sleep, self.now = api, params, clock, sleep, now
        self.name = str(params["name"])
        self.namespace = str(params.get("namespace") or "default")
        self.prefix = "secret.%s" % self.name
        self.checks: List[Dict[str, Any]] = []

    def restart(self, workload: Mapping[str, Any], gate: bool = True) -> Tuple[bool, str]:
        """Restart one workload and wait for it (and its gate); (ok, message)."""
        if workload["kind"] == "deployment":
            params = {"name": workload["name"], "namespace": self.namespace, "state": "present", "restart": True,
                      "wait": True, "wait_timeout": self.params.get("wait_timeout") or 300,
                      "wait_sleep": self.params.get("wait_sleep") or 2, "rollback": True,
                      "http_gate": self.params.get("http_gate") if gate else None}
            result = rollout_runner.run_rollout(self.api, params, clock=self.clock, sleep=self.sleep, now=self.now)
            self.checks.extend(c for c in result["checks"] if c["status"] != OK or c["name"].endswith(".status"))
            return (not result.get("failed") and result["status"] != CRITICAL), result["summary"]
        sts = self.api.get_statefulset(self.namespace, workload["name"])
        template = ((sts.get("spec") or {}).get("template")) or {}
        ops, _notes = rollout_plan.restart_ops(template, self.now())
        self.api.patch_statefulset(self.namespace, workload["name"], ops)
        outcome = wait_for(lambda: self.api.get_statefulset(self.namespace, workload["name"]),
                           lambda obj: secret_plan.statefulset_state(obj)[0] == rollout_plan.COMPLETE,
                           float(self.params.get("wait_timeout") or 300), float(self.params.get("wait_sleep") or 2),
                           now=self.clock, sleep=self.sleep)
        message = secret_plan.statefulset_state(outcome.value)[1]
        if not outcome.done:
            message = "timed out: %s" % message
        ok = outcome.done
        if ok and gate and self.params.get("http_gate"):
            holder = rollout_runner.Rollout(self.api, {"name": workload["name"], "http_gate": self.params["http_gate"]},
                                            clock=self.clock, sleep=self.sleep)
            passed, gate_result, _seconds = holder.gate(normalize_endpoints(list(self.params["http_gate"]["endpoints"])))
            self.checks.extend(gate_result["checks"])
            ok, message = passed, message if passed else "HTTP gate failed: %s" % gate_result["summary"]
        self.checks.append(check("statefulset.%s.restart" % workload["name"], OK if ok else CRITICAL, message))
        return ok, message


def run_rotation(api: Any, params: Mapping[str, Any], check_mode: bool = False, resolved: Optional[Dict[str, str]] = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], str] = rollout_runner.utc_now) -> Dict[str, Any]:
    """The whole task; API problems become checks (``failed`` when the rotation was not carried out)."""
    rotation = Rotation(api, params, clock=clock, sleep=sleep, now=now)
    name, prefix, namespace = rotation.name, rotation.prefix, rotation.namespace
    out: Dict[str, Any] = {"changed": False, "failed": False, "changed_keys": [], "workloads": [], "restarted": [],
                           "rolled_back": False, "diff": None}
    metrics: Dict[str, float] = {}

    def finish() -> Dict[str, Any]:
        metrics[metric_key("k8s_secret_rotated_keys", secret=name)] = float(len(out["changed_keys"]) if out["changed"] else 0)
        metrics[metric_key("k8s_secret_restarted_workloads", secret=name)] = float(len(out["restarted"]))
        metrics[metric_key("k8s_secret_rolled_back", secret=name)] = 1.0 if out["rolled_back"] else 0.0
        return dict(build(rotation.checks, metrics, subject="secret %s/%s" % (namespace, name)), **out)

    def not_carried_out(problem: Dict[str, Any]) -> Dict[str, Any]:
        rotation.checks.append(problem)
        out["failed"] = True
        return finish()

    def api_problem(exc: Exception) -> Dict[str, Any]:
        if isinstance(exc, K8sApiError) and exc.status == 404:
            return down(prefix + ".secret", "secret %s not found in namespace %s" % (name, namespace))
        return rollout_runner.api_problem_check(exc, name)

    try:
        secret = api.get_secret(namespace, name)
        workloads = {"deployment": api.list_in_namespace("deployments", namespace),
                     "statefulset": api.list_in_namespace("statefulsets", namespace)}
    except (K8sApiError, K8sUnreachable) as exc:
        return not_carried_out(api_problem(exc))
    old = (secret.get("data") or {}) if secret.get("data") is not None else None
    new = secret_plan.new_data(old or {}, resolved or {})
    keys = secret_plan.changed_keys(old or {}, new)
    users = secret_plan.users(workloads, name) if params.get("restart", True) else []
    out.update(changed_keys=keys, workloads=users)
    restart = ["%s/%s" % (w["kind"], w["name"]) for w in users]
    out["diff"] = {"before": {"keys": sorted(old or {})},
                   "after": {"keys": sorted(new), "changed_keys": keys, "restart": restart}}
    listed = ", ".join("%s/%s" % (w["kind"], w["name"]) for w in users) or "none"
    if not keys:
        rotation.checks.append(check(prefix + ".rotate", OK, "no change: the secret already holds these values"))
        out["workloads"] = []
        return finish()
    ops = secret_plan.data_ops(old, new, (secret.get("metadata") or {}).get("resourceVersion"))
    if check_mode:
        try:
            api.patch_secret(namespace, name, ops, dry_run=True)
        except (K8sApiError, K8sUnreachable) as exc:
            return not_carried_out(check(prefix + ".rotate", CRITICAL, "dry run refused: %s" % getattr(exc, "message", exc)))
        out["changed"] = True
        rotation.checks.append(check(prefix + ".rotate", OK, "would rotate keys %s and restart %s"
                                     % (", ".join(keys), listed), value={"keys": keys}))
        return finish()
    try:
        api.patch_secret(namespace, name, ops)
    except (K8sApiError, K8sUnreachable) as exc:
        if isinstance(exc, K8sApiError) and exc.status in (400, 409, 422):
            return not_carried_out(check(prefix + ".rotate", CRITICAL, "the API server refused the new data "
                                         "(changed meanwhile?): %s" % exc.message))
        return not_carried_out(api_problem(exc))
    out["changed"] = True
    failure = None
    for workload in users:
        try:
            ok, message = rotation.restart(workload)
        except (K8sApiError, K8sUnreachable) as exc:
            ok, message = False, str(getattr(exc, "message", exc))
        if not ok:
            failure = (workload, message)
            break
        out["restarted"].append("%s/%s" % (workload["kind"], workload["name"]))
    if failure is None:
        rotation.checks.append(check(prefix + ".rotate", OK, "rotated keys %s; restarted %s" % (", ".join(keys), listed),
                                     value={"keys": keys, "restarted": out["restarted"]}))
        return finish()

    # -- roll the Secret back, restart what already runs with the new values -- #
    what = "%s/%s" % (failure[0]["kind"], failure[0]["name"])
    rotation.checks.append(check(prefix + ".rotate", CRITICAL, "rotated keys %s, then the restart of %s failed: %s"
                                 % (", ".join(keys), what, failure[1]), value={"keys": keys, "failed": what}))
    try:
        current = api.get_secret(namespace, name)
        api.patch_secret(namespace, name, secret_plan.data_ops(current.get("data"), old or {},
                                                               (current.get("metadata") or {}).get("resourceVersion")))
    except (K8sApiError, K8sUnreachable) as exc:
        rotation.checks.append(down(prefix + ".rollback", "the secret could not be rolled back: %s"
                                    % getattr(exc, "message", exc)))
        return finish()
    again = []
    # The failed workload too: its own undo brought pods back that read the new values.
    for workload in [w for w in users if "%s/%s" % (w["kind"], w["name"]) in out["restarted"] + [what]]:
        try:
            ok, _message = rotation.restart(workload, gate=False)
        except (K8sApiError, K8sUnreachable):
            ok = False
        if not ok:
            rotation.checks.append(down(prefix + ".rollback", "the secret was rolled back, but %s/%s did not restart "
                                        "with the former values" % (workload["kind"], workload["name"])))
            return finish()
        again.append("%s/%s" % (workload["kind"], workload["name"]))
    out["rolled_back"] = True
    rotation.checks.append(check(prefix + ".rollback", OK, "the secret's former data is back%s" % (
        "; restarted again: %s" % ", ".join(again) if again else "")))
    return finish()


def run(module: Any) -> None:
    """runbook.ops.k8s_secret_rotate: check the options, resolve the values, rotate (or dry-run), exit."""
    validation.validate(module, argspec.SECRET_RULES)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    params = module.params
    problem = secret_plan.check_items(params["data"])
    if problem is None and params.get("http_gate"):
        try:
            normalize_endpoints(list(params["http_gate"]["endpoints"]))
        except EndpointError as exc:
            problem = "http_gate: %s" % exc
    if problem:
        module.fail_json(msg=problem)
    try:
        resolved = resolve(params["data"])
    except secret_plan.SecretRotationError as exc:
        module.fail_json(msg=str(exc))
    for value in resolved.values():  # never printed, even by a later traceback or an echo of a message
        if value:
            module.no_log_values.add(value)
    try:
        api = connect(params)
    except K8sConfigError as exc:
        module.fail_json(msg=str(exc))
    try:
        result = run_rotation(api, params, check_mode=module.check_mode, resolved=resolved, sleep=lifeline.guarded())
    except lifeline.TaskGone as exc:
        module.fail_json(msg="secret %s/%s: %s" % (params["namespace"], params["name"], exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught  # never a traceback for the user
        module.fail_json(msg="secret rotation failed unexpectedly: %s" % type(exc).__name__)
    finally:
        api.close()
    changed = bool(result.pop("changed", False))
    diff = result.pop("diff", None)
    if module._diff and diff:  # pylint: disable=protected-access  # AnsibleModule's --diff flag
        result["diff"] = diff
    if result.pop("failed", False):
        module.fail_json(msg=result["summary"], changed=changed, **result)
    module.exit_json(changed=changed, **result)
