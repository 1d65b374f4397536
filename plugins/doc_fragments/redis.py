# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment(object):
    """Connection options shared by the runbook.ops Redis modules."""

    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or address of the Redis server.
    type: str
    default: localhost
  port:
    description:
      - TCP port of the Redis server.
    type: int
    default: 6379
  login_user:
    description:
      - ACL user name (Redis 6 and later). When set, C(AUTH <user> <password>) is sent;
        otherwise C(AUTH <password>) for the default user. Requires O(login_password).
    type: str
  login_password:
    description:
      - Password (C(requirepass) or the ACL user's). No C(AUTH) is sent when not set.
        Never shown in results or messages.
      - Defaults to E(REDISCLI_AUTH) when set, as for C(redis-cli). The variable is read in the
        environment of the module's process, on the host that runs it; an option set in the task or in
        C(module_defaults) wins.
    type: str
  db:
    description:
      - Database number to C(SELECT) after connecting.
    type: int
    default: 0
  tls:
    description:
      - Connect over TLS.
    type: bool
    default: false
  validate_certs:
    description:
      - With O(tls=true), verify the server's certificate chain and host name.
    type: bool
    default: true
  ca_path:
    description:
      - CA PEM file or hashed directory to verify the server against; the system store when not set.
    type: path
  connect_timeout:
    description:
      - Seconds allowed to connect and for each reply.
    type: float
    default: 5
"""
