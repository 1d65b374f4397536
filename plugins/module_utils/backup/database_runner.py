# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL administration for backups and restores: libpq settings for the tools, sessions,
row counts, creating, dropping and renaming databases (identifiers through psycopg2.sql only)."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.common import waiting
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
SELECT n.nspname, c.relname, c.reltuples::bigint, c.relkind = 'p' OR c.relhassubclass
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""

Table = Tuple[str, str]


def count_rows(cur, table: Table) -> int:
    """``count(*)`` of one table (schema and name apart, quoted by psycopg2.sql)."""
    from psycopg2 import sql

    cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(table[0]), sql.Identifier(table[1])))
    return int(cur.fetchone()[0])


def row_counts(conn, exact: bool = True) -> Dict[Table, int]:
    """``{(schema, table): rows}`` for user tables: exact count(*) or the planner's reltuples."""
    counts = {}
    with conn.cursor() as cur:
        cur.execute(USER_TABLES_SQL)
        for schema, table, estimate, _parent in cur.fetchall():
            counts[(schema, table)] = count_rows(cur, (schema, table)) if exact else max(0, int(estimate))
    return counts


def database_exists(conn, name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


# Every kind of object a database can hold besides what initdb puts there: schemas (public
# excepted), relations, functions, types, operators, collations, text search objects, conversions,
# extensions (plpgsql excepted), publications, subscriptions, event triggers, foreign data wrappers
# and servers, casts, languages, large objects.
USER_OBJECTS_SQL = """
WITH user_ns AS (
  SELECT oid FROM pg_namespace
   WHERE nspname NOT IN ('pg_catalog', 'information_schema')
     AND nspname NOT LIKE 'pg_toast%%' AND nspname NOT LIKE 'pg_temp%%')
SELECT (SELECT count(*) FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM user_ns) AND n.nspname <> 'public')
     + (SELECT count(*) FROM pg_class WHERE relnamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_proc WHERE pronamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_type WHERE typnamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_operator WHERE oprnamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_collation WHERE collnamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_conversion WHERE connamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_ts_config WHERE cfgnamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_ts_dict WHERE dictnamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_opfamily WHERE opfnamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
     + (SELECT count(*) FROM pg_publication)
     + (SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
         WHERE d.datname = current_database())
     + (SELECT count(*) FROM pg_event_trigger)
     + (SELECT count(*) FROM pg_foreign_data_wrapper)
     + (SELECT count(*) FROM pg_foreign_server)
     + (SELECT count(*) FROM pg_cast WHERE oid >= 16384)
     + (SELECT count(*) FROM pg_language WHERE oid >= 16384)
     + (SELECT count(*) FROM pg_largeobject_metadata)
"""


def database_object_count(params: Mapping[str, Any], name: str) -> int:
    """Number of user objects in a database (see USER_OBJECTS_SQL): 0 means empty."""
    conn = connect(params, name)
    try:
        with conn.cursor() as cur:
            cur.execute(USER_OBJECTS_SQL)
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def connection_count(conn, name: str, settle: float = 2.0) -> int:
    """Other sessions on database ``name``; waits up to ``settle`` seconds for closing ones to go away."""
    def count() -> int:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            return int(cur.fetchone()[0])
    return int(waiting.wait_for(count, lambda found: found == 0, timeout=settle, interval=0.1).value)


def terminate_connections(conn, name: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        return int(cur.fetchone()[0])


CREATEDB_HINT = ("the role needs CREATEDB to create a database (ALTER ROLE ... CREATEDB), and must own "
                 "a database to drop or rename it")


def admin_error(exc, action: str, password: Optional[str] = None) -> catalog_plan.BackupError:
    """A BackupError for a failed CREATE / DROP / ALTER DATABASE: permission denied names CREATEDB
    (not pg_monitor, the health checks' hint)."""
    if getattr(exc, "pgcode", None) == "42501":
        return catalog_plan.BackupError("%s: permission denied: %s (%s)" % (
            action, scrub(postgres_client.first_line(exc), [password]), CREATEDB_HINT))
    return catalog_plan.BackupError("%s: %s" % (action, postgres_client.error_message(exc, password)))


# What the server answers to a locale it does not have (invalid LC_COLLATE / LC_CTYPE locale
# name: wrong_object_type), an encoding that does not match the locale (invalid_parameter_value)
# or ICU where it was built without it (feature_not_supported).
LOCALE_ERRORS = ("42809", "22023", "0A000")


def create_database(conn, name: str, options: Sequence[Tuple[str, str]] = (),
                    locale_fallback: bool = False) -> Optional[str]:
    """CREATE DATABASE from template0 with ``options`` (``[(ENCODING / LC_COLLATE / ..., value)]``,
    see settings_plan.create_options).

    With ``locale_fallback``, options this server cannot honour (a locale it lacks, an encoding
    its locale does not match) are left out: the database is created with the server's defaults
    and the server's reason is returned (None when the options were used)."""
    from psycopg2 import sql

    def create(with_options):
        query = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
        for keyword, value in with_options:
            query = sql.SQL("{} {} {}").format(query, sql.SQL(keyword), sql.Literal(value))
        with conn.cursor() as cur:
            cur.execute(query)

    try:
        create(options)
        return None
    except postgres_client.DatabaseError as exc:
        if not (locale_fallback and options and getattr(exc, "pgcode", None) in LOCALE_ERRORS):
            raise admin_error(exc, "creating database %s" % name)
        reason = postgres_client.first_line(exc)
    try:
        create(())
    except postgres_client.DatabaseError as exc:
        raise admin_error(exc, "creating database %s" % name)
    return reason


def drop_database(conn, name: str, force: bool = False) -> None:
    from psycopg2 import sql

    query = "DROP DATABASE IF EXISTS {} WITH (FORCE)" if force else "DROP DATABASE IF EXISTS {}"
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL(query).format(sql.Identifier(name)))
    except postgres_client.DatabaseError as exc:
        raise admin_error(exc, "dropping database %s" % name)


def rename_database(conn, old: str, new: str) -> None:
    from psycopg2 import sql

    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))
    except postgres_client.DatabaseError as exc:
        raise admin_error(exc, "renaming database %s to %s" % (old, new))


def counts_of(params: Mapping[str, Any], name: str, exact: bool = True) -> Dict[Table, int]:
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


def stats_match(expected: Mapping[Table, int]):
    """The predicate of the statistics wait: every table's inserts equal the manifest."""
    def matched(stats: Mapping[Table, Tuple[int, int]]) -> bool:
        return all(t in stats and stats[t][1] == 0 and stats[t][0] == rows for t, rows in expected.items())
    return matched


def restored_counts(params: Mapping[str, Any], name: str, expected: Mapping[Table, int],
                    settle: float = 5.0) -> Tuple[Dict[Table, int], int, int]:
    """Exact row counts of a database that was just restored into fresh, empty tables.

    The server's own statistics count every row COPY inserted (``n_tup_ins``; a restore never
    updates or deletes, and a COPY that was rolled back leaves ``n_live_tup`` below ``n_tup_ins``,
    so only tables where both agree qualify). Tables whose statistics equal the manifest are taken
    from them (waiting, with common.waiting, up to ``settle`` seconds for the restore's sessions to
    report); every other table is counted with ``count(*)``, so a difference is always confirmed
    by a real count. Partitioned and inheritance parents are counted at once: their statistics
    never hold their children's rows. Returns ``(counts, tables counted with count(*), parents)``.
    """
    conn = connect(params, name, read_only=True)
    try:
        with conn.cursor() as cur:
            cur.execute(USER_TABLES_SQL)
            listed = cur.fetchall()
            tables = [(schema, table) for schema, table, _estimate, _parent in listed]
            parents = [(schema, table) for schema, table, _estimate, parent in listed if parent]
            counts = {table: count_rows(cur, table) for table in parents}
            wanted = {t: int(expected[t]) for t in tables if t not in counts and t in expected}

            def read_stats() -> Dict[Table, Tuple[int, int]]:
                cur.execute("SELECT pg_stat_clear_snapshot()")
                cur.execute(RESTORED_STATS_SQL)
                return {(schema, table): (int(ins), int(changed)) for schema, table, ins, changed in cur.fetchall()}

            stats = waiting.wait_for(read_stats, stats_match(wanted), timeout=settle if wanted else 0,
                                     interval=0.2).value or {}
            matched = {t: rows for t, rows in wanted.items()
                       if t in stats and stats[t][1] == 0 and stats[t][0] == rows}
            counts.update(matched)
            for table in tables:
                if table not in counts:
                    counts[table] = count_rows(cur, table)
        return counts, len(tables) - len(matched), len(parents)
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
