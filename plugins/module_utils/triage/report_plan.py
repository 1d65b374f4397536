# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident report of seed 002 ("Incident Report Template"), as Markdown and as JSON.

Pure: ``incident_id(date, taken)`` picks the next ``INC-YYYY-MM-DD-XXX``; ``build(...)`` makes
the report's data (summary, proposed severity with its evidence, impact, timeline, root cause
placeholder, resolution, lessons learned, action items, what was collected); ``to_markdown`` and
``to_json`` render it, ready to paste into a ticket. What only a person can know (root cause,
users and revenue affected, the resolution) stays a visible placeholder.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import json
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from ansible_collections.runbook.ops.plugins.module_utils.triage import timeline_plan

SCHEMA = "runbook.ops/incident/v1"
ID_PATTERN = re.compile(r"^INC-(\d{4}-\d{2}-\d{2})-(\d{3,})$")
PLACEHOLDER = "_to be completed by the incident owner_"


def incident_id(date: str, taken: Iterable[str]) -> str:
    """The next free ``INC-<date>-NNN`` (001 first) given the ids already used."""
    highest = 0
    for name in taken:
        match = ID_PATTERN.match(name)
        if match and match.group(1) == date:
            highest = max(highest, int(match.group(2)))
    return "INC-%s-%03d" % (date, highest + 1)


def _minutes(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return "%d hours %d minutes" % (hours, rest // 60) if hours else "%d minutes %d seconds" % divmod(rest, 60)


def build(incident: str, now: float, platform: str, classification: Mapping[str, Any],
          timeline: Sequence[Mapping[str, Any]], collectors: Sequence[Mapping[str, Any]],
          bundle: Optional[Mapping[str, Any]] = None, reporter: str = "",
          started: Optional[float] = None) -> Dict[str, Any]:
    """The report's data; ``started`` defaults to the first event of the timeline."""
    first = started if started is not None else (timeline[0]["time"] if timeline else now)
    severity = classification["severity"]
    failed = [c for c in collectors if c.get("status") != "ok"]
    events = [{"at": e["at"], "source": e["source"], "kind": e["kind"], "message": e["message"]} for e in timeline]
    # The triage comes last: an event the collectors saw after ``now`` (a container restarting
    # while it was being read) must not come after it.
    ran = max([now] + [e["time"] for e in timeline if "time" in e])
    events.append({"at": timeline_plan.iso(ran), "source": "triage", "kind": "triage",
                   "message": "triage ran: proposed severity %s" % severity})
    return {
        "schema": SCHEMA,
        "id": incident,
        "title": "Incident Report: %s" % incident,
        "platform": platform,
        "reporter": reporter,
        "status": "Investigating",
        "severity": severity,
        "severity_name": classification.get("name"),
        "response_time": classification.get("response_time"),
        "started": timeline_plan.iso(first),
        "triaged": timeline_plan.iso(now),
        "summary": classification.get("summary", ""),
        "evidence": list(classification.get("evidence") or []),
        "impact": {
            "duration": "%s so far (since the first event)" % _minutes(now - first),
            "services_affected": list(classification.get("services") or []),
            "users_affected": PLACEHOLDER,
            "revenue_impact": PLACEHOLDER,
        },
        "timeline": events,
        "root_cause": PLACEHOLDER,
        "resolution": PLACEHOLDER,
        "lessons_learned": PLACEHOLDER,
        "action_items": [
            {"done": True, "text": "Acknowledged alert"},
            {"done": True, "text": "Initial triage completed (this report, proposed severity %s)" % severity},
            {"done": False, "text": "Team notified (%s: respond within %s)" % (severity, classification.get("response_time"))},
            {"done": False, "text": "Detailed investigation"},
            {"done": False, "text": "Implement mitigation"},
            {"done": False, "text": "Monitor and verify fix"},
            {"done": False, "text": "Schedule the post-mortem within 48 hours" if severity in ("P0", "P1")
             else "Review at the next runbook review"},
        ],
        "collectors": [dict(c) for c in collectors],
        "collectors_failed": [c.get("name") for c in failed],
        "bundle": dict(bundle or {}),
    }


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _minute(at: str) -> str:
    """``2026-12-02 07:41:03`` from the ISO form (the template's YYYY-MM-DD HH:MM, with seconds)."""
    return at[:19].replace("T", " ")


def to_markdown(report: Mapping[str, Any]) -> str:
    """The seed's template, filled in."""
    lines: List[str] = ["# %s" % report["title"], ""]
    lines += ["**Incident ID:** %s  " % report["id"],
              "**Severity:** %s (%s, respond within %s), proposed by triage  " % (
                  report["severity"], report.get("severity_name"), report.get("response_time")),
              "**Status:** %s  " % report["status"],
              "**Started:** %s UTC  " % _minute(report["started"]),
              "**Platform:** %s  " % (report.get("platform") or "n/a")]
    if report.get("reporter"):
        lines.append("**Reporter:** %s  " % report["reporter"])
    lines += ["", "## Summary", report.get("summary") or "Nothing urgent found.", ""]
    lines += ["### Evidence"]
    if report.get("evidence"):
        lines += ["- **%s** `%s` (%s): %s" % (e["severity"], e["name"], e["source"], e["message"]) for e in report["evidence"]]
    else:
        lines.append("- no failing check, no crash loop, no blocked session")
    lines += ["", "## Timeline"]
    lines += ["- **%s** - %s" % (_minute(e["at"]), e["message"]) for e in report["timeline"]]
    lines += ["- **YYYY-MM-DD HH:MM** - Root cause identified", "- **YYYY-MM-DD HH:MM** - Fix implemented",
              "- **YYYY-MM-DD HH:MM** - Incident resolved", ""]
    impact = report["impact"]
    lines += ["## Root Cause", report["root_cause"], "", "## Impact",
              "- Duration: %s" % impact["duration"],
              "- Services affected: %s" % (", ".join(impact["services_affected"]) or "none found"),
              "- Users affected: %s" % impact["users_affected"],
              "- Revenue impact: %s" % impact["revenue_impact"], "",
              "## Resolution", report["resolution"], "",
              "## Lessons Learned", "- What went well: %s" % PLACEHOLDER, "- What could be improved: %s" % PLACEHOLDER,
              "- Action items for prevention: %s" % PLACEHOLDER, "", "## Action Items"]
    lines += ["- [%s] %s" % ("x" if a["done"] else " ", a["text"]) for a in report["action_items"]]
    lines += ["", "## Collected", "", "| collector | status | seconds | bytes | note |", "|---|---|---|---|---|"]
    for item in report["collectors"]:
        cells = [item.get("name"), item.get("status"), item.get("seconds"), item.get("bytes"), item.get("error") or ""]
        lines.append("| %s |" % " | ".join(_cell(c) for c in cells))
    bundle = report.get("bundle") or {}
    if bundle.get("path"):
        lines += ["", "Bundle: `%s` (sha256 `%s`)" % (bundle["path"], bundle.get("sha256") or "n/a")]
    return "\n".join(lines) + "\n"


def to_json(report: Mapping[str, Any]) -> str:
    """The report as indented JSON."""
    return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"
