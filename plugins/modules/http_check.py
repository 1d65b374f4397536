#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: http_check
short_description: Check many HTTP endpoints concurrently in one task
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Probes all endpoints concurrently (at most O(max_workers) at a time) and returns one
    C(runbook.ops/result/v1) result with one check per endpoint, named C(http.<endpoint name>).
  - Each endpoint is judged on its HTTP status code, optional conditions on fields of a JSON body,
    an optional regular expression on the body, and latency thresholds.
  - An endpoint that cannot be reached at all (connection refused, DNS failure, timeout, connection
    reset) or that answers with an unexpected 5xx status (what the runbooks call system down when
    the health endpoint returns 500) is a critical check with severity P0. A TLS verification failure, another unexpected
    status, a failed JSON condition or a missing body match is critical (P1). Latency over a threshold is a
    warning or critical. None of these fail the task; only invalid parameters do.
  - Uses only the Python standard library, so it runs on minimal hosts and containers.
  - Options other than O(endpoints) and O(max_workers) are defaults for every endpoint; an
    endpoint's own value wins. O(headers) are merged, the endpoint's headers winning.
  - Credentials (O(bearer_token), the values of C(Authorization), C(Proxy-Authorization),
    C(Cookie), C(X-Api-Key) and C(X-Auth-Token) headers, and a password in the URL) never appear in
    the output.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.endpoints
options:
  endpoints:
    description:
      - The endpoints to check. At least one.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the endpoint, used in the check name C(http.<name>) and the metric label.
          - "May hold letters, digits and the characters C(_.:/@-)."
          - Defaults to the URL's host, port and path joined by C(_), for example C(localhost_8000_health).
        type: str
      url:
        description:
          - The C(http://) or C(https://) URL to request. Required.
        type: str
      method:
        description:
          - HTTP method, one of C(GET), C(HEAD), C(POST). Defaults to the top-level O(method).
        type: str
      body:
        description:
          - Request body for C(POST). A dict or list is sent as JSON with C(Content-Type application/json).
        type: raw
      headers:
        description:
          - Extra request headers, merged over the top-level O(headers).
        type: dict
      bearer_token:
        description:
          - Token sent as C(Authorization Bearer <token>). Never shown in the output.
        type: str
      status_codes:
        description:
          - Acceptable HTTP status codes. Defaults to the top-level O(status_codes).
        type: list
        elements: int
      json_conditions:
        description:
          - Conditions on fields of the JSON response body; all must hold.
          - Defaults to the top-level O(json_conditions).
        type: list
        elements: dict
        suboptions:
          path:
            description:
              - Dotted path into the JSON body, for example C(status) or C(checks.db.status) or C(items.0.id).
            type: str
          op:
            description:
              - Comparison, one of C(eq), C(ne), C(in) (value is a list), C(lt), C(le), C(gt), C(ge)
                (numbers), C(exists) (value true or false).
            type: str
            default: eq
          value:
            description:
              - The value to compare with.
            type: raw
      body_regex:
        description:
          - Python regular expression that must match somewhere in the body, for example C(finchat_).
          - Searched in multi-line mode, so C(^) and C($) match at each line.
        type: str
      latency_warning:
        description:
          - Latency in seconds at or above which the check is a warning.
        type: float
      latency_critical:
        description:
          - Latency in seconds at or above which the check is critical.
        type: float
      timeout:
        description:
          - Socket timeout in seconds for connecting and for each read.
        type: float
      retries:
        description:
          - How many times to retry an endpoint whose answer is unhealthy (not reachable, unexpected
            status, failed JSON condition or body match). A slow answer is not retried.
        type: int
      retry_backoff:
        description:
          - Seconds before the first retry; doubled before each further retry.
        type: float
      validate_certs:
        description:
          - Verify the server's TLS certificate and host name.
        type: bool
      ca_path:
        description:
          - PEM file (or directory of hashed certificates) of CAs to trust instead of the system store.
        type: path
      follow_redirects:
        description:
          - Follow HTTP redirects. When false, a redirect is judged by its own status code.
        type: bool
  method:
    description:
      - Default HTTP method, one of C(GET), C(HEAD), C(POST).
    type: str
    default: GET
  headers:
    description:
      - Default request headers.
    type: dict
    default: {}
  bearer_token:
    description:
      - Default bearer token. Never shown in the output.
    type: str
  status_codes:
    description:
      - Default acceptable HTTP status codes.
    type: list
    elements: int
    default: [200]
  json_conditions:
    description:
      - Default JSON conditions, with the same keys as the endpoint's O(endpoints[].json_conditions).
    type: list
    elements: dict
    default: []
  body_regex:
    description:
      - Default regular expression the body must match.
    type: str
  latency_warning:
    description:
      - Default latency warning threshold in seconds.
    type: float
  latency_critical:
    description:
      - Default latency critical threshold in seconds.
    type: float
  retries:
    description:
      - Default number of retries.
    type: int
    default: 0
  retry_backoff:
    description:
      - Default seconds before the first retry; doubled before each further retry.
    type: float
    default: 0.5
  follow_redirects:
    description:
      - Default for following redirects.
    type: bool
    default: true
  max_workers:
    description:
      - Most endpoints probed at the same time.
    type: int
    default: 32
attributes:
  check_mode:
    support: full
    details: Sends the same requests as a normal run (a C(POST) endpoint too); C(changed) is always false.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.health]
seealso:
  - module: ansible.builtin.uri
  - module: runbook.ops.tls_check
"""

EXAMPLES = r"""
- name: Check the API, the web app and the metrics endpoint at once
  runbook.ops.http_check:
    latency_warning: 0.5
    latency_critical: 2
    retries: 2
    endpoints:
      - name: api_health
        url: http://localhost:8000/health
        json_conditions:
          - {path: status, op: eq, value: healthy}
      - name: webapp
        url: http://localhost:5000/
      - name: api_metrics
        url: http://localhost:8000/metrics
        body_regex: finchat_
  register: http

- name: An authenticated endpoint behind TLS with a private CA
  runbook.ops.http_check:
    endpoints:
      - url: https://api.internal:8443/admin/status
        bearer_token: "{{ vault_api_token }}"
        ca_path: /etc/ssl/private-ca.pem
        status_codes: [200, 204]
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: critical
severity:
  description: P0 when an endpoint is unreachable or answers 5xx, P1 for other critical checks, P2 for warnings, P3 when all is ok.
  returned: always
  type: str
  sample: P0
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "http: http.api_health HTTP 500, expected [200]"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: One check per endpoint, in the order of O(endpoints).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: C(http.<endpoint name>).
      type: str
      sample: http.api_health
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P0 to P3.
      type: str
    message:
      description: What was seen, for example C(HTTP 200 in 0.012s), C(connection refused), C(timed out after 2s).
      type: str
    value:
      description: >-
        C(url) (password redacted), C(method), C(status_code) (null without an answer), C(latency_seconds),
        C(attempts), and C(error) (C(dns), C(refused), C(timeout), C(connection), C(protocol) for no answer, which are
        P0; C(tls) or C(error) for an untrusted certificate or another failure, P1) when no valid answer came back.
      type: dict
    threshold:
      description: C(status_codes), C(latency_warning), C(latency_critical).
      type: dict
metrics:
  description: >-
    C(http_latency_seconds{endpoint="..."}), C(http_status_code{endpoint="..."}) (0 without an answer) and
    C(http_up{endpoint="..."}) (1 when the endpoint answered and its check is not critical).
  returned: always
  type: dict
  sample: {"http_up{endpoint=\"api_health\"}": 1.0}
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.http import argspec, probe_runner


def main() -> None:
    module = arguments.new_module(AnsibleModule, **argspec.http_check_argspec(), supports_check_mode=True)
    probe_runner.run(module)


if __name__ == "__main__":
    main()
