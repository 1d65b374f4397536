# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options and declared rules of the runbook.ops modules that talk to the Docker engine.

``docker_argspec()`` returns the connection options of the ``runbook.ops.docker`` doc fragment
and their declared rules (as community.docker's ``common_compose_argspec_ex()`` does). A module
adds its own options and rules, then builds ``AnsibleModule(supports_check_mode=True, **spec)``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
from typing import Any, Dict

from ansible_collections.runbook.ops.plugins.module_utils.common import validation

from ansible.module_utils.basic import AnsibleFallbackNotFound, env_fallback

from ansible_collections.runbook.ops.plugins.module_utils.docker.client import DEFAULT_DOCKER_HOST


def _env(*names: str) -> Any:
    return (env_fallback, list(names))


def cert_path_fallback(file_name: str) -> str:
    """``$DOCKER_CERT_PATH/<file_name>`` as the Docker CLI finds it: only when TLS is asked for in the
    environment (E(DOCKER_TLS_VERIFY) or E(DOCKER_TLS) not empty) and the file is there."""
    directory = os.environ.get("DOCKER_CERT_PATH")
    if not directory or not (os.environ.get("DOCKER_TLS_VERIFY") or os.environ.get("DOCKER_TLS")):
        raise AnsibleFallbackNotFound
    path = os.path.join(directory, file_name)
    if not os.path.isfile(path):
        raise AnsibleFallbackNotFound
    return path


def docker_argspec() -> Dict[str, Any]:
    """The connection options (doc fragment ``runbook.ops.docker``) and their declared rules.

    A module adds its own: ``spec["argument_spec"].update(OPTIONS)``, ``spec["required_if"] = [...]``.
    """
    return dict(
        argument_spec=dict(
            docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST, fallback=_env("DOCKER_HOST")),
            api_version=dict(type="str", default="auto", fallback=_env("DOCKER_API_VERSION")),
            timeout=dict(type="int", default=30, fallback=_env("DOCKER_TIMEOUT")),
            tls=dict(type="bool", default=False, fallback=_env("DOCKER_TLS")),
            validate_certs=dict(type="bool", default=False, fallback=_env("DOCKER_TLS_VERIFY")),
            ca_path=dict(type="path", fallback=(cert_path_fallback, ["ca.pem"])),
            client_cert=dict(type="path", fallback=(cert_path_fallback, ["cert.pem"])),
            client_key=dict(type="path", no_log=False, fallback=(cert_path_fallback, ["key.pem"])),
        ),
        required_together=[["client_cert", "client_key"]],
    )


# Ranges and orderings of the Docker modules' options (``common/validation.py``); every
# number is also finite and not negative, and a duration at most a year.
RULES = [
    validation.at_least("timeout", 1),
    validation.at_least("batch_size", 1),
    validation.at_least("failure_threshold", 1),
    validation.ordered("restarts_warning", "restarts_critical"),
    validation.ordered("log_errors_warning", "log_errors_critical"),
    validation.http_status("http_gate.status_codes"),
    validation.matches("api_version", r"auto|[0-9]+\.[0-9]+", "auto or a version such as 1.43"),
]
