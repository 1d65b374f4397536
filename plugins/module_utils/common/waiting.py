# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one wait/poll helper of runbook.ops: a bounded clock and a predicate.

Every module that waits for something (a Deployment's rollout, a container's gate, an HTTP
answer after a switch) does it the same way::

    outcome = wait_for(read_deployment, rollout_finished, timeout=300, interval=2)
    if not outcome.done: ...   # timed out; outcome.value is the last thing read

``read_deployment`` does the I/O of one attempt and returns what it saw; the predicate
(``rollout_finished``) is a small named function that decides from that value alone.
``clock()`` is the loop underneath: it yields at once, then after each pause, and stops at
the deadline, so no wait is ever unbounded. The time functions are parameters so that tests
run without sleeping.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from typing import Any, Callable, Iterator, NamedTuple, Union

Interval = Union[float, Callable[[], float]]


class WaitOutcome(NamedTuple):
    """What a wait ended with: ``done`` (the predicate held), the last ``value`` read, the
    ``elapsed`` seconds and how many ``attempts`` were made."""

    done: bool
    value: Any
    elapsed: float
    attempts: int


def clock(timeout: float, interval: Interval, now: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[float]:
    """Yield the seconds elapsed since the start: first at once, then after each pause, until
    ``timeout`` seconds have passed (one last yield comes at the deadline, never after a pause
    that would cross it).

    ``interval`` is the pause in seconds, or a function that returns the next pause (a wait
    whose pace changes while it runs). ``sleep`` may return early (a wait that wakes on an
    event); the clock only cares that it returns.
    """
    timeout = max(0.0, float(timeout))
    start = now()
    while True:
        yield now() - start
        remaining = timeout - (now() - start)
        if remaining <= 0:
            return
        pause = interval() if callable(interval) else interval
        sleep(max(0.0, min(float(pause), remaining)))


def wait_for(probe: Callable[[], Any], predicate: Callable[[Any], bool], timeout: float, interval: Interval,
             now: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> WaitOutcome:
    """Call ``probe()`` until ``predicate(value)`` is true or ``timeout`` seconds pass.

    Exceptions of ``probe`` propagate (the caller decides whether an error ends the wait or
    is a value its predicate judges).
    """
    start = now()
    value: Any = None
    attempts = 0
    for _elapsed in clock(timeout, interval, now=now, sleep=sleep):
        attempts += 1
        value = probe()
        if predicate(value):
            return WaitOutcome(True, value, now() - start, attempts)
    return WaitOutcome(False, value, now() - start, attempts)
