# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options and declared rules of the runbook.ops modules that talk to a Kubernetes API server.

``k8s_argspec()`` returns the connection options of the ``runbook.ops.k8s`` doc fragment
(the names kubernetes.core users know: kubeconfig, context, host, api_key, validate_certs,
ca_cert, client_cert, client_key, with their K8S_AUTH_* environment variables) and their
declared rules. A module adds its own options and rules, then builds
``AnsibleModule(supports_check_mode=True, **spec)``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict

from ansible_collections.runbook.ops.plugins.module_utils.common import validation

from ansible.module_utils.basic import env_fallback


def _env(*names: str) -> Any:
    return (env_fallback, list(names))


def k8s_argspec() -> Dict[str, Any]:
    """The connection options (doc fragment ``runbook.ops.k8s``) and their declared rules.

    A module adds its own: ``spec["argument_spec"].update(OPTIONS)``, ``spec["required_if"] = [...]``.
    """
    return dict(
        argument_spec=dict(
            kubeconfig=dict(type="path", fallback=_env("K8S_AUTH_KUBECONFIG")),
            context=dict(type="str", fallback=_env("K8S_AUTH_CONTEXT")),
            host=dict(type="str", fallback=_env("K8S_AUTH_HOST")),
            api_key=dict(type="str", no_log=True, fallback=_env("K8S_AUTH_API_KEY")),
            validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=_env("K8S_AUTH_VERIFY_SSL")),
            ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=_env("K8S_AUTH_SSL_CA_CERT")),
            client_cert=dict(type="path", aliases=["cert_file"], fallback=_env("K8S_AUTH_CERT_FILE")),
            client_key=dict(type="path", aliases=["key_file"], no_log=False, fallback=_env("K8S_AUTH_KEY_FILE")),
            request_timeout=dict(type="float", default=30),
        ),
        required_together=[["client_cert", "client_key"]],
    )


# Ranges of the Kubernetes options (``common/validation.py``); every number is also finite
# and not negative, and a duration at most a year.
RULES = [
    validation.at_least("request_timeout", 0, inclusive=False),
    validation.at_least("wait_sleep", 0, inclusive=False),
    validation.http_status("http_gate.endpoints.status_codes"),
]


def k8s_check_argspec() -> Dict[str, Any]:
    """``k8s_check``: the connection, the namespaces, the categories and their thresholds."""
    spec = k8s_argspec()
    spec["argument_spec"].update(
        namespaces=dict(type="list", elements="str", default=["default"]),
        checks=dict(type="list", elements="str", default=list(CHECK_CATEGORIES), choices=list(CHECK_CATEGORIES)),
        window_hours=dict(type="float", default=24),
        restart_threshold=dict(type="int", default=5),
        pending_minutes=dict(type="float", default=10),
        not_ready_minutes=dict(type="float", default=5),
        events_warning=dict(type="int", default=1),
        cert_warning_days=dict(type="float", default=14),
        cert_critical_days=dict(type="float", default=7),
    )
    return spec


CHECK_CATEGORIES = ("workloads", "pods", "nodes", "events", "certificates", "pvcs")

# Ranges of k8s_check's options.
CHECK_RULES = [
    validation.at_least("request_timeout", 0, inclusive=False),
    validation.at_least("window_hours", 0, inclusive=False),
    validation.at_most("window_hours", 24 * 366),
    validation.at_least("events_warning", 1),
    validation.not_empty("namespaces"),
    validation.ordered("cert_warning_days", "cert_critical_days", high_is_bad=False),
]


def k8s_secret_rotate_argspec() -> Dict[str, Any]:
    """``k8s_secret_rotate``: the connection, the Secret, its new data (one source per key), the restarts."""
    spec = k8s_argspec()
    spec["argument_spec"].update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", default="default"),
        data=dict(type="list", elements="dict", required=True, options=dict(
            key=dict(type="str", required=True, no_log=False),
            value=dict(type="str", no_log=True),
            file=dict(type="path"),
            env=dict(type="str"),
            generate=dict(type="int"),
        ), mutually_exclusive=[("value", "file", "env", "generate")],
            required_one_of=[("value", "file", "env", "generate")]),
        restart=dict(type="bool", default=True),
        wait_timeout=dict(type="float", default=300),
        wait_sleep=dict(type="float", default=2),
        http_gate=dict(type="dict", options=dict(
            endpoints=dict(type="list", elements="dict", required=True),
            timeout=dict(type="float", default=60),
            interval=dict(type="float", default=2),
        )),
    )
    return spec


SECRET_RULES = [
    validation.at_least("request_timeout", 0, inclusive=False),
    validation.at_least("wait_timeout", 0, inclusive=False),
    validation.at_most("wait_timeout", 3600),
    validation.at_least("wait_sleep", 0, inclusive=False),
    validation.not_empty("data"),
    validation.http_status("http_gate.endpoints.status_codes"),
]
