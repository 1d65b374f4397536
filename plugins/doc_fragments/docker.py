# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment(object):
    """Connection options shared by the runbook.ops modules that talk to the Docker engine."""

    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - URL of the Docker engine API, C(unix:///path/to/docker.sock) or C(tcp://host:port)
        (C(https) is used with O(tls=true)).
      - Defaults to the E(DOCKER_HOST) environment variable when set.
    type: str
    default: unix:///var/run/docker.sock
  api_version:
    description:
      - Docker API version to speak, for example C(1.41); C(auto) asks the engine.
      - Defaults to E(DOCKER_API_VERSION) when set.
    type: str
    default: auto
  timeout:
    description:
      - Seconds allowed for each API call.
      - Defaults to E(DOCKER_TIMEOUT) when set.
    type: int
    default: 30
  tls:
    description:
      - Connect to a C(tcp://) engine over TLS. Implied by O(validate_certs=true) or O(client_cert).
      - Defaults to E(DOCKER_TLS) when set.
    type: bool
    default: false
  validate_certs:
    description:
      - Verify the engine's certificate against O(ca_path) (or the system store) and its host name.
      - Defaults to E(DOCKER_TLS_VERIFY) when set.
    type: bool
    default: false
  ca_path:
    description:
      - CA certificate (PEM) to verify the engine against.
    type: path
  client_cert:
    description:
      - Client certificate (PEM) for engines that require TLS client authentication. Needs O(client_key).
    type: path
  client_key:
    description:
      - Private key (PEM) of O(client_cert).
    type: path
requirements:
  - Docker SDK for Python (C(docker)) 5.0 or later on the host that runs the module.
"""
