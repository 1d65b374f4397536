# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options the backup modules share and their declared rules.

Each function returns ``dict(argument_spec=..., required_if=..., ...)``; a module adds its own
options with ``extend`` and builds ``AnsibleModule(**spec, supports_check_mode=True)``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict

from ansible_collections.runbook.ops.plugins.module_utils.common import validation

from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec as postgres_argspec_module
from ansible_collections.runbook.ops.plugins.module_utils.s3 import argspec as s3_argspec

RULES = ("required_if", "required_one_of", "required_together", "required_by", "mutually_exclusive")

# The S3 side of pg_restore and backup_retention: the S3 options plus the key prefix.
S3_BACKUP_OPTIONS = s3_argspec.s3_suboptions(prefix=dict(type="str", default=""))


def extend(spec: Dict[str, Any], options: Dict[str, Any], **rules: Any) -> Dict[str, Any]:
    """A copy of ``spec`` with ``options`` added and each rule list of ``rules`` appended."""
    out = {"argument_spec": dict(spec["argument_spec"], **options)}
    for name in RULES:
        merged = list(spec.get(name) or []) + list(rules.get(name) or [])
        if name == "required_by":
            merged = dict(spec.get(name) or {}, **(rules.get(name) or {}))
        if merged:
            out[name] = merged
    return out


def postgres_argspec(**options: Any) -> Dict[str, Any]:
    """The PostgreSQL connection options (doc fragment runbook.ops.postgres), with their libpq
    environment fallbacks (PGHOST, PGPORT, ...), plus ``options``."""
    return {"argument_spec": dict(postgres_argspec_module.connection_options(), **options)}


def restore_options() -> Dict[str, Any]:
    """What pg_restore and backup_verify's test restore share: how pg_restore runs."""
    return dict(
        jobs=dict(type="int", default=2),
        work_dir=dict(type="path"),
        pg_restore_path=dict(type="path"),
    )


# Ranges of the backup modules' options (``common/validation.py``), applied first by every
# runner; an option a module does not have is skipped. Every number is also finite and not
# negative, and a timeout at most a year.
VALUE_RULES = s3_argspec.VALUE_RULES + [
    validation.port("port"),
    validation.at_least("connect_timeout", 1),
    validation.at_least("jobs", 1),
    validation.at_most("jobs", 256),
    validation.not_empty("backup_dir"),
    validation.not_empty("backup"),
    validation.not_empty("work_dir"),
    validation.not_empty("download_dir"),
    validation.not_empty("dest"),
    validation.not_empty("pg_dump_path"),
    validation.not_empty("pg_restore_path"),
]
