# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment(object):
    """Connection options shared by the runbook.ops PostgreSQL modules."""

    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or address of the PostgreSQL server.
      - Ignored when O(login_unix_socket) is set.
      - Defaults to E(PGHOST) when set (a directory there is a Unix socket's, as for libpq).
    type: str
    default: localhost
  port:
    description:
      - TCP port of the server (also the number in the Unix socket's file name).
      - Defaults to E(PGPORT) when set.
    type: int
    default: 5432
  login_user:
    description:
      - Role to log in as. Health checks need no more than membership in C(pg_monitor).
      - Defaults to E(PGUSER) when set.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Never shown in results or messages.
      - Defaults to E(PGPASSWORD) when set; otherwise libpq's C(~/.pgpass) applies.
    type: str
  database:
    description:
      - Database to connect to.
      - Defaults to E(PGDATABASE) when set.
    type: str
    default: postgres
  login_unix_socket:
    description:
      - Directory holding the server's Unix socket, for example C(/var/run/postgresql).
      - When set it is used instead of O(login_host).
    type: path
  ssl_mode:
    description:
      - libpq C(sslmode) for the connection.
      - Defaults to E(PGSSLMODE) when set.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate file (PEM) to verify the server against (libpq C(sslrootcert)),
        used with O(ssl_mode=verify-ca) or O(ssl_mode=verify-full).
      - Defaults to E(PGSSLROOTCERT) when set.
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the connection to be established.
      - Defaults to E(PGCONNECT_TIMEOUT) when set.
    type: int
    default: 10
requirements:
  - psycopg2 (on Debian C(python3-psycopg2)) on the host that runs the module.
notes:
  - Sessions identify themselves with C(application_name=runbook.ops).
  - "Connection settings are taken, in this order, from the task (or C(module_defaults) of the
    C(runbook.ops.postgres) action group), from the libpq environment variables E(PGHOST), E(PGPORT),
    E(PGUSER), E(PGPASSWORD), E(PGDATABASE), E(PGSSLMODE), E(PGSSLROOTCERT), E(PGCONNECT_TIMEOUT),
    then from the defaults above. The variables are read in the environment of the module's process,
    on the host that runs it: the controller or execution environment (where AWX credentials inject
    them) for a task delegated to C(localhost), the managed host otherwise (set them there with the
    task's C(environment) keyword)."
"""
