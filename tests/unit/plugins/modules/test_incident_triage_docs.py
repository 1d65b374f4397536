"""DOCUMENTATION of incident_triage matches the argument spec its main() builds, its examples use
only documented options, and its attributes tell the truth (check mode full, the triage group)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.runbook.ops.plugins.module_utils.triage import argspec
from ansible_collections.runbook.ops.plugins.modules import incident_triage
from utils.module_docs import compare

ROOT = Path(__file__).resolve().parents[4]


def test_documentation_matches_the_argspec():
    doc = yaml.safe_load(incident_triage.DOCUMENTATION)
    assert doc["module"] == "incident_triage"
    spec = argspec.triage_argspec()["argument_spec"]
    compare(doc["options"], spec, "incident_triage")
    for task in yaml.safe_load(incident_triage.EXAMPLES):
        args = task.get("runbook.ops.incident_triage")
        if args is not None:
            assert set(args) <= set(spec), task["name"]


def test_secrets_are_no_log():
    spec = argspec.triage_argspec()["argument_spec"]
    assert spec["postgres"]["options"]["login_password"]["no_log"] is True
    assert spec["redis"]["options"]["login_password"]["no_log"] is True
    assert spec["kubernetes"]["options"]["api_key"]["no_log"] is True
    assert spec["upload"]["options"]["secret_key"]["no_log"] is True
    assert spec["redact"]["options"]["literals"]["no_log"] is True


def test_attributes_tell_the_truth():
    doc = yaml.safe_load(incident_triage.DOCUMENTATION)
    attributes = doc["attributes"]
    assert "runbook.ops.attributes" in doc["extends_documentation_fragment"]
    assert attributes["check_mode"]["support"] == "full" and attributes["diff_mode"]["support"] == "none"
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    groups = sorted("runbook.ops.%s" % g for g, members in runtime["action_groups"].items() if "incident_triage" in members)
    assert groups == ["runbook.ops.triage"]
    assert attributes["action_group"]["membership"] == groups
