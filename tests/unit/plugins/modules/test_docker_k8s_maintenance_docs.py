"""DOCUMENTATION of container_check, docker_rollout, k8s_rollout and maintenance_mode matches the
argument spec each builds from its system's argspec helper, and their attributes tell the truth."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from utils.module_docs import compare

ROOT = Path(__file__).resolve().parents[4]
FRAGMENTS = {
    "runbook.ops.docker": "ansible_collections.runbook.ops.plugins.doc_fragments.docker",
    "runbook.ops.k8s": "ansible_collections.runbook.ops.plugins.doc_fragments.k8s",
    "runbook.ops.attributes": "ansible_collections.runbook.ops.plugins.doc_fragments.attributes",
}
MODULES = {
    # name: (check_mode support, diff_mode support)
    "container_check": ("full", "none"),
    "docker_rollout": ("full", "full"),
    "k8s_rollout": ("full", "full"),
    "k8s_check": ("full", "none"),
    "k8s_secret_rotate": ("full", "full"),
    "maintenance_mode": ("full", "full"),
}


def documented_options(doc):
    options = {}
    for fragment in doc.get("extends_documentation_fragment", []):
        text = importlib.import_module(FRAGMENTS[fragment]).ModuleDocFragment.DOCUMENTATION
        options.update(yaml.safe_load(text).get("options") or {})
    options.update(doc["options"])
    return options


def groups_of(name):
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    return sorted("runbook.ops.%s" % group for group, members in runtime["action_groups"].items() if name in members)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_documentation_matches_the_argspec(name):
    module = importlib.import_module("ansible_collections.runbook.ops.plugins.modules." + name)
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["module"] == name
    spec = module.argspec()
    compare(documented_options(doc), spec["argument_spec"], name)
    for rule in ("required_if", "required_one_of", "required_together", "mutually_exclusive"):
        for entry in spec.get(rule) or []:
            names = [entry[0]] + list(entry[2]) if rule == "required_if" else list(entry)
            assert set(names) <= set(spec["argument_spec"]), (name, rule, entry)
    examples = yaml.safe_load(module.EXAMPLES)
    for task in [t for t in examples if "runbook.ops." + name in t]:
        args = task["runbook.ops." + name] or {}
        assert set(args) <= set(spec["argument_spec"]) | {"deployment"}, task["name"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_attributes_tell_the_truth(name):
    module = importlib.import_module("ansible_collections.runbook.ops.plugins.modules." + name)
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert "runbook.ops.attributes" in doc["extends_documentation_fragment"]
    attributes = doc["attributes"]
    assert (attributes["check_mode"]["support"], attributes["diff_mode"]["support"]) == MODULES[name]
    groups = groups_of(name)
    assert sorted(attributes["action_group"]["membership"]) == groups
    assert attributes["action_group"]["support"] == ("full" if groups else "none")
