# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of the per-service deploy lock that the Docker engine holds.

A rollout takes the lock by creating (never starting) a small container whose name is derived
from the service's selector: the engine refuses a second container of that name, so of two
operators, on one controller or two, exactly one gets it. Its labels say who holds it
(``owner``), since when (``since``, seconds since the epoch) and for how long at most
(``timeout``); past that it is stale and the next run takes it over. Times are passed in.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import hashlib
import re
import time
from typing import Dict, Mapping, Optional, Sequence

LOCK_LABEL = "runbook.ops.lock"                # the service's selector (sorted label filters)
SUBJECT_LABEL = "runbook.ops.lock.subject"     # the service's short name (api)
OWNER_LABEL = "runbook.ops.lock.owner"         # user@host pid N, or the lock_owner option
SINCE_LABEL = "runbook.ops.lock.since"         # seconds since the epoch, when it was taken
TIMEOUT_LABEL = "runbook.ops.lock.timeout"     # seconds after which it is stale


def selector_key(filters: Sequence[str]) -> str:
    """One string for a service's label filters, the same whatever their order."""
    return ",".join(sorted(str(f) for f in filters))


def lock_name(subject: str, selector: str) -> str:
    """The lock container's name: readable, and unique per selector."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", subject).strip("-.") or "service"
    digest = hashlib.sha256(selector.encode("utf-8")).hexdigest()[:12]
    return "runbook-ops-lock-%s-%s" % (safe[:40], digest)


def lock_labels(selector: str, subject: str, owner: str, since: float, timeout: float) -> Dict[str, str]:
    return {LOCK_LABEL: selector, SUBJECT_LABEL: subject, OWNER_LABEL: owner,
            SINCE_LABEL: "%.3f" % since, TIMEOUT_LABEL: "%g" % timeout}


def default_owner(user: str, host: str, pid: int) -> str:
    return "%s@%s pid %d" % (user or "unknown", host or "unknown", pid)


def _number(labels: Mapping[str, str], key: str) -> Optional[float]:
    try:
        return float(labels.get(key, ""))
    except (TypeError, ValueError):
        return None


def since_text(labels: Mapping[str, str]) -> str:
    """When the lock was taken, in UTC (``2026-12-02 04:50:12 UTC``), or ``an unknown time``."""
    since = _number(labels, SINCE_LABEL)
    if since is None:
        return "an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))


def is_stale(labels: Mapping[str, str], now: float) -> bool:
    """Held longer than its own timeout. A lock without readable times is never stale: remove it
    by hand (``docker rm``) once its owner is known to be gone."""
    since, timeout = _number(labels, SINCE_LABEL), _number(labels, TIMEOUT_LABEL)
    if since is None or timeout is None:
        return False
    return now > since + timeout


def refusal(subject: str, labels: Mapping[str, str], name: str) -> str:
    """The message of a run that finds the lock held."""
    timeout = _number(labels, TIMEOUT_LABEL)
    return ("deploy of %s in progress since %s, by %s (lock container %s; stale after %s, or remove it with "
            "docker rm once that run is known to be gone)"
            % (subject, since_text(labels), labels.get(OWNER_LABEL) or "an unknown owner", name,
               "%gs" % timeout if timeout is not None else "never"))


def takeover_note(labels: Mapping[str, str]) -> str:
    return "took over a stale lock held by %s since %s (timeout %ss)" % (
        labels.get(OWNER_LABEL) or "an unknown owner", since_text(labels), labels.get(TIMEOUT_LABEL, "?"))
