"""Seed 002's incident report template, filled in from the triage."""

from __future__ import annotations

import json

from ansible_collections.runbook.ops.plugins.module_utils.triage import report_plan, timeline_plan
from ansible_collections.runbook.ops.plugins.module_utils.triage.classify_plan import classify

T0 = 1764661200.0


def test_incident_ids_count_up_per_day():
    assert report_plan.incident_id("2026-12-02", []) == "INC-2026-12-02-001"
    taken = ["INC-2026-12-02-001", "INC-2026-12-02-007", "INC-2026-12-01-042", "notes", "INC-2026-12-02-003-2"]
    assert report_plan.incident_id("2026-12-02", taken) == "INC-2026-12-02-008"
    assert report_plan.incident_id("2026-12-02", ["INC-2026-12-02-999"]) == "INC-2026-12-02-1000"


def _report():
    classification = classify({"redis": {"reachable": False, "error": "connection refused"}})
    timeline = [timeline_plan.event(T0, "alert", "alert", "alert: RedisDown")]
    collectors = [{"name": "redis", "status": "ok", "seconds": 0.01, "bytes": 10, "error": None},
                  {"name": "docker", "status": "failed", "seconds": 0.1, "bytes": 0, "error": "no socket | here"}]
    return report_plan.build("INC-2025-12-02-001", T0 + 3720, "compose_app", classification, timeline, collectors,
                             bundle={"path": "/x/INC-2025-12-02-001.tar.zst", "sha256": "ab"}, reporter="oncall")


def test_report_data():
    rep = _report()
    assert rep["severity"] == "P0" and rep["severity_name"] == "Critical" and rep["response_time"] == "15 minutes"
    assert rep["impact"]["duration"] == "1 hours 2 minutes so far (since the first event)"
    assert rep["impact"]["services_affected"] == ["redis"]
    assert rep["timeline"][-1]["kind"] == "triage" and rep["timeline"][0]["at"] == "2025-12-02T07:40:00.000Z"
    assert rep["collectors_failed"] == ["docker"]
    assert rep["root_cause"] == report_plan.PLACEHOLDER
    assert json.loads(report_plan.to_json(rep))["id"] == "INC-2025-12-02-001"


def test_the_triage_event_stays_last_when_an_event_came_after_its_start():
    """A container that restarted while the collectors read it (an event after ``now``): the
    timeline stays in time order, the triage last (a fresh-clone run caught it out of order)."""
    classification = classify({})
    timeline = [timeline_plan.event(T0, "docker", "start", "started"),
                timeline_plan.event(T0 + 0.5, "docker", "die", "exited 3")]
    rep = report_plan.build("INC-2025-12-02-002", T0 + 0.2, "compose_app", classification, timeline, [])
    times = [e["at"] for e in rep["timeline"]]
    assert times == sorted(times)
    assert rep["timeline"][-1]["kind"] == "triage"
    assert rep["timeline"][-1]["at"] == timeline_plan.iso(T0 + 0.5)


def test_markdown_follows_the_template():
    text = report_plan.to_markdown(_report())
    assert text.startswith("# Incident Report: INC-2025-12-02-001\n")
    order = ["## Summary", "### Evidence", "## Timeline", "## Root Cause", "## Impact", "## Resolution",
             "## Lessons Learned", "## Action Items", "## Collected"]
    positions = [text.index(h) for h in order]
    assert positions == sorted(positions)
    assert "- **2025-12-02 07:40:00** - alert: RedisDown" in text
    assert "- **P0** `redis.ping` (redis): Redis does not answer: connection refused" in text
    assert "- [x] Initial triage completed (this report, proposed severity P0)" in text
    assert "- [ ] Schedule the post-mortem within 48 hours" in text
    assert "| docker | failed | 0.1 | 0 | no socket \\| here |" in text
    assert "Bundle: `/x/INC-2025-12-02-001.tar.zst` (sha256 `ab`)" in text
