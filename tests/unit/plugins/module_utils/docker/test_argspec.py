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


def test_docker_argspec_declares_rules_and_takes_a_module_s_own():
    spec = docker_argspec({"image": {"type": "str"}}, required_if=[["state", "present", ["image"]]],
                          required_together=[["a", "b"]], required_by={"image": "state"})
    assert spec["argument_spec"]["image"] == {"type": "str"}
    assert "docker_host" in spec["argument_spec"]
    assert spec["required_together"] == [["client_cert", "client_key"], ["a", "b"]]
    assert spec["required_if"] == [["state", "present", ["image"]]]
    assert spec["required_by"] == {"image": "state"}
    # a fresh spec each call: one module's options never leak into another's
    assert "image" not in docker_argspec()["argument_spec"]
