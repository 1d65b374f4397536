# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment(object):
    """Connection options shared by the runbook.ops modules that talk to a Kubernetes API server."""

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file. Without it (and without O(host)) the kubeconfig named by
        E(KUBECONFIG) or C(~/.kube/config) is read; inside a pod without either, the pod's service account is used.
      - Defaults to E(K8S_AUTH_KUBECONFIG) when set.
    type: path
  context:
    description:
      - Context of the kubeconfig to use; default its current context.
      - Defaults to E(K8S_AUTH_CONTEXT) when set.
    type: str
  host:
    description:
      - URL of the API server, for example C(https://k8s.example.internal:6443). Without O(kubeconfig) or
        O(context) the module talks to this host alone (with O(api_key)); with them, it overrides the kubeconfig's server.
      - Defaults to E(K8S_AUTH_HOST) when set.
    type: str
  api_key:
    description:
      - Bearer token (a service account token) sent to the API server; overrides the kubeconfig's credentials.
      - Defaults to E(K8S_AUTH_API_KEY) when set.
    type: str
  validate_certs:
    description:
      - Verify the API server's TLS certificate. Default the kubeconfig's setting (verify).
      - Defaults to E(K8S_AUTH_VERIFY_SSL) when set.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA certificate (PEM) to verify the API server against.
      - Defaults to E(K8S_AUTH_SSL_CA_CERT) when set.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate (PEM) for TLS client authentication. Needs O(client_key).
      - Defaults to E(K8S_AUTH_CERT_FILE) when set.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Private key (PEM) of O(client_cert).
      - Defaults to E(K8S_AUTH_KEY_FILE) when set.
    type: path
    aliases: [key_file]
  request_timeout:
    description:
      - Seconds allowed for each API request.
    type: float
    default: 30
requirements:
  - kubernetes (the Kubernetes Python client) on the host that runs the module.
"""
