#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: tls_check
short_description: Days until TLS certificates expire, for endpoints and PEM files
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Reads the certificate of each TLS endpoint (with SNI) and of each PEM file on the managed host,
    and reports how many days are left before it expires.
  - One check C(tls.<name>) per target; its value holds the subject, issuer, SANs, serial,
    not_before, not_after and days_left. Fewer than O(critical_days) days left, an expired
    certificate or one not yet valid is critical; fewer than O(warning_days) is a warning.
  - For endpoints the certificate is read without verification, so an untrusted certificate still
    gets its dates reported. Unless O(validate_certs=false), a second handshake checks that the chain
    verifies against the CA store (or O(ca_path)) and matches the server name; its outcome is the
    separate check C(tls.<name>.verify), critical when it does not verify.
  - An endpoint that cannot be reached (refused, DNS failure, timeout) is a critical check with
    severity P0. A failed TLS handshake is critical (P1).
  - Uses only the Python standard library (a small DER reader), so it runs where only python3 exists.
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.endpoints
options:
  endpoints:
    description:
      - TLS endpoints to check.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name used in C(tls.<name>) and the C(target) metric label. Defaults to C(<host>_<port>).
        type: str
      host:
        description:
          - Host name or address to connect to, optionally with the port as C(host:port) or C([v6addr]:port). Required.
        type: str
      port:
        description:
          - TCP port. Defaults to the port in O(endpoints[].host), else 443.
        type: int
      server_name:
        description:
          - Name sent as SNI and matched against the certificate. Defaults to O(endpoints[].host).
        type: str
      timeout:
        description:
          - Connect and handshake timeout in seconds. Defaults to O(timeout).
        type: float
      validate_certs:
        description:
          - Also check that the certificate verifies. Defaults to O(validate_certs).
        type: bool
      ca_path:
        description:
          - CA PEM file or hashed directory to verify against. Defaults to O(ca_path).
        type: path
      warning_days:
        description:
          - Warning below this many days left. Defaults to O(warning_days).
        type: float
      critical_days:
        description:
          - Critical below this many days left. Defaults to O(critical_days).
        type: float
  files:
    description:
      - Certificate files on the managed host (PEM, or a single DER certificate). For a bundle the first
        certificate (the leaf of a full chain) is checked.
      - A file that is missing, cannot be read or holds no certificate is a critical C(tls.<name>) check (its
        C(value) has C(source) and C(error) V(unreadable) or V(not_a_certificate)), not a task failure.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name used in C(tls.<name>). Defaults to the file's base name.
        type: str
      path:
        description:
          - Path of the certificate file. Required.
        type: path
      warning_days:
        description:
          - Warning below this many days left. Defaults to O(warning_days).
        type: float
      critical_days:
        description:
          - Critical below this many days left. Defaults to O(critical_days).
        type: float
  warning_days:
    description:
      - Default warning threshold in days.
    type: float
    default: 30
  critical_days:
    description:
      - Default critical threshold in days.
    type: float
    default: 7
  max_workers:
    description:
      - Most endpoints probed at the same time.
    type: int
    default: 16
attributes:
  check_mode:
    support: full
    details: Runs the same read-only probes as a normal run; C(changed) is always false.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.health]
seealso:
  - module: community.crypto.get_certificate
  - module: runbook.ops.http_check
"""

EXAMPLES = r"""
- name: Certificates of the public API and the one on disk
  runbook.ops.tls_check:
    endpoints:
      - host: api.sec-analysis.com
      - name: grafana
        host: 10.0.0.5:8443
        server_name: grafana.sec-analysis.com
    files:
      - path: /etc/nginx/certs/fullchain.pem
  register: tls

- name: A service with a private CA, tighter thresholds
  runbook.ops.tls_check:
    warning_days: 21
    critical_days: 5
    ca_path: /etc/ssl/private-ca.pem
    endpoints:
      - host: postgres.internal:5433
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: warning
severity:
  description: P0 when an endpoint is unreachable, P1 for other critical checks, P2 for warnings, P3 when all is ok.
  returned: always
  type: str
  sample: P2
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "tls: tls.api certificate api.example.com expires in 20.0 days (2026-12-12T08:00:00Z), warning below 30 days"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: >-
    C(tls.<name>) per target (expiry), and C(tls.<name>.verify) per endpoint when certificates are validated.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: tls.api
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P0 to P3.
      type: str
    message:
      description: What was found, for example C(certificate api expires in 5.0 days (...), critical below 7 days).
      type: str
    value:
      description: >-
        For expiry checks C(source), C(subject), C(issuer), C(sans), C(serial), C(not_before), C(not_after)
        (ISO 8601 UTC), C(days_left); endpoints add C(server_name) and C(verified); files add
        C(certificates_in_file). For verify checks C(verified) and C(error).
      type: dict
    threshold:
      description: C(warning_days) and C(critical_days) for expiry checks.
      type: dict
metrics:
  description: >-
    C(tls_cert_expiry_seconds{target="..."}) (seconds until the certificate expires, negative once expired),
    C(tls_cert_not_after_timestamp_seconds{target="..."}) (Unix seconds),
    and for endpoints C(tls_up{target="..."}) and C(tls_cert_verified{target="..."}).
  returned: always
  type: dict
  sample: {"tls_cert_expiry_seconds{target=\"api\"}": 1728000.0}
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.http import argspec, tls_runner


def main() -> None:
    module = arguments.new_module(AnsibleModule, **argspec.tls_check_argspec(), supports_check_mode=True)
    tls_runner.run(module)


if __name__ == "__main__":
    main()
