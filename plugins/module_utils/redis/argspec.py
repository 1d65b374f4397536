# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs of the Redis modules: the connection options (documented by the
``runbook.ops.redis`` doc fragment) and the options of each module, with their rules."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict

from ansible.module_utils.basic import env_fallback

from ansible_collections.runbook.ops.plugins.module_utils.common import validation

from ansible_collections.runbook.ops.plugins.module_utils.redis.check_plan import CHECKS


def connection_argspec() -> Dict[str, Any]:
    """How to reach and log in to Redis; a module adds its own options to ``argument_spec``."""
    return dict(
        argument_spec=dict(
            login_host=dict(type="str", default="localhost"),
            port=dict(type="int", default=6379),
            login_user=dict(type="str"),
            # As redis-cli: its password from REDISCLI_AUTH, not from the command line.
            login_password=dict(type="str", no_log=True, fallback=(env_fallback, ["REDISCLI_AUTH"])),
            db=dict(type="int", default=0),
            tls=dict(type="bool", default=False),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            connect_timeout=dict(type="float", default=5),
        ),
        # An ACL user logs in with AUTH <user> <password>: a user without a password is a mistake.
        required_by=dict(login_user=["login_password"]),
    )


def redis_check_argspec() -> Dict[str, Any]:
    """``redis_check``: the connection, which checks to run and their thresholds."""
    spec = connection_argspec()
    spec["argument_spec"].update(
        checks=dict(type="list", elements="str", choices=list(CHECKS), default=list(CHECKS)),
        memory_warning=dict(type="float", default=80),
        memory_critical=dict(type="float", default=90),
        memory_limit_bytes=dict(type="int"),
        evicted_keys_warning=dict(type="int", no_log=False),
        hit_rate_warning=dict(type="float", default=0.7),
        hit_rate_critical=dict(type="float"),
        hit_rate_min_lookups=dict(type="int", default=1000),
        clients_warning=dict(type="float", default=80),
        clients_critical=dict(type="float", default=95),
        queues=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str"),
            warning=dict(type="int"),
            critical=dict(type="int"),
        )),
        queue_warning=dict(type="int", default=100),
        queue_critical=dict(type="int", default=1000),
    )
    return spec


# Ranges and orderings of the Redis options (``common/validation.py``); every number is
# also finite and not negative, and ``connect_timeout`` at most a year.
RULES = [
    validation.port("port"),
    validation.at_least("connect_timeout", 0, inclusive=False),
    validation.percentage("memory_warning", "memory_critical", "clients_warning", "clients_critical"),
    [validation.at_least(name, 0, inclusive=False)
     for name in ("memory_warning", "memory_critical", "clients_warning", "clients_critical")],
    validation.ratio("hit_rate_warning", "hit_rate_critical"),
    validation.at_least("memory_limit_bytes", 0, inclusive=False),
    validation.ordered("memory_warning", "memory_critical"),
    validation.ordered("clients_warning", "clients_critical"),
    validation.ordered("hit_rate_warning", "hit_rate_critical", high_is_bad=False),
    validation.ordered("queue_warning", "queue_critical"),
    validation.ordered("queues.warning", "queues.critical"),
]
