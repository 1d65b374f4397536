# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec shared by the runbook.ops PostgreSQL modules.

``postgres_argspec_ex()`` returns the connection options of the doc fragment
``runbook.ops.postgres`` with their declared rules, in the keyword arguments of
``AnsibleModule``; ``module_argspec(options, ...)`` extends it with a module's own
options and rules::

    spec = argspec.module_argspec(dict(top=dict(type="int", default=10)))
    module = AnsibleModule(supports_check_mode=True, **spec)

Ranges and orderings an argument spec cannot declare are declared in ``RULES`` below
(``common/validation.py``); what is left (list contents, combinations) are pure
functions of each runner's plan (``validate_params``). The runner applies both with
``check_module_input(module, ...)``, and the first problem fails the task with a
message naming the option.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import copy
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from ansible.module_utils.basic import env_fallback

from ansible_collections.runbook.ops.plugins.module_utils.common import validation

from ansible_collections.runbook.ops.plugins.module_utils.postgres import client


# The libpq environment variables each connection option falls back to when the task does not set
# it (as community.postgresql's modules do): an option given in the task or in module_defaults
# wins, then the variable in the environment of the module's process, then the option's default.
ENVIRONMENT = dict(
    login_host="PGHOST",
    port="PGPORT",
    login_user="PGUSER",
    login_password="PGPASSWORD",
    database="PGDATABASE",
    ssl_mode="PGSSLMODE",
    ca_cert="PGSSLROOTCERT",
    connect_timeout="PGCONNECT_TIMEOUT",
)


def connection_options() -> Dict[str, Dict[str, Any]]:
    """The connection options of the doc fragment ``runbook.ops.postgres``, each with its
    environment fallback (``ENVIRONMENT``); a fresh copy on every call."""
    options = copy.deepcopy(client.CONNECTION_ARGUMENT_SPEC)
    for name, variable in ENVIRONMENT.items():
        options[name]["fallback"] = (env_fallback, [variable])
    return options


def postgres_argspec_ex() -> Dict[str, Any]:
    """The shared connection options and their declared rules (a fresh copy on every call).

    Every connection option has a default or is optional on its own (libpq finds a
    password in ``PGPASSWORD`` or ``~/.pgpass``; ``ca_cert`` is not required for
    ``verify-ca`` either, libpq then reads ``~/.postgresql/root.crt``), so the rule
    lists start empty.
    """
    return dict(
        argument_spec=connection_options(),
        mutually_exclusive=[],
        required_together=[],
        required_one_of=[],
        required_if=[],
        required_by={},
    )


def module_argspec(
    options: Mapping[str, Dict[str, Any]],
    mutually_exclusive: Sequence[Sequence[str]] = (),
    required_together: Sequence[Sequence[str]] = (),
    required_one_of: Sequence[Sequence[str]] = (),
    required_if: Sequence[Sequence[Any]] = (),
    required_by: Optional[Mapping[str, Sequence[str]]] = None,
) -> Dict[str, Any]:
    """``postgres_argspec_ex()`` extended with a module's own options and rules."""
    spec = postgres_argspec_ex()
    overlap = sorted(set(options) & set(spec["argument_spec"]))
    if overlap:
        raise ValueError("options %s are connection options of runbook.ops.postgres" % ", ".join(overlap))
    spec["argument_spec"].update(copy.deepcopy(dict(options)))
    spec["mutually_exclusive"].extend(list(rule) for rule in mutually_exclusive)
    spec["required_together"].extend(list(rule) for rule in required_together)
    spec["required_one_of"].extend(list(rule) for rule in required_one_of)
    spec["required_if"].extend(list(rule) for rule in required_if)
    spec["required_by"].update(dict(required_by or {}))
    return spec


def check_module_input(module: Any, *checks: Callable[[Mapping[str, Any]], Optional[str]]) -> None:
    """What the argument spec cannot declare: the ranges and orderings of ``RULES``,
    psycopg2 importable, the connection options
    usable (``client.validate_params``), then each of ``checks`` (params -> message or None).

    The first problem fails the task with its message, which names the option.
    """
    validation.validate(module, RULES)
    client.require_driver(module)
    for validate in (client.validate_params,) + checks:
        problem = validate(module.params)
        if problem:
            module.fail_json(msg=problem)


# Ranges and orderings of the PostgreSQL modules' options (``common/validation.py``); an
# option a module does not have is skipped. Every number is also finite and not negative.
RULES = [
    validation.port("port"),
    validation.percentage("connections_warning", "connections_critical",
                          "connections_warning_pct", "connections_critical_pct"),
    validation.ratio("cache_hit_ratio_warning", "cache_hit_ratio_critical", "dead_tuple_ratio"),
    validation.ordered("connections_warning", "connections_critical"),
    validation.ordered("connections_warning_pct", "connections_critical_pct"),
    validation.ordered("long_queries_warning", "long_queries_critical"),
    validation.ordered("idle_in_transaction_warning", "idle_in_transaction_critical"),
    validation.ordered("replication_lag_warning", "replication_lag_critical"),
    validation.ordered("xid_age_warning", "xid_age_critical"),
    validation.ordered("database_size_warning_bytes", "database_size_critical_bytes"),
    validation.ordered("cache_hit_ratio_warning", "cache_hit_ratio_critical", high_is_bad=False),
]
