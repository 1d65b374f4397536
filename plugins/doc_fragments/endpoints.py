# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment(object):
    """Connection defaults shared by runbook.ops.http_check and runbook.ops.tls_check.

    Each endpoint may set its own O(endpoints[].timeout), O(endpoints[].validate_certs)
    and O(endpoints[].ca_path); these are the values it falls back to.
    """

    DOCUMENTATION = r"""
options:
  timeout:
    description:
      - Default timeout in seconds for connecting, the TLS handshake and each read.
        An endpoint's own O(endpoints[].timeout) wins.
    type: float
    default: 10
  validate_certs:
    description:
      - Default for verifying that an endpoint's TLS certificate chains to a trusted CA
        and matches its host name. An endpoint's own O(endpoints[].validate_certs) wins.
    type: bool
    default: true
  ca_path:
    description:
      - Default CA PEM file or directory of hashed certificates to trust instead of the
        system store. An endpoint's own O(endpoints[].ca_path) wins.
    type: path
"""
