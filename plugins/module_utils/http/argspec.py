# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of the HTTP and TLS modules (http_check, tls_check).

Each function returns the keyword arguments for ``AnsibleModule``: the options and
the rules declared on them. Both modules take ``timeout``, ``validate_certs`` and
``ca_path`` at the top level as defaults and again per endpoint; they are built once
here (``tls_options``).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict

from ansible_collections.runbook.ops.plugins.module_utils.common import validation


def tls_options(with_defaults: bool) -> Dict[str, Dict[str, Any]]:
    """``timeout``, ``validate_certs`` and ``ca_path``: with their defaults at the top
    level of a module, without them for an endpoint (which falls back to the top level)."""
    options: Dict[str, Dict[str, Any]] = dict(
        timeout=dict(type="float"),
        validate_certs=dict(type="bool"),
        ca_path=dict(type="path"),
    )
    if with_defaults:
        options["timeout"]["default"] = 10
        options["validate_certs"]["default"] = True
    return options


def http_check_argspec() -> Dict[str, Any]:
    """``http_check``: the endpoints, and top-level defaults for each endpoint setting."""
    condition = dict(
        path=dict(type="str"),
        op=dict(type="str", default="eq"),
        value=dict(type="raw"),
    )
    endpoint = dict(
        name=dict(type="str"),
        url=dict(type="str"),
        method=dict(type="str"),
        body=dict(type="raw"),
        headers=dict(type="dict"),
        bearer_token=dict(type="str", no_log=True),
        status_codes=dict(type="list", elements="int"),
        json_conditions=dict(type="list", elements="dict", options=condition),
        body_regex=dict(type="str"),
        latency_warning=dict(type="float"),
        latency_critical=dict(type="float"),
        retries=dict(type="int"),
        retry_backoff=dict(type="float"),
        follow_redirects=dict(type="bool"),
        **tls_options(with_defaults=False),
    )
    spec = dict(
        endpoints=dict(type="list", elements="dict", required=True, options=endpoint),
        method=dict(type="str", default="GET"),
        headers=dict(type="dict", default={}),
        bearer_token=dict(type="str", no_log=True),
        status_codes=dict(type="list", elements="int", default=[200]),
        json_conditions=dict(type="list", elements="dict", default=[]),
        body_regex=dict(type="str"),
        latency_warning=dict(type="float"),
        latency_critical=dict(type="float"),
        retries=dict(type="int", default=0),
        retry_backoff=dict(type="float", default=0.5),
        follow_redirects=dict(type="bool", default=True),
        max_workers=dict(type="int", default=32),
        **tls_options(with_defaults=True),
    )
    return dict(argument_spec=spec)


def tls_check_argspec() -> Dict[str, Any]:
    """``tls_check``: endpoints and certificate files, with top-level defaults."""
    def days() -> Dict[str, Dict[str, Any]]:
        return dict(warning_days=dict(type="float"), critical_days=dict(type="float"))

    endpoint = dict(
        name=dict(type="str"),
        host=dict(type="str"),
        port=dict(type="int"),
        server_name=dict(type="str"),
        **days(),
        **tls_options(with_defaults=False),
    )
    cert_file = dict(
        name=dict(type="str"),
        path=dict(type="path"),
        **days(),
    )
    spec = dict(
        endpoints=dict(type="list", elements="dict", default=[], options=endpoint),
        files=dict(type="list", elements="dict", default=[], options=cert_file),
        warning_days=dict(type="float", default=30),
        critical_days=dict(type="float", default=7),
        max_workers=dict(type="int", default=16),
        **tls_options(with_defaults=True),
    )
    return dict(argument_spec=spec)


# Ranges and orderings of http_check's and tls_check's options (``common/validation.py``);
# every number is also finite and not negative, and a timeout at most a year.
RULES = [
    validation.at_least("max_workers", 1),
    validation.at_least("timeout", 0, inclusive=False),
    validation.at_least("endpoints.timeout", 0, inclusive=False),
    validation.at_most("retries", 100),
    validation.at_most("endpoints.retries", 100),
    validation.http_status("status_codes"),
    validation.http_status("endpoints.status_codes"),
    validation.port("endpoints.port"),
    validation.ordered("latency_warning", "latency_critical"),
    validation.ordered("endpoints.latency_warning", "endpoints.latency_critical"),
    validation.ordered("warning_days", "critical_days", high_is_bad=False),
    validation.ordered("endpoints.warning_days", "endpoints.critical_days", high_is_bad=False),
    validation.ordered("files.warning_days", "files.critical_days", high_is_bad=False),
    validation.not_empty("files.path"),
    validation.hostname("endpoints.host"),
    validation.hostname("endpoints.server_name"),
]
