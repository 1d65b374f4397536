"""docker/lock_runner.py against a fake engine: one container name, so one holder."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from docker.errors import APIError, NotFound

from ansible_collections.runbook.ops.plugins.module_utils.docker import lock_plan, lock_runner

FILTERS = ["com.docker.compose.project=shop", "com.docker.compose.service=api"]


class FakeApi:
    """Containers by name, as the engine keeps them: a second create of a name is a 409."""

    def __init__(self):
        self.by_name = {}
        self.created = 0

    def create_container(self, image, name, labels, **_kwargs):
        if name in self.by_name:
            raise APIError("Conflict", response=SimpleNamespace(status_code=409))
        self.created += 1
        cid = "id%d" % self.created
        self.by_name[name] = {"Id": cid, "Image": image, "Config": {"Labels": dict(labels)}}
        return {"Id": cid}

    def inspect_container(self, name):
        if name not in self.by_name:
            raise NotFound("no such container", response=SimpleNamespace(status_code=404))
        return self.by_name[name]

    def remove_container(self, cid, force=False):
        assert force
        for name, attrs in list(self.by_name.items()):
            if attrs["Id"] == cid:
                del self.by_name[name]
                return
        raise NotFound("no such container", response=SimpleNamespace(status_code=404))


def client():
    return SimpleNamespace(api=FakeApi())


def test_one_holder_and_a_clear_refusal_then_released_by_id():
    engine = client()
    lock_id, note = lock_runner.acquire(engine, FILTERS, "api", "sha256:1", "a@ctl-1 pid 1", 3600, now=1000.0)
    assert note == "" and len(engine.api.by_name) == 1
    with pytest.raises(lock_runner.LockHeld) as info:
        lock_runner.acquire(engine, list(reversed(FILTERS)), "api", "sha256:1", "b@ctl-2 pid 2", 3600, now=1010.0)
    assert str(info.value).startswith("deploy of api in progress since 1970-01-01 00:16:40 UTC, by a@ctl-1 pid 1")
    refusal, _note = lock_runner.peek(engine, FILTERS, "api", now=1010.0)
    assert refusal and "a@ctl-1" in refusal
    lock_runner.release(engine, lock_id)
    assert engine.api.by_name == {}
    lock_runner.release(engine, lock_id)          # already gone: not an error
    assert lock_runner.peek(engine, FILTERS, "api", now=1010.0) == (None, "")


def test_a_stale_lock_is_taken_over_and_said():
    engine = client()
    lock_runner.acquire(engine, FILTERS, "api", "sha256:1", "dead@ctl-1 pid 1", 60, now=1000.0)
    assert "would take over a stale lock" in lock_runner.peek(engine, FILTERS, "api", now=2000.0)[1]
    lock_id, note = lock_runner.acquire(engine, FILTERS, "api", "sha256:1", "b@ctl-2 pid 2", 60, now=2000.0)
    assert "took over a stale lock held by dead@ctl-1 pid 1" in note
    (held,) = engine.api.by_name.values()
    assert held["Id"] == lock_id and held["Config"]["Labels"][lock_plan.OWNER_LABEL] == "b@ctl-2 pid 2"
