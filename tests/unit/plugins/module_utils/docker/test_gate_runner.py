"""gate_runner: the gate of runbook.ops docker rollouts: it follows the engine's events instead of polling."""

from __future__ import annotations

import threading
import time

from ansible_collections.runbook.ops.plugins.module_utils.docker import gate_runner
from ansible_collections.runbook.ops.plugins.module_utils.docker import rollout_plan

CID = "c" * 64


class Stream:
    """A cancellable event stream: yields what ``push`` puts, ends on ``close``."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()
        self.closed = False

    def push(self, event):
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def __iter__(self):
        while True:
            with self.cond:
                while not self.items and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
                item = self.items.pop(0)
            yield item

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def state(health):
    return {"Id": CID, "Name": "/proj-api-1-next",
            "State": {"Status": "running", "Running": True, "Health": {"Status": health, "Log": []}},
            "NetworkSettings": {"Networks": {"proj_default": {"IPAddress": "172.20.0.9"}}}}


class Api:
    """The engine: the container turns healthy when ``heal`` is called, and says so as an event."""

    base_url = "http+docker://localhost"

    def __init__(self, with_events=True):
        self.health = "starting"
        self.inspects = 0
        self.stream = Stream()
        self.with_events = with_events
        self.filters = None

    def inspect_container(self, cid):
        self.inspects += 1
        return state(self.health)

    def events(self, filters=None, until=None, decode=False):
        if not self.with_events:
            raise AttributeError("events")
        self.filters = filters
        return self.stream

    def heal(self):
        self.health = "healthy"
        self.stream.push({"id": CID, "status": "health_status: healthy"})


class Client:
    def __init__(self, api):
        self.api = api


def params(**extra):
    base = {"gate_timeout": 10, "probe_interval": 0.1, "wait_health": True, "http_gate": None}
    base.update(extra)
    return base


def test_gate_passes_as_soon_as_the_engine_reports_healthy_without_polling():
    api = Api()
    engine = gate_runner.Gates(Client(api), params(probe_interval=5.0, gate_timeout=60))
    engine.idle_probe = 30.0  # only the event can wake the gate before 30 s
    timer = threading.Timer(0.3, api.heal)
    timer.start()
    began = time.monotonic()
    verdict, why, seconds = engine.wait_gates([CID])[CID]
    took = time.monotonic() - began
    timer.join()
    assert (verdict, why) == (rollout_plan.PASS, "healthy")
    # Woken by the event, not by the probe interval or the idle wait; one inspect before and one after it.
    assert took < 5 and seconds < 5
    assert api.inspects == 2
    assert api.filters["container"] == [CID] and "health_status" in api.filters["event"]
    assert api.stream.closed


def test_gate_polls_every_probe_interval_without_an_event_stream():
    api = Api(with_events=False)
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        if len(slept) == 3:
            api.health = "healthy"

    engine = gate_runner.Gates(Client(api), params(probe_interval=0.25), sleep=sleep)
    verdict, why, _seconds = engine.wait_gates([CID])[CID]
    assert (verdict, why) == (rollout_plan.PASS, "healthy")
    assert slept == [0.25, 0.25, 0.25]
    assert api.inspects == 4


def test_gate_fails_at_once_when_the_container_turns_unhealthy():
    api = Api()
    engine = gate_runner.Gates(Client(api), params(gate_timeout=60))
    engine.idle_probe = 30.0

    def sicken():
        api.health = "unhealthy"
        api.stream.push({"id": CID, "status": "health_status: unhealthy"})

    timer = threading.Timer(0.2, sicken)
    timer.start()
    verdict, why, seconds = engine.wait_gates([CID])[CID]
    timer.join()
    assert verdict == rollout_plan.FAIL and why.startswith("unhealthy")
    assert seconds < 5


def test_gate_times_out_with_the_last_reason():
    api = Api()
    engine = gate_runner.Gates(Client(api), params(gate_timeout=0.3))
    verdict, why, seconds = engine.wait_gates([CID])[CID]
    assert verdict == rollout_plan.FAIL
    assert why == "gate timeout after 0.3s (last: health starting)"
    assert 0.3 <= seconds < 5


class FakeTime:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


def test_monitor_probes_for_its_period_and_is_bounded():
    api = Api(with_events=False)
    api.health = "healthy"
    fake = FakeTime()
    gates = gate_runner.Gates(Client(api), params(monitor_seconds=1.0, probe_interval=0.3, failure_threshold=1),
                              clock=fake.now, sleep=fake.sleep)
    assert gates.monitor([CID]) == (False, 5, 0, "")
    assert [round(s, 6) for s in fake.sleeps] == [0.3, 0.3, 0.3, 0.1]


def test_monitor_stops_at_the_failure_threshold():
    api = Api(with_events=False)
    api.health = "unhealthy"
    fake = FakeTime()
    gates = gate_runner.Gates(Client(api), params(monitor_seconds=60, probe_interval=1, failure_threshold=2),
                              clock=fake.now, sleep=fake.sleep)
    failed, probes, failures, last = gates.monitor([CID])
    assert (failed, probes, failures) == (True, 2, 2)
    assert last.startswith("proj-api-1-next: unhealthy")
    assert fake.sleeps == [1]


def test_monitor_without_a_period_probes_nothing():
    api = Api(with_events=False)
    gates = gate_runner.Gates(Client(api), params(monitor_seconds=0))
    assert gates.monitor([CID]) == (False, 0, 0, "")
    assert api.inspects == 0


def test_on_pass_runs_as_soon_as_a_container_passes_and_an_engine_error_there_fails_its_gate():
    from ansible_collections.runbook.ops.plugins.module_utils.docker.client import DockerException

    api = Api(with_events=False)
    api.health = "healthy"
    called = []
    engine = gate_runner.Gates(Client(api), params(), sleep=lambda s: None)
    verdict, _why, _seconds = engine.wait_gates([CID], on_pass=called.append)[CID]
    assert verdict == rollout_plan.PASS and called == [CID]

    def broken(_cid):
        raise DockerException("network connect refused")
    verdict, why, _seconds = engine.wait_gates([CID], on_pass=broken)[CID]
    assert verdict == rollout_plan.FAIL and "engine error after its gate: network connect refused" in why
