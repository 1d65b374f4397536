"""Shared helpers for the backup integration tests: a source database with many types."""

from __future__ import annotations

import subprocess
import uuid
from typing import Dict

PG_BIN = "/usr/lib/postgresql/15/bin"

RICH_SCHEMA = r"""
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SEQUENCE invoice_no START 1000 INCREMENT 7;
CREATE TABLE filings (
    id bigserial PRIMARY KEY,
    amount numeric(20, 6),
    big numeric,
    doc jsonb,
    tags text[],
    matrix int[][],
    blob bytea,
    at timestamptz,
    feeling mood,
    note text,
    invoice bigint DEFAULT nextval('invoice_no')
);
CREATE TABLE "Odd Name" ("select" int, "x y" text);
CREATE SCHEMA reporting;
CREATE TABLE reporting.daily (day date PRIMARY KEY, total numeric);
CREATE TABLE docs (id int PRIMARY KEY, lo oid);
INSERT INTO filings (amount, big, doc, tags, matrix, blob, at, feeling, note)
SELECT i * 1.5, 12345678901234567890.123456789 * i,
       jsonb_build_object('i', i, 'nested', jsonb_build_object('a', array[i, i + 1]), 'uni', 'ünï ✓'),
       ARRAY['a' || i, 'b,"quoted"', NULL], ARRAY[[i, 2], [3, 4]],
       decode(md5(i::text), 'hex'), '2026-01-01 00:00:00+00'::timestamptz + i * interval '1 hour 7 seconds',
       (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::mood, repeat('filing text ' || i || E'\n\ttab', 5)
FROM generate_series(1, 2000) AS i;
INSERT INTO "Odd Name" VALUES (1, 'one'), (2, NULL);
INSERT INTO reporting.daily SELECT d::date, sum(amount) FROM filings, generate_series('2026-01-01'::date, '2026-01-10', '1 day') d GROUP BY d;
INSERT INTO docs VALUES (1, lo_from_bytea(0, convert_to('large object payload', 'UTF8') || decode('00ff01', 'hex')));
SELECT setval('invoice_no', 99999);
CREATE VIEW happy_filings AS SELECT id, amount FROM filings WHERE feeling = 'happy';
CREATE FUNCTION filing_total(m mood) RETURNS numeric LANGUAGE sql STABLE AS $$ SELECT sum(amount) FROM filings WHERE feeling = m $$;
COMMENT ON TABLE filings IS 'filings with many types';
"""


def unique(prefix: str = "bk") -> str:
    return "%s_%s" % (prefix, uuid.uuid4().hex[:10])


def create_db(postgres, name: str, schema_sql: str = RICH_SCHEMA) -> str:
    postgres.psql('CREATE DATABASE "%s"' % name)
    if schema_sql:
        postgres.psql(schema_sql, database=name)
    return name


def drop_db(postgres, name: str) -> None:
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def schema_dump(postgres, name: str) -> str:
    """pg_dump --schema-only of a database, as text."""
    done = subprocess.run(
        [PG_BIN + "/pg_dump", "--schema-only", "--no-owner", "-h", "127.0.0.1", "-p", str(postgres.port),
         "-U", postgres.superuser, name],
        capture_output=True, text=True, check=True, env={"PGPASSWORD": postgres.password, "PATH": "/usr/bin:/bin"})
    # \restrict keys are random per run (PostgreSQL 15.14+): drop them before comparing.
    return "".join(line for line in done.stdout.splitlines(True) if not line.startswith(("\\restrict", "\\unrestrict")))


def table_checksums(postgres, name: str) -> Dict[str, str]:
    """md5 of every user table's rows (ordered by their text form), plus sequences and large objects."""
    tables = postgres.psql(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1", database=name).splitlines()
    sums = {}
    for table in tables:
        sums[table] = postgres.psql(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %s t" % table,
            database=name).strip()
    sums["seq:invoice_no"] = postgres.psql("SELECT last_value || ',' || is_called FROM invoice_no", database=name).strip() \
        if "public.filings" in sums else ""
    sums["largeobjects"] = postgres.psql(
        "SELECT coalesce(string_agg(md5(lo_get(oid)), ',' ORDER BY oid), '') FROM pg_largeobject_metadata",
        database=name).strip()
    return sums


def sample_manifest(now, **over):
    """A valid manifest of a custom-format backup taken at ``now``, with ``over`` changed."""
    from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan

    fields = dict(kind="daily", database="db", name="daily/db-20261122T020304Z.dump.zst", format="custom",
                  compression="zstd", size=3, sha256="a" * 64, started=catalog_plan.iso(now),
                  finished=catalog_plan.iso(now), duration_seconds=0.1, row_counts={"public.t": 3},
                  row_count_method="exact")
    fields.update(over)
    return catalog_plan.build_manifest(**fields)
