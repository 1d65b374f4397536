# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL administration for backups and restores: libpq settings for the tools, sessions,
row counts, creating, dropping and renaming databases (identifiers through psycopg2.sql only)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as postgres_client
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan


def libpq_env(params: Mapping[str, Any], base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Environment for pg_dump / pg_restore: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSSLMODE ..."""
    env = dict(base if base is not None else os.environ)
    for key in ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSERVICE",
                "PGSSLMODE", "PGSSLROOTCERT", "PGCONNECT_TIMEOUT", "PGOPTIONS"):
        env.pop(key, None)
    host = params.get("login_unix_socket") or params.get("login_host")
    if host:
        env["PGHOST"] = str(host)
    if params.get("port"):
        env["PGPORT"] = str(params["port"])
    if params.get("login_user"):
        env["PGUSER"] = str(params["login_user"])
    if params.get("login_password"):
        env["PGPASSWORD"] = str(params["login_password"])
    if params.get("ssl_mode"):
        env["PGSSLMODE"] = str(params["ssl_mode"])
    if params.get("ca_cert"):
        env["PGSSLROOTCERT"] = str(params["ca_cert"])
    if params.get("connect_timeout"):
        env["PGCONNECT_TIMEOUT"] = str(params["connect_timeout"])
    env["PGAPPNAME"] = "runbook.ops"
    return env


def conninfo_dbname(database: str) -> str:
    """A conninfo string naming only the database, quoted so any name is taken literally."""
    return "dbname='%s'" % database.replace("\\", "\\\\").replace("'", "\\'")


def connect(params: Mapping[str, Any], database: str, autocommit: bool = True, read_only: bool = False):
    """A psycopg2 session on ``database`` (no statement timeout: counts and DDL may take long).

    Raises BackupError with pg.py's clear message (never the password) when it fails.
    """
    merged = dict(params)
    merged["database"] = database
    try:
        conn = postgres_client.connect(merged, statement_timeout_ms=0, lock_timeout_ms=0, read_only=read_only)
    except postgres_client.PgConnectError as exc:
        raise catalog_plan.BackupError("cannot connect to database %s: %s" % (database, exc.message))
    conn.autocommit = autocommit
    return conn


def scrub(text: str, secrets: Iterable[Optional[str]]) -> str:
    return postgres_client.scrub(text, list(secrets))


USER_TABLES_SQL = """
SELECT n.nspname, c.relname, c.reltuples::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def row_counts(conn, exact: bool = True) -> Dict[str, int]:
    """``{schema.table: rows}`` for user tables: exact count(*) or the planner's reltuples."""
    from psycopg2 import sql

    counts = {}
    with conn.cursor() as cur:
        cur.execute(USER_TABLES_SQL)
        tables = cur.fetchall()
        for schema, table, estimate in tables:
            key = "%s.%s" % (schema, table)
            if exact:
                cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
                counts[key] = int(cur.fetchone()[0])
            else:
                counts[key] = max(0, int(estimate))
    return counts


def database_exists(conn, name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def database_object_count(params: Mapping[str, Any], name: str) -> int:
    """Number of user objects (relations, functions, types) in a database: 0 means empty."""
    conn = connect(params, name)
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                           AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%')
                     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
                     + (SELECT count(*) FROM pg_namespace
                         WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
                           AND nspname NOT LIKE 'pg_toast%%' AND nspname NOT LIKE 'pg_temp%%')
                     + (SELECT count(*) FROM pg_largeobject_metadata)
            """)
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def connection_count(conn, name: str, settle: float = 2.0) -> int:
    """Other sessions on database ``name``; waits up to ``settle`` seconds for closing ones to go away."""
    deadline = time.monotonic() + settle
    while True:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            count = int(cur.fetchone()[0])
        if count == 0 or time.monotonic() >= deadline:
            return count
        time.sleep(0.1)


def terminate_connections(conn, name: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        return int(cur.fetchone()[0])


def create_database(conn, name: str) -> None:
    from psycopg2 import sql

    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(conn, name: str, force: bool = False) -> None:
    from psycopg2 import sql

    with conn.cursor() as cur:
        query = "DROP DATABASE IF EXISTS {} WITH (FORCE)" if force else "DROP DATABASE IF EXISTS {}"
        cur.execute(sql.SQL(query).format(sql.Identifier(name)))


def rename_database(conn, old: str, new: str) -> None:
    from psycopg2 import sql

    with conn.cursor() as cur:
        cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))


def counts_of(params: Mapping[str, Any], name: str, exact: bool = True) -> Dict[str, int]:
    conn = connect(params, name, read_only=True)
    try:
        return row_counts(conn, exact=exact)
    finally:
        conn.close()


RESTORED_STATS_SQL = """
SELECT s.schemaname, s.relname, s.n_tup_ins,
       s.n_tup_upd + s.n_tup_del + abs(s.n_tup_ins - s.n_live_tup)
FROM pg_stat_user_tables s
"""


def restored_counts(params: Mapping[str, Any], name: str, expected: Mapping[str, int],
                    settle: float = 5.0) -> Tuple[Dict[str, int], int]:
    """Exact row counts of a database that was just restored into fresh, empty tables.

    The server's own statistics count every row COPY inserted (``n_tup_ins``; a restore never
    updates or deletes, and a COPY that was rolled back leaves ``n_live_tup`` below ``n_tup_ins``,
    so only tables where both agree qualify). Tables whose statistics already equal the manifest are taken from
    them (waiting up to ``settle`` seconds for the restore's sessions to report); every other
    table is counted with ``count(*)``, so a difference is always confirmed by a real count.
    Returns ``(counts, number of tables counted with count(*))``.
    """
    from psycopg2 import sql

    conn = connect(params, name, read_only=True)
    try:
        with conn.cursor() as cur:
            cur.execute(USER_TABLES_SQL)
            tables = ["%s.%s" % (schema, table) for schema, table, _estimate in cur.fetchall()]
            deadline = time.monotonic() + settle
            while True:
                cur.execute("SELECT pg_stat_clear_snapshot()")
                cur.execute(RESTORED_STATS_SQL)
                stats = {"%s.%s" % (schema, table): (int(ins), int(changed))
                         for schema, table, ins, changed in cur.fetchall()}
                matched = {t: stats[t][0] for t in tables
                           if t in stats and stats[t][1] == 0 and t in expected and stats[t][0] == int(expected[t])}
                if len(matched) == len(tables) or time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
            counts = dict(matched)
            for table in tables:
                if table not in counts:
                    schema, rel = table.split(".", 1)
                    cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                                             sql.Identifier(rel)))
                    counts[table] = int(cur.fetchone()[0])
        return counts, len(tables) - len(matched)
    finally:
        conn.close()


def run_smoke_queries(params: Mapping[str, Any], database: str, queries: Sequence[str]) -> List[Tuple[bool, str]]:
    """Run each query read-only in ``database``; ``(ok, first value or error)`` per query."""
    results = []
    conn = connect(params, database, read_only=True)
    try:
        for query in queries:
            try:
                with conn.cursor() as cur:
                    cur.execute(query)
                    row = cur.fetchone() if cur.description else None
                results.append((True, "" if row is None else str(row[0])[:200]))
            except Exception as exc:  # pylint: disable=broad-except
                results.append((False, postgres_client.error_message(exc, params.get("login_password"))))
    finally:
        conn.close()
    return results


def check_options(module, connects: bool = True) -> None:
    """Fail the module clearly when ``jobs`` is below 1 or, for a module that ``connects``, when
    psycopg2 is missing or the connection options are unusable (what an argument spec cannot declare)."""
    params = module.params
    if connects:
        if not postgres_client.HAS_PSYCOPG2:
            module.fail_json(msg=missing_required_lib("psycopg2"))
        problem = postgres_client.validate_params(params)
        if problem:
            module.fail_json(msg=problem)
    if params["jobs"] < 1:
        module.fail_json(msg="jobs must be at least 1, got %d" % params["jobs"])
