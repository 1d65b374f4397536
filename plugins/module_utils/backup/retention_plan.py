# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention, pure: which backups to keep and which to delete (times are passed in).

Whatever the rules say, the newest verified backup of a kind and database is never deleted.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan


DEFAULT_RULES = {
    "daily": {"keep_days": 30, "keep_count": None},
    "weekly": {"keep_days": 90, "keep_count": None},
    "monthly": {"keep_days": None, "keep_count": 12},
}


def normalize_rules(rules: Optional[Mapping[str, Any]]) -> Dict[str, Dict[str, Optional[float]]]:
    """Validate ``{kind: {keep_days, keep_count}}``; raise ValueError with a clear message."""
    result = {}
    for kind, rule in (rules if rules is not None else DEFAULT_RULES).items():
        catalog_plan.validate_part("kind", kind)
        if rule is None:
            rule = {}
        if not isinstance(rule, Mapping):
            raise ValueError("retention rule for %s must be a mapping with keep_days and/or keep_count" % kind)
        unknown = set(rule) - {"keep_days", "keep_count"}
        if unknown:
            raise ValueError("retention rule for %s has unknown keys: %s" % (kind, ", ".join(sorted(unknown))))
        days = rule.get("keep_days")
        count = rule.get("keep_count")
        try:
            days = None if days is None else float(days)
            count = None if count is None else int(count)
        except (TypeError, ValueError):
            raise ValueError("retention rule for %s: keep_days and keep_count must be numbers" % kind)
        if days is not None and days < 0:
            raise ValueError("retention rule for %s: keep_days must be >= 0" % kind)
        if count is not None and count < 1:
            raise ValueError("retention rule for %s: keep_count must be >= 1" % kind)
        result[kind] = {"keep_days": days, "keep_count": count}
    return result


def plan_retention(
    backups: Sequence[Mapping[str, Any]],
    rules: Mapping[str, Mapping[str, Any]],
    now: datetime.datetime,
) -> Tuple[List[str], List[str], Dict[str, str]]:
    """Decide which backups to keep and which to delete.

    Each backup is a mapping with ``name`` (unique), ``kind``, ``database``, ``timestamp``
    (aware datetime), ``complete`` (its manifest exists) and ``verified`` (True: checksum
    matches; False: corrupt; None: not checked).

    Per (kind, database), newest first:

    - kinds without a rule are kept;
    - an incomplete backup (no manifest) is deleted once it is older than the newest complete
      one, else kept (it may still be being written);
    - a complete backup is deleted when it is older than ``keep_days`` or not among the
      ``keep_count`` newest complete backups (both rules apply when both are set);
    - whatever the rules say, the newest verified backup is never deleted (when nothing was
      verified, the newest complete backup whose checksum was not checked is protected instead:
      a corrupt backup never protects anything).

    Returns ``(keep, delete, reasons)``: names, oldest first, and one reason per name.
    """
    rules = normalize_rules(rules)
    keep: List[str] = []
    delete: List[str] = []
    reasons: Dict[str, str] = {}
    groups: Dict[Tuple[str, str], List[Mapping[str, Any]]] = {}
    for item in backups:
        groups.setdefault((item["kind"], item["database"]), []).append(item)
    for (kind, _database), items in sorted(groups.items()):
        items = sorted(items, key=lambda b: (b["timestamp"], b["name"]), reverse=True)
        rule = rules.get(kind)
        complete = [b for b in items if b.get("complete")]
        newest_complete = complete[0]["timestamp"] if complete else None
        protected = next((b["name"] for b in complete if b.get("verified") is True), None)
        if protected is None:
            protected = next((b["name"] for b in complete if b.get("verified") is None), None)
        rank = 0
        for item in items:
            name = item["name"]
            age_days = (now - item["timestamp"]).total_seconds() / 86400.0
            if not item.get("complete"):
                if newest_complete is not None and item["timestamp"] < newest_complete:
                    delete.append(name)
                    reasons[name] = "incomplete (no manifest) and older than the newest complete backup"
                else:
                    keep.append(name)
                    reasons[name] = "incomplete (no manifest) but newer than any complete backup: may be in progress"
                continue
            rank += 1
            state = {True: "verified", False: "CORRUPT", None: "unchecked"}[item.get("verified")]
            if name == protected:
                keep.append(name)
                reasons[name] = "newest %s backup of %s: never deleted" % (state, kind)
                continue
            if rule is None:
                keep.append(name)
                reasons[name] = "no retention rule for kind %s" % kind
                continue
            why = []
            if rule["keep_days"] is not None and age_days > rule["keep_days"]:
                why.append("%.1f days old (keep %g days)" % (age_days, rule["keep_days"]))
            if rule["keep_count"] is not None and rank > rule["keep_count"]:
                why.append("number %d of %s (keep %d)" % (rank, kind, rule["keep_count"]))
            if why:
                delete.append(name)
                reasons[name] = "%s %s backup: %s" % (state, kind, "; ".join(why))
            else:
                keep.append(name)
                reasons[name] = "%s %s backup within retention (%.1f days old, number %d)" % (
                    state, kind, age_days, rank)
    order = {b["name"]: (b["timestamp"], b["name"]) for b in backups}
    keep.sort(key=lambda n: order[n])
    delete.sort(key=lambda n: order[n])
    return keep, delete, reasons


def freshness(newest: Optional[datetime.datetime], now: datetime.datetime) -> Optional[float]:
    """Age in seconds of the newest backup, None when there is none."""
    if newest is None:
        return None
    return max(0.0, (now - newest).total_seconds())


def newest_complete(backups: Iterable[Mapping[str, Any]]) -> Dict[Tuple[str, str], Mapping[str, Any]]:
    """Pure: the newest complete backup per (kind, database)."""
    newest: Dict[Tuple[str, str], Mapping[str, Any]] = {}
    for item in backups:
        if not item.get("complete"):
            continue
        key = (item["kind"], item["database"])
        if key not in newest or (item["timestamp"], item["name"]) > (newest[key]["timestamp"], newest[key]["name"]):
            newest[key] = item
    return newest
