# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state file of the open alerts: read, changed and written under one lock.

Two runs that end at the same time both read, send and write the state. Each holds an exclusive
``fcntl`` lock on ``<state file>.lock`` from the read to the write, so the second run sees what the
first one sent (the open alerts, Slack's message ``ts``) and neither overwrites the other; the
file itself is replaced atomically (temporary file, fsync, rename), so a reader or a crash never
sees half of it. The lock is waited for with the collection's one wait helper, bounded.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import contextlib
import fcntl
import json
import os
import time
from typing import Any, Callable, Dict, Iterator, Optional

from ansible_collections.runbook.ops.plugins.module_utils.common import waiting
from ansible_collections.runbook.ops.plugins.module_utils.common.fileio import atomic_write
from ansible_collections.runbook.ops.plugins.module_utils.notify import routing_plan


class StateError(Exception):
    """The state file could not be locked, read or written."""


def read(path: str) -> Dict[str, Any]:
    """The state in ``path``; an empty state when there is none yet.

    A file that is not a state (unreadable JSON, another schema) raises :class:`StateError`:
    it is left where it is for a person to look at, never silently replaced.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return routing_plan.empty_state()
    except OSError as exc:
        raise StateError("cannot read the state file %s: %s" % (path, exc.strerror or exc)) from None
    try:
        data = json.loads(text) if text.strip() else routing_plan.empty_state()
    except ValueError:
        raise StateError("the state file %s is not JSON; move it away to start afresh" % path) from None
    if not isinstance(data, dict) or data.get("schema") != routing_plan.STATE_SCHEMA or \
            not isinstance(data.get("alerts"), dict):
        raise StateError("the state file %s is not a %s file" % (path, routing_plan.STATE_SCHEMA))
    return data


def write(path: str, state: Dict[str, Any]) -> None:
    """Replace the state file atomically (0600: it names hosts and checks, and Slack's channel)."""
    atomic_write(path, json.dumps(state, indent=2, sort_keys=True) + "\n", mode=0o600, sync_dir=True)


@contextlib.contextmanager
def locked(path: str, timeout: float = 120.0, sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (``<path>.lock``), waiting at most ``timeout`` seconds."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateError("cannot create the lock of the state file %s: %s" % (path, exc.strerror or exc)) from None

    def attempt() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    try:
        outcome = waiting.wait_for(attempt, bool, timeout, 0.05, sleep=sleep)
        if not outcome.done:
            raise StateError("the state file %s stayed locked by another run for %ss" % (path, timeout))
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def session(path: str, write_back: bool = True, timeout: float = 120.0,
            sleep: Callable[[float], None] = time.sleep) -> Iterator[Dict[str, Any]]:
    """Lock, read, hand out the state to change in place, and write it back (when ``write_back``)."""
    with locked(path, timeout=timeout, sleep=sleep):
        state = read(path)
        box: Dict[str, Any] = {"state": state}
        yield box
        if write_back:
            try:
                write(path, box["state"])
            except OSError as exc:
                raise StateError("cannot write the state file %s: %s" % (path, exc.strerror or exc)) from None


def default_path(report_dir: Optional[str]) -> str:
    """``<report_dir>/notify-state.json``."""
    return os.path.join(os.path.abspath(report_dir or "./reports"), "notify-state.json")
