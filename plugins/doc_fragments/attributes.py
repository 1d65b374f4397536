# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name


class ModuleDocFragment(object):
    """The attributes every runbook.ops module declares.

    A module extends ``runbook.ops.attributes`` and then states, under its own
    ``attributes:``, the ``support`` of each (and ``details`` where the level needs
    a sentence). ``action_group`` takes ``membership:`` with the groups of
    ``meta/runtime.yml`` the module is in (``support: none`` and ``membership: []``
    for a module in no group).
    """

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description:
      - Can run in check mode and return what it would change without changing anything.
  diff_mode:
    description:
      - Returns details of what changed (or would change in check mode) when run with C(--diff).
  action_group:
    description:
      - Use C(group/runbook.ops.<group>) in C(module_defaults) to set the options this module
        shares with the other members of the group (connection settings) once per play.
"""
