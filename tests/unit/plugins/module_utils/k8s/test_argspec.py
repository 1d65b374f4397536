"""k8s/argspec: the shared options match the doc fragment, the token is secret, the rules are declared."""

from __future__ import annotations

import yaml

from ansible_collections.runbook.ops.plugins.doc_fragments.k8s import ModuleDocFragment
from ansible_collections.runbook.ops.plugins.module_utils.k8s.argspec import k8s_argspec


def test_argspec_marks_the_token_secret():
    spec = k8s_argspec()
    options = spec["argument_spec"]
    assert options["api_key"]["no_log"] is True
    assert "verify_ssl" in options["validate_certs"]["aliases"]
    assert spec["required_together"] == [["client_cert", "client_key"]]


def test_argspec_matches_the_doc_fragment():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    options = k8s_argspec()["argument_spec"]
    assert set(documented) == set(options)
    for name, option in options.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert sorted(documented[name].get("aliases") or []) == sorted(option.get("aliases") or []), name
