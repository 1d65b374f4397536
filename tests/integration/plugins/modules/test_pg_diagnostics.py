"""pg_diagnostics against a real PostgreSQL 15: pg_stat_statements missing then present, lock
chains, long transactions, bloat, unused and duplicate indexes; read-only, also as pg_monitor."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from utils.run import ModuleFailed, run_module

DB = "diag_it"

SETUP = r"""
CREATE SCHEMA "select";
CREATE TABLE "select"."we""ird tab" (id int PRIMARY KEY, v text, w int) WITH (autovacuum_enabled = false);
INSERT INTO "select"."we""ird tab" SELECT g, md5(g::text), g % 7 FROM generate_series(1, 60000) g;
CREATE INDEX "Dup A" ON "select"."we""ird tab" (w);
CREATE INDEX "Dup B" ON "select"."we""ird tab" (w);
CREATE UNIQUE INDEX uniq_v ON "select"."we""ird tab" (v);
CREATE TABLE public.blockme (id int PRIMARY KEY);
INSERT INTO public.blockme VALUES (1);
"""


@pytest.fixture(scope="module")
def db(postgres):
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DB)
    postgres.psql('CREATE DATABASE "%s"' % DB)
    postgres.psql(SETUP, database=DB)
    postgres.psql('DELETE FROM "select"."we""ird tab" WHERE id %% 10 <> 0'.replace("%%", "%"), database=DB)
    postgres.psql('VACUUM ANALYZE "select"."we""ird tab"', database=DB)
    postgres.psql("ANALYZE public.blockme", database=DB)
    yield postgres
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DB)


def connect(postgres, application_name="pytest-diag"):
    dsn = postgres.dsn(database=DB)
    return psycopg2.connect(host=dsn["login_host"], port=dsn["port"], user=dsn["login_user"],
                            password=dsn["login_password"], dbname=DB, application_name=application_name)


def checks(result):
    return {c["name"]: c for c in result["checks"]}


def test_missing_pg_stat_statements_is_a_warning_then_top_queries(db):
    result = run_module("pg_diagnostics", dict(db.dsn(database=DB)))
    assert result["changed"] is False
    top = checks(result)["postgres.top_queries"]
    assert top["status"] == "warning"
    assert "pg_stat_statements is not installed" in top["message"]
    assert result["diagnostics"]["top_queries"] == []
    db.psql("CREATE EXTENSION pg_stat_statements", database=DB)
    db.psql("SELECT count(*) FROM public.blockme, generate_series(1, 300000)", database=DB)
    result = run_module("pg_diagnostics", dict(db.dsn(database=DB), top=50))
    assert checks(result)["postgres.top_queries"]["status"] == "ok"
    assert any("blockme" in q["query"] for q in result["diagnostics"]["top_queries"])


def test_bloat_unused_and_duplicate_indexes(db):
    result = run_module("pg_diagnostics", dict(db.dsn(database=DB), min_bloat_size=0))
    found = checks(result)
    assert found["postgres.table_bloat"]["status"] == "warning"
    bloated = {t["table"] for t in result["diagnostics"]["table_bloat"]}
    assert 'select.we"ird tab' in bloated and "public.blockme" not in bloated
    assert found["postgres.duplicate_indexes"]["status"] == "warning"
    assert result["diagnostics"]["duplicate_indexes"] == [["select.Dup A", "select.Dup B"]]
    unused = {u["index"] for u in result["diagnostics"]["unused_indexes"]}
    assert {"select.Dup A", "select.Dup B"} <= unused
    assert "select.uniq_v" not in unused and 'select.we"ird tab_pkey' not in unused
    largest = [t["name"] for t in result["diagnostics"]["largest_tables"]]
    assert largest[0] == 'we"ird tab'
    assert found["postgres.invalid_indexes"]["status"] == "ok"


def test_blocking_chain_long_transaction_and_connections(db):
    holder = connect(db, "holder")
    with holder.cursor() as cur:
        cur.execute("LOCK TABLE public.blockme IN ACCESS EXCLUSIVE MODE")
    waiters = []
    errors = []

    def wait(text):
        conn = connect(db, "waiter")
        conn.autocommit = True
        waiters.append(conn)
        try:
            with conn.cursor() as cur:
                cur.execute(text)
        except psycopg2.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wait, args=("SELECT * FROM public.blockme",)),
               threading.Thread(target=wait, args=("BEGIN; LOCK TABLE public.blockme IN ACCESS EXCLUSIVE MODE; COMMIT",))]
    try:
        threads[0].start()
        time.sleep(0.3)
        threads[1].start()
        time.sleep(1.2)
        result = run_module("pg_diagnostics", dict(db.dsn(database=DB), long_transaction_seconds=1,
                                                   slow_query_seconds=1, blocking_critical_seconds=600))
    finally:
        holder.rollback()
        holder.close()
        for thread in threads:
            thread.join(10)
        for conn in waiters:
            conn.close()
    found = checks(result)
    blocking = result["diagnostics"]["blocking"]
    holder_pid = blocking["roots"][0]
    assert len(blocking["roots"]) == 1
    assert len(blocking["chains"][0]["blocked"]) == 2, (blocking["blocked"], blocking["sessions"], errors)
    assert found["postgres.blocking_locks"]["status"] == "warning"
    assert "pid %d blocks" % holder_pid in found["postgres.blocking_locks"]["message"]
    assert {s["application"] for s in blocking["sessions"]} == {"holder", "waiter"}
    assert found["postgres.long_transactions"]["status"] == "warning"
    assert holder_pid in {t["pid"] for t in result["diagnostics"]["long_transactions"]}
    assert found["postgres.slow_queries"]["status"] == "warning"
    assert result["diagnostics"]["connections"]["by_state"].get("active", 0) >= 3
    assert result["metrics"]["pg_blocked_sessions"] == 2
    assert not errors
    assert found["postgres.largest_tables"]["status"] == "ok"  # sizes of locked tables do not wait
    critical = run_module("pg_diagnostics", dict(db.dsn(database=DB), blocking_critical_seconds=0.1))
    assert checks(critical)["postgres.blocking_locks"]["status"] == "ok"  # nothing blocked any more


def test_monitor_role_read_only(db):
    result = run_module("pg_diagnostics", dict(db.dsn("monitor", database=DB)), check_mode=True)
    assert result["changed"] is False
    assert result["status"] != "critical", result["summary"]
    assert checks(result)["postgres.top_queries"]["status"] == "ok"
    assert "monitor-secret" not in str(result)


def test_bad_input_and_unreachable(db):
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_diagnostics", dict(db.dsn(database=DB), index_bloat_ratio=3))
    assert "index_bloat_ratio" in err.value.result["msg"]
    result = run_module("pg_diagnostics", dict(db.dsn(database=DB), port=1, connect_timeout=2))
    assert result["status"] == "critical" and result["severity"] == "P0"
