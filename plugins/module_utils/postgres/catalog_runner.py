# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Catalog queries behind maintenance and diagnostics (read-only).

``collect(conn)`` returns the table rows, index rows and autovacuum settings that
``maintenance_plan.plan`` and the bloat diagnostics read; the queries never take a
lock that waits (sizes of relations under an ACCESS EXCLUSIVE lock are estimated
from relpages instead).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Dict, List, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.postgres import client

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

# The size of index ``c`` of table ``t``: pg_relation_size needs a lock on the index, so while
# an ACCESS EXCLUSIVE lock is held on either the size is estimated from relpages instead of waiting.
INDEX_BYTES_SQL = """CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.relation IN (c.oid, t.oid)
                         AND l.mode = 'AccessExclusiveLock')
            THEN c.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_catalog.pg_relation_size(c.oid) END"""

INDEXES_SQL = """
SELECT n.nspname AS schema, c.relname AS name, t.relname AS "table", c.oid::bigint AS oid,
       i.indisvalid AS is_valid, i.indisunique AS is_unique, i.indisprimary AS is_primary,
       (i.indpred IS NOT NULL) AS is_partial, am.amname, c.reloptions,
       c.reltuples::float8 AS index_reltuples, t.reltuples::float8 AS table_reltuples,
       """ + INDEX_BYTES_SQL + """ AS index_bytes,
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


def index_rows(conn: Any, toast: bool = False) -> List[Dict[str, Any]]:
    """The user indexes; with ``toast`` followed by the indexes of user tables' TOAST tables
    (schema ``pg_toast``, ``owner_schema`` / ``owner_table`` naming the user table)."""
    rows = client.fetch_all(conn, INDEXES_SQL)
    if toast:
        rows += client.fetch_all(conn, TOAST_INDEXES_SQL)
    return rows


def collect(conn: Any, toast: bool = False) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]], Dict[str, Any]]:
    """Read the stats rows the planner needs: (tables, indexes, settings); see ``index_rows``."""
    settings = {row["name"]: row["setting"] for row in client.fetch_all(conn, SETTINGS_SQL)}
    return client.fetch_all(conn, TABLES_SQL), index_rows(conn, toast), settings
