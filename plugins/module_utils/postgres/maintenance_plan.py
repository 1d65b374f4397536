# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL maintenance, the pure part: options, the planner and the results.

No network, no clock: catalog rows (from ``catalog_runner``) in, an ordered list of
actions out; ``maintenance_runner`` executes them. The planner decides per table and per index:

* VACUUM when dead tuples pass autovacuum's own rule (``threshold + scale_factor x
  reltuples``, with the table's reloptions when set), or the dead tuple ratio passes
  ``dead_tuple_ratio``, or the last (auto)vacuum is older than ``vacuum_max_age_hours``
  while dead tuples exist;
* ANALYZE when modified rows pass autovacuum's analyze rule, the table was never analyzed,
  or the last (auto)analyze is older than ``analyze_max_age_hours`` while rows changed;
* VACUUM FULL (only inside a declared maintenance window) when the estimated table bloat
  passes ``table_bloat_ratio``;
* REINDEX INDEX CONCURRENTLY when the estimated btree bloat passes ``index_bloat_ratio``,
  or for every user index (TOAST indexes of user tables included) with
  ``reindex_database``: the database scope is run as one REINDEX INDEX CONCURRENTLY per
  index rather than one REINDEX DATABASE CONCURRENTLY, so that each index gets its own
  lock_timeout, retries and leftover cleanup and the plan lists every statement
  (see ``plan``).
  The estimates are those of ``bloat_plan``: approximate, NOT exact;
* DROP INDEX CONCURRENTLY for INVALID ``*_ccnew`` / ``*_ccold`` indexes left by a failed
  REINDEX CONCURRENTLY.

Every statement is composed with ``psycopg2.sql`` (identifiers are never formatted into
strings).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

try:
    from psycopg2 import sql
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    sql = None

from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, down, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.postgres import bloat_plan

OPERATIONS = ("vacuum", "analyze", "vacuum_full", "reindex", "drop_invalid_indexes")
DEFAULT_OPERATIONS = ["vacuum", "analyze", "drop_invalid_indexes"]

LEFTOVER_INDEX = re.compile(r"_cc(new|old)[0-9]*$")

# Defaults of the global autovacuum settings, used when pg_settings is not given.
AUTOVACUUM_DEFAULTS = {
    "autovacuum_vacuum_threshold": 50.0,
    "autovacuum_vacuum_scale_factor": 0.2,
    "autovacuum_analyze_threshold": 50.0,
    "autovacuum_analyze_scale_factor": 0.1,
    "block_size": 8192.0,
}

DEFAULT_CONFIG = {
    "operations": DEFAULT_OPERATIONS,
    "maintenance_window": False,
    "tables": [],
    "indexes": [],
    "schemas": [],
    "autovacuum_rule": True,
    "dead_tuple_ratio": 0.2,
    "min_dead_tuples": 1000,
    "vacuum_max_age_hours": None,
    "analyze_max_age_hours": None,
    "index_bloat_ratio": 0.3,
    "min_index_size": 1048576,
    "table_bloat_ratio": 0.5,
    "min_table_size": 1048576,
    "reindex_database": False,
}


class PlanError(ValueError):
    """Bad input: an invalid option combination or an object that does not exist."""


# --------------------------------------------------------------------------- names


def split_qualified(text: str, default_schema: str = "public") -> Tuple[str, str]:
    """``schema.name`` -> (schema, name); ``name`` -> (default_schema, name).

    Names are taken exactly as written (case-sensitive, spaces and quotes allowed).
    Double quotes are only needed to put a dot inside a name: ``"my.schema"."t"``;
    inside double quotes a doubled quote stands for one.
    """
    if not isinstance(text, str) or not text.strip():
        raise PlanError("an object name must be a non-empty string, got %r" % (text,))
    parts = []
    i = 0
    current = ""
    while i < len(text):
        char = text[i]
        if char == '"' and current == "":
            end = i + 1
            buf = ""
            while True:
                if end >= len(text):
                    raise PlanError("unterminated double quote in %r" % (text,))
                if text[end] == '"':
                    if end + 1 < len(text) and text[end + 1] == '"':
                        buf += '"'
                        end += 2
                        continue
                    break
                buf += text[end]
                end += 1
            i = end + 1
            if i < len(text) and text[i] != ".":
                raise PlanError("unexpected text after a quoted name in %r" % (text,))
            current = buf
            if i >= len(text):
                break
            continue
        if char == "." and len(parts) == 0:
            parts.append(current)
            current = ""
            i += 1
            continue
        current += char
        i += 1
    parts.append(current)
    if any(p == "" for p in parts):
        raise PlanError("invalid object name %r" % (text,))
    if len(parts) == 1:
        return default_schema, parts[0]
    return parts[0], parts[1]


def display_name(schema: str, name: str) -> str:
    """``schema.name`` for messages and check names."""
    return "%s.%s" % (schema, name)


# --------------------------------------------------------------------------- config


def normalize_config(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Merge module parameters over the defaults and validate combinations."""
    cfg = dict(DEFAULT_CONFIG)
    for key in DEFAULT_CONFIG:
        if params.get(key) is not None:
            cfg[key] = params[key]
    ops = list(cfg["operations"] or [])
    unknown = [op for op in ops if op not in OPERATIONS]
    if unknown:
        raise PlanError("unknown operations %s; choose from %s" % (", ".join(unknown), ", ".join(OPERATIONS)))
    if not ops:
        raise PlanError("operations must not be empty")
    if "vacuum_full" in ops and not cfg["maintenance_window"]:
        raise PlanError("vacuum_full takes an ACCESS EXCLUSIVE lock and rewrites tables: it is only allowed "
                        "with maintenance_window=true")
    cfg["operations"] = ops
    for key in ("dead_tuple_ratio", "index_bloat_ratio", "table_bloat_ratio"):
        value = float(cfg[key])
        if not 0 <= value <= 1:
            raise PlanError("%s must be between 0 and 1, got %s" % (key, cfg[key]))
        cfg[key] = value
    for key in ("min_dead_tuples", "min_index_size", "min_table_size"):
        if int(cfg[key]) < 0:
            raise PlanError("%s must not be negative, got %s" % (key, cfg[key]))
    for key in ("vacuum_max_age_hours", "analyze_max_age_hours"):
        if cfg[key] is not None and float(cfg[key]) <= 0:
            raise PlanError("%s must be positive, got %s" % (key, cfg[key]))
    cfg["tables"] = [split_qualified(t) for t in (cfg["tables"] or [])]
    cfg["indexes"] = [split_qualified(t) for t in (cfg["indexes"] or [])]
    cfg["reindex_database"] = bool(cfg["reindex_database"])
    if cfg["reindex_database"]:
        if "reindex" not in ops:
            raise PlanError("reindex_database needs reindex in operations")
        if cfg["tables"] or cfg["indexes"]:
            raise PlanError("reindex_database covers every index of the database: do not combine it with "
                            "tables or indexes")
    cfg["schemas"] = list(cfg["schemas"] or [])
    return cfg


def validate_run_options(params: Mapping[str, Any]) -> Optional[str]:
    """An error message for unusable timeouts and retries, else None."""
    if params["lock_timeout"] <= 0:
        return "lock_timeout must be positive, got %s" % params["lock_timeout"]
    if params["statement_timeout"] < 0:
        return "statement_timeout must not be negative, got %s" % params["statement_timeout"]
    if params["lock_retries"] < 1:
        return "lock_retries must be at least 1, got %d" % params["lock_retries"]
    if params["retry_backoff"] < 0:
        return "retry_backoff must not be negative, got %s" % params["retry_backoff"]
    return None


# --------------------------------------------------------------------------- autovacuum rules


def autovacuum_limits(row: Mapping[str, Any], settings: Mapping[str, Any]) -> Dict[str, float]:
    """Autovacuum's own trigger points for one table: ``threshold + scale_factor x reltuples``.

    The table's reloptions override the server settings, as autovacuum does.
    A never-analyzed table (reltuples -1 since PostgreSQL 14) counts as empty.
    """
    merged = dict(AUTOVACUUM_DEFAULTS)
    for key, value in (settings or {}).items():
        try:
            merged[key] = float(value)
        except (TypeError, ValueError):
            continue
    opts = bloat_plan.parse_reloptions(row.get("reloptions"))
    reltuples = max(0.0, float(row.get("reltuples") or 0))
    vac_threshold = bloat_plan.float_option(opts, "autovacuum_vacuum_threshold", merged["autovacuum_vacuum_threshold"])
    vac_scale = bloat_plan.float_option(opts, "autovacuum_vacuum_scale_factor", merged["autovacuum_vacuum_scale_factor"])
    an_threshold = bloat_plan.float_option(opts, "autovacuum_analyze_threshold", merged["autovacuum_analyze_threshold"])
    an_scale = bloat_plan.float_option(opts, "autovacuum_analyze_scale_factor", merged["autovacuum_analyze_scale_factor"])
    return {
        "vacuum": vac_threshold + vac_scale * reltuples,
        "analyze": an_threshold + an_scale * reltuples,
    }


# --------------------------------------------------------------------------- planner


def _hours(seconds: Optional[float]) -> str:
    return "never" if seconds is None else "%.1f h ago" % (float(seconds) / 3600.0)


def table_needs(row: Mapping[str, Any], cfg: Mapping[str, Any], settings: Mapping[str, Any]) -> Dict[str, List[str]]:
    """Reasons (possibly empty) for VACUUM, ANALYZE and VACUUM FULL of one table."""
    limits = autovacuum_limits(row, settings)
    dead = float(row.get("n_dead_tup") or 0)
    live = float(row.get("n_live_tup") or 0)
    mods = float(row.get("n_mod_since_analyze") or 0)
    vacuum: List[str] = []
    analyze: List[str] = []
    full: List[str] = []
    if cfg.get("autovacuum_rule", True) and dead > limits["vacuum"]:
        vacuum.append("%d dead tuples > autovacuum limit %d (threshold + scale_factor x reltuples)"
                      % (dead, limits["vacuum"]))
    total = dead + live
    ratio = dead / total if total else 0.0
    if dead >= cfg["min_dead_tuples"] and dead > 0 and ratio >= cfg["dead_tuple_ratio"]:
        vacuum.append("dead tuple ratio %.1f%% >= %.1f%%" % (ratio * 100, cfg["dead_tuple_ratio"] * 100))
    max_vac = cfg.get("vacuum_max_age_hours")
    vac_age = row.get("vacuum_age_seconds")
    if max_vac is not None and dead > 0 and (vac_age is None or float(vac_age) > float(max_vac) * 3600):
        vacuum.append("last vacuum %s (max %s h) with %d dead tuples" % (_hours(vac_age), max_vac, dead))
    if cfg.get("autovacuum_rule", True) and mods > limits["analyze"]:
        analyze.append("%d rows modified since analyze > autovacuum limit %d" % (mods, limits["analyze"]))
    an_age = row.get("analyze_age_seconds")
    if an_age is None and (live > 0 or float(row.get("reltuples") or 0) > 0) and not analyze:
        analyze.append("never analyzed")
    max_an = cfg.get("analyze_max_age_hours")
    if max_an is not None and an_age is not None and mods > 0 and float(an_age) > float(max_an) * 3600:
        analyze.append("last analyze %s (max %s h) with %d modified rows" % (_hours(an_age), max_an, mods))
    if cfg.get("maintenance_window") and "vacuum_full" in cfg["operations"]:
        bloat = bloat_plan.estimate_table_bloat(row, int(settings.get("block_size") or 8192) if settings else 8192)
        size = float(row.get("table_bytes") or 0)
        if bloat is not None and bloat >= cfg["table_bloat_ratio"] and size >= cfg["min_table_size"]:
            full.append("estimated table bloat %.0f%% >= %.0f%% (approximate)" % (bloat * 100, cfg["table_bloat_ratio"] * 100))
    return {"vacuum": vacuum, "analyze": analyze, "vacuum_full": full}


def _table_action(schema: str, name: str, needs: Mapping[str, List[str]], ops: Sequence[str]) -> Optional[Dict[str, Any]]:
    do_full = bool(needs.get("vacuum_full")) and "vacuum_full" in ops
    do_vacuum = bool(needs.get("vacuum")) and "vacuum" in ops
    do_analyze = bool(needs.get("analyze")) and "analyze" in ops
    reasons = []
    if do_full:
        reasons += needs["vacuum_full"]
    if do_vacuum:
        reasons += needs["vacuum"]
    if do_analyze:
        reasons += needs["analyze"]
    if do_full:
        action = "vacuum_full_analyze" if do_analyze else "vacuum_full"
    elif do_vacuum and do_analyze:
        action = "vacuum_analyze"
    elif do_vacuum:
        action = "vacuum"
    elif do_analyze:
        action = "analyze"
    else:
        return None
    return {"kind": "table", "action": action, "schema": schema, "name": name, "table": name,
            "reason": "; ".join(reasons)}


def _in_schemas(schema: str, cfg: Mapping[str, Any]) -> bool:
    return not cfg.get("schemas") or schema in cfg["schemas"]


def owner(row: Mapping[str, Any]) -> Tuple[str, str]:
    """(schema, table) of the user table an index belongs to; for an index of a TOAST table
    that is the table owning the TOAST table, not ``pg_toast.pg_toast_<oid>``."""
    return row.get("owner_schema") or row["schema"], row.get("owner_table") or row["table"]


def _database_reindex(index_rows: Sequence[Mapping[str, Any]], cfg: Mapping[str, Any],
                      rewritten: Any) -> List[Dict[str, Any]]:
    """REINDEX DATABASE CONCURRENTLY as one REINDEX INDEX CONCURRENTLY per user index.

    Same coverage as the server's command (user indexes and the TOAST indexes of user
    tables; never system catalogs, which cannot be reindexed concurrently; indexes of
    exclusion constraints are skipped, as the server skips them), but every index is its
    own statement with its own lock_timeout and retries, a failure costs one index (its
    INVALID copy is dropped at once) instead of aborting the rest, and the plan shows each.
    INVALID indexes are left out: leftovers of failed runs are dropped instead.
    """
    rows = [r for r in index_rows if _in_schemas(owner(r)[0], cfg) and r.get("is_valid", True)
            and not r.get("is_exclusion") and owner(r) not in rewritten]
    rows.sort(key=lambda r: (owner(r), r["schema"] == "pg_toast", r["name"]))
    return [{"kind": "index", "action": "reindex_index", "schema": r["schema"], "name": r["name"],
             "table": r["table"], "owner_schema": owner(r)[0], "owner_table": owner(r)[1],
             "reason": "reindex_database (%s index of %s)" % ("TOAST" if r["schema"] == "pg_toast" else "user",
                                                              display_name(*owner(r)))}
            for r in rows]


def plan(
    table_rows: Sequence[Mapping[str, Any]],
    index_rows: Sequence[Mapping[str, Any]],
    cfg: Mapping[str, Any],
    settings: Optional[Mapping[str, Any]] = None,
) -> List[Dict[str, Any]]:
    """The ordered list of actions: leftover drops first, then per table its REINDEX
    statements followed by its VACUUM / ANALYZE (see ``reindex_first``), then the
    REINDEX of tables that need nothing else.

    With explicit ``tables`` / ``indexes`` only those objects are handled and the
    requested operations run on them without thresholds. Raises PlanError for a listed
    object that does not exist.
    """
    settings = settings or {}
    ops = cfg["operations"]
    block = int(float(settings.get("block_size") or 8192))
    explicit = bool(cfg.get("tables") or cfg.get("indexes"))
    actions: List[Dict[str, Any]] = []

    if "drop_invalid_indexes" in ops:
        for row in index_rows:
            if not _in_schemas(owner(row)[0], cfg) or row.get("is_valid", True):
                continue
            if not LEFTOVER_INDEX.search(row["name"]):
                continue
            if explicit and owner(row) not in cfg["tables"] and not any(
                    (row["schema"], LEFTOVER_INDEX.sub("", row["name"])) == ix for ix in cfg["indexes"]):
                continue
            if row.get("reindex_in_progress"):
                continue
            actions.append({"kind": "index", "action": "drop_invalid_index", "schema": row["schema"],
                            "name": row["name"], "table": row["table"],
                            "reason": "INVALID index left by a failed REINDEX CONCURRENTLY"})

    tables = {(r["schema"], r["name"]): r for r in table_rows}
    indexes = {(r["schema"], r["name"]): r for r in index_rows if r["schema"] != "pg_toast"}
    if explicit:
        for key in cfg.get("tables") or []:
            if key not in tables:
                raise PlanError("table %s does not exist (or is not a table)" % display_name(*key))
        for key in cfg.get("indexes") or []:
            if key not in indexes:
                raise PlanError("index %s does not exist" % display_name(*key))
        for schema, name in cfg.get("tables") or []:
            forced = {
                "vacuum": ["listed in tables"] if "vacuum" in ops else [],
                "analyze": ["listed in tables"] if "analyze" in ops else [],
                "vacuum_full": ["listed in tables"] if "vacuum_full" in ops else [],
            }
            action = _table_action(schema, name, forced, ops)
            if action:
                action["reason"] = "listed in tables"
                actions.append(action)
            if "reindex" in ops:
                actions.append({"kind": "table", "action": "reindex_table", "schema": schema, "name": name,
                                "table": name, "reason": "listed in tables"})
        if "reindex" in ops:
            for schema, name in cfg.get("indexes") or []:
                row = indexes[(schema, name)]
                if row.get("is_exclusion"):
                    raise PlanError("index %s backs an exclusion constraint: it cannot be reindexed concurrently"
                                    % display_name(schema, name))
                actions.append({"kind": "index", "action": "reindex_index", "schema": schema, "name": name,
                                "table": row["table"], "reason": "listed in indexes"})
        return reindex_first(actions)

    for row in table_rows:
        if not _in_schemas(row["schema"], cfg):
            continue
        action = _table_action(row["schema"], row["name"], table_needs(row, cfg, settings), ops)
        if action:
            actions.append(action)
    rewritten = {(a["schema"], a["table"]) for a in actions if a["action"].startswith("vacuum_full")}
    if "reindex" in ops and cfg.get("reindex_database"):
        actions.extend(_database_reindex(index_rows, cfg, rewritten))
    elif "reindex" in ops:
        for row in index_rows:
            if row["schema"] == "pg_toast":  # no statistics for TOAST keys: no estimate
                continue
            if not _in_schemas(row["schema"], cfg) or not row.get("is_valid", True):
                continue
            if (row["schema"], row["table"]) in rewritten:  # VACUUM FULL rebuilds its indexes
                continue
            if row.get("amname", "btree") != "btree" or row.get("is_exclusion"):
                continue
            size = float(row.get("index_bytes") or 0)
            if size < cfg["min_index_size"]:
                continue
            bloat = bloat_plan.estimate_btree_bloat(row, block)
            if bloat is None or bloat < cfg["index_bloat_ratio"]:
                continue
            actions.append({"kind": "index", "action": "reindex_index", "schema": row["schema"],
                            "name": row["name"], "table": row["table"],
                            "reason": "estimated btree bloat %.0f%% >= %.0f%% (approximate)"
                                      % (bloat * 100, cfg["index_bloat_ratio"] * 100)})
    return reindex_first(actions)


def _owning_table(action: Mapping[str, Any], toast_owners: Mapping[Tuple[str, str], Tuple[str, str]]) -> Tuple[str, str]:
    key = (action["schema"], action["table"])
    return toast_owners.get(key, key)


def reindex_first(actions: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Move each table's REINDEX statements in front of its VACUUM.

    VACUUM removes the pointers to dead tuples from every index of the table, which means
    reading each index whole. When those indexes are rebuilt in the same run anyway, doing
    the REINDEX first lets VACUUM read the small fresh copies instead of the bloated ones
    it would clean and then throw away (the rebuilt index holds no dead entries, VACUUM
    still removes the dead heap tuples). Drops of leftovers stay first; VACUUM FULL is
    never paired with a REINDEX (it rebuilds the indexes itself).
    """
    toast_owners = {(a["schema"], a["table"]): (a["owner_schema"], a["owner_table"])
                    for a in actions if a.get("owner_schema")}
    reindex = {}
    for item in actions:
        if item["action"] in ("reindex_index", "reindex_table"):
            reindex.setdefault(_owning_table(item, toast_owners), []).append(item)
    out: List[Dict[str, Any]] = []
    for item in actions:
        if item["action"] in ("reindex_index", "reindex_table"):
            continue
        key = (item["schema"], item["table"])
        if item["kind"] == "table" and not item["action"].startswith("vacuum_full"):
            out.extend(reindex.pop(key, []))
        out.append(item)
    for item in actions:
        if item["action"] in ("reindex_index", "reindex_table") and _owning_table(item, toast_owners) in reindex:
            out.append(item)
    return out


# --------------------------------------------------------------------------- SQL


def statement(action: Mapping[str, Any]):
    """The psycopg2 ``sql.Composed`` for one action (identifiers quoted by psycopg2)."""
    ident = sql.Identifier(action["schema"], action["name"])
    templates = {
        "vacuum": "VACUUM {}",
        "analyze": "ANALYZE {}",
        "vacuum_analyze": "VACUUM (ANALYZE) {}",
        "vacuum_full": "VACUUM (FULL) {}",
        "vacuum_full_analyze": "VACUUM (FULL, ANALYZE) {}",
        "reindex_index": "REINDEX INDEX CONCURRENTLY {}",
        "reindex_table": "REINDEX TABLE CONCURRENTLY {}",
        "drop_invalid_index": "DROP INDEX CONCURRENTLY IF EXISTS {}",
    }
    if action["action"] not in templates:
        raise PlanError("unknown action %r" % (action["action"],))
    return sql.SQL(templates[action["action"]]).format(ident)


def check_name(action: Mapping[str, Any]) -> str:
    """``postgres.<action>.<schema>.<name>``: the check of one planned statement."""
    return "postgres.%s.%s.%s" % (action["action"], action["schema"], action["name"])


# --------------------------------------------------------------------------- result


def _fmt_bytes(value: Optional[int]) -> str:
    if value is None:
        return "n/a"
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024.0
    return str(value)  # pragma: no cover


def plan_result(planned: Sequence[Dict[str, Any]], database: str) -> Dict[str, Any]:
    """Check mode: one ok check per planned statement, nothing ran."""
    checks = [check("postgres.maintenance", "ok", "%d action%s planned in %s" % (
        len(planned), "" if len(planned) == 1 else "s", database), value=len(planned))]
    for item in planned:
        checks.append(check(check_name(item), "ok", "would run %s (%s)" % (item["sql"], item["reason"])))
    res = build(checks, {metric_key("pg_maintenance_planned_actions", database=database): len(planned)},
                subject="pg_maintenance")
    res["plan"] = [_plan_entry(p) for p in planned]
    res["actions"] = []
    return res


def _plan_entry(item: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: item.get(k) for k in ("kind", "action", "schema", "name", "table", "reason", "sql")}


def run_result(planned: Sequence[Dict[str, Any]], done: Sequence[Dict[str, Any]], database: str) -> Dict[str, Any]:
    """After execution: ok per done action, warning per skipped (locked), critical per failure."""
    counts = {"done": 0, "skipped": 0, "failed": 0}
    checks = []
    reclaimed = 0
    for item in done:
        counts[item["status"]] += 1
        before, after = item.get("size_before"), item.get("size_after")
        if before is not None and after is not None and item["status"] == "done":
            reclaimed += max(0, before - after)
        sizes = "size %s -> %s" % (_fmt_bytes(before), _fmt_bytes(after))
        if item["status"] == "done":
            checks.append(check(check_name(item), "ok", "%s in %.2fs, %s (%s)" % (
                item["sql"], item["duration_seconds"], sizes, item["reason"]), value=after))
        elif item["status"] == "skipped":
            checks.append(check(check_name(item), "warning", "skipped: still locked by another session after %d "
                                "attempts (%s)" % (item["attempts"], item.get("error", "")), value=None))
        else:
            checks.append(check(check_name(item), "critical", "%s failed: %s" % (item["sql"], item.get("error", "")),
                                value=None))
    summary = check("postgres.maintenance", "ok", "%d done, %d skipped, %d failed in %s" % (
        counts["done"], counts["skipped"], counts["failed"], database), value=dict(counts))
    metrics = {metric_key("pg_maintenance_actions", database=database, status=k): v for k, v in counts.items()}
    metrics[metric_key("pg_maintenance_reclaimed_bytes", database=database)] = reclaimed
    metrics[metric_key("pg_maintenance_duration_seconds", database=database)] = round(
        sum(float(d.get("duration_seconds") or 0) for d in done), 3)
    res = build([summary] + checks, metrics, subject="pg_maintenance")
    res["plan"] = [_plan_entry(p) for p in planned]
    res["actions"] = [
        {k: item.get(k) for k in ("kind", "action", "schema", "name", "table", "reason", "sql", "status",
                                  "error", "attempts", "duration_seconds", "size_before", "size_after")}
        for item in done]
    return res


def unreachable_result(message: str) -> Dict[str, Any]:
    res = build([down("postgres.connection", message)], {}, subject="pg_maintenance")
    res["plan"] = []
    res["actions"] = []
    return res


def error_result(message: str) -> Dict[str, Any]:
    """A critical check when the server answered but the statistics could not be read."""
    res = build([check("postgres.maintenance", "critical", message)], {}, subject="pg_maintenance")
    res["plan"] = []
    res["actions"] = []
    return res
