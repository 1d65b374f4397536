"""redis/argspec.py: the rules declared on redis_check's options (moved from check_plan.validate_params)."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.redis import argspec

PARAMS = dict(port=6379, db=0, connect_timeout=5.0, memory_warning=80.0, memory_critical=90.0,
              clients_warning=80.0, clients_critical=95.0, hit_rate_warning=0.7, hit_rate_critical=None,
              memory_limit_bytes=None, queue_warning=100, queue_critical=1000, queues=[])
SPEC = argspec.redis_check_argspec()["argument_spec"]


@pytest.mark.parametrize("change, needle", [
    ({"port": 0}, "port must be between"),
    ({"db": -1}, "db must be at least 0"),
    ({"connect_timeout": 0}, "connect_timeout must be more than 0"),
    ({"connect_timeout": 1e12}, "connect_timeout must be at most 31622400"),
    ({"memory_warning": 120}, "memory_warning is a percentage"),
    ({"clients_critical": 0}, "clients_critical must be more than 0, got 0"),
    ({"hit_rate_warning": 70}, "hit_rate_warning is a ratio between 0 and 1"),
    ({"memory_limit_bytes": 0}, "memory_limit_bytes must be more than 0"),
    ({"memory_warning": 95}, "memory_warning must be at most memory_critical (90.0), got 95"),
    ({"hit_rate_critical": 0.9}, "hit_rate_warning must be at least hit_rate_critical (0.9), got 0.7"),
    ({"queues": [{"name": "q", "warning": 10, "critical": 5}]}, "queues[0].warning must be at most"),
])
def test_rules(change, needle):
    assert needle in validation.check(dict(PARAMS, **change), argspec.RULES, SPEC)


def test_rules_accept_the_defaults():
    assert validation.check(PARAMS, argspec.RULES, SPEC) is None
