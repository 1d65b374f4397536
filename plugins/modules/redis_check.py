#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: redis_check
short_description: Health of a Redis server and the depth of its queues (Celery)
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Connects to Redis (optionally over TLS, with a password or an ACL user), sends C(PING) and reads
    C(INFO), then reports one check per aspect.
  - C(redis.ping) is critical with severity P0 when the server cannot be reached or used at all
    (connection refused, unknown host, timeout, TLS failure, authentication failure); the other checks
    are then not run.
  - C(redis.memory) compares C(used_memory) with C(maxmemory) (or O(memory_limit_bytes) when
    C(maxmemory) is 0); without any limit it only reports the figure (status ok).
  - C(redis.evictions) reports C(evicted_keys) (counted since the server started) and warns above
    O(evicted_keys_warning).
  - C(redis.hit_rate) is C(keyspace_hits) divided by the sum of C(keyspace_hits) and C(keyspace_misses)
    since the server started; below O(hit_rate_warning) is a warning. With fewer than O(hit_rate_min_lookups) lookups
    it is not judged (status ok).
  - C(redis.clients) compares C(connected_clients) with C(maxclients) in percent.
  - C(redis.queue.<name>) per entry of O(queues) is the length of that list (C(LLEN)), for example
    the Celery queue C(celery). A missing key is an empty queue; a key that is not a list is a warning.
  - Only the read-only commands C(AUTH), C(SELECT), C(PING), C(INFO), C(LLEN) and C(CONFIG GET) are
    sent (C(CONFIG GET) only when C(INFO) lacks C(maxmemory) or C(maxclients), and its failure is
    ignored). Uses only the Python standard library.
extends_documentation_fragment:
  - runbook.ops.redis
options:
  checks:
    description:
      - Which checks to run besides C(redis.ping), which always runs.
    type: list
    elements: str
    choices: [memory, evictions, hit_rate, clients, queues]
    default: [memory, evictions, hit_rate, clients, queues]
  memory_warning:
    description:
      - Warning at this percentage of the memory limit used.
    type: float
    default: 80
  memory_critical:
    description:
      - Critical at this percentage of the memory limit used.
    type: float
    default: 90
  memory_limit_bytes:
    description:
      - Memory limit to compare with when the server's C(maxmemory) is 0 (unlimited), for example
        the container's memory limit. Ignored when C(maxmemory) is set.
    type: int
  evicted_keys_warning:
    description:
      - Warning when C(evicted_keys) is above this number. Not judged when not set.
    type: int
  hit_rate_warning:
    description:
      - Warning when the keyspace hit rate (0 to 1) is below this.
    type: float
    default: 0.7
  hit_rate_critical:
    description:
      - Critical when the keyspace hit rate (0 to 1) is below this. Not judged when not set.
    type: float
  hit_rate_min_lookups:
    description:
      - Fewest lookups (hits plus misses) before the hit rate is judged.
    type: int
    default: 1000
  clients_warning:
    description:
      - Warning at this percentage of C(maxclients) connected.
    type: float
    default: 80
  clients_critical:
    description:
      - Critical at this percentage of C(maxclients) connected.
    type: float
    default: 95
  queues:
    description:
      - Lists whose length to check, such as Celery queues.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Key of the list; also used in C(redis.queue.<name>) and the C(queue) metric label. Required.
        type: str
      warning:
        description:
          - Warning at this many entries or more. Defaults to O(queue_warning).
        type: int
      critical:
        description:
          - Critical at this many entries or more. Defaults to O(queue_critical).
        type: int
  queue_warning:
    description:
      - Default warning length for O(queues).
    type: int
    default: 100
  queue_critical:
    description:
      - Default critical length for O(queues).
    type: int
    default: 1000
notes:
  - Check mode runs the same read-only probes. C(changed) is always false.
seealso:
  - module: community.general.redis_data_info
  - module: runbook.ops.postgres_check
"""

EXAMPLES = r"""
- name: Redis health and the Celery queue, as in the daily checklist
  runbook.ops.redis_check:
    login_host: redis.sec-analysis.com
    login_password: "{{ vault_redis_password }}"
    queues:
      - name: celery
        warning: 100
        critical: 1000
  register: redis

- name: Managed Redis over TLS with an ACL user, memory limit from the container
  runbook.ops.redis_check:
    login_host: cache.internal
    port: 6380
    tls: true
    ca_path: /etc/ssl/private-ca.pem
    login_user: monitor
    login_password: "{{ vault_redis_monitor_password }}"
    memory_limit_bytes: 2147483648
    checks: [memory, evictions, hit_rate]
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: warning
severity:
  description: P0 when Redis is unreachable, P1 for other critical checks, P2 for warnings, P3 when all is ok.
  returned: always
  type: str
  sample: P2
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "redis: redis.queue.celery queue celery at 150 (warning >= 100)"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: >-
    C(redis.ping), then as selected by O(checks) C(redis.memory), C(redis.evictions), C(redis.hit_rate),
    C(redis.clients) and C(redis.queue.<name>) per queue.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: redis.queue.celery
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P0 to P3.
      type: str
    message:
      description: What was found, for example C(connection refused by 127.0.0.1:6379).
      type: str
    value:
      description: >-
        The measured value: ping round trip in seconds, memory and clients in percent, evicted keys,
        hit rate (0 to 1), queue length; C(null) when not measured.
      type: raw
    threshold:
      description: C(warning) and C(critical) limits, when the check has them.
      type: dict
metrics:
  description: >-
    C(redis_up) (1 or 0) always; when reachable C(redis_ping_seconds), C(redis_uptime_seconds),
    C(redis_used_memory_bytes), C(redis_maxmemory_bytes), C(redis_memory_used_percent) (when there is a limit),
    C(redis_evicted_keys_total), C(redis_keyspace_hits_total), C(redis_keyspace_misses_total),
    C(redis_keyspace_hit_ratio), C(redis_connected_clients), C(redis_blocked_clients), C(redis_maxclients),
    C(redis_db_keys{db="db0"}) and C(redis_queue_length{queue="..."}).
  returned: always
  type: dict
  sample: {"redis_up": 1, "redis_queue_length{queue=\"celery\"}": 150}
changed:
  description: Always false.
  returned: always
  type: bool
"""

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.redis.client import (
    RespAuthError,
    RespClient,
    RespConnectionError,
    RespError,
    RespReplyError,
    keyspace,
)
from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    OK,
    WARNING,
    build,
    check,
    down,
    metric_key,
    threshold_check,
)

CHECKS = ("memory", "evictions", "hit_rate", "clients", "queues")

ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = dict(
    login_host=dict(type="str", default="localhost"),
    port=dict(type="int", default=6379),
    login_user=dict(type="str"),
    login_password=dict(type="str", no_log=True),
    db=dict(type="int", default=0),
    tls=dict(type="bool", default=False),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    connect_timeout=dict(type="float", default=5),
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


# --------------------------------------------------------------------------- #
# Pure decisions
# --------------------------------------------------------------------------- #

def human_bytes(value: Optional[float]) -> str:
    """``1536`` -> ``1.5 KiB``."""
    if value is None:
        return "n/a"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            if unit == "B":
                return "%d B" % amount
            return "%.1f %s" % (amount, unit)
        amount /= 1024
    return "%d B" % value  # pragma: no cover


def validate_params(params: Mapping[str, Any]) -> Optional[str]:
    """An error message for unusable options, else None."""
    if not 0 < params["port"] < 65536:
        return "port must be between 1 and 65535, got %d" % params["port"]
    if params["db"] < 0:
        return "db must be 0 or more, got %d" % params["db"]
    if params["connect_timeout"] <= 0:
        return "connect_timeout must be more than 0, got %s" % params["connect_timeout"]
    if params.get("login_user") and params.get("login_password") is None:
        return "login_user needs login_password"
    for name in ("memory_warning", "memory_critical", "clients_warning", "clients_critical"):
        if not 0 < params[name] <= 100:
            return "%s is a percentage between 0 and 100, got %s" % (name, params[name])
    for name in ("hit_rate_warning", "hit_rate_critical"):
        if params.get(name) is not None and not 0 <= params[name] <= 1:
            return "%s is a rate between 0 and 1, got %s" % (name, params[name])
    if params.get("memory_limit_bytes") is not None and params["memory_limit_bytes"] <= 0:
        return "memory_limit_bytes must be more than 0"
    seen = set()
    for index, queue in enumerate(params.get("queues") or []):
        name = queue.get("name")
        if not name:
            return "queues[%d]: name is required" % index
        if name in seen:
            return "queues: %s is listed twice" % name
        seen.add(name)
    return None


def down_check(error: RespError) -> Dict[str, Any]:
    """``redis.ping`` for a server that cannot be used at all (P0)."""
    return down("redis.ping", str(error))


def ping_check(seconds: float) -> Dict[str, Any]:
    return check("redis.ping", OK, "PONG in %.1f ms" % (seconds * 1000), value=round(seconds, 6))


def memory_check(
    info: Mapping[str, Any], warn: float, crit: float, limit_bytes: Optional[int] = None,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``redis.memory``: used_memory against maxmemory, else against ``limit_bytes``."""
    used = info.get("used_memory")
    maxmemory = info.get("maxmemory") or 0
    metrics: Dict[str, Any] = {}
    if isinstance(used, (int, float)):
        metrics["redis_used_memory_bytes"] = used
    if isinstance(maxmemory, (int, float)):
        metrics["redis_maxmemory_bytes"] = maxmemory
    if not isinstance(used, (int, float)):
        return check("redis.memory", WARNING, "INFO has no used_memory"), metrics
    limit, source = (maxmemory, "maxmemory") if maxmemory else (limit_bytes, "memory_limit_bytes")
    if not limit:
        return check("redis.memory", OK, "%s used, no maxmemory set" % human_bytes(used),
                     value=None), metrics
    percent = round(100.0 * used / limit, 2)
    metrics["redis_memory_used_percent"] = percent
    result = threshold_check("redis.memory", percent, warn, crit, unit="%", what="memory used")
    result["message"] += " (%s of %s %s)" % (human_bytes(used), source, human_bytes(limit))
    return result, metrics


def evictions_check(info: Mapping[str, Any], warn: Optional[int]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``redis.evictions``: keys evicted since start; warning above ``warn``."""
    evicted = info.get("evicted_keys")
    if not isinstance(evicted, int):
        return check("redis.evictions", OK, "INFO has no evicted_keys"), {}
    metrics = {"redis_evicted_keys_total": evicted}
    policy = info.get("maxmemory_policy")
    suffix = " (policy %s)" % policy if policy else ""
    if warn is not None and evicted > warn:
        return check("redis.evictions", WARNING, "%d keys evicted since start, more than %d%s" % (evicted, warn, suffix),
                     value=evicted, threshold={"warning": warn, "critical": None}), metrics
    return check("redis.evictions", OK, "%d keys evicted since start%s" % (evicted, suffix),
                 value=evicted, threshold={"warning": warn, "critical": None}), metrics


def hit_rate_check(
    info: Mapping[str, Any], warn: Optional[float], crit: Optional[float], min_lookups: int,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``redis.hit_rate``: keyspace hits / lookups, judged only after ``min_lookups`` lookups."""
    hits = info.get("keyspace_hits")
    misses = info.get("keyspace_misses")
    if not isinstance(hits, int) or not isinstance(misses, int):
        return check("redis.hit_rate", OK, "INFO has no keyspace_hits/keyspace_misses"), {}
    metrics: Dict[str, Any] = {"redis_keyspace_hits_total": hits, "redis_keyspace_misses_total": misses}
    lookups = hits + misses
    if lookups == 0:
        return check("redis.hit_rate", OK, "no key lookups yet", threshold={"warning": warn, "critical": crit}), metrics
    rate = round(hits / float(lookups), 4)
    metrics["redis_keyspace_hit_ratio"] = rate
    if lookups < min_lookups:
        return check("redis.hit_rate", OK, "hit rate %.2f over only %d lookups, not judged below %d"
                     % (rate, lookups, min_lookups), value=rate,
                     threshold={"warning": warn, "critical": crit}), metrics
    result = threshold_check("redis.hit_rate", rate, warn, crit, higher_is_worse=False, what="keyspace hit rate")
    result["message"] += " (%d hits, %d misses)" % (hits, misses)
    return result, metrics


def clients_check(
    info: Mapping[str, Any], maxclients: Optional[int], warn: float, crit: float,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``redis.clients``: connected_clients in percent of maxclients."""
    connected = info.get("connected_clients")
    metrics: Dict[str, Any] = {}
    if isinstance(info.get("blocked_clients"), int):
        metrics["redis_blocked_clients"] = info["blocked_clients"]
    if not isinstance(connected, int):
        return check("redis.clients", OK, "INFO has no connected_clients"), metrics
    metrics["redis_connected_clients"] = connected
    if not maxclients:
        return check("redis.clients", OK, "%d clients connected, maxclients unknown" % connected), metrics
    metrics["redis_maxclients"] = maxclients
    percent = round(100.0 * connected / maxclients, 2)
    result = threshold_check("redis.clients", percent, warn, crit, unit="%", what="clients")
    result["message"] += " (%d of maxclients %d)" % (connected, maxclients)
    return result, metrics


def queue_check(
    name: str, length: Optional[int], warn: Optional[int], crit: Optional[int], error: Optional[str] = None,
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``redis.queue.<name>``: list length against thresholds; ``error`` when LLEN failed."""
    check_name = "redis.queue.%s" % name
    if error is not None or length is None:
        return check(check_name, WARNING, "queue %s: %s" % (name, error or "no length"),
                     threshold={"warning": warn, "critical": crit}), {}
    metrics = {metric_key("redis_queue_length", queue=name): length}
    return threshold_check(check_name, length, warn, crit, what="queue %s" % name), metrics


def wrong_type_message(error: RespReplyError) -> str:
    if error.code == "WRONGTYPE":
        return "the key holds a value that is not a list"
    return "LLEN failed: %s" % error.message


def evaluate(
    info: Mapping[str, Any],
    params: Mapping[str, Any],
    ping_seconds: float,
    queue_lengths: Mapping[str, Tuple[Optional[int], Optional[str]]],
    maxclients: Optional[int] = None,
) -> Dict[str, Any]:
    """The whole result for a reachable server, from INFO and the measured queue lengths."""
    selected = set(params.get("checks") or CHECKS)
    checks: List[Dict[str, Any]] = [ping_check(ping_seconds)]
    metrics: Dict[str, Any] = {"redis_up": 1, "redis_ping_seconds": round(ping_seconds, 6)}
    if isinstance(info.get("uptime_in_seconds"), int):
        metrics["redis_uptime_seconds"] = info["uptime_in_seconds"]
    for db, fields in sorted(keyspace(dict(info)).items()):
        if isinstance(fields.get("keys"), int):
            metrics[metric_key("redis_db_keys", db=db)] = fields["keys"]
    parts: List[Tuple[Dict[str, Any], Dict[str, Any]]] = []
    if "memory" in selected:
        parts.append(memory_check(info, params["memory_warning"], params["memory_critical"],
                                  params.get("memory_limit_bytes")))
    if "evictions" in selected:
        parts.append(evictions_check(info, params.get("evicted_keys_warning")))
    if "hit_rate" in selected:
        parts.append(hit_rate_check(info, params.get("hit_rate_warning"), params.get("hit_rate_critical"),
                                    params["hit_rate_min_lookups"]))
    if "clients" in selected:
        parts.append(clients_check(info, maxclients, params["clients_warning"], params["clients_critical"]))
    if "queues" in selected:
        for queue in params.get("queues") or []:
            length, error = queue_lengths.get(queue["name"], (None, "not measured"))
            warn = queue["warning"] if queue.get("warning") is not None else params.get("queue_warning")
            crit = queue["critical"] if queue.get("critical") is not None else params.get("queue_critical")
            parts.append(queue_check(queue["name"], length, warn, crit, error))
    for item, item_metrics in parts:
        checks.append(item)
        metrics.update(item_metrics)
    return build(checks, metrics, subject="redis")


# --------------------------------------------------------------------------- #
# I/O
# --------------------------------------------------------------------------- #

def _int_or_none(value: Any) -> Optional[int]:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def run(params: Mapping[str, Any], client_factory: Callable[..., RespClient] = RespClient) -> Dict[str, Any]:
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


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    error = validate_params(module.params)
    if error:
        module.fail_json(msg=error)
    result = run(module.params)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
