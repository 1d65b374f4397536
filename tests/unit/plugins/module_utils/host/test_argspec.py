"""host/argspec.py: the rules declared on host_check's, log_check's and maintenance_mode's options."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.host import argspec

PARAMS = dict(disk_warning=80.0, disk_critical=90.0, inodes_warning=80.0, inodes_critical=90.0,
              memory_warning=85.0, memory_critical=95.0, load_warning=1.5, load_critical=2.0)


def test_thresholds_are_ordered_and_percentages():
    assert validation.check(PARAMS, argspec.RULES) is None
    assert "load_warning" in validation.check(dict(PARAMS, load_warning=3), argspec.RULES)
    assert validation.check(dict(PARAMS, disk_critical=101), argspec.RULES) == \
        "disk_critical is a percentage between 0 and 100, got 101"


def test_empty_lists_and_paths_are_refused():
    assert validation.check(dict(PARAMS, resources=[]), argspec.RULES) == "resources must not be empty"
    assert validation.check({"path": ""}, argspec.RULES) == "path must not be empty"
    assert validation.check({"logs": [{"path": ""}]}, argspec.RULES) == "logs[0].path must not be empty"
