"""common/arguments.py: options of the wrong shape found before AnsibleModule, named, secrets kept."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments

SECRET = "Shape-S3cret"
SPEC = {
    "token": {"type": "str", "no_log": True},
    "endpoints": {"type": "list", "elements": "dict", "aliases": ["urls"], "options": {
        "name": {"type": "str", "required": True},
        "bearer_token": {"type": "str", "no_log": True},
        "conditions": {"type": "list", "elements": "dict", "options": {"path": {"type": "str"}}},
        "headers": {"type": "dict"},
    }},
    "s3": {"type": "dict", "options": {"bucket": {"type": "str"}, "secret_key": {"type": "str", "no_log": True}}},
    "names": {"type": "list", "elements": "str"},
}


def messages(params):
    return [message for _name, message in arguments.shape_problems(SPEC, params)]


@pytest.mark.parametrize("params", [
    {},
    {"endpoints": None},
    {"endpoints": [{"name": "a", "conditions": [{"path": "x"}], "headers": {"A": "b"}}]},
    {"urls": [{"name": "a"}]},
    # ansible-core's own conversions: key=value strings are dicts, a string is a list.
    {"endpoints": "name=a", "s3": "bucket=b", "names": "a,b"},
    {"endpoints": ["name=a"], "s3": '{"bucket": "b"}'},
])
def test_values_ansible_core_can_convert_are_no_problem(params):
    assert not messages(params)


@pytest.mark.parametrize("params, expected", [
    ({"endpoints": "not-a-list"}, ["endpoints must be a list of dicts, got str"]),
    ({"endpoints": 12}, ["endpoints must be a list of dicts, got int"]),
    ({"endpoints": {"name": "a"}}, ["endpoints must be a list of dicts, got dict"]),
    ({"urls": [{"name": "a"}, "x", None]}, ["endpoints[1] must be a dict, got str",
                                            "endpoints[2] must be a dict, got null"]),
    ({"endpoints": [{"name": "a", "conditions": [1]}]}, ["endpoints[0].conditions[0] must be a dict, got int"]),
    ({"endpoints": [{"name": "a", "conditions": "x"}]}, ["endpoints[0].conditions must be a list of dicts, got str"]),
    ({"endpoints": [{"name": "a", "headers": ["a"]}]}, ["endpoints[0].headers must be a dict, got list"]),
    ({"s3": ["a", "b"]}, ["s3 must be a dict, got list"]),
    ({"names": {"a": 1}}, ["names must be a list, got dict"]),
])
def test_wrong_shapes_are_named_with_their_path(params, expected):
    assert messages(params) == expected


def test_the_problem_is_filed_under_the_top_level_option():
    assert arguments.shape_problems(SPEC, {"urls": [{"name": "a", "conditions": [1]}]}) == [
        ("endpoints", "endpoints[0].conditions[0] must be a dict, got int")]


def test_secrets_are_found_in_whatever_shape_came():
    value = [{"name": "a", "bearer_token": SECRET}, "name=b bearer_token=kv-secret", 1, None]
    assert arguments.secrets(SPEC["endpoints"], value) == {SECRET, "kv-secret"}
    assert arguments.secrets(SPEC["token"], ["x", {"y": 3}]) == {"x", "3"}
    assert arguments.secrets(SPEC["s3"], "not-a-dict") == set()


def test_relaxed_options_take_anything_but_stay_secret_and_named():
    spec = dict(SPEC, token=dict(SPEC["token"], type="dict", options={"a": {}}))
    loose = arguments.relaxed(spec, ["token", "endpoints"])
    assert loose["token"] == {"type": "raw", "no_log": True}
    assert loose["endpoints"] == {"type": "raw", "aliases": ["urls"]}
    assert loose["s3"] is SPEC["s3"]
    assert spec["endpoints"]["type"] == "list"


def build(params):
    out = io.StringIO()
    with patch_module_args(params), redirect_stdout(out):
        try:
            module = arguments.new_module(AnsibleModule, argument_spec=SPEC, supports_check_mode=True)
        except SystemExit:
            return None, json.loads(out.getvalue())
    return module, None


def test_good_arguments_build_the_module_unchanged():
    module, failed = build({"endpoints": [{"name": "a"}], "token": SECRET})
    assert failed is None
    assert module.params["endpoints"][0]["name"] == "a"
    assert SECRET in module.no_log_values


def test_a_wrong_shape_fails_naming_it_with_every_secret_hidden():
    _module, failed = build({"urls": [{"name": "a", "bearer_token": SECRET}, 1], "token": SECRET + "-top",
                             "s3": {"secret_key": SECRET + "-s3"}})
    assert failed["failed"] is True
    assert failed["msg"] == "endpoints[1] must be a dict, got int"
    assert "Shape-S3cret" not in json.dumps(failed)
    assert failed["invocation"]["module_args"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_secrets_stay_hidden_when_ansible_core_fails_for_another_option():
    """A wrong shape and an unknown option: ansible-core's own failure hides the secrets inside
    the relaxed option too."""
    _module, failed = build({"endpoints": [{"name": "a", "bearer_token": SECRET}, "x"], "bogus": 1})
    assert "bogus" in failed["msg"]
    assert SECRET not in json.dumps(failed)


def test_many_problems_are_summed_up():
    _module, failed = build({"endpoints": [1] * 8})
    assert failed["msg"].count("must be a dict") == arguments.MAX_MESSAGES
    assert failed["msg"].endswith("(and 3 more)")


def test_no_parameters_read_is_no_problem(monkeypatch):
    """ansible-test's argument spec introspection replaces basic._load_params with a function that
    returns None, and AnsibleModule's __init__ with one that records its arguments."""
    from ansible.module_utils import basic
    seen = {}
    monkeypatch.setattr(basic, "_load_params", lambda: None)
    arguments.new_module(lambda **kwargs: seen.update(kwargs), argument_spec=SPEC, supports_check_mode=True)
    assert seen == {"argument_spec": SPEC, "supports_check_mode": True}
