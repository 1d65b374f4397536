"""DOCUMENTATION of the check modules matches the argument spec their main() builds, exactly."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from utils.module_docs import compare

FRAGMENTS = "ansible_collections.runbook.ops.plugins.doc_fragments."


class _Built(Exception):
    """Raised by the stand-in AnsibleModule once main() has handed it the spec."""


def built_spec(module, monkeypatch):
    """The keyword arguments main() passes to AnsibleModule (the spec and its rules)."""
    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        raise _Built()

    monkeypatch.setattr(module, "AnsibleModule", capture)
    # (No arguments: main() reads the raw ones before it builds the module.)
    with pytest.raises(_Built), patch_module_args({}):
        module.main()
    return seen


def documented_options(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = {}
    for fragment in doc.get("extends_documentation_fragment", []):
        name = fragment[len("runbook.ops."):]
        fragment_doc = yaml.safe_load(importlib.import_module(FRAGMENTS + name).ModuleDocFragment.DOCUMENTATION)
        options.update(fragment_doc.get("options") or {})
    options.update(doc["options"])
    return doc, options


@pytest.mark.parametrize("name", ["host_check", "log_check", "container_check", "http_check", "tls_check", "redis_check"])
def test_documentation_matches_argument_spec(name, monkeypatch):
    module = importlib.import_module("ansible_collections.runbook.ops.plugins.modules." + name)
    spec = built_spec(module, monkeypatch)
    assert spec.get("supports_check_mode") is True
    doc, options = documented_options(module)
    assert doc["module"] == name
    assert doc["version_added"] == "0.1.0"
    assert doc["author"] == "runbook.ops contributors (@runbook-ops)"
    compare(options, spec["argument_spec"], name)
    returned = yaml.safe_load(module.RETURN)
    assert {"status", "severity", "summary", "checks", "metrics", "schema", "changed"} <= set(returned)
    examples = yaml.safe_load(module.EXAMPLES)
    for task in examples:
        args = task["runbook.ops." + name] or {}
        assert set(args) <= set(options), task["name"]


RUNTIME = Path(__file__).resolve().parents[4] / "meta" / "runtime.yml"


@pytest.mark.parametrize("name", ["host_check", "log_check", "http_check", "tls_check", "redis_check", "health_gate"])
def test_attributes_tell_the_truth(name):
    """check_mode is full (read-only checks), no diff, and action_group lists exactly the groups of meta/runtime.yml."""
    module = importlib.import_module("ansible_collections.runbook.ops.plugins.modules." + name)
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert "runbook.ops.attributes" in doc["extends_documentation_fragment"]
    attributes = doc["attributes"]
    assert attributes["check_mode"]["support"] == "full"
    assert attributes["diff_mode"]["support"] == "none"
    groups = yaml.safe_load(RUNTIME.read_text())["action_groups"]
    expected = sorted("runbook.ops." + group for group, members in groups.items() if name in members)
    assert sorted(attributes["action_group"]["membership"]) == expected
    assert attributes["action_group"]["support"] == ("full" if expected else "none")
