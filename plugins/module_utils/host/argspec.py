# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of the host modules (host_check, log_check).

Each function returns the keyword arguments for ``AnsibleModule``. The rules that no
declaration can express (a warning threshold above its critical one, a percentage
over 100, an invalid regular expression) are checked by the plans, with messages
that name the option.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict

from ansible_collections.runbook.ops.plugins.module_utils.common import validation

from ansible_collections.runbook.ops.plugins.module_utils.host.log_plan import DEFAULT_TIME_FIELDS, MISSING_CHOICES
from ansible_collections.runbook.ops.plugins.module_utils.host.probe_plan import (
    DEFAULT_EXCLUDE_FSTYPES,
    DEFAULT_EXCLUDE_MOUNTS,
    RESOURCES,
)


def _percent(default: float) -> Dict[str, Any]:
    return dict(type="float", default=default)


def host_check_argspec() -> Dict[str, Any]:
    """``host_check``: which resources, which mounts, and the thresholds."""
    return dict(argument_spec=dict(
        resources=dict(type="list", elements="str", choices=list(RESOURCES), default=list(RESOURCES)),
        mounts=dict(type="list", elements="str", default=[]),
        exclude_fstypes=dict(type="list", elements="str", default=list(DEFAULT_EXCLUDE_FSTYPES)),
        exclude_mounts=dict(type="list", elements="str", default=list(DEFAULT_EXCLUDE_MOUNTS)),
        disk_warning=_percent(80),
        disk_critical=_percent(90),
        inodes_warning=_percent(80),
        inodes_critical=_percent(90),
        memory_warning=_percent(85),
        memory_critical=_percent(95),
        load_period=dict(type="int", choices=[1, 5, 15], default=5),
        load_warning=dict(type="float", default=1.5),
        load_critical=dict(type="float", default=2.0),
    ))


def log_check_argspec() -> Dict[str, Any]:
    """``log_check``: the logs, the patterns to count (top level and per log) and the window."""
    def patterns() -> Dict[str, Any]:
        return dict(type="list", elements="dict", options=dict(
            name=dict(type="str"),
            regex=dict(type="str"),
            ignore_case=dict(type="bool", default=False),
            warning=dict(type="int"),
            critical=dict(type="int"),
        ))

    return dict(argument_spec=dict(
        logs=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str"),
            path=dict(type="str"),
            patterns=patterns(),
            since_hours=dict(type="float"),
            missing=dict(type="str", choices=list(MISSING_CHOICES)),
        )),
        patterns=patterns(),
        since_hours=dict(type="float", default=24),
        missing=dict(type="str", choices=list(MISSING_CHOICES), default="warning"),
        sample_lines=dict(type="int", default=5),
        rotated=dict(type="bool", default=True),
        compressed=dict(type="bool", default=True),
        max_scan_mb=dict(type="float", default=256),
        time_fields=dict(type="list", elements="str", default=list(DEFAULT_TIME_FIELDS)),
    ))


# Ranges and orderings of host_check's, log_check's and maintenance_mode's options (``common/validation.py``);
# every number is also finite and not negative.
RULES = [
    validation.percentage("disk_warning", "disk_critical", "inodes_warning", "inodes_critical",
                          "memory_warning", "memory_critical"),
    validation.ordered("disk_warning", "disk_critical"),
    validation.ordered("inodes_warning", "inodes_critical"),
    validation.ordered("memory_warning", "memory_critical"),
    validation.ordered("load_warning", "load_critical"),
    validation.not_empty("resources"),
    validation.not_empty("path"),
    validation.ordered("patterns.warning", "patterns.critical"),
    validation.ordered("logs.patterns.warning", "logs.patterns.critical"),
    validation.not_empty("logs.path"),
    validation.at_least("max_scan_mb", 0, inclusive=False),
]
