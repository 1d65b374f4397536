# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of the notifications, shared by the ``notify`` module and the report callback.

The module takes them as they are named here; the report callback as ``notify_<name>``
(environment ``RUNBOOK_OPS_NOTIFY_<NAME>``). Secrets are ``no_log``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict

from ansible_collections.runbook.ops.plugins.module_utils.common import validation

SECRETS = ("pagerduty_routing_key", "slack_token", "slack_webhook_url", "webhook_secret", "smtp_password")
SEVERITY_CHOICES = ["P0", "P1", "P2", "P3"]

# name -> (spec, default routing for *_severities)
OPTIONS: Dict[str, Dict[str, Any]] = dict(
    threshold=dict(type="int", default=1),
    platforms=dict(type="dict"),
    platform_groups=dict(type="list", elements="str",
                         default=["compose_app", "k8s_app", "django_app", "static_site", "sandbox"]),
    report_url=dict(type="str"),
    timeout=dict(type="float", default=10),
    retries=dict(type="int", default=3),
    backoff=dict(type="float", default=1),
    max_retry_after=dict(type="float", default=60),
    lock_timeout=dict(type="float", default=120),
    ca_file=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    pagerduty_routing_key=dict(type="str", no_log=True),
    pagerduty_url=dict(type="str", default="https://events.pagerduty.com/v2/enqueue"),
    pagerduty_severities=dict(type="list", elements="str", choices=SEVERITY_CHOICES, default=["P0", "P1"]),
    slack_token=dict(type="str", no_log=True),
    slack_channel=dict(type="str"),
    slack_api_url=dict(type="str", default="https://slack.com/api"),
    slack_severities=dict(type="list", elements="str", choices=SEVERITY_CHOICES, default=["P0", "P1", "P2"]),
    slack_webhook_url=dict(type="str", no_log=True),
    slack_webhook_severities=dict(type="list", elements="str", choices=SEVERITY_CHOICES,
                                  default=["P0", "P1", "P2"]),
    webhook_url=dict(type="str"),
    webhook_secret=dict(type="str", no_log=True),
    webhook_header=dict(type="str", default="X-Runbook-Ops-Signature"),
    webhook_severities=dict(type="list", elements="str", choices=SEVERITY_CHOICES, default=["P0", "P1", "P2"]),
    smtp_host=dict(type="str"),
    smtp_port=dict(type="int", default=587),
    smtp_username=dict(type="str"),
    smtp_password=dict(type="str", no_log=True),
    smtp_starttls=dict(type="bool", default=True),
    smtp_ca_file=dict(type="path"),
    email_from=dict(type="str"),
    email_to=dict(type="list", elements="str"),
    email_severities=dict(type="list", elements="str", choices=SEVERITY_CHOICES, default=["P0", "P1"]),
)

RULES = [
    validation.at_least("threshold", 1),
    validation.between("retries", 0, 10),
    validation.at_least("timeout", 0, inclusive=False),
    validation.at_most("timeout", 300),
    validation.at_most("max_retry_after", 3600),
    validation.at_most("lock_timeout", 3600),
    validation.port("smtp_port"),
]


def notify_argspec() -> Dict[str, Any]:
    """``notify``: the report to send, the state file, and the channels."""
    spec = {name: dict(value) for name, value in OPTIONS.items() if name != "platform_groups"}
    spec.update(
        report=dict(type="path", required=True),
        state_file=dict(type="path"),
        track=dict(type="bool", default=True),
    )
    return dict(
        argument_spec=spec,
        required_together=[("slack_token", "slack_channel"), ("smtp_host", "email_from", "email_to")],
        required_by=dict(webhook_url=["webhook_secret"], smtp_username=["smtp_password"]),
    )
