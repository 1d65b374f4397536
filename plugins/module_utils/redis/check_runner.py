# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis health, the I/O half: connect, PING, INFO, LLEN; ``run(module)`` for redis_check.

Only read-only commands are sent: AUTH, SELECT, PING, INFO, LLEN and CONFIG GET.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.redis import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, down
from ansible_collections.runbook.ops.plugins.module_utils.redis.check_plan import (
    CHECKS,
    down_check,
    evaluate,
    validate_params,
    wrong_type_message,
)
from ansible_collections.runbook.ops.plugins.module_utils.redis.client import (
    RespAuthError,
    RespClient,
    RespConnectionError,
    RespError,
    RespReplyError,
)


def _int_or_none(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def probe(params: Mapping[str, Any], client_factory: Callable[..., RespClient] = RespClient) -> Dict[str, Any]:
    """Probe the server described by ``params`` and return the result."""
    client = client_factory(
        host=params["login_host"], port=params["port"], timeout=params["connect_timeout"],
        password=params.get("login_password"), username=params.get("login_user"), db=params["db"],
        tls=params["tls"], validate_certs=params["validate_certs"], ca_path=params.get("ca_path"),
    )
    selected = set(params.get("checks") or CHECKS)
    try:
        client.connect()
    except RespError as exc:
        return build([down_check(exc)], {"redis_up": 0}, subject="redis")
    try:
        started = time.monotonic()
        client.ping()
        ping_seconds = time.monotonic() - started
        info = client.info()
        if "memory" in selected and "maxmemory" not in info:
            info = dict(info)
            info["maxmemory"] = _config_int(client, "maxmemory")
        maxclients = _int_or_none(info.get("maxclients"))
        if "clients" in selected and maxclients is None:
            maxclients = _config_int(client, "maxclients")
        lengths: Dict[str, Tuple[Optional[int], Optional[str]]] = {}
        if "queues" in selected:
            for queue in params.get("queues") or []:
                try:
                    lengths[queue["name"]] = (client.llen(queue["name"]), None)
                except RespReplyError as exc:
                    lengths[queue["name"]] = (None, wrong_type_message(exc))
    except (RespConnectionError, RespAuthError) as exc:
        return build([down_check(exc)], {"redis_up": 0}, subject="redis")
    except RespError as exc:
        return build([down("redis.ping", "Redis answered with an error: %s" % exc)], {"redis_up": 0}, subject="redis")
    finally:
        client.close()
    return evaluate(info, params, ping_seconds, lengths, maxclients)


def _config_int(client: RespClient, name: str) -> Optional[int]:
    """A numeric setting by CONFIG GET; None when the command is refused (managed Redis, ACLs)."""
    try:
        return _int_or_none(client.config_get(name).get(name))
    except RespReplyError:
        return None


def run(module: Any) -> None:
    """``redis_check``: check the option values, probe the server, exit with the result."""
    validation.validate(module, argspec.RULES)
    error = validate_params(module.params)
    if error:
        module.fail_json(msg=error)
    module.exit_json(changed=False, **probe(module.params))
