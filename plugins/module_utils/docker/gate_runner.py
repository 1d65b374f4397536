# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gates of a Docker rolling deploy: is a new container ready to take traffic, and does it stay so?

``Gates.wait_gates(ids)`` probes new containers until each passes or fails its gate (the engine's
health verdict, then the HTTP gate), bounded by ``gate_timeout``; ``Gates.monitor(ids)`` keeps
probing them for ``monitor_seconds``. Both run on ``common.waiting.wait_for``. Between probes a
gate waits for the engine's events about its containers (``GateEvents``), so it sees a container
turn healthy at once instead of polling ``docker inspect``. Verdicts come from ``rollout_plan``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import queue
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.waiting import wait_for
from ansible_collections.runbook.ops.plugins.module_utils.docker import rollout_plan
from ansible_collections.runbook.ops.plugins.module_utils.docker.client import (
    DockerException,
    RequestException,
    api_error_message,
)
from ansible_collections.runbook.ops.plugins.module_utils.http.probe_runner import (
    EndpointError,
    fetch,
    normalize_endpoint,
)

# Engine events that can change a gate's verdict (health_status matches "health_status: <status>").
GATE_EVENTS = ("health_status", "die", "oom", "start", "restart", "destroy")


class GateEvents:
    """Wakes a gate as soon as the engine reports a health or state change of its containers, so
    that it does not have to poll ``docker inspect`` to see them. ``live`` is false when the
    engine's event stream is unavailable or ended: the gate polls instead."""

    def __init__(self, api: Any, container_ids: List[str], seconds: float):
        self.queue: "queue.Queue[Any]" = queue.Queue()
        self.stream: Any = None
        self.live = False
        if str(getattr(api, "base_url", "")).startswith(("http+docker://ssh", "ssh")):
            return  # the SDK cannot cancel a stream over SSH
        try:
            # ``until`` makes the engine end the stream even if it is never closed here.
            self.stream = api.events(filters={"type": "container", "container": list(container_ids),
                                              "event": list(GATE_EVENTS)},
                                     until=int(time.time() + seconds) + 5, decode=True)
        except (DockerException, RequestException, OSError, AttributeError, TypeError):
            return
        self.live = True
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for event in self.stream:
                self.queue.put(event)
        except Exception:  # pylint: disable=broad-exception-caught  # closed or broken: poll instead
            pass
        self.live = False
        self.queue.put(None)

    def wait(self, seconds: float) -> None:
        """Return after ``seconds``, or as soon as an event arrived (or the stream ended)."""
        try:
            self.queue.get(timeout=max(0.0, seconds))
        except queue.Empty:
            return
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # pylint: disable=broad-exception-caught  # already closed
                pass


def all_decided(pending: List[str]) -> bool:
    """Predicate of a gate wait: no container is left waiting for its verdict."""
    return not pending


def monitor_tripped(failed: bool) -> bool:
    """Predicate of a monitor period: enough probes failed to end it early."""
    return failed


class Gates:
    """Probes of new containers, with the clock and sleep injectable for tests."""

    def __init__(self, client: Any, params: Mapping[str, Any], clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.api = client.api
        self.params = params
        self.clock = clock
        self.sleep = sleep
        # Longest wait for the engine's events before a gate probes anyway (a safety net).
        self.idle_probe = 1.0
        # Containers whose probe failed during the last monitor period (taken out of their aliases first).
        self.failing: List[str] = []
        gate = params.get("http_gate") or None
        self.http_gate = dict(gate) if gate and gate.get("url") else None

    def http_probe(self, attrs: Mapping[str, Any]) -> Optional[Tuple[bool, str]]:
        """One HTTP gate request against this container: ``(passed, message)``; None without a gate."""
        if not self.http_gate:
            return None
        gate = self.http_gate
        try:
            url = rollout_plan.render_url(str(gate["url"]), attrs, gate.get("network"))
            endpoint = normalize_endpoint({
                "name": "gate", "url": url,
                "status_codes": gate.get("status_codes") or [200],
                "body_regex": gate.get("body_regex"),
                "timeout": gate.get("timeout") or 2.0,
                "validate_certs": gate.get("validate_certs", True),
            })
        except (rollout_plan.RolloutError, EndpointError) as exc:
            return False, str(exc)
        passed, message = rollout_plan.http_gate_verdict(endpoint, fetch(endpoint))
        return passed, "%s %s" % (endpoint["url"], message)

    def probe(self, container_id: str) -> Tuple[Tuple[str, str], Optional[Tuple[bool, str]], Dict[str, Any]]:
        attrs = self.api.inspect_container(container_id)
        engine = rollout_plan.engine_verdict(attrs, self.params.get("wait_health", True))
        http = self.http_probe(attrs) if engine[0] == rollout_plan.PASS else None
        return engine, http, attrs

    def wait_gates(self, container_ids: List[str], on_pass: Optional[Callable[[str], None]] = None
                   ) -> Dict[str, Tuple[str, str, float]]:
        """Probe until every container passes or fails its gate, or ``gate_timeout`` passes.

        Between probes it waits for the engine's events about the containers (a health status
        change, an exit): the probe follows a container becoming healthy at once, without
        polling ``docker inspect``. A container that is healthy but not yet answering its HTTP
        gate is probed every ``probe_interval``; without events every probe waits that long.

        ``on_pass(id)`` is called as soon as a container passed (the others still waiting); an engine
        error there fails that container's gate.

        Returns ``{id: (verdict, reason, seconds)}`` with verdict PASS or FAIL.
        """
        timeout = float(self.params.get("gate_timeout", 60))
        interval = float(self.params.get("probe_interval", 0.1))
        start = self.clock()
        pending = list(container_ids)
        done: Dict[str, Tuple[str, str, float]] = {}
        last: Dict[str, str] = {}
        http_waiting = [False]
        events = GateEvents(self.api, pending, timeout)

        def probe_pending() -> List[str]:
            http_waiting[0] = False
            for cid in list(pending):
                try:
                    engine, http, _attrs = self.probe(cid)
                    verdict, why = rollout_plan.gate_verdict(engine, http)
                except (DockerException, RequestException, OSError) as exc:
                    engine, verdict = (rollout_plan.FAIL, ""), rollout_plan.FAIL
                    why = "engine error: %s" % api_error_message(exc)
                if verdict == rollout_plan.PASS and on_pass is not None:
                    try:
                        on_pass(cid)
                    except (DockerException, RequestException, OSError) as exc:
                        verdict, why = rollout_plan.FAIL, "engine error after its gate: %s" % api_error_message(exc)
                last[cid] = why
                if verdict != rollout_plan.WAIT:
                    done[cid] = (verdict, why, self.clock() - start)
                    pending.remove(cid)
                elif engine[0] == rollout_plan.PASS:
                    http_waiting[0] = True
            return pending

        def pause() -> float:
            if not events.live:
                return interval
            return rollout_plan.gate_pause(interval, http_waiting[0], timeout, self.idle_probe)

        def rest(seconds: float) -> None:
            if events.live:
                events.wait(seconds)
            else:
                self.sleep(seconds)

        try:
            outcome = wait_for(probe_pending, all_decided, timeout, pause, now=self.clock, sleep=rest)
        finally:
            events.close()
        for cid in pending:
            done[cid] = (rollout_plan.FAIL, "gate timeout after %gs (last: %s)" % (timeout, last.get(cid, "no answer")),
                         outcome.elapsed)
        return done

    def monitor(self, container_ids: List[str], period: Optional[float] = None) -> Tuple[bool, int, int, str]:
        """Keep probing for ``period`` (default ``monitor_seconds``); ``(failed, probes, failures, last_failure)``.
        The containers whose probes failed are in ``self.failing`` afterwards."""
        period = float(self.params.get("monitor_seconds") or 0) if period is None else float(period)
        self.failing = []
        threshold = int(self.params.get("failure_threshold") or 1)
        tally = {"probes": 0, "failures": 0, "last": ""}
        if period <= 0 or not container_ids:
            return False, 0, 0, ""

        def probe_all_once() -> bool:
            for cid in container_ids:
                tally["probes"] += 1
                try:
                    engine, http, attrs = self.probe(cid)
                    reason = rollout_plan.probe_failure(engine, http)
                    who = rollout_plan.container_name(attrs)
                except (DockerException, RequestException, OSError) as exc:
                    reason, who = "engine error: %s" % api_error_message(exc), cid[:12]
                if reason:
                    if cid not in self.failing:
                        self.failing.append(cid)
                    tally["failures"] += 1
                    tally["last"] = "%s: %s" % (who, reason)
                    if rollout_plan.monitor_failed(tally["failures"], threshold):
                        return True
            return False

        outcome = wait_for(probe_all_once, monitor_tripped, period, float(self.params.get("probe_interval", 0.1)),
                           now=self.clock, sleep=self.sleep)
        return outcome.done, tally["probes"], tally["failures"], tally["last"]
