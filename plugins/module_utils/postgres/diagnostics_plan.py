# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL performance diagnostics, the pure part: rows in, checks out.

Lock chains, duplicate and unused indexes, the bloat findings and the check of each
diagnostic of the "P1: Database Performance Degradation" runbook. ``diagnostics_runner``
runs the read-only queries.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import check, metric_key, threshold_check
from ansible_collections.runbook.ops.plugins.module_utils.postgres import bloat_plan
from ansible_collections.runbook.ops.plugins.module_utils.postgres.maintenance_plan import display_name

Checks = List[Dict[str, Any]]


def validate_params(params: Mapping[str, Any]) -> Optional[str]:
    """An error message for unusable pg_diagnostics options, else None."""
    if params["top"] < 1 or params["query_chars"] < 1:
        return "top and query_chars must be at least 1"
    for key in ("table_bloat_ratio", "index_bloat_ratio"):
        if not 0 <= params[key] <= 1:
            return "%s must be between 0 and 1, got %s" % (key, params[key])
    if params["statement_timeout"] < 0:
        return "statement_timeout must not be negative, got %s" % params["statement_timeout"]
    return None


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


def lock_chains(blocked: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Who blocks whom: ``edges`` [blocker, blocked], ``roots`` (blockers that wait on nobody)
    and ``chains``: for each root, the pids it holds up directly or transitively."""
    waits = {int(r["pid"]): [int(p) for p in (r.get("blocked_by") or [])] for r in blocked}
    edges = sorted({(b, w) for w, bs in waits.items() for b in bs})
    blockers = {edge[0] for edge in edges}
    roots = sorted(b for b in blockers if not waits.get(b))
    children: Dict[int, List[int]] = {}
    for b, w in edges:
        children.setdefault(b, []).append(w)
    chains = []
    for root in roots:
        seen: List[int] = []
        stack = [root]
        while stack:
            node = stack.pop()
            for child in sorted(children.get(node, []), reverse=True):
                if child not in seen and child != root:
                    seen.append(child)
                    stack.append(child)
        chains.append({"blocker": root, "blocked": sorted(seen)})
    if not roots and edges:  # a pure cycle (a deadlock about to be detected)
        chains.append({"blocker": None, "blocked": sorted(waits)})
    return {"edges": [list(e) for e in edges], "roots": roots, "chains": chains}


def duplicate_indexes(defs: Sequence[Mapping[str, Any]]) -> List[List[str]]:
    """Groups of indexes of the same table with the same columns, operator classes,
    collations, expressions, predicate and access method."""
    groups: Dict[tuple, List[str]] = {}
    for d in defs:
        if not d.get("is_valid", True):
            continue
        key = (d["table_oid"], d["indkey"], d["indclass"], d["indcollation"], d["exprs"], d["pred"], d["amname"])
        groups.setdefault(key, []).append(display_name(d["schema"], d["name"]))
    return [sorted(v) for v in groups.values() if len(v) > 1]


def unused_indexes(defs: Sequence[Mapping[str, Any]], min_bytes: int = 0) -> List[Dict[str, Any]]:
    """Valid indexes never scanned (idx_scan = 0) that back no unique/primary key or constraint."""
    return [{"index": display_name(d["schema"], d["name"]), "table": d["table"], "bytes": d["bytes"]}
            for d in defs
            if d.get("is_valid", True) and int(d.get("idx_scan") or 0) == 0 and not d.get("is_unique")
            and not d.get("is_primary") and not d.get("backs_constraint") and int(d.get("bytes") or 0) >= min_bytes]


def pgss_missing_check(database: Optional[str]) -> Dict[str, Any]:
    """``postgres.top_queries`` when pg_stat_statements is not installed in ``database``."""
    return check("postgres.top_queries", "warning",
                 "pg_stat_statements is not installed in database %s: add it to "
                 "shared_preload_libraries and run CREATE EXTENSION pg_stat_statements" % database)


def pgss_not_loaded_check() -> Dict[str, Any]:
    """``postgres.top_queries`` when the extension exists but the library is not preloaded."""
    return check("postgres.top_queries", "warning",
                 "pg_stat_statements is installed but not loaded: add it to shared_preload_libraries "
                 "and restart PostgreSQL")


def top_queries_check(top: Sequence[Mapping[str, Any]], slow_seconds: float) -> Dict[str, Any]:
    """``postgres.top_queries``: a warning when a top query averages ``slow_seconds`` or more."""
    slow = [q for q in top if float(q["mean_ms"] or 0) >= float(slow_seconds) * 1000]
    message = ("%d of the top %d queries average >= %gs" % (len(slow), len(top), slow_seconds)
               if slow else "top %d queries by total time read" % len(top))
    return check("postgres.top_queries", "warning" if slow else "ok", message, value=len(slow),
                 threshold=slow_seconds)


def connections_check(by_state: Mapping[str, int], maximum: int, warn: float, crit: float
                      ) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """``postgres.connections`` in percent of max_connections: (check, metrics, details)."""
    total = sum(by_state.values())
    pct = 100.0 * total / maximum if maximum else 0.0
    result = threshold_check("postgres.connections", round(pct, 1), warn, crit, unit="%",
                             what="connections %d of %d" % (total, maximum))
    metrics = {metric_key("pg_connections", state=state): count for state, count in by_state.items()}
    return result, metrics, {"by_state": dict(by_state), "total": total, "max_connections": maximum}


def transaction_checks(rows: Sequence[Mapping[str, Any]], long_seconds: float, slow_seconds: float
                       ) -> Tuple[Checks, Dict[str, Any], Dict[str, Any]]:
    """``postgres.long_transactions`` and ``postgres.slow_queries`` from the open transactions."""
    found = [r for r in rows if float(r["xact_seconds"] or 0) >= long_seconds]
    active = [r for r in rows if r["state"] == "active" and float(r["query_seconds"] or 0) >= slow_seconds]
    checks = [
        check("postgres.long_transactions", "warning" if found else "ok",
              "%d transaction%s open longer than %gs" % (len(found), _plural(len(found), "", "s"), long_seconds),
              value=len(found), threshold=long_seconds),
        check("postgres.slow_queries", "warning" if active else "ok",
              "%d active quer%s running longer than %gs" % (len(active), _plural(len(active), "y", "ies"),
                                                            slow_seconds),
              value=len(active), threshold=slow_seconds),
    ]
    metrics = {metric_key("pg_long_transactions"): len(found), metric_key("pg_slow_queries"): len(active)}
    return checks, metrics, {"long_transactions": found, "slow_queries": active}


def blocking_check(blocked: Sequence[Mapping[str, Any]], graph: Mapping[str, Any], crit: float) -> Dict[str, Any]:
    """``postgres.blocking_locks``: warning while sessions wait, critical once one waited ``crit`` s."""
    longest = max([float(r["wait_seconds"] or 0) for r in blocked] or [0.0])
    status = "ok" if not blocked else ("critical" if longest >= crit else "warning")
    text = "; ".join("pid %s blocks %s" % (c["blocker"], ", ".join(str(p) for p in c["blocked"]))
                     for c in graph["chains"])
    message = ("%d blocked session%s, longest wait %.0fs: %s" % (
        len(blocked), _plural(len(blocked), "", "s"), longest, text)) if blocked else "no session waits on another"
    return check("postgres.blocking_locks", status, message, value=len(blocked), threshold=crit)


def bloat_checks(tables: Sequence[Mapping[str, Any]], indexes: Sequence[Mapping[str, Any]],
                 settings: Mapping[str, Any], opts: Mapping[str, Any]) -> Tuple[Checks, Dict[str, Any]]:
    """``postgres.table_bloat``, ``postgres.index_bloat`` (approximate) and ``postgres.invalid_indexes``."""
    block = int(float(settings.get("block_size") or 8192))
    t_ratio = float(opts.get("table_bloat_ratio", 0.5))
    i_ratio = float(opts.get("index_bloat_ratio", 0.3))
    min_size = int(opts.get("min_bloat_size", 1048576))
    bloated_t = []
    for t in tables:
        est = bloat_plan.estimate_table_bloat(t, block)
        if est is not None and est >= t_ratio and int(t["table_bytes"] or 0) >= min_size:
            bloated_t.append({"table": display_name(t["schema"], t["name"]), "bytes": t["table_bytes"],
                              "estimated_bloat": round(est, 3), "n_dead_tup": t.get("n_dead_tup")})
    bloated_i = []
    for i in indexes:
        if i.get("amname") != "btree" or not i.get("is_valid"):
            continue
        est = bloat_plan.estimate_btree_bloat(i, block)
        if est is not None and est >= i_ratio and int(i["index_bytes"] or 0) >= min_size:
            bloated_i.append({"index": display_name(i["schema"], i["name"]), "table": i["table"],
                              "bytes": i["index_bytes"], "estimated_bloat": round(est, 3)})
    invalid = [display_name(i["schema"], i["name"]) for i in indexes if not i.get("is_valid")]
    checks = [
        check("postgres.table_bloat", "warning" if bloated_t else "ok",
              "%d table%s with estimated bloat >= %.0f%% (approximate)" % (
                  len(bloated_t), _plural(len(bloated_t), "", "s"), t_ratio * 100),
              value=len(bloated_t), threshold=t_ratio),
        check("postgres.index_bloat", "warning" if bloated_i else "ok",
              "%d btree index%s with estimated bloat >= %.0f%% (approximate)" % (
                  len(bloated_i), _plural(len(bloated_i), "", "es"), i_ratio * 100),
              value=len(bloated_i), threshold=i_ratio),
        check("postgres.invalid_indexes", "warning" if invalid else "ok",
              ("INVALID indexes: %s" % ", ".join(invalid)) if invalid else "no INVALID index", value=len(invalid)),
    ]
    return checks, {"table_bloat": bloated_t, "index_bloat": bloated_i, "invalid_indexes": invalid}


def index_usage_checks(defs: Sequence[Mapping[str, Any]], min_unused_bytes: int) -> Tuple[Checks, Dict[str, Any]]:
    """``postgres.unused_indexes`` and ``postgres.duplicate_indexes``."""
    unused = unused_indexes(defs, min_unused_bytes)
    dups = duplicate_indexes(defs)
    checks = [
        check("postgres.unused_indexes", "warning" if unused else "ok",
              ("%d never-scanned index%s: %s" % (len(unused), _plural(len(unused), "", "es"),
                                                 ", ".join(u["index"] for u in unused[:10])))
              if unused else "every non-unique index has been scanned", value=len(unused)),
        check("postgres.duplicate_indexes", "warning" if dups else "ok",
              ("duplicate indexes: %s" % "; ".join(" = ".join(g) for g in dups)) if dups else "no duplicate index",
              value=len(dups)),
    ]
    return checks, {"unused_indexes": unused, "duplicate_indexes": dups}
