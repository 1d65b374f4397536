# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-service deploy lock, held by the Docker engine (decisions in ``lock_plan``).

``acquire()`` creates the lock container (created, never started, from an image the engine
already has) or raises ``LockHeld`` with the refusal; a stale lock is removed and taken over.
``release()`` removes it by ID, so a run only ever removes its own lock. ``peek()`` is for
check mode: it takes nothing and says whether a real run would be refused.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.docker import lock_plan
from ansible_collections.runbook.ops.plugins.module_utils.docker.client import (
    DockerException,
    RequestException,
    conflict,
    not_found,
)


class LockHeld(Exception):
    """Another run holds the lock; ``str()`` is the refusal."""


def _holder(client: Any, name: str) -> Optional[Tuple[str, Dict[str, str]]]:
    """``(id, labels)`` of the lock container called ``name``, or None."""
    try:
        attrs = client.api.inspect_container(name)
    except (DockerException, RequestException, OSError) as exc:
        if not_found(exc):
            return None
        raise
    return str(attrs.get("Id")), dict((attrs.get("Config") or {}).get("Labels") or {})


def acquire(client: Any, filters: Any, subject: str, image: str, owner: str, timeout: float,
            now: float) -> Tuple[str, str]:
    """Take the lock: ``(container_id, note)`` (the note says when a stale lock was taken over).

    Raises LockHeld when another run holds it; engine errors propagate."""
    selector = lock_plan.selector_key(filters)
    name = lock_plan.lock_name(subject, selector)
    labels = lock_plan.lock_labels(selector, subject, owner, now, timeout)
    note = ""
    for _attempt in range(3):
        try:
            created = client.api.create_container(image=image, name=name, labels=labels, command=["true"],
                                                  entrypoint=[], network_disabled=True)
            return str(created["Id"]), note
        except (DockerException, RequestException, OSError) as exc:
            if not conflict(exc):
                raise
        holder = _holder(client, name)
        if holder is None:
            continue  # released in between: try again
        holder_id, held = holder
        if not lock_plan.is_stale(held, now):
            raise LockHeld(lock_plan.refusal(subject, held, name))
        note = lock_plan.takeover_note(held)
        release(client, holder_id)
    raise LockHeld("deploy of %s: could not take the lock %s (it changed hands three times)" % (subject, name))


def release(client: Any, lock_id: Optional[str]) -> None:
    """Remove our lock container (by ID: never another run's)."""
    if not lock_id:
        return
    try:
        client.api.remove_container(lock_id, force=True)
    except (DockerException, RequestException, OSError) as exc:
        if not not_found(exc):
            raise


def peek(client: Any, filters: Any, subject: str, now: float) -> Tuple[Optional[str], str]:
    """Check mode: ``(refusal, note)``; refusal is None when a real run would get the lock."""
    selector = lock_plan.selector_key(filters)
    name = lock_plan.lock_name(subject, selector)
    holder = _holder(client, name)
    if holder is None:
        return None, ""
    if lock_plan.is_stale(holder[1], now):
        return None, "would take over a stale lock: " + lock_plan.takeover_note(holder[1])
    return lock_plan.refusal(subject, holder[1], name), ""
