"""DOCUMENTATION of notify (its options and the shared notify fragment) matches the argument spec its
main() builds; the report callback's notify_* options match the shared options, secrets only from the
environment; attributes tell the truth."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from utils.module_docs import compare

from ansible_collections.runbook.ops.plugins.doc_fragments import notify as fragment
from ansible_collections.runbook.ops.plugins.module_utils.notify import argspec

RUNTIME = Path(__file__).resolve().parents[4] / "meta" / "runtime.yml"


class _Built(Exception):
    pass


def test_documentation_matches_the_argument_spec(monkeypatch):
    module = importlib.import_module("ansible_collections.runbook.ops.plugins.modules.notify")
    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        raise _Built()

    monkeypatch.setattr(module, "AnsibleModule", capture)
    # (No arguments: main() reads the raw ones before it builds the module.)
    with pytest.raises(_Built), patch_module_args({}):
        module.main()
    assert seen["supports_check_mode"] is True
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["extends_documentation_fragment"] == ["runbook.ops.attributes", "runbook.ops.notify"]
    options = dict(yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    options.update(doc["options"])
    compare(options, seen["argument_spec"], "notify")
    for name in argspec.SECRETS:
        assert seen["argument_spec"][name].get("no_log") is True, name
    returned = yaml.safe_load(module.RETURN)
    assert {"status", "severity", "summary", "checks", "metrics", "schema", "requests", "events"} <= set(returned)
    for task in yaml.safe_load(module.EXAMPLES):
        assert set(task["runbook.ops.notify"]) <= set(options), task["name"]


def test_callback_options_are_the_shared_options_and_secrets_come_from_the_environment_only():
    options = yaml.safe_load(fragment.ModuleDocFragment.CALLBACK)["options"]
    expected = {"notify_" + n for n in argspec.OPTIONS if n != "platforms"} | {"notify_state_file"}
    assert set(options) == expected
    for name, doc in options.items():
        short = name[len("notify_"):]
        assert doc["env"] == [{"name": "RUNBOOK_OPS_NOTIFY_" + short.upper()}]
        if short in argspec.SECRETS:
            assert "ini" not in doc, name
        else:
            assert doc["ini"] == [{"section": "callback_report", "key": name}]
        if short in argspec.OPTIONS:
            assert doc["type"] == argspec.OPTIONS[short]["type"], name
            assert doc.get("default") == argspec.OPTIONS[short].get("default"), name


def test_attributes_tell_the_truth():
    module = importlib.import_module("ansible_collections.runbook.ops.plugins.modules.notify")
    attributes = yaml.safe_load(module.DOCUMENTATION)["attributes"]
    assert attributes["check_mode"]["support"] == "full"
    assert attributes["diff_mode"]["support"] == "none"
    groups = yaml.safe_load(RUNTIME.read_text())["action_groups"]
    assert not any("notify" in members for members in groups.values())
    assert attributes["action_group"] == {"description": attributes["action_group"]["description"],
                                          "support": "none", "membership": []}
