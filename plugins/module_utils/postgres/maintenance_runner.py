# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL maintenance: a pure planner (stats rows in, actions out) and its executor.

The planner decides per table and per index:

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
  The estimate is the well-known approximation from pg_class and pg_stats (page header,
  special space, tuple headers, average key widths, fillfactor); it is NOT exact
  (pgstattuple is, but it scans the index);
* DROP INDEX CONCURRENTLY for INVALID ``*_ccnew`` / ``*_ccold`` indexes left by a failed
  REINDEX CONCURRENTLY.

Every statement is composed with ``psycopg2.sql`` (identifiers are never formatted into
strings). The executor runs in autocommit (VACUUM and REINDEX CONCURRENTLY cannot run in a
transaction) with a session lock_timeout, retries lock timeouts with exponential backoff and
skips (reports) what is still locked.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import math
import re
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

try:
    import psycopg2
    import psycopg2.errors  # noqa: F401  (errors module is a lazy attribute on old versions)
    from psycopg2 import sql
    HAS_PSYCOPG2 = True
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    psycopg2 = None
    sql = None
    HAS_PSYCOPG2 = False

from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, down, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.common.retry import backoff_delays

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


# --------------------------------------------------------------------------- pure estimates


def parse_reloptions(reloptions: Optional[Sequence[str]]) -> Dict[str, str]:
    """``['fillfactor=70', 'autovacuum_enabled=false']`` -> dict."""
    out = {}
    for item in reloptions or []:
        key, sep, value = str(item).partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def _float_option(options: Mapping[str, str], key: str, default: float) -> float:
    try:
        return float(options[key])
    except (KeyError, ValueError):
        return float(default)


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
    opts = parse_reloptions(row.get("reloptions"))
    reltuples = max(0.0, float(row.get("reltuples") or 0))
    vac_threshold = _float_option(opts, "autovacuum_vacuum_threshold", merged["autovacuum_vacuum_threshold"])
    vac_scale = _float_option(opts, "autovacuum_vacuum_scale_factor", merged["autovacuum_vacuum_scale_factor"])
    an_threshold = _float_option(opts, "autovacuum_analyze_threshold", merged["autovacuum_analyze_threshold"])
    an_scale = _float_option(opts, "autovacuum_analyze_scale_factor", merged["autovacuum_analyze_scale_factor"])
    return {
        "vacuum": vac_threshold + vac_scale * reltuples,
        "analyze": an_threshold + an_scale * reltuples,
    }


def _align(value: float, alignment: int) -> float:
    return math.ceil(value / alignment) * alignment


def estimate_table_bloat(row: Mapping[str, Any], block_size: int = 8192) -> Optional[float]:
    """Approximate share (0..1) of the table's main fork that holds no live row.

    Live rows x (23-byte header aligned + 4-byte item pointer + sum of pg_stats avg_width),
    divided by fillfactor, against pg_relation_size. None without statistics.
    """
    table_bytes = float(row.get("table_bytes") or 0)
    width = row.get("row_width")
    if table_bytes <= 0 or width is None:
        return None
    live = row.get("n_live_tup")
    if live is None:
        live = max(0.0, float(row.get("reltuples") or 0))
    fillfactor = _float_option(parse_reloptions(row.get("reloptions")), "fillfactor", 100) / 100.0
    per_row = _align(23 + 1, 8) + 4 + _align(float(width), 8)
    usable = (block_size - 24) * fillfactor
    rows_per_page = max(1.0, math.floor(usable / per_row))
    expected = math.ceil(float(live) / rows_per_page) * block_size
    return max(0.0, 1.0 - expected / table_bytes)


def estimate_btree_bloat(row: Mapping[str, Any], block_size: int = 8192) -> Optional[float]:
    """Approximate btree bloat (0..1): the well-known estimate, NOT an exact measure.

    Expected leaf pages = 1 (metapage) + rows / tuples per page, where a tuple takes a
    4-byte item pointer plus an 8-byte index tuple header (+4 when a key column has
    nulls, both maxaligned) plus the average key width from pg_stats, and a page keeps
    24 bytes of header and 16 of btree special space, filled to the index fillfactor
    (90 by default). None when statistics are missing.
    """
    pages = float(row.get("index_bytes") or 0) / block_size
    width = row.get("key_width")
    if pages <= 0 or width is None:
        return None
    if row.get("is_partial") and row.get("index_reltuples") is not None:
        tuples = max(0.0, float(row["index_reltuples"]))
    else:
        tuples = max(0.0, float(row.get("table_reltuples") or 0))
    fillfactor = _float_option(parse_reloptions(row.get("reloptions")), "fillfactor", 90) / 100.0
    header = 8 + (4 if float(row.get("max_null_frac") or 0) > 0 else 0)
    tuple_bytes = 4 + _align(header, 8) + _align(float(width), 8)
    per_page = max(1.0, math.floor((block_size - 24 - 16) * fillfactor / tuple_bytes))
    expected = 1 + math.ceil(tuples / per_page)
    if pages <= expected:
        return 0.0
    return (pages - expected) / pages


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
        bloat = estimate_table_bloat(row, int(settings.get("block_size") or 8192) if settings else 8192)
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
            bloat = estimate_btree_bloat(row, block)
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


def render(action: Mapping[str, Any], context: Any) -> str:
    """The exact statement text (``sql.Composed.as_string`` on a connection or cursor)."""
    return statement(action).as_string(context)


def check_name(action: Mapping[str, Any]) -> str:
    return "postgres.%s.%s.%s" % (action["action"], action["schema"], action["name"])


# --------------------------------------------------------------------------- catalog queries

SETTINGS_SQL = """
SELECT name, setting FROM pg_catalog.pg_settings
WHERE name IN ('autovacuum_vacuum_threshold', 'autovacuum_vacuum_scale_factor',
               'autovacuum_analyze_threshold', 'autovacuum_analyze_scale_factor', 'block_size')
"""

TABLES_SQL = """
SELECT n.nspname AS schema, c.relname AS name, c.oid::bigint AS oid,
       c.reltuples::float8 AS reltuples, c.reloptions,
       s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
       s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
       EXTRACT(EPOCH FROM now() - GREATEST(s.last_vacuum, s.last_autovacuum))::float8 AS vacuum_age_seconds,
       EXTRACT(EPOCH FROM now() - GREATEST(s.last_analyze, s.last_autoanalyze))::float8 AS analyze_age_seconds,
       CASE WHEN x.locked THEN c.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_catalog.pg_relation_size(c.oid) END AS table_bytes,
       CASE WHEN NOT x.locked THEN pg_catalog.pg_total_relation_size(c.oid) END AS total_bytes,
       x.locked,
       (SELECT sum(st.avg_width)::float8 FROM pg_catalog.pg_stats st
         WHERE st.schemaname = n.nspname AND st.tablename = c.relname AND NOT st.inherited) AS row_width
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.relation = c.oid
                                   AND l.mode = 'AccessExclusiveLock') AS locked) x
WHERE c.relkind IN ('r', 'm')
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname, c.relname
"""

INDEXES_SQL = """
SELECT n.nspname AS schema, c.relname AS name, t.relname AS "table", c.oid::bigint AS oid,
       i.indisvalid AS is_valid, i.indisunique AS is_unique, i.indisprimary AS is_primary,
       (i.indpred IS NOT NULL) AS is_partial, am.amname, c.reloptions,
       c.reltuples::float8 AS index_reltuples, t.reltuples::float8 AS table_reltuples,
       CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.relation IN (c.oid, t.oid)
                         AND l.mode = 'AccessExclusiveLock')
            THEN c.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_catalog.pg_relation_size(c.oid) END AS index_bytes,
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.conindid = c.oid AND x.contype = 'x') AS is_exclusion,
       EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index p WHERE p.relid = t.oid) AS reindex_in_progress,
       CASE WHEN w.found = i.indnatts THEN w.key_width END AS key_width,
       w.max_null_frac,
       s.idx_scan
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_am am ON am.oid = c.relam
LEFT JOIN pg_catalog.pg_stat_all_indexes s ON s.indexrelid = c.oid
LEFT JOIN LATERAL (
  SELECT sum((1 - coalesce(st.null_frac, 0)) * coalesce(st.avg_width, 1024))::float8 AS key_width,
         max(coalesce(st.null_frac, 0))::float8 AS max_null_frac,
         count(st.attname) AS found
  FROM pg_catalog.generate_series(0, i.indnatts - 1) AS k(pos)
  LEFT JOIN pg_catalog.pg_attribute a
    ON (i.indkey[k.pos] <> 0 AND a.attrelid = i.indrelid AND a.attnum = i.indkey[k.pos])
    OR (i.indkey[k.pos] = 0 AND a.attrelid = i.indexrelid AND a.attnum = k.pos + 1)
  LEFT JOIN pg_catalog.pg_stats st
    ON st.schemaname = n.nspname AND NOT st.inherited AND st.attname = a.attname
   AND st.tablename = CASE WHEN i.indkey[k.pos] <> 0 THEN t.relname ELSE c.relname END
) w ON true
WHERE t.relkind IN ('r', 'm')
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname, t.relname, c.relname
"""

# The indexes of the TOAST tables of user tables (REINDEX DATABASE covers them too), with the
# user table that owns each TOAST table.
TOAST_INDEXES_SQL = """
SELECT tn.nspname AS schema, c.relname AS name, tt.relname AS "table", c.oid::bigint AS oid,
       i.indisvalid AS is_valid, i.indisunique AS is_unique, false AS is_primary, false AS is_partial,
       am.amname, c.reloptions, c.reltuples::float8 AS index_reltuples, tt.reltuples::float8 AS table_reltuples,
       c.relpages::bigint * current_setting('block_size')::bigint AS index_bytes, false AS is_exclusion,
       EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index p
               WHERE p.relid IN (tt.oid, t.oid)) AS reindex_in_progress,
       NULL::float8 AS key_width, NULL::float8 AS max_null_frac, NULL::bigint AS idx_scan,
       n.nspname AS owner_schema, t.relname AS owner_table
FROM pg_catalog.pg_class t
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
JOIN pg_catalog.pg_class tt ON tt.oid = t.reltoastrelid
JOIN pg_catalog.pg_namespace tn ON tn.oid = tt.relnamespace
JOIN pg_catalog.pg_index i ON i.indrelid = tt.oid
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE t.relkind IN ('r', 'm') AND t.reltoastrelid <> 0
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname, t.relname, c.relname
"""

TABLE_SIZE_SQL = """
SELECT pg_catalog.pg_total_relation_size(c.oid) FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s
"""

INDEX_SIZE_SQL = """
SELECT pg_catalog.pg_relation_size(c.oid) FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s
"""


def fetch_dicts(cursor, query: str, args: Any = None) -> List[Dict[str, Any]]:
    cursor.execute(query, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def collect(conn, toast: bool = False) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]], Dict[str, Any]]:
    """Read the stats rows the planner needs (read-only catalog queries).

    With ``toast`` the indexes of user tables' TOAST tables follow the user indexes
    (schema ``pg_toast``, ``owner_schema`` / ``owner_table`` naming the user table).
    """
    with conn.cursor() as cur:
        settings = {r["name"]: r["setting"] for r in fetch_dicts(cur, SETTINGS_SQL)}
        tables = fetch_dicts(cur, TABLES_SQL)
        indexes = fetch_dicts(cur, INDEXES_SQL)
        if toast:
            indexes += fetch_dicts(cur, TOAST_INDEXES_SQL)
    return tables, indexes, settings


# --------------------------------------------------------------------------- executor


def set_timeouts(cursor, lock_timeout: float, statement_timeout: float) -> None:
    cursor.execute("SELECT pg_catalog.set_config('lock_timeout', %s, false), "
                   "pg_catalog.set_config('statement_timeout', %s, false)",
                   ("%dms" % int(round(lock_timeout * 1000)), "%dms" % int(round(statement_timeout * 1000))))


def _size(cursor, action: Mapping[str, Any], lock_timeout: Optional[float] = None) -> Optional[int]:
    """pg_total_relation_size (table) or pg_relation_size (index); None when the object is
    locked (the size functions need a lock: they wait at most 100 ms) or gone."""
    query = INDEX_SIZE_SQL if action["kind"] == "index" else TABLE_SIZE_SQL
    row = None
    try:
        cursor.execute("SELECT pg_catalog.set_config('lock_timeout', '100ms', false)")
        cursor.execute(query, (action["schema"], action["name"]))
        row = cursor.fetchone()
    except psycopg2.Error:
        row = None
    finally:
        if lock_timeout is not None and not cursor.connection.closed:
            try:
                cursor.execute("SELECT pg_catalog.set_config('lock_timeout', %s, false)",
                               ("%dms" % int(round(lock_timeout * 1000)),))
            except psycopg2.Error:
                pass
    return int(row[0]) if row and row[0] is not None else None


def _first_line(exc: Exception) -> str:
    text = (getattr(exc, "pgerror", None) or str(exc) or exc.__class__.__name__).strip()
    line = text.splitlines()[0] if text else exc.__class__.__name__
    return re.sub(r"^(ERROR|FATAL):\s+", "", line)


def execute_action(
    conn,
    action: Dict[str, Any],
    attempts: int = 3,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    lock_timeout: float = 2.0,
) -> Dict[str, Any]:
    """Run one planned action; return it with status done/skipped/failed and figures.

    Lock timeouts (SQLSTATE 55P03) are retried ``attempts`` times with exponential
    backoff; still locked after that the action is ``skipped``. Any other error marks it
    ``failed``. The session lock_timeout/statement_timeout must already be set.
    """
    out = dict(action)
    text = action.get("sql") or render(action, conn)
    out["sql"] = text
    stmt = statement(action)
    with conn.cursor() as cur:
        out["size_before"] = _size(cur, action, lock_timeout)
        start = clock()
        tries = 0
        delays = backoff_delays(max(1, attempts), backoff)
        error: Optional[Exception] = None
        status = "failed"
        while True:
            tries += 1
            try:
                cur.execute(stmt)
                status = "done"
                error = None
                break
            except psycopg2.errors.LockNotAvailable as exc:
                error = exc
                status = "skipped"
                if tries > len(delays):
                    break
                sleep(delays[tries - 1])
            except psycopg2.Error as exc:
                error = exc
                status = "failed"
                break
        out["duration_seconds"] = round(clock() - start, 3)
        out["attempts"] = tries
        out["status"] = status
        if error is not None:
            out["error"] = _first_line(error)
        if conn.closed:
            out["size_after"] = None
        else:
            out["size_after"] = _size(cur, action, lock_timeout)
    return out


def leftover_indexes_for(conn, schema: str, table: str) -> List[Dict[str, Any]]:
    """INVALID *_ccnew / *_ccold indexes of one table (after a failed REINDEX CONCURRENTLY)."""
    with conn.cursor() as cur:
        rows = fetch_dicts(cur, INDEXES_SQL) + fetch_dicts(cur, TOAST_INDEXES_SQL)
    return [{"kind": "index", "action": "drop_invalid_index", "schema": r["schema"], "name": r["name"],
             "table": r["table"], "reason": "INVALID index left by the failed REINDEX CONCURRENTLY above"}
            for r in rows if r["schema"] == schema and r["table"] == table and not r["is_valid"]
            and LEFTOVER_INDEX.search(r["name"]) and not r.get("reindex_in_progress")]


def execute_plan(
    conn,
    actions: Sequence[Dict[str, Any]],
    lock_timeout: float = 2.0,
    statement_timeout: float = 0.0,
    attempts: int = 3,
    backoff: float = 1.0,
    drop_leftovers: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> List[Dict[str, Any]]:
    """Run the actions in order; a REINDEX that fails gets its leftovers dropped at once."""
    with conn.cursor() as cur:
        set_timeouts(cur, lock_timeout, statement_timeout)
    done: List[Dict[str, Any]] = []
    for index, action in enumerate(actions):
        if conn.closed:
            for rest in actions[index:]:
                item = dict(rest)
                item.update(status="failed", error="connection lost before this statement ran",
                            duration_seconds=0.0, attempts=0, size_before=None, size_after=None)
                done.append(item)
            break
        result = execute_action(conn, action, attempts=attempts, backoff=backoff, sleep=sleep,
                                lock_timeout=lock_timeout)
        done.append(result)
        if (result["status"] != "done" and result["action"] in ("reindex_index", "reindex_table")
                and drop_leftovers and not conn.closed):
            for extra in leftover_indexes_for(conn, result["schema"], result["table"]):
                extra["sql"] = render(extra, conn)
                done.append(execute_action(conn, extra, attempts=attempts, backoff=backoff, sleep=sleep,
                                           lock_timeout=lock_timeout))
    return done


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
