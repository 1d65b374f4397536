# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replacing containers on the Docker engine: find, create, start, finish and restore them.

``Engine`` does the engine calls through the Docker SDK's low-level API (``client.api``), so that a
container's configuration goes back to the engine exactly as ``docker inspect`` returned it, only the
image swapped; it inherits the gates (``gate_runner.Gates``). The batch steps (``launch_batch``,
``gate_batch``, ``finish_batch``, ``Finisher``, ``restore``) are what ``rollout_runner`` strings
together. Decisions come from ``rollout_plan``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.docker import rollout_plan
from ansible_collections.runbook.ops.plugins.module_utils.docker.client import (
    DockerException,
    RequestException,
    api_error_message,
    conflict,
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


def any_image(client: Any, filters: List[str]) -> Optional[str]:
    """The image ID of one running container that carries every label in ``filters`` (one listing, no
    inspection), or None when there is none."""
    for summary in client.api.containers(all=False, filters={"label": filters}):
        if summary.get("ImageID"):
            return str(summary["ImageID"])
    return None


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
        self._lock = threading.Lock()
        # Surge: when the first new container of the current wave joined its aliases.
        self.joined_at: Optional[float] = None

    # -- configuration ---------------------------------------------------- #
    def image_config(self, image_id: str) -> Dict[str, Any]:
        with self._lock:  # the containers of a surge wave are created from several threads
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
        try:
            created = self.api.create_container_from_config(spec, name=name)
        except (DockerException, RequestException, OSError) as exc:
            if not conflict(exc):
                raise
            # The name is taken (a leftover, a dead replica being replaced): remove it, once.
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

    def detach_aliases(self, container_id: str, original: Mapping[str, Any]) -> None:
        """Take a failing container out of its network aliases at once (disconnect it from the networks
        where ``original`` had them): Docker's DNS, and the load balancer that follows it, stop sending it
        requests. Errors are ignored: the container is on its way out anyway."""
        for net in rollout_plan.aliased_networks(original):
            try:
                self.api.disconnect_container_from_network(container_id, net, force=True)
            except (DockerException, RequestException, OSError):
                pass

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

def launch_batch(engine: Engine, batch: List[Dict[str, Any]], image: str, order: str) -> Optional[str]:
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


def launch_wave(engine: Engine, batch: List[Dict[str, Any]], image: str) -> Optional[str]:
    """Surge: create and start the new containers of a wave beside the old ones, all at once (one
    thread each: the engine overlaps their network set-up and start). None, or what failed."""
    def one(step: Dict[str, Any]) -> None:
        original = step["original"]
        step["new_id"] = engine.create(original, image, step["name"] + rollout_plan.NEXT_SUFFIX,
                                       rollout_plan.previous_labels(original), aliases=not step["deferred"])
        engine.start(step["new_id"])
    for step in batch:
        step["deferred"] = engine.defer_aliases(step["original"])
    errors = in_parallel(one, batch)
    for step, error in zip(batch, errors):
        if error is not None:
            return "engine error while starting the new %s: %s" % (step["name"], api_error_message(error))
    return None


def gate_batch(engine: Engine, batch: List[Dict[str, Any]], join_early: bool = False) -> Optional[str]:
    """Wait for the gates of a launched batch; fills each step's ``gate``.
    None when every gate passed, else the reason of the first failure.

    ``join_early`` (surge): each new container joins its network aliases as soon as it passed its
    own gate, while the others of its wave still wait for theirs; ``engine.joined_at`` records when
    the first one did (the old replicas drain from then on)."""
    steps = {s["new_id"]: s for s in batch}

    def passed(container_id: str) -> None:
        step = steps[container_id]
        if step["deferred"]:
            engine.attach_aliases(container_id, step["original"])
        step["attached"] = True
        if engine.joined_at is None:
            engine.joined_at = engine.clock()
    results = engine.wait_gates([s["new_id"] for s in batch], on_pass=passed if join_early else None)
    failure = None
    for step in batch:
        verdict, why, seconds = results[step["new_id"]]
        step["gate"] = {"verdict": verdict, "reason": why, "seconds": round(seconds, 3)}
        if verdict != rollout_plan.PASS and failure is None:
            failure = "%s: %s" % (step["name"], why)
    return failure


def join_aliases(engine: Engine, batch: List[Dict[str, Any]]) -> Optional[str]:
    """The new containers of a batch that passed its gates join their network aliases (marked
    ``attached``: from here on they may carry traffic). None, or what failed."""
    try:
        for step in batch:
            if step["deferred"]:
                engine.attach_aliases(step["new_id"], step["original"])
            step["attached"] = True
    except (DockerException, RequestException, OSError) as exc:
        return "engine error while attaching the network aliases of %s: %s" % (step["name"], api_error_message(exc))
    return None


def in_parallel(work: Callable[[Any], None], items: List[Any]) -> List[Optional[BaseException]]:
    """Run ``work(item)`` for every item at once, one thread each; the exception of each, or None."""
    errors: List[Optional[BaseException]] = [None] * len(items)

    def one(index: int) -> None:
        try:
            work(items[index])
        except Exception as exc:  # pylint: disable=broad-exception-caught  # returned to the caller
            errors[index] = exc
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def finish_wave(engine: Engine, batch: List[Dict[str, Any]]) -> Optional[str]:
    """Surge: put a wave that passed its gates in service. Every new container is in the aliases
    (``gate_batch`` with ``join_early``); the old ones keep serving until ``drain_seconds`` after the
    first new one joined, so that clients that cache Docker's DNS answers (a load balancer's resolver)
    know a new address before the old ones go; then they stop together (SIGTERM: each finishes its
    requests in flight and leaves the aliases as it exits) and are removed, and the new ones take their
    names. None, or what failed."""
    failure = join_aliases(engine, [s for s in batch if not s.get("attached")])
    if failure:
        return failure
    if engine.joined_at is None:
        engine.joined_at = engine.clock()
    left = engine.joined_at + float(engine.params.get("drain_seconds") or 0) - engine.clock()
    if left > 0:
        engine.sleep(left)
    errors = in_parallel(lambda step: engine.stop_remove(step["original"]["Id"]), batch)
    for step, error in zip(batch, errors):
        step["old_removed"] = error is None
    broken = [(s, e) for s, e in zip(batch, errors) if e is not None]
    if broken:
        return "engine error while stopping the old %s: %s" % (
            broken[0][0]["name"], api_error_message(broken[0][1]))
    try:
        for step in batch:
            engine.rename(step["new_id"], step["name"])
    except (DockerException, RequestException, OSError) as exc:
        return "engine error while renaming %s: %s" % (step["name"], api_error_message(exc))
    return None


def finish_batch(engine: Engine, batch: List[Dict[str, Any]], order: str) -> Optional[str]:
    """Put a batch that passed its gates in service: join the network aliases, then (start-first)
    stop and remove the old containers and give the new ones their names. None, or what failed."""
    failure = join_aliases(engine, batch)
    if failure:
        return failure
    if order == rollout_plan.START_FIRST:
        try:
            for step in batch:
                engine.stop_remove(step["original"]["Id"])
                step["old_removed"] = True
                engine.rename(step["new_id"], step["name"])
        except (DockerException, RequestException, OSError) as exc:
            return "engine error while removing the old %s: %s" % (step["name"], api_error_message(exc))
    return None


class Finisher:
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
            self.failure = finish_batch(engine, batch, order)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # reported like a failed step
            self.failure = "error while finishing %s: %s: %s" % (
                ", ".join(s["name"] for s in batch), type(exc).__name__, exc)

    def join(self) -> Optional[str]:
        self.thread.join()
        return self.failure


def restore(engine: Engine, targets: List[Dict[str, Any]], order: str) -> List[Dict[str, Any]]:
    """Put every touched container back on its original image ID; one outcome per container."""
    outcomes = []
    for target in targets:
        original = target["original"]
        name = target["name"]
        outcome = {"name": name, "image_id": target["image_id"], "restored": False, "error": ""}
        try:
            if not target["restore"]:
                # The old container still runs: drop the new one (and its -next name); one that never
                # joined the aliases carried no request, so it is removed at once, without a drain.
                if target["remove_id"] and target.get("quiet"):
                    engine.remove_quietly(target["remove_id"])
                elif target["remove_id"]:
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


def ensure_replicas(engine: Engine, plan: Mapping[str, Any], steps: List[Dict[str, Any]], image: str,
                    image_id: str) -> Dict[str, Any]:
    """After the last batch: every replica of the plan running, healthy and on ``image_id``.

    A replica that is not (killed, exited, unhealthy since its gate) is taken out of its aliases
    and replaced by a fresh copy on the target image, gated like any other; its step's ``new_id``
    follows, so that a rollback removes the copy. Returns ``ok``, ``before``, ``after``,
    ``replaced`` (names), ``lost`` (names not brought back) and a ``message``."""
    by_name = {s["name"]: s for s in steps}
    before = len(plan["containers"])
    replaced: List[str] = []
    lost: List[str] = []
    current = [by_name[e["name"]]["new_id"] if e["name"] in by_name else e["id"] for e in plan["containers"]]
    seen: Dict[str, Dict[str, Any]] = {}

    def read(container_id: str) -> None:
        seen[container_id] = engine.api.inspect_container(container_id)
    # Every replica read at once (one thread each): the check costs one inspect, not one per replica.
    errors = in_parallel(read, current)
    for entry, current_id, error in zip(plan["containers"], current, errors):
        step = by_name.get(entry["name"])
        if error is not None and not not_found(error):
            lost.append(entry["name"])
            continue
        attrs = seen.get(current_id)
        if attrs is not None and str(attrs.get("Image")) == image_id and \
                rollout_plan.engine_verdict(attrs, engine.params.get("wait_health", True))[0] == rollout_plan.PASS:
            continue
        template = attrs if attrs is not None else (step["original"] if step else None)
        if template is None:
            lost.append(entry["name"])
            continue
        try:
            if attrs is not None:
                engine.detach_aliases(current_id, template)
            deferred = engine.defer_aliases(template)
            new_id = engine.create(template, image, entry["name"], aliases=not deferred)
            if step:
                step["new_id"] = new_id
            engine.start(new_id)
            verdict, _why, _secs = engine.wait_gates([new_id])[new_id]
            if verdict != rollout_plan.PASS:
                engine.failing.append(new_id)
                lost.append(entry["name"])
                continue
            if deferred:
                engine.attach_aliases(new_id, template)
            replaced.append(entry["name"])
        except (DockerException, RequestException, OSError):
            lost.append(entry["name"])
    after = before - len(lost)
    message = "%d replica%s before, %d after" % (before, "" if before == 1 else "s", after)
    if lost:
        message += "; lost %s (not running and healthy on %s, and its replacement failed)" % (", ".join(lost), image)
    else:
        message += ", all running and healthy on %s" % image
    if replaced:
        message += "; replaced %s, which had died or failed since its gate" % ", ".join(replaced)
    return {"ok": not lost, "before": before, "after": after, "replaced": replaced, "lost": lost, "message": message}
