# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's waits die with its task.

A module runs under a chain of processes (``ansible-playbook``, its worker, ``sh -c``, or
``sshd`` on a remote host). When the task is killed, the module's own parent (``sh``) often
lives on, so ``os.getppid()`` alone cannot tell. ``ancestors()`` records every process above
this one with its start time (``/proc/<pid>/stat``); ``attached(chain)`` is false as soon as
one of them is gone, a zombie or replaced by a new process with the same pid.

``guarded(sleep)`` wraps the pause of a ``common.waiting`` wait: before and after each pause
it raises ``TaskGone`` when the task is gone, so a long wait ends within one interval (plus one
probe's own timeout) of the kill. ``MAX_WAIT_SECONDS`` is the longest wait an option may ask for.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import time
from typing import Callable, List, Optional, Tuple

MAX_WAIT_SECONDS = 3600.0

Ancestor = Tuple[int, Optional[str]]


class TaskGone(Exception):
    """The process chain that started this module is gone: stop waiting."""


def proc_stat(pid: int, proc: str = "/proc") -> Optional[Tuple[str, int, str]]:
    """(state, ppid, start time) of a process from ``/proc/<pid>/stat``, or None when it is gone."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), "r", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # the command name may hold spaces and parentheses
    if len(fields) < 20:
        return None
    return fields[0], int(fields[1]), fields[19]


def ancestors(pid: Optional[int] = None, proc: str = "/proc") -> List[Ancestor]:
    """Every process above ``pid`` (this process) up to, not including, pid 1: (pid, start time).
    Without ``/proc`` only the parent is known, with no start time."""
    pid = os.getpid() if pid is None else pid
    if not os.path.isdir(proc):
        return [(os.getppid(), None)]
    chain: List[Ancestor] = []
    stat = proc_stat(pid, proc)
    while stat is not None and stat[1] > 1 and len(chain) < 64:
        parent = stat[1]
        stat = proc_stat(parent, proc)
        if stat is None:
            break
        chain.append((parent, stat[2]))
    return chain


def attached(chain: List[Ancestor], proc: str = "/proc") -> bool:
    """True while every recorded ancestor still runs (same pid, same start time, not a zombie)."""
    for pid, started in chain:
        if started is None:
            if os.getppid() != pid:
                return False
            continue
        stat = proc_stat(pid, proc)
        if stat is None or stat[0] in ("Z", "X", "x") or stat[2] != started:
            return False
    return True


def guarded(sleep: Callable[[float], None] = time.sleep, chain: Optional[List[Ancestor]] = None,
            proc: str = "/proc") -> Callable[[float], None]:
    """A ``sleep`` for ``waiting.wait_for`` that raises TaskGone once the task is gone."""
    watched = ancestors(proc=proc) if chain is None else chain

    def pause(seconds: float) -> None:
        if not attached(watched, proc):
            raise TaskGone("the task that started this module is gone (killed?): stopped waiting")
        sleep(seconds)
        if not attached(watched, proc):
            raise TaskGone("the task that started this module is gone (killed?): stopped waiting")

    return pause
