"""common/validation.py: declared ranges and orderings, one message style naming the option."""

from __future__ import annotations

import math

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.common import validation


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, params, argument_spec=None):
        self.params = params
        self.argument_spec = argument_spec or {}

    def fail_json(self, **kwargs):
        raise Failed(kwargs["msg"])


def test_bounds_name_the_option_and_skip_what_is_not_set():
    rule = validation.at_least("timeout", 0, inclusive=False)
    assert rule({"timeout": None}) is None
    assert rule({}) is None
    assert rule({"timeout": 0}) == "timeout must be more than 0, got 0"
    assert validation.at_most("retries", 100)({"retries": 101}) == "retries must be at most 100, got 101"
    assert validation.port("port")({"port": 70000}) == "port must be between 1 and 65535, got 70000"


def test_numbers_must_be_finite_and_not_huge():
    rule = validation.at_least("x", 0)
    assert rule({"x": math.inf}) == "x must be a finite number, got inf"
    assert rule({"x": math.nan}) == "x must be a finite number, got nan"
    assert rule({"x": 10 ** 400}).startswith("x must be at most 9007199254740992, got 1000")


def test_dotted_names_reach_into_lists_and_dicts():
    params = {"endpoints": [{"timeout": 1}, {"timeout": -1}], "gate": {"codes": [200, 999]}}
    assert validation.at_least("endpoints.timeout", 0)(params) == "endpoints[1].timeout must be at least 0, got -1"
    assert validation.http_status("gate.codes")(params) == \
        "gate.codes must hold HTTP status codes between 100 and 599, got 999"


def test_percentages_and_ratios():
    assert validation.percentage("disk")[0]({"disk": 150}) == "disk is a percentage between 0 and 100, got 150"
    assert validation.ratio("hit")[0]({"hit": 2}) == "hit is a ratio between 0 and 1, got 2"


def test_orderings_both_ways_and_per_item():
    high_bad = validation.ordered("w", "c")
    assert high_bad({"w": 90, "c": 80}) == "w must be at most c (80), got 90"
    assert high_bad({"w": 80, "c": 90}) is None
    assert high_bad({"w": 80, "c": None}) is None
    low_bad = validation.ordered("warning_days", "critical_days", high_is_bad=False)
    assert low_bad({"warning_days": 7, "critical_days": 30}) == "warning_days must be at least critical_days (30), got 7"
    nested = validation.ordered("logs.warning", "logs.critical")
    assert nested({"logs": [{"warning": 1, "critical": 2}, {"warning": 3, "critical": 2}]}) == \
        "logs[1].warning must be at most logs[1].critical (2), got 3"


def test_empty_values_hostnames_patterns_and_nul():
    assert validation.not_empty("resources")({"resources": []}) == "resources must not be empty"
    assert validation.not_empty("path")({"path": " "}) == "path must not be empty"
    label = "a" * 64 + ".example.com"
    assert validation.hostname("host")({"host": label}).startswith("host must be a host name of labels")
    assert validation.hostname("host")({"host": "db.example.com"}) is None
    assert validation.hostname("host")({"host": "::1"}) is None
    assert validation.matches("v", r"auto|[0-9]+\.[0-9]+", "auto or a version")({"v": "x"}) == \
        "v must be auto or a version, got 'x'"
    assert validation.no_nul("names")({"names": ["a", "b\x00"]}) == "names must not contain a NUL character"


def test_validate_applies_the_declared_rules_then_the_defaults_of_the_spec():
    spec = {"timeout": {"type": "float"}, "count": {"type": "int"}, "name": {"type": "str"},
            "items": {"type": "list", "elements": "dict", "options": {"size": {"type": "int"}}}}
    validation.validate(FakeModule({"timeout": 1.0, "count": 0, "name": "x", "items": [{"size": 1}]}, spec))
    cases = [
        ({"timeout": 1e9}, "timeout must be at most 31622400, got 1000000000.0"),
        ({"count": -1}, "count must be at least 0, got -1"),
        ({"name": "a\x00"}, "name must not contain a NUL character"),
        ({"items": [{"size": -2}]}, "items[0].size must be at least 0, got -2"),
    ]
    for params, message in cases:
        with pytest.raises(Failed) as caught:
            validation.validate(FakeModule(params, spec))
        assert str(caught.value) == message
    with pytest.raises(Failed, match="^count must be at least 5, got 1$"):
        validation.validate(FakeModule({"count": 1}, spec), [validation.at_least("count", 5)])
