"""DOCUMENTATION of host_check and log_check matches their argument specs exactly (container_check:
test_docker_k8s_maintenance_docs.py)."""

from __future__ import annotations

import importlib

import pytest
import yaml

FRAGMENTS = {"runbook.ops.docker": "ansible_collections.runbook.ops.plugins.doc_fragments.docker"}


def documented_options(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = {}
    for fragment in doc.get("extends_documentation_fragment", []):
        options.update(yaml.safe_load(importlib.import_module(FRAGMENTS[fragment]).ModuleDocFragment.DOCUMENTATION)
                       ["options"])
    options.update(doc["options"])
    return doc, options


def compare(documented, spec, where):
    assert set(documented) == set(spec), where
    for name, option in spec.items():
        doc = documented[name]
        here = "%s.%s" % (where, name)
        assert doc.get("description"), here
        assert doc["type"] == option.get("type", "str"), here
        assert doc.get("default") == option.get("default"), here
        assert doc.get("choices") == option.get("choices"), here
        assert doc.get("elements") == option.get("elements"), here
        assert bool(doc.get("required")) == bool(option.get("required")), here
        assert bool(doc.get("no_log")) is False
        if option.get("options") or doc.get("suboptions"):
            compare(doc["suboptions"], option["options"], here)


@pytest.mark.parametrize("name", ["host_check", "log_check"])
def test_documentation_matches_argument_spec(name):
    module = importlib.import_module("ansible_collections.runbook.ops.plugins.modules." + name)
    doc, options = documented_options(module)
    assert doc["module"] == name
    assert doc["version_added"] == "0.1.0"
    assert doc["author"] == "runbook.ops contributors (@runbook-ops)"
    compare(options, module.ARGUMENT_SPEC, name)
    returned = yaml.safe_load(module.RETURN)
    assert {"status", "severity", "summary", "checks", "metrics", "schema", "changed"} <= set(returned)
    examples = yaml.safe_load(module.EXAMPLES)
    for task in examples:
        args = task["runbook.ops." + name] or {}
        assert set(args) <= set(options), task["name"]
