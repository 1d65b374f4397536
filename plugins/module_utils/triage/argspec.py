# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of ``runbook.ops.incident_triage`` and their declared rules.

Each system it reads is one ``type: dict`` option holding that system's usual connection
options (the same names as the Docker, PostgreSQL, Redis, Kubernetes and S3 modules), so that
PostgreSQL's and Redis's ``login_host`` do not collide; a system left out is not collected.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import copy
from typing import Any, Dict

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.docker.argspec import docker_argspec
from ansible_collections.runbook.ops.plugins.module_utils.k8s.argspec import k8s_argspec
from ansible_collections.runbook.ops.plugins.module_utils.postgres.argspec import connection_options
from ansible_collections.runbook.ops.plugins.module_utils.redis.argspec import connection_argspec
from ansible_collections.runbook.ops.plugins.module_utils.s3.argspec import s3_suboptions
from ansible_collections.runbook.ops.plugins.module_utils.triage import classify_plan, redact_plan

MiB = 1024 * 1024


def _sub(spec: Dict[str, Any], **extra: Any) -> Dict[str, Any]:
    options = copy.deepcopy(spec)
    options.update(extra)
    return options


def triage_argspec() -> Dict[str, Any]:
    """``incident_triage``: where to write, what to collect, how to redact and classify."""
    docker = docker_argspec()
    kube = k8s_argspec()
    redis = connection_argspec()
    rules = classify_plan.DEFAULT_RULES
    argument_spec = dict(
        output_dir=dict(type="path", required=True),
        incident_id=dict(type="str"),
        platform=dict(type="str", default=""),
        reporter=dict(type="str", default=""),
        since_hours=dict(type="float", default=6),
        log_lines=dict(type="int", default=2000),
        collector_timeout=dict(type="float", default=20),
        collector_max_bytes=dict(type="int", default=16 * MiB),
        workers=dict(type="int", default=8),
        compression=dict(type="str", choices=["zstd", "gzip", "none"], default="zstd"),
        health_results=dict(type="dict", default={}),
        alerts=dict(type="list", elements="dict", default=[], options=dict(
            time=dict(type="str", required=True),
            summary=dict(type="str", required=True),
            source=dict(type="str", default="alert"),
        )),
        docker=dict(type="dict", options=_sub(
            docker["argument_spec"],
            names=dict(type="list", elements="str", default=[]),
            labels=dict(type="list", elements="str", default=[]),
            all=dict(type="bool", default=False),
            stats=dict(type="bool", default=True),
        ), required_together=docker["required_together"]),
        postgres=dict(type="dict", options=_sub(
            connection_options(),
            statement_timeout=dict(type="float", default=5),
            query_chars=dict(type="int", default=500),
        )),
        redis=dict(type="dict", options=_sub(
            redis["argument_spec"],
            queues=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                warning=dict(type="int"),
                critical=dict(type="int"),
            )),
        ), required_by=redis["required_by"]),
        kubernetes=dict(type="dict", options=_sub(
            kube["argument_spec"],
            namespace=dict(type="str", default="default"),
            deployments=dict(type="list", elements="str", default=[]),
        ), required_together=kube["required_together"]),
        host=dict(type="dict", default={}, options=dict(
            enabled=dict(type="bool", default=True),
            mounts=dict(type="list", elements="path", default=[]),
            top=dict(type="int", default=15),
        )),
        logs=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str"),
            path=dict(type="path", required=True),
        )),
        reports_dir=dict(type="path"),
        reports_count=dict(type="int", default=5),
        redact=dict(type="dict", default={}, options=dict(
            defaults=dict(type="bool", default=True),
            rules=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                regex=dict(type="str", required=True),
                group=dict(type="int", default=0),
            )),
            literals=dict(type="list", elements="str", default=[], no_log=True),
            env_keep=dict(type="list", elements="str", default=list(redact_plan.DEFAULT_ENV_KEEP)),
        )),
        rules=dict(type="dict", default={}, options=dict(
            crash_loop_restarts=dict(type="int", default=rules["crash_loop_restarts"]),
            blocking_seconds=dict(type="float", default=rules["blocking_seconds"]),
            long_transaction_seconds=dict(type="float", default=rules["long_transaction_seconds"]),
            connections_critical=dict(type="float", default=rules["connections_critical"]),
            error_lines_warning=dict(type="int", default=rules["error_lines_warning"]),
            security_patterns=dict(type="list", elements="str", default=[]),
            data_loss_patterns=dict(type="list", elements="str", default=[]),
        )),
        upload=s3_suboptions(prefix=dict(type="str", default="incidents")),
    )
    return dict(argument_spec=argument_spec)


# Ranges (``common/validation.py``); every number is also finite and not negative, and a
# duration at most a year.
RULES = [
    validation.at_least("since_hours", 0, inclusive=False),
    validation.at_least("log_lines", 1),
    validation.at_least("collector_timeout", 0, inclusive=False),
    validation.at_most("collector_timeout", 3600),
    validation.at_least("collector_max_bytes", 1024),
    validation.between("workers", 1, 64),
    validation.at_least("reports_count", 0),
    validation.port("postgres.port"),
    validation.port("redis.port"),
    validation.at_least("postgres.statement_timeout", 0, inclusive=False),
    validation.at_least("redis.connect_timeout", 0, inclusive=False),
    validation.ordered("redis.queues.warning", "redis.queues.critical"),
    validation.at_least("rules.crash_loop_restarts", 1),
    validation.not_empty("incident_id"),
    validation.not_empty("output_dir"),
    validation.not_empty("logs.path"),
    validation.not_empty("reports_dir"),
    validation.matches("incident_id", r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", "a name of letters, digits, '.', '_' and '-'"),
    validation.not_empty("upload.bucket"),
]
