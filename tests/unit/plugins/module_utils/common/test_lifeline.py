"""common.lifeline: a wait notices that the task which started the module is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline


def fake_proc(root: Path, pid: int, ppid: int, start: str, state: str = "S", comm: str = "sh") -> None:
    (root / str(pid)).mkdir(parents=True, exist_ok=True)
    rest = [state, str(ppid)] + ["0"] * 17 + [start, "0", "0"]
    (root / str(pid) / "stat").write_text("%d (%s) %s\n" % (pid, comm, " ".join(rest)))


def test_ancestors_walk_up_to_pid_1(tmp_path):
    fake_proc(tmp_path, 40, 30, "400", comm="python3 (module)")
    fake_proc(tmp_path, 30, 20, "300")
    fake_proc(tmp_path, 20, 1, "200", comm="ansible-playbook")
    fake_proc(tmp_path, 1, 0, "1")
    assert lifeline.ancestors(40, proc=str(tmp_path)) == [(30, "300"), (20, "200")]


def test_attached_until_an_ancestor_dies_turns_zombie_or_its_pid_is_reused(tmp_path):
    fake_proc(tmp_path, 30, 20, "300")
    fake_proc(tmp_path, 20, 1, "200")
    chain = [(30, "300"), (20, "200")]
    assert lifeline.attached(chain, str(tmp_path))
    fake_proc(tmp_path, 20, 1, "200", state="Z")
    assert not lifeline.attached(chain, str(tmp_path))
    fake_proc(tmp_path, 20, 1, "999")
    assert not lifeline.attached(chain, str(tmp_path))
    (tmp_path / "20" / "stat").unlink()
    assert not lifeline.attached(chain, str(tmp_path))


def test_guarded_sleep_raises_once_the_task_is_gone(tmp_path):
    fake_proc(tmp_path, 20, 1, "200")
    slept = []
    pause = lifeline.guarded(slept.append, chain=[(20, "200")], proc=str(tmp_path))
    pause(0.5)
    assert slept == [0.5]
    (tmp_path / "20" / "stat").unlink()
    with pytest.raises(lifeline.TaskGone, match="stopped waiting"):
        pause(0.5)
    assert slept == [0.5]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_a_real_wait_ends_when_its_grandparent_is_killed(tmp_path):
    # middle (a shell that stays, as `sh -c` does under Ansible) -> waiter; killing the
    # process above the shell must end the waiter's long wait within a few seconds.
    marker = tmp_path / "ended"
    waiter = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, %r)
        from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline, waiting
        try:
            waiting.wait_for(lambda: None, lambda v: False, 3000, 0.1, sleep=lifeline.guarded())
        except lifeline.TaskGone:
            open(%r, "w").write("gone")
    """) % (str(Path(lifeline.__file__).parents[6]), str(marker))
    script = tmp_path / "waiter.py"
    script.write_text(waiter)
    top = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import subprocess, sys, time
        subprocess.Popen(["/bin/sh", "-c", "%s %s && sleep 0"])
        time.sleep(600)
    """ % (sys.executable, script))])
    try:
        time.sleep(1.5)
        top.kill()
        top.wait()
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.read_text() == "gone"
    finally:
        if top.poll() is None:
            top.kill()
