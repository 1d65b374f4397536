# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One Deployment rollout: read, plan, patch (or dry-run), wait, HTTP gate, automatic undo.

The I/O half of ``runbook.ops.k8s_rollout``; every decision comes from ``rollout_plan``.
``run(module)`` is the module's one call. ``run_rollout(api, params, check_mode)`` returns a
result of the shared schema plus ``changed``, ``plan``, ``revision``, ``rolled_back``,
``revisions``, ``rollout``, ``diff`` and ``failed``: true when the rollout could not be
carried out (the API server unreachable or refusing, the Deployment missing or paused, the
change refused), which ``run`` turns into a failed task keeping the schema. A change that
was made and then failed its wait or gate is a critical check of a successful result.
Both waits (the rollout, the HTTP gate) run on ``common.waiting.wait_for``, are bounded by their timeouts (at most
``lifeline.MAX_WAIT_SECONDS``) and end when the task is killed (``common.lifeline``).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import time
import traceback
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline
from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.k8s import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    build,
    check,
    down,
    metric_key,
)
from ansible_collections.runbook.ops.plugins.module_utils.common.waiting import wait_for
from ansible_collections.runbook.ops.plugins.module_utils.http.probe_runner import (
    EndpointError,
    normalize_endpoints,
    probe_all,
)
from ansible_collections.runbook.ops.plugins.module_utils.k8s import rollout_plan
from ansible_collections.runbook.ops.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    K8sApiError,
    K8sConfigError,
    K8sUnreachable,
    connect,
)

API_CHECK = "k8s.api"
# Answers to a dry-run request that mean "this server cannot dry-run", not "this patch is wrong".
DRY_RUN_UNSUPPORTED = (405, 415, 501)


def utc_now() -> str:
    """RFC 3339 time, as kubectl writes into restartedAt."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_problem_check(exc: BaseException, name: str) -> Dict[str, Any]:
    """A check for an API call that failed: unreachable is P0 on ``k8s.api``; 404 of the Deployment is P0."""
    if isinstance(exc, K8sUnreachable):
        return down(API_CHECK, str(exc))
    if isinstance(exc, K8sApiError) and exc.status == 404:
        return down("rollout.%s.deployment" % name, exc.message)
    return check(API_CHECK, CRITICAL, str(getattr(exc, "message", exc)),
                 value={"status": getattr(exc, "status", None)})


class Rollout:
    """State of one run; the methods do the I/O in order."""

    def __init__(self, api: Any, params: Mapping[str, Any], clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, now: Callable[[], str] = utc_now):
        self.api = api
        self.params = params
        self.clock = clock
        self.sleep = sleep
        self.now = now
        self.name = str(params["name"])
        self.namespace = str(params.get("namespace") or "default")
        self.prefix = "rollout.%s" % self.name
        self.checks: List[Dict[str, Any]] = []
        self.metrics: Dict[str, float] = {}

    # -- reading ----------------------------------------------------------- #
    def read(self) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
        deployment = self.api.get_deployment(self.namespace, self.name)
        selector = rollout_plan.label_selector(((deployment.get("spec") or {}).get("selector")))
        return deployment, self.api.list_replicasets(self.namespace, selector)

    # -- waiting ----------------------------------------------------------- #
    def wait(self, timeout: float) -> Tuple[str, str, Optional[Dict[str, Any]], float]:
        """Read the Deployment until the rollout completes, fails (progress deadline, paused) or ``timeout`` passes.

        Between two reads the pause is a watch of the Deployment (``watch_pause``): it ends early
        when the controller writes, so the rollout is seen complete as soon as it is."""
        seen: Dict[str, Any] = {"version": None, "watch": hasattr(self.api, "watch_deployment")}

        def probe() -> Dict[str, Any]:
            deployment = self.api.get_deployment(self.namespace, self.name)
            seen["version"] = (deployment.get("metadata") or {}).get("resourceVersion")
            return deployment

        def pause(seconds: float) -> None:
            if not seen["watch"] or seconds <= 0:
                self.sleep(seconds)
                return
            self.sleep(0)  # the lifeline's check: the task is still there
            started = self.clock()
            try:
                self.api.watch_deployment(self.namespace, self.name, seen["version"], seconds)
            except (K8sApiError, K8sUnreachable):
                seen["watch"] = False  # no watch here (an old proxy, a fake): poll for the rest
                self.sleep(max(0.0, seconds - (self.clock() - started)))
            self.sleep(0)

        outcome = wait_for(probe, rollout_finished, timeout, float(self.params.get("wait_sleep") or 2),
                           now=self.clock, sleep=pause)
        state, message = rollout_plan.rollout_state(outcome.value)
        if not outcome.done:
            state, message = rollout_plan.FAILED, "timed out after %gs waiting for the rollout: %s" % (timeout, message)
        return state, message, outcome.value, outcome.elapsed

    # -- HTTP gate --------------------------------------------------------- #
    def gate(self, endpoints: List[Dict[str, Any]]) -> Tuple[bool, Dict[str, Any], float]:
        """Probe the endpoints until none is critical or the gate's timeout passes."""
        gate = self.params.get("http_gate") or {}
        outcome = wait_for(lambda: probe_all(endpoints), gate_passed, float(gate.get("timeout") or 60),
                           float(gate.get("interval") or 2), now=self.clock, sleep=self.sleep)
        return outcome.done, outcome.value, outcome.elapsed


def rollout_finished(deployment: Mapping[str, Any]) -> bool:
    """Predicate of the rollout wait: complete or failed, no longer progressing."""
    return rollout_plan.rollout_state(deployment)[0] != rollout_plan.PROGRESSING


def gate_passed(result: Mapping[str, Any]) -> bool:
    """Predicate of the HTTP gate: no endpoint is critical (a latency warning passes)."""
    return result["status"] != CRITICAL


def _plan_target(rollout: Rollout, deployment: Mapping[str, Any], replicasets: List[Dict[str, Any]],
                 history: List[Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], List[str], Optional[int]]:
    params = rollout.params
    if params["state"] == "rolled_back":
        target = rollout_plan.select_revision(history, rollout_plan.revision_of(deployment), params.get("revision"))
        replicaset = rollout_plan.replicaset_for(replicasets, deployment, int(target["revision"]))
        template = rollout_plan.undo_template(replicaset or {})
        if rollout_plan.same_template(template, (deployment.get("spec") or {}).get("template") or {}):
            return [], ["already at the pod template of revision %d" % target["revision"]], int(target["revision"])
        images = ", ".join("%s=%s" % item for item in sorted(target["images"].items()))
        return rollout_plan.undo_ops(template), ["undo to revision %d (%s: %s)" % (target["revision"], target["replicaset"], images)], \
            int(target["revision"])
    ops, notes = rollout_plan.plan_present(deployment, params, rollout.now())
    return ops, notes, None


def _undo_change(rollout: Rollout, original: Mapping[str, Any], ops: List[Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], str]:
    """Operations that restore what ``ops`` changed: the pre-change revision's template, the replica count."""
    undo: List[Dict[str, Any]] = []
    what = []
    if rollout_plan.changes_template(ops):
        before_revision = rollout_plan.revision_of(original)
        template = None
        try:
            deployment, replicasets = rollout.read()
            replicaset = rollout_plan.replicaset_for(replicasets, deployment, before_revision) if before_revision else None
            if replicaset is not None:
                template = rollout_plan.undo_template(replicaset)
        except (K8sApiError, K8sUnreachable):
            template = None
        if template is None:  # the ReplicaSet was pruned: the template we read before the change is the same thing
            template = dict((original.get("spec") or {}).get("template") or {})
        undo.extend(rollout_plan.undo_ops(template))
        what.append("revision %s" % before_revision if before_revision else "the previous pod template")
    if any(op["path"] == "/spec/replicas" and op["op"] != "test" for op in ops):
        replicas = (original.get("spec") or {}).get("replicas", 1)
        undo.append({"op": "replace", "path": "/spec/replicas", "value": replicas})
        what.append("%s replicas" % replicas)
    return undo, " and ".join(what)


def run_rollout(api: Any, params: Mapping[str, Any], check_mode: bool = False,
                clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                now: Callable[[], str] = utc_now) -> Dict[str, Any]:
    """The whole task. K8sRolloutError (bad input) propagates; API problems become checks."""
    rollout = Rollout(api, params, clock=clock, sleep=sleep, now=now)
    name, prefix = rollout.name, rollout.prefix
    start = clock()
    out: Dict[str, Any] = {"changed": False, "plan": None, "revision": None, "rolled_back": False,
                           "revisions": [], "rollout": None, "diff": None, "failed": False}
    endpoints = normalize_endpoints(list((params.get("http_gate") or {}).get("endpoints") or [])) \
        if (params.get("http_gate") or {}).get("endpoints") else []

    def finish() -> Dict[str, Any]:
        rollout.metrics[metric_key("k8s_rollout_duration_seconds", deployment=name)] = round(clock() - start, 3)
        rollout.metrics[metric_key("k8s_rollout_rolled_back", deployment=name)] = 1.0 if out["rolled_back"] else 0.0
        return dict(build(rollout.checks, rollout.metrics, subject="rollout %s" % name), **out)

    def not_carried_out(problem: Dict[str, Any]) -> Dict[str, Any]:
        rollout.checks.append(problem)
        out["failed"] = True
        return finish()

    try:
        deployment, replicasets = rollout.read()
    except (K8sApiError, K8sUnreachable) as exc:
        return not_carried_out(api_problem_check(exc, name))
    history = rollout_plan.revision_history(deployment, replicasets)
    out["revisions"] = history
    before = rollout_plan.summarize(deployment)
    ops, notes, target = _plan_target(rollout, deployment, replicasets, history)
    changing = rollout_plan.effective(ops)
    out["plan"] = {"namespace": rollout.namespace, "deployment": name, "state": params["state"],
                   "changes": notes, "patch": ops, "before": before, "after": before,
                   "target_revision": target, "dry_run": None}
    out["revision"] = {"before": before["revision"], "after": before["revision"]}

    # -- check mode: the server's dry run tells what the Deployment would become -- #
    if check_mode:
        after_obj: Mapping[str, Any] = deployment
        if changing:
            try:
                after_obj = api.patch_deployment(rollout.namespace, name, ops, dry_run=True)
                out["plan"]["dry_run"] = "server"
            except K8sApiError as exc:
                if exc.status not in DRY_RUN_UNSUPPORTED:
                    return not_carried_out(check(prefix + ".change", CRITICAL, "dry run refused: %s" % exc.message,
                                                 value={"status": exc.status}))
                after_obj = rollout_plan.apply_patch(deployment, ops)
                out["plan"]["dry_run"] = "local (server: %s)" % exc.message
            except K8sUnreachable as exc:
                return not_carried_out(api_problem_check(exc, name))
        after = rollout_plan.summarize(after_obj)
        out["plan"]["after"] = after
        out["changed"] = changing and rollout_plan.spec_changed(deployment, after_obj)
        out["diff"] = {"before": before, "after": after}
        lines = rollout_plan.diff_summaries(before, after) or notes
        rollout.checks.append(check(prefix + ".change", OK, ("would change: " + "; ".join(lines)) if out["changed"]
                                    else "no change: %s" % ("; ".join(notes) or "the deployment already matches")))
        return finish()

    if changing and before["paused"]:
        return not_carried_out(check(prefix + ".change", CRITICAL,
                                     "deployment %s is paused: nothing would roll out; resume it first" % name))

    # -- the change --------------------------------------------------------- #
    if changing:
        try:
            api.patch_deployment(rollout.namespace, name, ops)
        except (K8sApiError, K8sUnreachable) as exc:
            if isinstance(exc, K8sApiError) and exc.status in (400, 422):
                raise rollout_plan.K8sRolloutError("the API server rejected the change: %s" % exc.message)
            return not_carried_out(api_problem_check(exc, name))
        out["changed"] = True
    rollout.checks.append(check(prefix + ".change", OK, "; ".join(notes) if changing
                                else "no change: %s" % ("; ".join(notes) or "the deployment already matches")))

    # -- wait, gate --------------------------------------------------------- #
    failure = None
    final = deployment
    if params.get("wait", True):
        try:
            state, message, observed, seconds = rollout.wait(float(params.get("wait_timeout") or 300))
        except (K8sApiError, K8sUnreachable) as exc:
            rollout.checks.append(api_problem_check(exc, name))
            return finish()
        final = observed or deployment
        out["rollout"] = {"state": state, "message": message, "seconds": round(seconds, 3)}
        rollout.metrics[metric_key("k8s_rollout_wait_seconds", deployment=name)] = round(seconds, 3)
        if state == rollout_plan.COMPLETE:
            rollout.checks.append(check(prefix + ".status", OK, message, value=rollout_plan.status_summary(final)))
        else:
            rollout.checks.append(check(prefix + ".status", CRITICAL, message, value=rollout_plan.status_summary(final)))
            failure = message
        if failure is None and endpoints:
            passed, gate_result, gate_seconds = rollout.gate(endpoints)
            rollout.checks.extend(gate_result["checks"])
            rollout.metrics.update(gate_result["metrics"])
            rollout.metrics[metric_key("k8s_rollout_gate_seconds", deployment=name)] = round(gate_seconds, 3)
            if not passed:
                failure = "HTTP gate failed after %.1fs: %s" % (gate_seconds, gate_result["summary"])
    out["revision"]["after"] = rollout_plan.revision_of(final)
    out["diff"] = {"before": before, "after": rollout_plan.summarize(final)}
    out["plan"]["after"] = rollout_plan.summarize(final)
    rollout.metrics[metric_key("k8s_rollout_revision", deployment=name)] = float(rollout_plan.revision_of(final) or 0)
    rollout.metrics[metric_key("k8s_rollout_available_replicas", deployment=name)] = float(
        (final.get("status") or {}).get("availableReplicas") or 0)

    if failure is None:
        return finish()
    what = "; ".join(notes) or "the rollout"
    if not (changing and params.get("rollback", True)):
        rollout.checks.append(check(prefix + ".deploy", CRITICAL, "%s failed: %s%s" % (
            what, failure, "" if changing else " (nothing was changed by this task, so nothing was undone)")))
        return finish()

    # -- automatic undo ------------------------------------------------------ #
    undo, restored = _undo_change(rollout, deployment, ops)
    try:
        api.patch_deployment(rollout.namespace, name, undo)
        state, message, observed, seconds = rollout.wait(float(params.get("wait_timeout") or 300))
    except (K8sApiError, K8sUnreachable) as exc:
        rollout.checks.append(check(prefix + ".deploy", CRITICAL, "%s failed: %s" % (what, failure)))
        rollout.checks.append(down(prefix + ".rollback", "undo to %s failed: %s" % (restored, getattr(exc, "message", exc))))
        return finish()
    final = observed or final
    out["revision"]["after"] = rollout_plan.revision_of(final)
    out["diff"] = {"before": before, "after": rollout_plan.summarize(final)}
    out["plan"]["after"] = rollout_plan.summarize(final)
    out["rollout"]["rollback"] = {"state": state, "message": message, "seconds": round(seconds, 3)}
    if state == rollout_plan.COMPLETE:
        out["rolled_back"] = True
        rollout.checks.append(check(prefix + ".deploy", CRITICAL, "%s failed: %s; rolled back to %s" % (what, failure, restored)))
        rollout.checks.append(check(prefix + ".rollback", OK, "rolled back to %s (now revision %s): %s"
                                    % (restored, rollout_plan.revision_of(final), message)))
    else:
        rollout.checks.append(check(prefix + ".deploy", CRITICAL, "%s failed: %s" % (what, failure)))
        rollout.checks.append(down(prefix + ".rollback", "undo to %s did not complete: %s" % (restored, message)))
    return finish()


def run(module: Any) -> None:
    """runbook.ops.k8s_rollout: check the options, connect, roll out (or dry-run in check mode), exit."""
    validation.validate(module, argspec.RULES)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    params = module.params
    problem = rollout_plan.validate(params)
    if problem is None and params.get("http_gate"):
        try:
            normalize_endpoints(list(params["http_gate"]["endpoints"]))
        except EndpointError as exc:
            problem = "http_gate: %s" % exc
    if problem:
        module.fail_json(msg=problem)
    try:
        api = connect(params)
    except K8sConfigError as exc:
        module.fail_json(msg=str(exc))
    try:
        result = run_rollout(api, params, check_mode=module.check_mode, sleep=lifeline.guarded())
    except rollout_plan.K8sRolloutError as exc:
        module.fail_json(msg="deployment %s/%s: %s" % (params["namespace"], params["name"], exc))
    except lifeline.TaskGone as exc:
        module.fail_json(msg="deployment %s/%s: %s" % (params["namespace"], params["name"], exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught  # never a traceback for the user
        module.fail_json(msg="rollout failed unexpectedly: %s: %s" % (type(exc).__name__, exc),
                         exception=traceback.format_exc())
    finally:
        api.close()
    changed = bool(result.pop("changed", False))
    diff = result.pop("diff", None)
    if module._diff and diff:  # pylint: disable=protected-access  # AnsibleModule's --diff flag
        result["diff"] = diff
    if result.pop("failed", False):
        module.fail_json(msg=result["summary"], changed=changed, **result)
    module.exit_json(changed=changed, **result)
