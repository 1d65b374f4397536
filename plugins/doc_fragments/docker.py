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
      - Defaults to C(ca.pem) in E(DOCKER_CERT_PATH) when that file exists and E(DOCKER_TLS_VERIFY) or
        E(DOCKER_TLS) is set, as the Docker CLI finds it.
    type: path
  client_cert:
    description:
      - Client certificate (PEM) for engines that require TLS client authentication. Needs O(client_key).
      - Defaults to C(cert.pem) in E(DOCKER_CERT_PATH), on the same terms as O(ca_path).
    type: path
  client_key:
    description:
      - Private key (PEM) of O(client_cert).
      - Defaults to C(key.pem) in E(DOCKER_CERT_PATH), on the same terms as O(ca_path).
    type: path
requirements:
  - Docker SDK for Python (C(docker)) 5.0 or later on the host that runs the module.
notes:
  - "The environment variables are read in the environment of the module's process, on the host that
    runs it: the controller or execution environment for a task delegated to C(localhost), the managed
    host otherwise. An option set in the task or in C(module_defaults) always wins over its variable."
"""
