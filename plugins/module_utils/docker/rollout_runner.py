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

import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.docker import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    build,
    check,
    down,
    metric_key,
)
from ansible_collections.runbook.ops.plugins.module_utils.docker import container_plan, rollout_plan
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
    not_found,
)
from ansible_collections.runbook.ops.plugins.module_utils.docker.gate_runner import Gates


# --------------------------------------------------------------------------- #
# Engine helpers
# --------------------------------------------------------------------------- #

def find_members(client: Any, filters: List[str]) -> List[Dict[str, Any]]:
    """Inspect attributes of the running containers that carry every label in ``filters``."""
    found = []
    for summary in client.api.containers(all=False, filters={"label": filters}):
        try:
            attrs = client.api.inspect_container(summary["Id"])
        except (DockerException, RequestException, OSError) as exc:
            if not_found(exc):
                continue
            raise
        if rollout_plan.is_member(attrs):
            found.append(attrs)
    return sorted(found, key=rollout_plan.container_name)


def image_reference(client: Any, ref: str, image_id: str) -> str:
    """``ref`` when it still names ``image_id`` (readable in ``docker ps``), else the ID itself."""
    if ref and not ref.startswith("sha256:"):
        attrs = inspect_image(client, ref)
        if attrs and attrs.get("Id") == image_id:
            return ref
    return image_id


class Engine(Gates):
    """Container operations, and the gates (``Gates``) of the containers they create."""

    def __init__(self, client: Any, params: Mapping[str, Any], clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        super().__init__(client, params, clock=clock, sleep=sleep)
        self._image_configs: Dict[str, Dict[str, Any]] = {}

    # -- configuration ---------------------------------------------------- #
    def image_config(self, image_id: str) -> Dict[str, Any]:
        if image_id not in self._image_configs:
            attrs = inspect_image(self.client, image_id)
            self._image_configs[image_id] = (attrs or {}).get("Config") or {}
        return self._image_configs[image_id]

    def create(self, original: Mapping[str, Any], image: str, name: str,
               extra_labels: Optional[Mapping[str, str]] = None, aliases: bool = True) -> str:
        """Create (not start) a copy of ``original`` running ``image``, connected to all its networks
        (without their aliases when ``aliases`` is false: see ``attach_aliases``)."""
        spec = rollout_plan.container_spec(original, self.image_config(str(original.get("Image") or "")), image,
                                           extra_labels, aliases=aliases)
        self.remove_quietly(name)
        created = self.api.create_container_from_config(spec, name=name)
        new_id = created["Id"]
        _primary, others = rollout_plan.network_plan(original)
        for net in others:
            endpoint = rollout_plan.endpoint_config(original, net)
            self._connect(new_id, net, endpoint if aliases else rollout_plan.without_aliases(endpoint))
        return new_id

    def _connect(self, container_id: str, net: str, endpoint: Mapping[str, Any]) -> None:
        ipam = endpoint.get("IPAMConfig") or {}
        self.api.connect_container_to_network(
            container_id, net, aliases=endpoint.get("Aliases"), links=endpoint.get("Links"),
            ipv4_address=ipam.get("IPv4Address"), ipv6_address=ipam.get("IPv6Address"),
            driver_opt=endpoint.get("DriverOpts"))

    def defer_aliases(self, original: Mapping[str, Any]) -> bool:
        """Whether a new copy of ``original`` joins its network aliases only after its gate."""
        return bool(self.params.get("traffic_after_gate", True)) and bool(rollout_plan.aliased_networks(original))

    def attach_aliases(self, container_id: str, original: Mapping[str, Any]) -> None:
        """Reconnect the networks on which ``original`` had aliases, now with them: from here on
        Docker's DNS (and a load balancer that follows it) sends the container traffic."""
        for net in rollout_plan.aliased_networks(original):
            self.api.disconnect_container_from_network(container_id, net)
            self._connect(container_id, net, rollout_plan.endpoint_config(original, net))

    def start(self, container_id: str) -> None:
        self.api.start(container_id)

    def stop_remove(self, container_id: str, timeout: Optional[int] = None) -> None:
        """Stop (SIGTERM, then SIGKILL after ``stop_timeout``) and remove a container."""
        wait = int(self.params.get("stop_timeout", 10) if timeout is None else timeout)
        try:
            self.api.stop(container_id, timeout=wait)
        except (DockerException, RequestException, OSError) as exc:
            if not not_found(exc):
                raise
            return
        self.api.remove_container(container_id, v=False, force=True)

    def remove_quietly(self, name_or_id: str) -> None:
        """Force-remove a leftover (for example a ``-next`` container of an interrupted run)."""
        try:
            self.api.remove_container(name_or_id, v=False, force=True)
        except (DockerException, RequestException, OSError) as exc:
            if not not_found(exc):
                raise

    def rename(self, container_id: str, name: str) -> None:
        self.api.rename(container_id, name)


# --------------------------------------------------------------------------- #
# The rollout
# --------------------------------------------------------------------------- #

def _launch_batch(engine: Engine, batch: List[Dict[str, Any]], image: str, order: str) -> Optional[str]:
    """Create and start the new containers of one batch (stop-first: after stopping the old ones);
    fills each step's ``new_id``/``old_removed``. None, or what failed."""
    try:
        for step in batch:
            original = step["original"]
            extra = rollout_plan.previous_labels(original)
            step["deferred"] = engine.defer_aliases(original)
            if order == rollout_plan.STOP_FIRST:
                engine.stop_remove(original["Id"])
                step["old_removed"] = True
                step["new_id"] = engine.create(original, image, step["name"], extra, aliases=not step["deferred"])
            else:
                step["new_id"] = engine.create(original, image, step["name"] + rollout_plan.NEXT_SUFFIX, extra,
                                               aliases=not step["deferred"])
            engine.start(step["new_id"])
    except (DockerException, RequestException, OSError) as exc:
        return "engine error while replacing %s: %s" % (step["name"], api_error_message(exc))
    return None


def _gate_batch(engine: Engine, batch: List[Dict[str, Any]]) -> Optional[str]:
    """Wait for the gates of a launched batch; fills each step's ``gate``.
    None when every gate passed, else the reason of the first failure."""
    results = engine.wait_gates([s["new_id"] for s in batch])
    failure = None
    for step in batch:
        verdict, why, seconds = results[step["new_id"]]
        step["gate"] = {"verdict": verdict, "reason": why, "seconds": round(seconds, 3)}
        if verdict != rollout_plan.PASS and failure is None:
            failure = "%s: %s" % (step["name"], why)
    return failure


def _finish_batch(engine: Engine, batch: List[Dict[str, Any]], order: str) -> Optional[str]:
    """Put a batch that passed its gates in service: join the network aliases, then (start-first)
    stop and remove the old containers and give the new ones their names. None, or what failed."""
    try:
        for step in batch:
            if step["deferred"]:
                engine.attach_aliases(step["new_id"], step["original"])
    except (DockerException, RequestException, OSError) as exc:
        return "engine error while attaching the network aliases of %s: %s" % (step["name"], api_error_message(exc))
    if order == rollout_plan.START_FIRST:
        try:
            for step in batch:
                engine.stop_remove(step["original"]["Id"])
                step["old_removed"] = True
                engine.rename(step["new_id"], step["name"])
        except (DockerException, RequestException, OSError) as exc:
            return "engine error while removing the old %s: %s" % (step["name"], api_error_message(exc))
    return None


class _Finisher:
    """Finishes a batch (aliases, old containers out, names) in a background thread while the next
    batch waits for its gates: the old container's stop is off the critical path of a start-first
    rollout. It starts once the next batch's containers are started, not before: the engine does
    network changes and container starts one at a time, so finishing during the next create and
    start would only delay that start."""

    def __init__(self, engine: Engine, batch: List[Dict[str, Any]], order: str):
        self.failure: Optional[str] = None
        self.thread = threading.Thread(target=self._run, args=(engine, batch, order), daemon=True)
        self.thread.start()

    def _run(self, engine: Engine, batch: List[Dict[str, Any]], order: str) -> None:
        try:
            self.failure = _finish_batch(engine, batch, order)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # reported like a failed step
            self.failure = "error while finishing %s: %s: %s" % (
                ", ".join(s["name"] for s in batch), type(exc).__name__, exc)

    def join(self) -> Optional[str]:
        self.thread.join()
        return self.failure


def _restore(engine: Engine, targets: List[Dict[str, Any]], order: str) -> List[Dict[str, Any]]:
    """Put every touched container back on its original image ID; one outcome per container."""
    outcomes = []
    for target in targets:
        original = target["original"]
        name = target["name"]
        outcome = {"name": name, "image_id": target["image_id"], "restored": False, "error": ""}
        try:
            if not target["restore"]:
                # The old container still runs: drop the new one (and its -next name).
                if target["remove_id"]:
                    engine.stop_remove(target["remove_id"], timeout=2)
                outcome["restored"] = True
                outcome["container_id"] = original["Id"]
                outcomes.append(outcome)
                continue
            image = image_reference(engine.client, str(original.get("Config", {}).get("Image") or ""),
                                    target["image_id"])
            if order == rollout_plan.START_FIRST and target["remove_id"]:
                deferred = engine.defer_aliases(original)
                restored = engine.create(original, image, name + rollout_plan.NEXT_SUFFIX, aliases=not deferred)
                engine.start(restored)
                verdict, why, _secs = engine.wait_gates([restored])[restored]
                if deferred:
                    engine.attach_aliases(restored, original)
                engine.stop_remove(target["remove_id"], timeout=2)
                engine.rename(restored, name)
            else:
                if target["remove_id"]:
                    engine.stop_remove(target["remove_id"], timeout=2)
                restored = engine.create(original, image, name)
                engine.start(restored)
                verdict, why, _secs = engine.wait_gates([restored])[restored]
            outcome["container_id"] = restored
            outcome["restored"] = True
            if verdict != rollout_plan.PASS:
                outcome["error"] = "restored but its gate failed: %s" % why
        except (DockerException, RequestException, OSError) as exc:
            outcome["error"] = api_error_message(exc)
        outcomes.append(outcome)
    return outcomes


def run_rollout(client: Any, params: Mapping[str, Any], check_mode: bool = False,
                clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
                ) -> Dict[str, Any]:
    """Plan and (unless ``check_mode``) run a rolling replacement; see the module's RETURN."""
    started = clock()
    labels = params.get("labels") or []
    svc = rollout_plan.subject_name(params.get("project"), params.get("service"), labels)
    filters = rollout_plan.selector_labels(params.get("project"), params.get("service"), labels)
    prefix = "rollout.%s" % svc
    out: Dict[str, Any] = {"plan": None, "replaced": [], "rolled_back": False, "previous_image": None,
                           "image": None, "order": None, "changed": False}

    def finish(checks: List[Dict[str, Any]], metrics: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
        metrics = dict(metrics or {})
        metrics[metric_key("rollout_duration_seconds", service=svc)] = round(clock() - started, 3)
        result = build(checks, metrics, subject="rollout %s" % svc)
        result.update(out)
        return result

    try:
        members = find_members(client, filters)
    except (DockerException, RequestException, OSError) as exc:
        return finish([down("docker.engine", "docker engine error: %s" % api_error_message(exc))])
    members, leftovers = rollout_plan.split_leftovers(members)
    if not members:
        return finish([down("%s.containers" % prefix, "no running container has labels %s" % ", ".join(filters),
                            value={"labels": filters, "count": 0})])

    # The target image.
    state = params.get("state") or "present"
    wanted = params.get("image")
    if state == "rolled_back" and not wanted:
        recorded, reason = rollout_plan.previous_image(members)
        if recorded is None:
            return finish([check("%s.previous_image" % prefix, CRITICAL, reason)])
        wanted = recorded["id"]
        target_ref_hint = recorded["ref"]
    else:
        target_ref_hint = str(wanted)
    image_attrs = inspect_image(client, str(wanted))
    if image_attrs is None:
        return finish([check("%s.image" % prefix, CRITICAL,
                             "image %s is not present on the engine (pull or build it first)" % wanted)])
    target_id = str(image_attrs["Id"])
    # Create by the reference while it names the target (readable), else by the ID itself.
    target_ref = image_reference(client, target_ref_hint, target_id)
    out["image"] = {"id": target_id, "ref": target_ref}

    order, note = rollout_plan.choose_order(params.get("order") or rollout_plan.START_FIRST, members)
    plan = rollout_plan.build_plan(members, target_id, target_ref, int(params.get("batch_size") or 1), order, note)
    out["plan"] = plan
    out["order"] = order
    todo = [e for e in plan["containers"] if e["action"] == "replace"]
    if todo:
        out["previous_image"] = {"id": todo[0]["old_image_id"], "ref": todo[0]["old_image"]}
    checks: List[Dict[str, Any]] = []
    if leftovers:
        names = ", ".join(rollout_plan.container_name(a) for a in leftovers)
        if check_mode:
            checks.append(check("%s.leftovers" % prefix, OK, "would remove %s, left by an interrupted rollout" % names))
        else:
            engine = Engine(client, params, clock=clock, sleep=sleep)
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
    if not todo:
        checks.append(check("%s.image" % prefix, OK, "all %d containers already run %s (%s)"
                            % (len(members), target_ref, rollout_plan.short_id(target_id)), value=target_id))
        return finish(checks, {metric_key("rollout_replaced", service=svc): 0.0})

    if check_mode:
        out["changed"] = True
        for number, batch in enumerate(plan["batches"], 1):
            for name in batch:
                entry = next(e for e in todo if e["name"] == name)
                checks.append(check("%s.%s" % (prefix, name), OK, "would replace %s (%s) by %s (%s) in batch %d, %s"
                                    % (entry["old_image"], rollout_plan.short_id(entry["old_image_id"]), target_ref,
                                       rollout_plan.short_id(target_id), number, order), value=entry))
        return finish(checks, {metric_key("rollout_replaced", service=svc): 0.0})

    # The real thing.
    engine = Engine(client, params, clock=clock, sleep=sleep)
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
    overlap = order == rollout_plan.START_FIRST and monitor_seconds <= 0
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
            else:
                checks.append(check("%s.%s" % (prefix, step["name"]), CRITICAL, "gate failed: %s"
                                    % (gate.get("reason") or why), value=value))

    for number, names in enumerate(plan["batches"], 1):
        batch = [{"name": n, "original": by_name[n], "new_id": None, "old_removed": False, "batch": number}
                 for n in names]
        steps.extend(batch)
        failure = _launch_batch(engine, batch, target_ref, order)
        finisher = _Finisher(engine, waiting[0], order) if waiting is not None else None
        if failure is None:
            failure = _gate_batch(engine, batch)
        if finisher is not None and waiting is not None:
            earlier = finisher.join()
            report(waiting[0], waiting[1], earlier)
            failure = earlier or failure
            waiting = None
        if failure is None and overlap and number < len(plan["batches"]):
            waiting = (batch, number)
            continue
        if failure is None:
            failure = _finish_batch(engine, batch, order)
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
    outcomes = _restore(engine, rollout_plan.rollback_targets(steps), order)
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


def run(module: Any) -> None:
    """runbook.ops.docker_rollout: check the options, connect, roll out (or plan in check mode), exit."""
    validation.validate(module, argspec.RULES)
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    problem = rollout_plan.option_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    empty = dict(plan=None, replaced=[], rolled_back=False, previous_image=None, image=None, order=None)
    try:
        client = connect(module.params)
    except DockerClientError as exc:
        module.fail_json(msg=str(exc))
    except EngineUnreachable as exc:
        result = build([container_plan.engine_down_check(str(exc))], {"docker_up": 0.0}, subject="rollout")
        module.exit_json(changed=False, **dict(result, **empty))
    try:
        result = run_rollout(client, module.params, check_mode=module.check_mode)
    except rollout_plan.RolloutError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-exception-caught  # never a traceback for the user
        module.fail_json(msg="rollout failed unexpectedly: %s: %s" % (type(exc).__name__, exc),
                         exception=traceback.format_exc())
    finally:
        close_quietly(client)
    changed = bool(result.pop("changed", False))
    module.exit_json(changed=changed, **result)
