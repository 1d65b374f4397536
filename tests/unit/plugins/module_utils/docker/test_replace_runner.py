"""replace_runner's surge steps with a fake engine: the drain before the old replicas stop, the
parallel stops, the final replica check reading every replica, create on a name already taken."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.docker import replace_runner
from ansible_collections.runbook.ops.plugins.module_utils.docker.client import APIError


class Response:
    def __init__(self, code):
        self.status_code = code


class Api:
    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()
        self.taken = set()

    def _log(self, *call):
        with self.lock:
            self.calls.append(call)

    def stop(self, cid, timeout=None):
        self._log("stop", cid)

    def remove_container(self, cid, v=False, force=False):
        self._log("remove", cid)
        self.taken.discard(cid)

    def rename(self, cid, name):
        self._log("rename", cid, name)

    def create_container_from_config(self, spec, name=None):
        if name in self.taken:
            raise APIError("Conflict. The container name is already in use", response=Response(409))
        self.taken.add(name)
        self._log("create", name)
        return {"Id": "id-" + name}

    def inspect_container(self, cid):
        self._log("inspect", cid)
        running = {"Running": True, "Status": "running", "Health": {"Status": "healthy"}}
        return {"Id": cid, "Image": "sha256:new", "State": running}

    def inspect_image(self, ref):
        return {"Id": ref, "Config": {}}


class Client:
    def __init__(self):
        self.api = Api()


def _step(name):
    return {"name": name, "original": {"Id": "old-" + name, "Image": "sha256:old", "Config": {"Image": "demo:v1"}},
            "new_id": "new-" + name, "old_removed": False, "deferred": False, "attached": True}


def test_finish_wave_waits_for_the_drain_then_stops_every_old_replica_and_renames():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds
    engine = replace_runner.Engine(Client(), {"drain_seconds": 2, "stop_timeout": 10}, clock=lambda: now[0], sleep=sleep)
    engine.joined_at = 99.5                       # the first new replica joined half a second ago
    batch = [_step("api-1"), _step("api-2")]
    assert replace_runner.finish_wave(engine, batch) is None
    assert slept == [1.5]
    calls = engine.api.calls
    assert {c for c in calls if c[0] == "stop"} == {("stop", "old-api-1"), ("stop", "old-api-2")}
    assert [c for c in calls if c[0] == "rename"] == [("rename", "new-api-1", "api-1"), ("rename", "new-api-2", "api-2")]
    assert all(s["old_removed"] for s in batch)
    # Past the drain already (the gates took longer): no wait at all.
    slept.clear()
    engine.joined_at = 90.0
    assert replace_runner.finish_wave(engine, [_step("api-3")]) is None
    assert slept == []


def test_ensure_replicas_reads_every_replica_and_reports_them_all_healthy():
    engine = replace_runner.Engine(Client(), {})
    plan = {"containers": [{"name": "api-1", "id": "old-api-1", "action": "replace"},
                           {"name": "api-2", "id": "c2", "action": "skip"}]}
    outcome = replace_runner.ensure_replicas(engine, plan, [_step("api-1")], "demo:v2", "sha256:new")
    assert outcome["ok"] and outcome["before"] == outcome["after"] == 2
    assert sorted(c[1] for c in engine.api.calls if c[0] == "inspect") == ["c2", "new-api-1"]


@pytest.mark.parametrize("taken", [False, True])
def test_create_removes_a_container_of_the_same_name_only_when_the_name_is_taken(taken):
    engine = replace_runner.Engine(Client(), {})
    if taken:
        engine.api.taken.add("api-1-next")
    original = {"Id": "o" * 64, "Image": "sha256:old", "Config": {"Image": "demo:v1"},
                "HostConfig": {"NetworkMode": "none"}, "NetworkSettings": {"Networks": {}}}
    assert engine.create(original, "demo:v2", "api-1-next") == "id-api-1-next"
    removes = [c for c in engine.api.calls if c[0] == "remove"]
    assert removes == ([("remove", "api-1-next")] if taken else [])
