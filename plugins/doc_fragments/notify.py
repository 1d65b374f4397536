# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment(object):
    """Options of the notifications: the notify module's (DOCUMENTATION) and the report callback's
    notify_* options with their environment variables and ansible.cfg keys (CALLBACK)."""

    DOCUMENTATION = r"""
options:
  threshold:
    description:
    - 'Notify only after this many consecutive failed runs of the same check (1: at the first failure).
      A run in which the check is ok starts the count again.'
    type: int
    default: 1
  platforms:
    description:
    - Host name to platform, overriding the platform of a host. When not given, the C(platforms) that
      the report callback recorded in the report are used, else the host's name.
    type: dict
  report_url:
    description:
    - Base URL under which the reports are published; links point at C(<report_url>/<run directory>/report.md).
      Without it, links are C(file://) paths on the controller.
    type: str
  timeout:
    description:
    - Seconds to wait for one answer of a receiver (each HTTP request, each SMTP session).
    type: float
    default: 10
  retries:
    description:
    - Further attempts after a send failed in a way that may pass (connection refused, timeout, HTTP 5xx,
      HTTP 429, Slack C(ratelimited)); 0 to 10.
    type: int
    default: 3
  backoff:
    description:
    - Seconds before the first retry, doubled for each further one; never less than the receiver's C(Retry-After).
    type: float
    default: 1
  max_retry_after:
    description:
    - Longest C(Retry-After) (seconds) waited for; a receiver that asks for longer is given up on at once
      (a warning check), so a rate limit never holds the run.
    type: float
    default: 60
  lock_timeout:
    description:
    - Seconds to wait for the state file's lock while another run holds it.
    type: float
    default: 120
  ca_file:
    description:
    - CA bundle to verify the HTTPS receivers (and the SMTP server, unless O(smtp_ca_file) is set) instead
      of the system's.
    type: path
  validate_certs:
    description:
    - Verify the TLS certificates of the receivers.
    type: bool
    default: true
  pagerduty_routing_key:
    description:
    - 'Integration (routing) key of a PagerDuty Events API v2 integration. Enables the C(pagerduty) channel.
      A secret: never printed.'
    type: str
  pagerduty_url:
    description:
    - The Events API v2 endpoint.
    type: str
    default: https://events.pagerduty.com/v2/enqueue
  pagerduty_severities:
    description:
    - Incident levels sent to PagerDuty.
    type: list
    elements: str
    choices: &id001
    - P0
    - P1
    - P2
    - P3
    default:
    - P0
    - P1
  slack_token:
    description:
    - 'Slack bot token (C(xoxb-...)) with C(chat:write). Enables the C(slack) channel with O(slack_channel).
      A secret: never printed.'
    type: str
  slack_channel:
    description:
    - Slack channel (ID or name) that the alerts are posted to.
    type: str
  slack_api_url:
    description:
    - Base URL of Slack's Web API (C(chat.postMessage) and C(chat.update) are appended).
    type: str
    default: https://slack.com/api
  slack_severities:
    description:
    - Incident levels posted to Slack through the Web API.
    type: list
    elements: str
    choices: *id001
    default:
    - P0
    - P1
    - P2
  slack_webhook_url:
    description:
    - 'Slack incoming webhook URL: the simple alternative to the Web API (a new message each time). The
      URL is the secret: never printed.'
    type: str
  slack_webhook_severities:
    description:
    - Incident levels posted to the Slack incoming webhook.
    type: list
    elements: str
    choices: *id001
    default:
    - P0
    - P1
    - P2
  webhook_url:
    description:
    - URL that receives each event as JSON (schema C(runbook.ops/notification/v1)) with the run's report
      summary. Needs O(webhook_secret).
    type: str
  webhook_secret:
    description:
    - 'Shared secret of the HMAC-SHA256 signature of the webhook''s body, sent as C(sha256=<hex>) in the
      O(webhook_header) header. A secret: never printed.'
    type: str
  webhook_header:
    description:
    - Header that carries the webhook's signature.
    type: str
    default: X-Runbook-Ops-Signature
  webhook_severities:
    description:
    - Incident levels sent to the webhook.
    type: list
    elements: str
    choices: *id001
    default:
    - P0
    - P1
    - P2
  smtp_host:
    description:
    - SMTP server of the e-mail channel (one message per run, all of its events). Needs O(email_from)
      and O(email_to).
    type: str
  smtp_port:
    description:
    - Port of the SMTP server (submission).
    type: int
    default: 587
  smtp_username:
    description:
    - SMTP user, logged in after STARTTLS. Needs O(smtp_password).
    type: str
  smtp_password:
    description:
    - 'SMTP password. A secret: never printed.'
    type: str
  smtp_starttls:
    description:
    - Require STARTTLS before authenticating and sending (a server that does not offer it is a failed
      send).
    type: bool
    default: true
  smtp_ca_file:
    description:
    - CA bundle to verify the SMTP server's certificate.
    type: path
  email_from:
    description:
    - Sender address of the e-mails.
    type: str
  email_to:
    description:
    - Recipients of the e-mails.
    type: list
    elements: str
  email_severities:
    description:
    - Incident levels sent by e-mail.
    type: list
    elements: str
    choices: *id001
    default:
    - P0
    - P1
"""

    CALLBACK = r"""
options:
  notify_threshold:
    description:
    - 'Notify only after this many consecutive failed runs of the same check (1: at the first failure).
      A run in which the check is ok starts the count again.'
    type: int
    default: 1
    env:
    - name: RUNBOOK_OPS_NOTIFY_THRESHOLD
    ini:
    - section: callback_report
      key: notify_threshold
  notify_platform_groups:
    description:
    - 'Inventory groups that are platforms, in order of preference: a host''s platform is the first of
      them it belongs to, else the host''s own name. Part of every alert''s C(dedup_key), and the scope
      within which an open P0 holds back lower severities.'
    type: list
    elements: str
    default:
    - compose_app
    - k8s_app
    - django_app
    - static_site
    - sandbox
    env:
    - name: RUNBOOK_OPS_NOTIFY_PLATFORM_GROUPS
    ini:
    - section: callback_report
      key: notify_platform_groups
  notify_report_url:
    description:
    - Base URL under which the reports are published; links point at C(<report_url>/<run directory>/report.md).
      Without it, links are C(file://) paths on the controller.
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_REPORT_URL
    ini:
    - section: callback_report
      key: notify_report_url
  notify_timeout:
    description:
    - Seconds to wait for one answer of a receiver (each HTTP request, each SMTP session).
    type: float
    default: 10
    env:
    - name: RUNBOOK_OPS_NOTIFY_TIMEOUT
    ini:
    - section: callback_report
      key: notify_timeout
  notify_retries:
    description:
    - Further attempts after a send failed in a way that may pass (connection refused, timeout, HTTP 5xx,
      HTTP 429, Slack C(ratelimited)); 0 to 10.
    type: int
    default: 3
    env:
    - name: RUNBOOK_OPS_NOTIFY_RETRIES
    ini:
    - section: callback_report
      key: notify_retries
  notify_backoff:
    description:
    - Seconds before the first retry, doubled for each further one; never less than the receiver's C(Retry-After).
    type: float
    default: 1
    env:
    - name: RUNBOOK_OPS_NOTIFY_BACKOFF
    ini:
    - section: callback_report
      key: notify_backoff
  notify_max_retry_after:
    description:
    - Longest C(Retry-After) (seconds) waited for; a receiver that asks for longer is given up on at once
      (a warning check), so a rate limit never holds the run.
    type: float
    default: 60
    env:
    - name: RUNBOOK_OPS_NOTIFY_MAX_RETRY_AFTER
    ini:
    - section: callback_report
      key: notify_max_retry_after
  notify_lock_timeout:
    description:
    - Seconds to wait for the state file's lock while another run holds it.
    type: float
    default: 120
    env:
    - name: RUNBOOK_OPS_NOTIFY_LOCK_TIMEOUT
    ini:
    - section: callback_report
      key: notify_lock_timeout
  notify_ca_file:
    description:
    - CA bundle to verify the HTTPS receivers (and the SMTP server, unless O(notify_smtp_ca_file) is set)
      instead of the system's.
    type: path
    env:
    - name: RUNBOOK_OPS_NOTIFY_CA_FILE
    ini:
    - section: callback_report
      key: notify_ca_file
  notify_validate_certs:
    description:
    - Verify the TLS certificates of the receivers.
    type: bool
    default: true
    env:
    - name: RUNBOOK_OPS_NOTIFY_VALIDATE_CERTS
    ini:
    - section: callback_report
      key: notify_validate_certs
  notify_pagerduty_routing_key:
    description:
    - 'Integration (routing) key of a PagerDuty Events API v2 integration. Enables the C(pagerduty) channel.
      A secret: never printed.'
    - Only from the environment, never from C(ansible.cfg).
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_PAGERDUTY_ROUTING_KEY
  notify_pagerduty_url:
    description:
    - The Events API v2 endpoint.
    type: str
    default: https://events.pagerduty.com/v2/enqueue
    env:
    - name: RUNBOOK_OPS_NOTIFY_PAGERDUTY_URL
    ini:
    - section: callback_report
      key: notify_pagerduty_url
  notify_pagerduty_severities:
    description:
    - Incident levels sent to PagerDuty.
    type: list
    elements: str
    choices: &id001
    - P0
    - P1
    - P2
    - P3
    default:
    - P0
    - P1
    env:
    - name: RUNBOOK_OPS_NOTIFY_PAGERDUTY_SEVERITIES
    ini:
    - section: callback_report
      key: notify_pagerduty_severities
  notify_slack_token:
    description:
    - 'Slack bot token (C(xoxb-...)) with C(chat:write). Enables the C(slack) channel with O(notify_slack_channel).
      A secret: never printed.'
    - Only from the environment, never from C(ansible.cfg).
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_SLACK_TOKEN
  notify_slack_channel:
    description:
    - Slack channel (ID or name) that the alerts are posted to.
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_SLACK_CHANNEL
    ini:
    - section: callback_report
      key: notify_slack_channel
  notify_slack_api_url:
    description:
    - Base URL of Slack's Web API (C(chat.postMessage) and C(chat.update) are appended).
    type: str
    default: https://slack.com/api
    env:
    - name: RUNBOOK_OPS_NOTIFY_SLACK_API_URL
    ini:
    - section: callback_report
      key: notify_slack_api_url
  notify_slack_severities:
    description:
    - Incident levels posted to Slack through the Web API.
    type: list
    elements: str
    choices: *id001
    default:
    - P0
    - P1
    - P2
    env:
    - name: RUNBOOK_OPS_NOTIFY_SLACK_SEVERITIES
    ini:
    - section: callback_report
      key: notify_slack_severities
  notify_slack_webhook_url:
    description:
    - 'Slack incoming webhook URL: the simple alternative to the Web API (a new message each time). The
      URL is the secret: never printed.'
    - Only from the environment, never from C(ansible.cfg).
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_SLACK_WEBHOOK_URL
  notify_slack_webhook_severities:
    description:
    - Incident levels posted to the Slack incoming webhook.
    type: list
    elements: str
    choices: *id001
    default:
    - P0
    - P1
    - P2
    env:
    - name: RUNBOOK_OPS_NOTIFY_SLACK_WEBHOOK_SEVERITIES
    ini:
    - section: callback_report
      key: notify_slack_webhook_severities
  notify_webhook_url:
    description:
    - URL that receives each event as JSON (schema C(runbook.ops/notification/v1)) with the run's report
      summary. Needs O(notify_webhook_secret).
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_WEBHOOK_URL
    ini:
    - section: callback_report
      key: notify_webhook_url
  notify_webhook_secret:
    description:
    - 'Shared secret of the HMAC-SHA256 signature of the webhook''s body, sent as C(sha256=<hex>) in the
      O(notify_webhook_header) header. A secret: never printed.'
    - Only from the environment, never from C(ansible.cfg).
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_WEBHOOK_SECRET
  notify_webhook_header:
    description:
    - Header that carries the webhook's signature.
    type: str
    default: X-Runbook-Ops-Signature
    env:
    - name: RUNBOOK_OPS_NOTIFY_WEBHOOK_HEADER
    ini:
    - section: callback_report
      key: notify_webhook_header
  notify_webhook_severities:
    description:
    - Incident levels sent to the webhook.
    type: list
    elements: str
    choices: *id001
    default:
    - P0
    - P1
    - P2
    env:
    - name: RUNBOOK_OPS_NOTIFY_WEBHOOK_SEVERITIES
    ini:
    - section: callback_report
      key: notify_webhook_severities
  notify_smtp_host:
    description:
    - SMTP server of the e-mail channel (one message per run, all of its events). Needs O(notify_email_from)
      and O(notify_email_to).
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_SMTP_HOST
    ini:
    - section: callback_report
      key: notify_smtp_host
  notify_smtp_port:
    description:
    - Port of the SMTP server (submission).
    type: int
    default: 587
    env:
    - name: RUNBOOK_OPS_NOTIFY_SMTP_PORT
    ini:
    - section: callback_report
      key: notify_smtp_port
  notify_smtp_username:
    description:
    - SMTP user, logged in after STARTTLS. Needs O(notify_smtp_password).
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_SMTP_USERNAME
    ini:
    - section: callback_report
      key: notify_smtp_username
  notify_smtp_password:
    description:
    - 'SMTP password. A secret: never printed.'
    - Only from the environment, never from C(ansible.cfg).
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_SMTP_PASSWORD
  notify_smtp_starttls:
    description:
    - Require STARTTLS before authenticating and sending (a server that does not offer it is a failed
      send).
    type: bool
    default: true
    env:
    - name: RUNBOOK_OPS_NOTIFY_SMTP_STARTTLS
    ini:
    - section: callback_report
      key: notify_smtp_starttls
  notify_smtp_ca_file:
    description:
    - CA bundle to verify the SMTP server's certificate.
    type: path
    env:
    - name: RUNBOOK_OPS_NOTIFY_SMTP_CA_FILE
    ini:
    - section: callback_report
      key: notify_smtp_ca_file
  notify_email_from:
    description:
    - Sender address of the e-mails.
    type: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_EMAIL_FROM
    ini:
    - section: callback_report
      key: notify_email_from
  notify_email_to:
    description:
    - Recipients of the e-mails.
    type: list
    elements: str
    env:
    - name: RUNBOOK_OPS_NOTIFY_EMAIL_TO
    ini:
    - section: callback_report
      key: notify_email_to
  notify_email_severities:
    description:
    - Incident levels sent by e-mail.
    type: list
    elements: str
    choices: *id001
    default:
    - P0
    - P1
    env:
    - name: RUNBOOK_OPS_NOTIFY_EMAIL_SEVERITIES
    ini:
    - section: callback_report
      key: notify_email_severities
  notify_state_file:
    description:
    - The state file of the open alerts (dedup keys, consecutive failures, Slack's message C(ts)). Locked
      while a run reads and writes it.
    - Default C(notify-state.json) in the directory the run directories are written to (see O(report_dir)); a per-job
      report directory (ansible-runner, AWX) needs a persistent path here.
    type: path
    env:
    - name: RUNBOOK_OPS_NOTIFY_STATE_FILE
    ini:
    - section: callback_report
      key: notify_state_file
"""
