# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker side of a rolling deploy: find, create, replace and restore containers.

Decisions come from ``rollout_plan`` (pure); the gates that judge new containers are in
``gate_runner``. This file does the engine calls through the Docker SDK's low-level API
(``client.api``), so that a container's configuration goes back to the engine exactly as
``docker inspect`` returned it, only the image swapped.

``run(module)`` is docker_rollout's one call. ``run_rollout(client, params)`` returns a
``runbook.ops/result/v1`` result plus ``plan``, ``replaced``, ``rolled_back``,
``previous_image``, ``image``, ``order`` and ``changed``. It never raises for engine trouble:
a failed call during the rollout fails the gate and triggers the rollback; a failed call
during the rollback is a critical (P0) check.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import getpass
import os
import signal
import socket
import time
import traceback
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.docker import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    WARNING,
    build,
    check,
    down,
    metric_key,
)
from ansible_collections.runbook.ops.plugins.module_utils.docker import (
    container_plan,
    lock_plan,
    lock_runner,
    replace_runner,
    rollout_plan,
    surge_plan,
)
from ansible_collections.runbook.ops.plugins.module_utils.docker.client import (
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    DockerClientError,
    DockerException,
    EngineUnreachable,
    RequestException,
    api_error_message,
    close_quietly,
    connect,
    inspect_image,
)

# Seconds after which a deploy lock is stale (lock_timeout's default): longer than any sane rollout.
DEFAULT_LOCK_TIMEOUT = 3600.0


def lock_owner(params: Mapping[str, Any]) -> str:
    """``lock_owner``, else ``<user>@<host> pid <pid>`` of this process."""
    if params.get("lock_owner"):
        return str(params["lock_owner"])
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container with an arbitrary UID)
        user = "uid%d" % os.getuid()
    return lock_plan.default_owner(user, socket.gethostname(), os.getpid())


def run_rollout(client: Any, params: Mapping[str, Any], check_mode: bool = False,
                clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                wall_clock: Callable[[], float] = time.time) -> Dict[str, Any]:
    """Plan and (unless ``check_mode``) run a rolling replacement under the service's engine-held
    lock; see the module's RETURN. A result with ``fatal`` is an action that could not be
    carried out (run() fails the task with it)."""
    started = clock()
    labels = params.get("labels") or []
    svc = rollout_plan.subject_name(params.get("project"), params.get("service"), labels)
    filters = rollout_plan.selector_labels(params.get("project"), params.get("service"), labels)
    prefix = "rollout.%s" % svc
    out: Dict[str, Any] = {"plan": None, "replaced": [], "rolled_back": False, "previous_image": None,
                           "image": None, "order": None, "changed": False}

    def finish(checks: List[Dict[str, Any]], metrics: Optional[Dict[str, float]] = None,
               fatal: Optional[str] = None) -> Dict[str, Any]:
        metrics = dict(metrics or {})
        metrics[metric_key("rollout_duration_seconds", service=svc)] = round(clock() - started, 3)
        result = build(checks, metrics, subject="rollout %s" % svc)
        result.update(out)
        if fatal:
            result["fatal"] = fatal  # could not act: run() fails the task with this message
        return result

    def read_members() -> Tuple[Optional[Dict[str, Any]], List[Dict[str, Any]], List[Dict[str, Any]]]:
        """``(fatal result or None, members, leftovers)``."""
        try:
            found = replace_runner.find_members(client, filters)
        except (DockerException, RequestException, OSError) as exc:
            why = "docker engine error: %s" % api_error_message(exc)
            return finish([down("docker.engine", why)], fatal=why), [], []
        kept, left = rollout_plan.split_leftovers(found)
        if not kept:
            why = "no running container has labels %s" % ", ".join(filters)
            return finish([down("%s.containers" % prefix, why, value={"labels": filters, "count": 0})],
                          fatal=why), [], []
        return None, kept, left

    lock_checks: List[Dict[str, Any]] = []
    if check_mode:
        failed, members, leftovers = read_members()
        if failed is not None:
            return failed
        try:
            refusal, note = lock_runner.peek(client, filters, svc, wall_clock())
        except (DockerException, RequestException, OSError) as exc:
            refusal, note = None, "cannot read the lock: %s" % api_error_message(exc)
        if refusal:
            lock_checks.append(check("%s.lock" % prefix, WARNING, "a real run now would be refused: %s" % refusal))
        elif note:
            lock_checks.append(check("%s.lock" % prefix, OK, note))
        return proceed(client, params, True, members, leftovers, lock_checks, finish, out, clock, sleep)
    # Before the lock only what it needs: an image the engine has, from one listing of the service's
    # containers (their full inspection is done once, under the lock).
    try:
        lock_image = replace_runner.any_image(client, filters)
    except (DockerException, RequestException, OSError) as exc:
        why = "docker engine error: %s" % api_error_message(exc)
        return finish([down("docker.engine", why)], fatal=why)
    if lock_image is None:
        why = "no running container has labels %s" % ", ".join(filters)
        return finish([down("%s.containers" % prefix, why, value={"labels": filters, "count": 0})], fatal=why)
    timeout = params.get("lock_timeout")
    try:
        lock_id, note = lock_runner.acquire(client, filters, svc, lock_image, lock_owner(params),
                                            float(DEFAULT_LOCK_TIMEOUT if timeout is None else timeout), wall_clock())
    except lock_runner.LockHeld as exc:
        return finish([check("%s.lock" % prefix, CRITICAL, str(exc))], fatal=str(exc))
    except (DockerException, RequestException, OSError) as exc:
        why = "cannot take the deploy lock: %s" % api_error_message(exc)
        return finish([down("docker.engine", why)], fatal=why)
    if note:
        lock_checks.append(check("%s.lock" % prefix, OK, note))
    try:
        # What the service is now, under the lock (another run may just have finished).
        failed, members, leftovers = read_members()
        if failed is not None:
            return failed
        return proceed(client, params, False, members, leftovers, lock_checks, finish, out, clock, sleep)
    finally:
        lock_runner.release(client, lock_id)


def proceed(client: Any, params: Mapping[str, Any], check_mode: bool, members: List[Dict[str, Any]],
            leftovers: List[Dict[str, Any]], lock_checks: List[Dict[str, Any]], finish: Callable[..., Dict[str, Any]],
            out: Dict[str, Any], clock: Callable[[], float], sleep: Callable[[float], None]) -> Dict[str, Any]:
    """The rollout of ``members`` (read under the lock, or in check mode without it)."""
    labels = params.get("labels") or []
    svc = rollout_plan.subject_name(params.get("project"), params.get("service"), labels)
    prefix = "rollout.%s" % svc

    # The target image.
    state = params.get("state") or "present"
    wanted = params.get("image")
    if state == "rolled_back" and not wanted:
        recorded, reason = rollout_plan.previous_image(members)
        if recorded is None:
            return finish(lock_checks + [check("%s.previous_image" % prefix, CRITICAL, reason)], fatal=reason)
        wanted = recorded["id"]
        target_ref_hint = recorded["ref"]
    else:
        target_ref_hint = str(wanted)
    image_attrs = inspect_image(client, str(wanted))
    if image_attrs is None:
        why = "image %s is not present on the engine (pull or build it first)" % wanted
        return finish(lock_checks + [check("%s.image" % prefix, CRITICAL, why)], fatal=why)
    target_id = str(image_attrs["Id"])
    # Create by the reference while it names the target (readable), else by the ID itself.
    target_ref = replace_runner.image_reference(client, target_ref_hint, target_id)
    out["image"] = {"id": target_id, "ref": target_ref}

    order, note = rollout_plan.choose_order(params.get("order") or rollout_plan.START_FIRST, members)
    mode, surge, surge_note = surge_plan.choose_mode(int(params.get("max_surge") or 0), order, note)
    size = surge_plan.wave_size(mode, surge, int(params.get("batch_size") or 1))
    plan = rollout_plan.build_plan(members, target_id, target_ref, size, order, note)
    plan.update(mode=mode, max_surge=surge)
    out["plan"] = plan
    out["order"] = order
    todo = [e for e in plan["containers"] if e["action"] == "replace"]
    if todo:
        out["previous_image"] = {"id": todo[0]["old_image_id"], "ref": todo[0]["old_image"]}
    checks: List[Dict[str, Any]] = list(lock_checks)
    # Under our lock the -next containers are an interrupted run's, not a running one's.
    if leftovers:
        names = ", ".join(rollout_plan.container_name(a) for a in leftovers)
        if check_mode:
            checks.append(check("%s.leftovers" % prefix, OK, "would remove %s, left by an interrupted rollout" % names))
        else:
            engine = replace_runner.Engine(client, params, clock=clock, sleep=sleep)
            try:
                for attrs in leftovers:
                    engine.remove_quietly(attrs["Id"])
                checks.append(check("%s.leftovers" % prefix, OK, "removed %s, left by an interrupted rollout" % names))
                out["changed"] = True
            except (DockerException, RequestException, OSError) as exc:
                checks.append(check("%s.leftovers" % prefix, CRITICAL, "cannot remove %s, left by an interrupted "
                                    "rollout: %s" % (names, api_error_message(exc))))
    if note:
        checks.append(check("%s.order" % prefix, OK, note, value=order))
    if surge_note:
        checks.append(check("%s.surge" % prefix, OK, surge_note, value=mode))
    if not todo:
        checks.append(check("%s.image" % prefix, OK, "all %d containers already run %s (%s)"
                            % (len(members), target_ref, rollout_plan.short_id(target_id)), value=target_id))
        return finish(checks, {metric_key("rollout_replaced", service=svc): 0.0})

    if check_mode:
        out["changed"] = True
        for number, batch in enumerate(plan["batches"], 1):
            for name in batch:
                entry = next(e for e in todo if e["name"] == name)
                checks.append(check("%s.%s" % (prefix, name), OK,
                                    surge_plan.plan_message(entry, target_ref, target_id, number, plan), value=entry))
        return finish(checks, {metric_key("rollout_replaced", service=svc): 0.0})

    # The real thing.
    engine = replace_runner.Engine(client, params, clock=clock, sleep=sleep)
    by_name = {rollout_plan.container_name(a): a for a in members}
    steps: List[Dict[str, Any]] = []
    failure: Optional[str] = None
    metrics: Dict[str, float] = {}
    out["changed"] = True
    monitor_seconds = float(params.get("monitor_seconds") or 0)
    threshold = int(params.get("failure_threshold") or 1)
    # Start-first without a monitor period: a batch that passed its gates is finished (aliases,
    # old containers out, names) in the background once the next batch is started, while that
    # batch waits for its gates; it is joined before that batch is finished, before a rollback
    # and at the end.
    # Surge waves are finished one after the other: all the new replicas of a wave in service, all
    # its old ones gone, before the next wave starts.
    overlap = order == rollout_plan.START_FIRST and monitor_seconds <= 0 and mode != surge_plan.SURGE
    waiting: Optional[Tuple[List[Dict[str, Any]], int]] = None

    def report(batch: List[Dict[str, Any]], number: int, why: Optional[str]) -> None:
        for step in batch:
            gate = step.get("gate") or {}
            ok = gate.get("verdict") == rollout_plan.PASS and step["old_removed"]
            value = {"batch": number, "old_container_id": step["original"]["Id"], "new_container_id": step["new_id"],
                     "old_image_id": step["original"]["Image"], "new_image_id": target_id,
                     "gate_seconds": gate.get("seconds")}
            if gate.get("seconds") is not None:
                metrics[metric_key("rollout_gate_seconds", container=step["name"])] = gate["seconds"]
            if ok:
                checks.append(check("%s.%s" % (prefix, step["name"]), OK, "replaced %s (%s) by %s (%s): %s in %ss"
                                    % (step["original"]["Config"].get("Image"), rollout_plan.short_id(step["original"]["Image"]),
                                       target_ref, rollout_plan.short_id(target_id), gate.get("reason"), gate.get("seconds")),
                                    value=value))
            elif gate.get("verdict") == rollout_plan.PASS:
                # Passed its own gate, but its batch (surge wave) failed: never put in service for good.
                checks.append(check("%s.%s" % (prefix, step["name"]), CRITICAL, "passed its gate (%s), withdrawn: %s"
                                    % (gate.get("reason"), why), value=value))
            else:
                checks.append(check("%s.%s" % (prefix, step["name"]), CRITICAL, "gate failed: %s"
                                    % (gate.get("reason") or why), value=value))

    for number, names in enumerate(plan["batches"], 1):
        batch = [{"name": n, "original": by_name[n], "new_id": None, "old_removed": False, "batch": number}
                 for n in names]
        steps.extend(batch)
        if mode == surge_plan.SURGE:
            engine.joined_at = None
            failure = replace_runner.launch_wave(engine, batch, target_ref)
        else:
            failure = replace_runner.launch_batch(engine, batch, target_ref, order)
        finisher = replace_runner.Finisher(engine, waiting[0], order) if waiting is not None else None
        if failure is None:
            failure = replace_runner.gate_batch(engine, batch, join_early=mode == surge_plan.SURGE)
        if finisher is not None and waiting is not None:
            earlier = finisher.join()
            report(waiting[0], waiting[1], earlier)
            failure = earlier or failure
            waiting = None
        if failure is None and overlap and number < len(plan["batches"]):
            waiting = (batch, number)
            continue
        if failure is None and mode == surge_plan.SURGE:
            failure = replace_runner.finish_wave(engine, batch)
        elif failure is None:
            failure = replace_runner.finish_batch(engine, batch, order)
        if failure is None and monitor_seconds > 0:
            failed, probes, failures, last = engine.monitor([s["new_id"] for s in steps])
            message = ("batch %d: %d of %d probes failed (threshold %d), last: %s"
                       % (number, failures, probes, threshold, last)
                       if failures else "batch %d: %d probes ok over %gs" % (number, probes, monitor_seconds))
            checks.append(check("%s.monitor.batch%d" % (prefix, number), CRITICAL if failed else OK, message,
                                value={"probes": probes, "failures": failures}, threshold=threshold))
            if failed:
                failure = "monitor after batch %d: %s" % (number, last)
        report(batch, number, failure)
        if failure:
            break

    final_seconds = float(params.get("final_monitor_seconds") or 0)
    if failure is None and final_seconds > 0:
        # The whole service, after the last batch: a replica that fails late fails the rollout.
        every = [s["new_id"] for s in steps] + [e["id"] for e in plan["containers"] if e["action"] == "skip"]
        failed, probes, failures, last = engine.monitor(every, period=final_seconds)
        message = ("%d of %d probes failed (threshold %d), last: %s" % (failures, probes, threshold, last)
                   if failures else "%d probes of %d replicas ok over %gs" % (probes, len(every), final_seconds))
        checks.append(check("%s.monitor.final" % prefix, CRITICAL if failed else OK, message,
                            value={"probes": probes, "failures": failures}, threshold=threshold))
        if failed:
            failure = "final monitor: %s" % last
    if failure is None:
        # Every replica running and healthy on the target image, or the rollout is not ok: a replica
        # that died since its gate is replaced, as a Deployment controller would.
        replicas = replace_runner.ensure_replicas(engine, plan, steps, target_ref, target_id)
        checks.append(check("%s.replicas" % prefix, OK if replicas["ok"] else CRITICAL, replicas["message"],
                            value={k: replicas[k] for k in ("before", "after", "replaced", "lost")}))
        metrics[metric_key("rollout_replicas_before", service=svc)] = float(replicas["before"])
        metrics[metric_key("rollout_replicas_after", service=svc)] = float(replicas["after"])
        if not replicas["ok"]:
            failure = replicas["message"]
    if failure is None:
        out["replaced"] = [{"name": s["name"], "old_container_id": s["original"]["Id"], "container_id": s["new_id"],
                            "old_image_id": s["original"]["Image"], "image_id": target_id} for s in steps]
        metrics[metric_key("rollout_replaced", service=svc)] = float(len(steps))
        metrics[metric_key("rollout_rolled_back", service=svc)] = 0.0
        return finish(checks, metrics)

    checks.append(check("%s.deploy" % prefix, CRITICAL, "deploy of %s (%s) failed: %s"
                        % (target_ref, rollout_plan.short_id(target_id), failure), value={"image_id": target_id}))
    metrics[metric_key("rollout_replaced", service=svc)] = 0.0
    if not params.get("rollback", True):
        out["replaced"] = [{"name": s["name"], "old_container_id": s["original"]["Id"], "container_id": s["new_id"],
                            "old_image_id": s["original"]["Image"], "image_id": target_id}
                           for s in steps if s["new_id"]]
        metrics[metric_key("rollout_rolled_back", service=svc)] = 0.0
        return finish(checks, metrics)
    # A container that failed (its gate, a monitor probe, the replica check) leaves its aliases at
    # once, before the rollback: the load balancer stops sending it requests now, not when its
    # replacement has passed its own gate.
    for step in steps:
        failing = step["new_id"] in engine.failing or (step.get("gate") or {}).get("verdict") == rollout_plan.FAIL
        if step["new_id"] and failing:
            engine.detach_aliases(step["new_id"], step["original"])
    outcomes = replace_runner.restore(engine, rollout_plan.rollback_targets(steps), order)
    broken = [o for o in outcomes if not o["restored"] or o["error"]]
    previous = out["previous_image"] or {}
    if broken:
        checks.append(down("%s.rollback" % prefix, "rollback incomplete: %s" % "; ".join(
            "%s: %s" % (o["name"], o["error"] or "not restored") for o in broken), value=outcomes))
    else:
        checks.append(check("%s.rollback" % prefix, OK, "rolled back %d container%s to %s (%s)"
                            % (len(outcomes), "" if len(outcomes) == 1 else "s", previous.get("ref"),
                               rollout_plan.short_id(previous.get("id"))), value=outcomes))
    out["rolled_back"] = not broken
    out["restored"] = outcomes
    metrics[metric_key("rollout_rolled_back", service=svc)] = 1.0
    return finish(checks, metrics)


def _interrupted(signum: int, _frame: Any) -> None:
    """SIGTERM (the task killed, a timeout): unwind, so that the lock is released and the result told."""
    raise SystemExit("docker_rollout interrupted by signal %d" % signum)


def run(module: Any) -> None:
    """runbook.ops.docker_rollout: check the options, connect, roll out (or plan in check mode), exit.

    An action that could not be carried out (engine unreachable, no matching container, image
    missing, no recorded version, the lock held by another run) fails the task, with the result
    schema (status, checks, metrics) in the failed result."""
    validation.validate(module, argspec.RULES)
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    problem = rollout_plan.option_problem(module.params) or surge_plan.option_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    empty = dict(plan=None, replaced=[], rolled_back=False, previous_image=None, image=None, order=None)
    try:
        client = connect(module.params)
    except DockerClientError as exc:
        module.fail_json(msg=str(exc))
    except EngineUnreachable as exc:
        check_ = container_plan.engine_down_check(str(exc))
        result = build([check_], {"docker_up": 0.0}, subject="rollout")
        module.fail_json(msg=check_["message"], changed=False, **dict(result, **empty))
    try:
        previous_handler = signal.signal(signal.SIGTERM, _interrupted)
    except ValueError:  # not the main thread (an embedding caller): no handler of ours
        previous_handler = None
    try:
        result = run_rollout(client, module.params, check_mode=module.check_mode)
    except rollout_plan.RolloutError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught  # never a traceback for the user
        module.fail_json(msg="rollout failed unexpectedly: %s: %s" % (type(exc).__name__, exc),
                         exception=traceback.format_exc())
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
        close_quietly(client)
    changed = bool(result.pop("changed", False))
    fatal = result.pop("fatal", None)
    if module._diff and changed:  # pylint: disable=protected-access  # AnsibleModule's --diff flag
        done = None if module.check_mode else {r["name"] for r in result.get("replaced") or []}
        diff = surge_plan.plan_diff(result.get("plan"), done)
        if diff:
            result["diff"] = diff
    if fatal:
        module.fail_json(msg=fatal, changed=changed, **result)
    module.exit_json(changed=changed, **result)
