# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The S3 options (doc fragment runbook.ops.s3) and their declared rules."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict

from ansible.module_utils.basic import env_fallback

from ansible_collections.runbook.ops.plugins.module_utils.common import validation


def _env(*names: str) -> Any:
    """The first of the environment variables ``names`` that is set (``env_fallback``)."""
    return (env_fallback, list(names))


# An option set in the task (or module_defaults) wins, then the environment variables boto3 and
# the AWS CLI read, in their order, then the default.
S3_ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = dict(
    bucket=dict(type="str", required=True),
    endpoint_url=dict(type="str", fallback=_env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")),
    region=dict(type="str", default="us-east-1", fallback=_env("AWS_REGION", "AWS_DEFAULT_REGION")),
    profile=dict(type="str", fallback=_env("AWS_PROFILE")),
    access_key=dict(type="str", no_log=True, aliases=["aws_access_key_id"], fallback=_env("AWS_ACCESS_KEY_ID")),
    secret_key=dict(type="str", no_log=True, aliases=["aws_secret_access_key"],
                    fallback=_env("AWS_SECRET_ACCESS_KEY")),
    session_token=dict(type="str", no_log=True, fallback=_env("AWS_SESSION_TOKEN")),
    validate_certs=dict(type="bool", default=True),
    retries=dict(type="int", default=5),
    s3_connect_timeout=dict(type="float", default=10),
    s3_read_timeout=dict(type="float", default=60),
)

S3_REQUIRED_TOGETHER = [["access_key", "secret_key"]]


def s3_argspec(**options: Dict[str, Any]) -> Dict[str, Any]:
    """The S3 options at the top level of a module, with ``options`` added, and their rules:
    ``AnsibleModule(**s3_argspec(...), supports_check_mode=True)``."""
    return dict(argument_spec=dict(S3_ARGUMENT_SPEC, **options), required_together=list(S3_REQUIRED_TOGETHER))


def s3_suboptions(**options: Dict[str, Any]) -> Dict[str, Any]:
    """The S3 options as one ``type: dict`` option (``s3:`` of pg_restore and backup_retention),
    with ``options`` added and the same rules."""
    return dict(type="dict", options=dict(S3_ARGUMENT_SPEC, **options), required_together=list(S3_REQUIRED_TOGETHER))


# Ranges of the S3 options, at the top level (s3_backup) and under ``s3:`` (pg_restore,
# backup_retention), with ``common/validation.py``; every number is also finite and not
# negative, and a timeout at most a year.
VALUE_RULES = [
    validation.at_least("retries", 1),
    validation.at_most("retries", 100),
    validation.at_least("s3_connect_timeout", 0, inclusive=False),
    validation.at_least("s3_read_timeout", 0, inclusive=False),
    validation.at_least("s3.retries", 1),
    validation.at_most("s3.retries", 100),
    validation.at_least("s3.s3_connect_timeout", 0, inclusive=False),
    validation.at_least("s3.s3_read_timeout", 0, inclusive=False),
    validation.at_least("part_size_mb", 5),
    validation.at_least("concurrency", 1),
    validation.not_empty("bucket"),
    validation.not_empty("s3.bucket"),
]
