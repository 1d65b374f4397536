#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: maintenance_mode
short_description: Put a maintenance page in front of a web application, and take it away
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Turns maintenance mode on and off for an application behind a web server (nginx) that checks a flag file,
    the static-site runbook's C(maintenance:enable --message) and C(maintenance:disable).
  - With O(state=on) the module writes the maintenance page (O(page_name), with O(notice)) into O(path),
    then creates the flag file O(flag_name) next to it. The web server answers every request with
    C(503 Service Unavailable) and the page while the flag exists (see the nginx configuration in the notes).
    With O(state=off) it removes the flag; the page stays for the next time.
  - Files are written through a temporary file and a rename, page first, so the web server never serves a
    half-written or stale page.
  - nginx evaluates C(if (-f ...)) on every request, so no reload is needed. O(reload_command) runs a command
    (an argument list, no shell) after a change, for servers whose configuration must be reloaded.
  - With O(verify_url) the module then requests that URL until it answers as expected (503 with the page
    while on; anything but the page while off) or O(verify_timeout) passes; a failure is a critical check.
  - A switch that could not be carried out (the directory cannot be created or written) fails the task; the
    failed result keeps C(status), C(checks), C(metrics) and C(summary). A reload or a verification that failed
    after the switch is a critical check of a successful result, for the health gate.
  - Idempotent; check mode reports what would change and changes nothing; C(--diff) shows the page and the flag.
extends_documentation_fragment:
  - runbook.ops.attributes
options:
  state:
    description:
      - V(on) serves the maintenance page, V(off) serves the application again.
      - Quote it in YAML (C("on")); an unquoted C(on) is read as a boolean and still understood.
    type: str
    choices: ["on", "off"]
    required: true
  path:
    description:
      - Directory of the maintenance page and the flag file; created when missing. The web server reads it
        (for nginx in a container, bind-mount it into the container).
    type: path
    required: true
  notice:
    description:
      - The message on the built-in page (HTML-escaped), the runbook's C(maintenance:enable --message).
    type: str
    default: We are performing scheduled maintenance. Please try again in a few minutes.
  title:
    description:
      - The title and heading of the built-in page (HTML-escaped).
    type: str
    default: Down for maintenance
  page_content:
    description:
      - A complete page to serve instead of the built-in one (written verbatim; use a Jinja template for variables).
    type: str
  page_name:
    description:
      - File name of the page inside O(path).
    type: str
    default: maintenance.html
  flag_name:
    description:
      - File name of the flag inside O(path); the web server's configuration tests for it.
    type: str
    default: maintenance.on
  reload_command:
    description:
      - Command run after a change, as a list of arguments without a shell, for example
        V([nginx, -s, reload]) or V([docker, exec, lb, nginx, -s, reload]). Not needed with the
        C(if (-f ...)) configuration. A non-zero exit is a critical check.
    type: list
    elements: str
  verify_url:
    description:
      - URL in front of the application (the load balancer) to verify the switch with. On, it must answer 503
        with the page; off, anything but the page.
    type: str
  verify_timeout:
    description:
      - Seconds O(verify_url) has to answer as expected; more than 0, at most 3600.
      - The wait ends at once, failing the task, when the task that started the module is killed.
    type: float
    default: 10
  validate_certs:
    description:
      - Verify the TLS certificate of an C(https) O(verify_url).
    type: bool
    default: true
attributes:
  check_mode:
    description: Reports what would change (and the diff) and changes nothing; no command, no verification.
    support: full
  diff_mode:
    description: The page's text before and after, and the flag's presence.
    support: full
  action_group:
    description: Not in any action group (it takes no connection settings).
    support: none
    membership: []
notes:
  - "nginx, in the C(server) in front of the application (the flag directory here is C(/var/www/maintenance)):"
  - "C(error_page 503 @maintenance;)"
  - "C(location / { if (-f /var/www/maintenance/maintenance.on) { return 503; } proxy_pass http://app; })"
  - "C(location @maintenance { root /var/www/maintenance; rewrite ^ /maintenance.html break;
    add_header Retry-After 300 always; add_header Cache-Control no-store always; })"
  - The same snippet, commented, is in docs/maintenance_mode.md.
seealso:
  - module: runbook.ops.http_check
"""

EXAMPLES = r"""
- name: Maintenance on, with the runbook's message, verified through the load balancer
  runbook.ops.maintenance_mode:
    state: "on"
    path: /var/www/maintenance
    notice: Emergency maintenance in progress
    verify_url: http://127.0.0.1/

- name: Maintenance off
  runbook.ops.maintenance_mode:
    state: "off"
    path: /var/www/maintenance
    verify_url: http://127.0.0.1/

- name: nginx in a container whose configuration must be reloaded
  runbook.ops.maintenance_mode:
    state: "on"
    path: /srv/lb/maintenance
    reload_command: [docker, exec, finchat-lb, nginx, -s, reload]
"""

RETURN = r"""
schema:
  description: Result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
status:
  description: V(critical) when a file could not be written (the task fails), the reload failed or the verification failed; else V(ok).
  returned: always
  type: str
  sample: ok
severity:
  description: P1 for a failure, P3 when all is ok.
  returned: always
  type: str
  sample: P3
summary:
  description: One line for people.
  returned: always
  type: str
  sample: "maintenance: 2 checks ok"
checks:
  description:
    - C(maintenance.state) (on or off, since when; what changed or would change), C(maintenance.reload) when
      O(reload_command) ran, C(maintenance.verify) when O(verify_url) was checked.
  returned: always
  type: list
  elements: dict
metrics:
  description: C(maintenance_on) (1 or 0, the state after the run; the current one in check mode).
  returned: always
  type: dict
state:
  description: The state after the run (in check mode, the state it would have).
  returned: always
  type: str
  sample: "on"
since:
  description: When maintenance was turned on (UTC, the flag's modification time); null while off.
  returned: always
  type: str
  sample: "2026-11-22T02:00:00Z"
page:
  description: Path of the maintenance page.
  returned: always
  type: str
  sample: /var/www/maintenance/maintenance.html
flag:
  description: Path of the flag file.
  returned: always
  type: str
  sample: /var/www/maintenance/maintenance.on
actions:
  description: What was done (or would be in check mode) among V(write_page), V(create_flag), V(remove_flag), V(reload).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.host import maintenance_page_plan, maintenance_page_runner

OPTIONS = dict(
    state=dict(type="str", choices=["on", "off"], required=True),
    path=dict(type="path", required=True),
    notice=dict(type="str", default=maintenance_page_plan.DEFAULT_MESSAGE),
    title=dict(type="str", default=maintenance_page_plan.DEFAULT_TITLE),
    page_content=dict(type="str"),
    page_name=dict(type="str", default="maintenance.html"),
    flag_name=dict(type="str", default="maintenance.on"),
    reload_command=dict(type="list", elements="str"),
    verify_url=dict(type="str"),
    verify_timeout=dict(type="float", default=10),
    validate_certs=dict(type="bool", default=True),
)


def argspec():
    """This module's options (it shares no connection settings with others)."""
    return dict(argument_spec=dict(OPTIONS))


def main():
    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec())
    maintenance_page_runner.run(module)


if __name__ == "__main__":
    main()
