"""state_runner: the state file read and written under an fcntl lock, atomically, by concurrent processes."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.notify import routing_plan, state_runner


def test_missing_file_is_an_empty_state_and_a_session_writes_it_0600(tmp_path):
    path = str(tmp_path / "sub" / "notify-state.json")
    assert state_runner.read(path) == routing_plan.empty_state()
    with state_runner.session(path) as box:
        box["state"]["alerts"]["k"] = {"failures": 1}
    assert json.loads(open(path).read())["alerts"] == {"k": {"failures": 1}}
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert not [p for p in os.listdir(tmp_path / "sub") if p.endswith(".tmp")]


@pytest.mark.parametrize("content", ["{not json", "[]", '{"schema": "other", "alerts": {}}'])
def test_a_foreign_or_broken_file_is_refused_and_left_in_place(tmp_path, content):
    path = tmp_path / "notify-state.json"
    path.write_text(content)
    with pytest.raises(state_runner.StateError) as err:
        with state_runner.session(str(path)):
            pass
    assert str(path) in str(err.value)
    assert path.read_text() == content


def test_a_session_that_raises_writes_nothing(tmp_path):
    path = str(tmp_path / "s.json")
    with pytest.raises(RuntimeError):
        with state_runner.session(path) as box:
            box["state"]["alerts"]["k"] = {}
            raise RuntimeError("boom")
    assert not os.path.exists(path)


def test_the_lock_wait_is_bounded(tmp_path):
    path = str(tmp_path / "s.json")
    slept = []
    with state_runner.locked(path):
        # a second holder in another open file description cannot get it
        with pytest.raises(state_runner.StateError) as err:
            with state_runner.locked(path, timeout=0.2, sleep=slept.append):
                pass
    assert "stayed locked" in str(err.value)
    assert slept  # it waited through the one wait helper, with the given sleep


def _bump(path, times):
    for _time in range(times):
        with state_runner.session(path) as box:
            alerts = box["state"]["alerts"]
            entry = alerts.setdefault("counter", {"failures": 0})
            value = entry["failures"]
            os.sched_yield()
            entry["failures"] = value + 1


def test_concurrent_processes_lose_no_update(tmp_path):
    path = str(tmp_path / "notify-state.json")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_bump, args=(path, 25)) for _proc in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert state_runner.read(path)["alerts"]["counter"]["failures"] == 100
