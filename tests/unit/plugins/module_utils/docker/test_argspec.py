"""docker/argspec: the shared options match the doc fragment; the rules are declared."""

from __future__ import annotations

import yaml

from ansible_collections.runbook.ops.plugins.doc_fragments.docker import ModuleDocFragment
from ansible_collections.runbook.ops.plugins.module_utils.docker.argspec import docker_argspec


def test_docker_argspec_matches_the_doc_fragment():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    options = docker_argspec()["argument_spec"]
    assert set(documented) == set(options)
    for name, option in options.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name


def test_docker_argspec_declares_its_rules_and_is_fresh_each_time():
    spec = docker_argspec()
    assert spec["required_together"] == [["client_cert", "client_key"]]
    spec["argument_spec"]["image"] = {"type": "str"}
    # one module's options never leak into another's
    assert "image" not in docker_argspec()["argument_spec"]
