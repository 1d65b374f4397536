# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis health, the pure half: what INFO, PING and LLEN figures mean.

``evaluate`` turns a reachable server's INFO, ping time and queue lengths into the
result; ``check_runner`` talks to the server through ``client``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    OK,
    WARNING,
    build,
    check,
    down,
    metric_key,
    threshold_check,
)
from ansible_collections.runbook.ops.plugins.module_utils.redis.client import RespError, RespReplyError, keyspace
from ansible_collections.runbook.ops.plugins.module_utils.common.units import human_bytes, ratio

CHECKS = ("memory", "evictions", "hit_rate", "clients", "queues")


def validate_params(params: Mapping[str, Any]) -> Optional[str]:
    """An error message for the queues (a name each, listed once), else None. Ranges and
    orderings are declared in ``argspec.RULES``."""
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
    metrics["redis_memory_used_ratio"] = ratio(percent)
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
