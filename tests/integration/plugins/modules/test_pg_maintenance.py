"""pg_maintenance against a real PostgreSQL 15: bloat picked, clean tables left alone, hostile
identifiers, check mode changes nothing, locked tables skipped, a cancelled REINDEX CONCURRENTLY
cleaned up by the next run, VACUUM FULL only inside the maintenance window."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from utils.run import ModuleFailed, run_module

DB = "maint_it"

SETUP = r"""
CREATE SCHEMA "select";
CREATE SCHEMA "Mixed Case";
CREATE TABLE "select"."we""ird tab" (id int PRIMARY KEY, "Val ue" text) WITH (autovacuum_enabled = false);
INSERT INTO "select"."we""ird tab" SELECT g, md5(g::text) FROM generate_series(1, 40000) g;
CREATE INDEX "Mixed Idx" ON "select"."we""ird tab" ("Val ue");
CREATE TABLE "Mixed Case"."Orders Table" (id int PRIMARY KEY, note text) WITH (autovacuum_enabled = false);
INSERT INTO "Mixed Case"."Orders Table" SELECT g, repeat('x', 100) FROM generate_series(1, 40000) g;
CREATE TABLE public.clean_one (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false);
INSERT INTO public.clean_one SELECT g, 'v' FROM generate_series(1, 5000) g;
CREATE TABLE "select"."Clean Tab" (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false);
INSERT INTO "select"."Clean Tab" SELECT g, 'v' FROM generate_series(1, 5000) g;
CREATE TABLE public.locked_t (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
INSERT INTO public.locked_t SELECT generate_series(1, 100);
CREATE TABLE public.big_t (id int PRIMARY KEY, payload text) WITH (autovacuum_enabled = false);
INSERT INTO public.big_t SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
CREATE INDEX big_t_payload ON public.big_t (payload);
CREATE TABLE "Mixed Case"."No ""Overlap"" T" (r int4range, EXCLUDE USING gist (r WITH &&));
"""

BLOAT = r"""
UPDATE "select"."we""ird tab" SET "Val ue" = md5("Val ue");
UPDATE "select"."we""ird tab" SET "Val ue" = md5("Val ue");
DELETE FROM "select"."we""ird tab" WHERE id % 10 <> 0;
UPDATE "Mixed Case"."Orders Table" SET note = repeat('y', 100);
DELETE FROM "Mixed Case"."Orders Table" WHERE id % 4 <> 0;
"""

BLOATED = {("select", 'we"ird tab'), ("Mixed Case", "Orders Table")}
CLEAN = {("public", "clean_one"), ("select", "Clean Tab"), ("public", "locked_t"), ("public", "big_t")}


@pytest.fixture(scope="module")
def db(postgres):
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DB)
    postgres.psql('CREATE DATABASE "%s"' % DB)
    postgres.psql(SETUP, database=DB)
    for table in ('public.clean_one', '"select"."Clean Tab"', "public.locked_t", "public.big_t",
                  '"select"."we""ird tab"', '"Mixed Case"."Orders Table"'):
        postgres.psql("VACUUM ANALYZE %s" % table, database=DB)
    postgres.psql(BLOAT, database=DB)
    yield postgres
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DB)


def args(postgres, **extra):
    base = dict(postgres.dsn(database=DB))
    base.update(extra)
    return base


def connect(postgres, **kw):
    dsn = postgres.dsn(database=DB)
    conn = psycopg2.connect(host=dsn["login_host"], port=dsn["port"], user=dsn["login_user"],
                            password=dsn["login_password"], dbname=DB, **kw)
    return conn


def query(postgres, text, params=None):
    conn = connect(postgres)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(text, params)
            return cur.fetchall()
    finally:
        conn.close()


def snapshot(postgres):
    """(vacuum counts per table, index oids) - what check mode must not change."""
    counts = {(r[0], r[1]): r[2:] for r in query(
        postgres, "SELECT schemaname, relname, vacuum_count, analyze_count, autovacuum_count FROM pg_stat_user_tables")}
    oids = {(r[0], r[1]): r[2] for r in query(
        postgres, "SELECT n.nspname, c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE c.relkind = 'i' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'")}
    return counts, oids


def vacuum_counts(postgres):
    return {(r[0], r[1]): r[2] for r in query(
        postgres, "SELECT schemaname, relname, vacuum_count FROM pg_stat_user_tables")}


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def table_actions(result):
    return {(p["schema"], p["name"]): p for p in result["plan"] if p["kind"] == "table"}


def test_check_mode_plans_bloated_tables_only_and_changes_nothing(db):
    before = snapshot(db)
    params = args(db, operations=["vacuum", "analyze", "reindex", "drop_invalid_indexes"], min_index_size=0)
    result = run_module("pg_maintenance", params, check_mode=True)
    assert result["changed"] is False
    assert result["actions"] == []
    planned = table_actions(result)
    assert set(planned) == BLOATED, planned
    weird = planned[("select", 'we"ird tab')]
    assert weird["action"] == "vacuum_analyze"
    assert weird["sql"] == 'VACUUM (ANALYZE) "select"."we""ird tab"'
    assert "dead tuple" in weird["reason"]
    assert planned[("Mixed Case", "Orders Table")]["sql"] == 'VACUUM (ANALYZE) "Mixed Case"."Orders Table"'
    names = {c["name"] for c in result["checks"]}
    assert 'postgres.vacuum_analyze.select.we"ird tab' in names
    assert all(c["status"] == "ok" for c in result["checks"])
    time.sleep(1.0)
    assert snapshot(db) == before


def test_unknown_table_and_bad_combinations_fail_cleanly(db):
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_maintenance", args(db, tables=["public.no_such_table"]))
    assert "public.no_such_table does not exist" in err.value.result["msg"]
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_maintenance", args(db, operations=["vacuum_full"]))
    assert "maintenance_window" in err.value.result["msg"]
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_maintenance", args(db, dead_tuple_ratio=2))
    assert "dead_tuple_ratio" in err.value.result["msg"]
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_maintenance", args(db, indexes=['"unterminated']))
    assert "unterminated" in err.value.result["msg"]
    assert db.password not in str(err.value.result["msg"])


def test_unreachable_server_fails_the_task_with_the_result_schema(db):
    # An action that could not be carried out fails its task (docs/DEVELOPING.md), keeping
    # the schema, so a playbook without a health gate does not exit 0.
    dead = args(db, port=1, connect_timeout=2)
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_maintenance", dead)
    result = err.value.result
    assert result["changed"] is False
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert result["checks"][0]["name"] == "postgres.connection"
    assert result["msg"] == result["summary"] and result["plan"] == [] and result["actions"] == []
    assert db.password not in str(result)


def test_missing_database_fails_the_task(db):
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_maintenance", args(db, database="no_such_database_here"))
    result = err.value.result
    assert result["status"] == "critical" and result["checks"][0]["name"] == "postgres.connection"
    assert "no_such_database_here" in result["msg"] and "does not exist" in result["msg"]
    assert db.password not in str(result)


def test_locked_table_is_skipped_within_the_lock_timeout_budget(db):
    holder = connect(db)
    with holder.cursor() as cur:
        cur.execute("LOCK TABLE public.locked_t IN ACCESS EXCLUSIVE MODE")
    try:
        start = time.monotonic()
        params = args(db, tables=["public.locked_t", "clean_one"], lock_timeout=0.3, lock_retries=3, retry_backoff=0.1)
        result = run_module("pg_maintenance", params)
        elapsed = time.monotonic() - start
    finally:
        holder.rollback()
        holder.close()
    by_name = {(a["schema"], a["name"]): a for a in result["actions"]}
    locked = by_name[("public", "locked_t")]
    assert locked["status"] == "skipped" and locked["attempts"] == 3
    assert "lock timeout" in locked["error"]
    assert by_name[("public", "clean_one")]["status"] == "done"
    check = {c["name"]: c for c in result["checks"]}["postgres.vacuum_analyze.public.locked_t"]
    assert check["status"] == "warning" and "still locked" in check["message"]
    assert result["status"] == "warning"
    assert result["changed"] is True  # clean_one ran
    # 3 waits of 0.3 s plus backoff 0.1 + 0.2 s, plus connection and catalog reads.
    assert locked["duration_seconds"] < 0.3 * 3 + 0.3 + 0.5
    assert elapsed < 10


def test_run_vacuums_bloated_tables_and_leaves_clean_ones(db):
    before = vacuum_counts(db)
    result = run_module("pg_maintenance", args(db))
    assert result["changed"] is True
    assert result["status"] == "ok", result["summary"]
    done = {(a["schema"], a["name"]): a for a in result["actions"]}
    assert set(done) == BLOATED
    for item in done.values():
        assert item["status"] == "done"
        assert item["size_before"] > 0 and item["size_after"] > 0
        assert item["duration_seconds"] >= 0

    def vacuumed():
        counts = vacuum_counts(db)
        return counts if all(counts[k] > before[k] for k in BLOATED) else None

    after = wait_for(vacuumed)
    assert after, "vacuum counts did not move"
    for key in CLEAN - {("public", "locked_t"), ("public", "clean_one")}:
        assert after[key] == before[key]
    # Idempotent: nothing left to vacuum.
    again = run_module("pg_maintenance", args(db), check_mode=True)
    assert not table_actions(again)


def test_reindex_bloated_indexes_concurrently(db):
    result = run_module("pg_maintenance", args(db, operations=["reindex"], min_index_size=0), check_mode=True)
    planned = {(p["schema"], p["name"]): p for p in result["plan"]}
    assert ("select", "Mixed Idx") in planned
    assert planned[("select", "Mixed Idx")]["sql"] == 'REINDEX INDEX CONCURRENTLY "select"."Mixed Idx"'
    assert ("public", "big_t_payload") not in planned and ("public", "clean_one_pkey") not in planned
    _first, oids_before = snapshot(db)
    result = run_module("pg_maintenance", args(db, operations=["reindex"], min_index_size=0))
    assert result["changed"] is True
    for item in result["actions"]:
        assert item["status"] == "done", item
        assert item["size_after"] < item["size_before"]
    _first, oids_after = snapshot(db)
    assert oids_after[("select", "Mixed Idx")] != oids_before[("select", "Mixed Idx")]
    assert oids_after[("public", "big_t_payload")] == oids_before[("public", "big_t_payload")]


REINDEXABLE = """
SELECT n.nspname, c.relname, c.oid FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class t ON t.oid = i.indrelid
LEFT JOIN pg_class o ON o.reltoastrelid = t.oid
JOIN pg_namespace own ON own.oid = coalesce(o.relnamespace, t.relnamespace)
WHERE own.nspname !~ '^pg_' AND own.nspname <> 'information_schema' AND i.indisvalid
"""


def test_reindex_database_scope_one_index_at_a_time(db):
    """Every user and TOAST index, hostile names quoted, each its own REINDEX INDEX CONCURRENTLY;
    the exclusion constraint's index (which cannot be rebuilt concurrently) is skipped."""
    params = args(db, operations=["reindex", "drop_invalid_indexes"], reindex_database=True, lock_timeout=1)
    before = snapshot(db)
    plan = run_module("pg_maintenance", params, check_mode=True)
    assert plan["changed"] is False and plan["actions"] == []
    assert snapshot(db) == before
    all_valid = {(r[0], r[1]): r[2] for r in query(db, REINDEXABLE)}
    exclusion = [k for k in all_valid if k[1].startswith("No ")]
    assert len(exclusion) == 1
    sqls = [p["sql"] for p in plan["plan"]]
    assert 'REINDEX INDEX CONCURRENTLY "select"."Mixed Idx"' in sqls
    assert 'REINDEX INDEX CONCURRENTLY "select"."we""ird tab_pkey"' in sqls
    assert 'REINDEX INDEX CONCURRENTLY "Mixed Case"."Orders Table_pkey"' in sqls
    toast = [p for p in plan["plan"] if p["schema"] == "pg_toast"]
    assert toast and all(p["sql"].startswith('REINDEX INDEX CONCURRENTLY "pg_toast"."pg_toast_') for p in toast)
    assert 'TOAST index of select.we"ird tab' in {p["reason"].split("(", 1)[1].rstrip(")") for p in toast}
    planned = {(p["schema"], p["name"]) for p in plan["plan"]}
    assert planned == set(all_valid) - set(exclusion)
    result = run_module("pg_maintenance", params)
    assert result["changed"] is True and result["status"] == "ok", result["summary"]
    assert all(a["status"] == "done" and a["size_after"] > 0 for a in result["actions"])
    after = {(r[0], r[1]): r[2] for r in query(db, REINDEXABLE)}
    # REINDEX CONCURRENTLY swaps in a new index under the old name: new OIDs, same names.
    assert set(after) == set(all_valid)
    assert all(after[k] != all_valid[k] for k in planned)
    assert after[exclusion[0]] == all_valid[exclusion[0]]
    assert query(db, "SELECT count(*) FROM pg_index WHERE NOT indisvalid")[0][0] == 0


def _cancel_reindex_half_way(db, index):
    """Hold a writer open so REINDEX CONCURRENTLY waits after creating <index>_ccnew, cancel it."""
    writer = connect(db)
    with writer.cursor() as cur:
        cur.execute("UPDATE public.big_t SET payload = payload WHERE id = 1")
    errors = []
    runner = connect(db)
    runner.autocommit = True

    def reindex():
        try:
            with runner.cursor() as cur:
                cur.execute("REINDEX INDEX CONCURRENTLY " + index)
        except psycopg2.Error as exc:
            errors.append(exc)

    thread = threading.Thread(target=reindex)
    thread.start()
    try:
        pid = wait_for(lambda: (query(db, "SELECT pid FROM pg_stat_activity WHERE query LIKE 'REINDEX INDEX CONCURRENTLY%%' "
                                          "AND wait_event_type = 'Lock'") or [[None]])[0][0])
        assert pid, "REINDEX never waited"
        assert query(db, "SELECT pg_cancel_backend(%s)", (pid,))[0][0] is True
        thread.join(10)
    finally:
        writer.rollback()
        writer.close()
        thread.join(10)
        runner.close()
    assert errors and isinstance(errors[0], psycopg2.errors.QueryCanceled)


def test_cancelled_reindex_leaves_invalid_ccnew_that_the_next_run_drops(db):
    _cancel_reindex_half_way(db, "public.big_t_payload")
    invalid = query(db, "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                        "WHERE NOT i.indisvalid")
    assert [r[0] for r in invalid] == ["big_t_payload_ccnew"]
    check = run_module("pg_maintenance", args(db), check_mode=True)
    drops = [p for p in check["plan"] if p["action"] == "drop_invalid_index"]
    assert [d["sql"] for d in drops] == ['DROP INDEX CONCURRENTLY IF EXISTS "public"."big_t_payload_ccnew"']
    assert query(db, "SELECT count(*) FROM pg_class WHERE relname = 'big_t_payload_ccnew'")[0][0] == 1
    result = run_module("pg_maintenance", args(db))
    assert result["changed"] is True
    assert [a["status"] for a in result["actions"] if a["action"] == "drop_invalid_index"] == ["done"]
    assert query(db, "SELECT count(*) FROM pg_class WHERE relname = 'big_t_payload_ccnew'")[0][0] == 0
    assert query(db, "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                     "WHERE c.relname = 'big_t_payload'")[0][0] is True


def test_own_failed_reindex_is_reported_and_its_leftover_dropped_later(db):
    writer = connect(db)
    with writer.cursor() as cur:
        cur.execute("UPDATE public.big_t SET payload = payload WHERE id = 2")
    try:
        params = args(db, operations=["reindex", "drop_invalid_indexes"], indexes=["public.big_t_payload"],
                      lock_timeout=0.3, lock_retries=2, retry_backoff=0.1)
        result = run_module("pg_maintenance", params)
    finally:
        writer.rollback()
        writer.close()
    reindex = [a for a in result["actions"] if a["action"] == "reindex_index"][0]
    assert reindex["status"] == "skipped"
    assert result["status"] == "warning"
    # Each attempt left an INVALID copy; the run tried to drop them at once (still blocked by the writer).
    leftovers = [a for a in result["actions"] if a["action"] == "drop_invalid_index"]
    assert leftovers and all(a["name"].startswith("big_t_payload_ccnew") for a in leftovers)
    cleanup = run_module("pg_maintenance", args(db))
    assert all(a["status"] == "done" for a in cleanup["actions"])
    assert query(db, "SELECT count(*) FROM pg_index WHERE NOT indisvalid")[0][0] == 0


def test_vacuum_full_only_in_maintenance_window_and_shrinks(db):
    db.psql("DELETE FROM public.big_t WHERE id % 10 <> 0", database=DB)
    db.psql("VACUUM ANALYZE public.big_t", database=DB)
    plain = run_module("pg_maintenance", args(db, tables=["public.big_t"], operations=["vacuum"]), check_mode=True)
    assert [p["sql"] for p in plain["plan"]] == ['VACUUM "public"."big_t"']
    full_args = args(db, operations=["vacuum", "analyze", "vacuum_full"], maintenance_window=True,
                     schemas=["public"], min_table_size=0)
    plan = run_module("pg_maintenance", full_args, check_mode=True)
    assert [p["sql"] for p in plan["plan"] if p["name"] == "big_t"] == ['VACUUM (FULL) "public"."big_t"']
    result = run_module("pg_maintenance", full_args)
    item = [a for a in result["actions"] if a["name"] == "big_t"][0]
    assert item["status"] == "done"
    assert item["size_after"] < item["size_before"] / 3


def test_statement_timeout_failure_is_critical(db):
    holder = connect(db)
    with holder.cursor() as cur:
        cur.execute("LOCK TABLE public.locked_t IN ACCESS EXCLUSIVE MODE")
    try:
        params = args(db, operations=["vacuum"], tables=["locked_t"], lock_timeout=5, statement_timeout=0.3)
        result = run_module("pg_maintenance", params)
    finally:
        holder.rollback()
        holder.close()
    item = result["actions"][0]
    assert item["status"] == "failed" and item["attempts"] == 1
    assert "statement timeout" in item["error"]
    assert result["status"] == "critical"
    assert {c["name"]: c["status"] for c in result["checks"]}["postgres.vacuum.public.locked_t"] == "critical"
    assert result["changed"] is False


def _playbook(db, tmp_path, playbook, *extra):
    import json
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    dsn = db.dsn(database=DB)
    variables = {"db_maintenance": {
        "hosts": "sandbox",
        "postgres": {"login_host": dsn["login_host"], "port": dsn["port"], "login_user": dsn["login_user"],
                     "login_password": dsn["login_password"], "ssl_mode": "disable"},
        "databases": [DB], "schemas": [], "lock_timeout": 1, "lock_retries": 2, "retry_backoff": 0.1,
        "weekly": {"operations": ["vacuum", "analyze", "drop_invalid_indexes"]},
        "monthly": {"operations": ["vacuum", "analyze", "reindex", "vacuum_full", "drop_invalid_indexes"],
                    "min_index_size": 0, "min_table_size": 0},
        "performance": {"slow_query_seconds": 5}}}
    path = tmp_path / "vars.json"
    path.write_text(json.dumps(variables))
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(root / ".venv" / "bin" / "ansible-playbook"), "playbooks/" + playbook,
                           "-e", "@%s" % path] + list(extra),
                          capture_output=True, text=True, env=env, cwd=str(root), timeout=300, check=False)


def test_playbooks_weekly_check_then_real_and_performance_report(db, tmp_path):
    db.psql("UPDATE public.clean_one SET v = 'w' WHERE id <= 3000", database=DB)
    time.sleep(0.5)
    before = vacuum_counts(db)
    check = _playbook(db, tmp_path, "db_maintenance.yml", "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert 'VACUUM (ANALYZE) \\"public\\".\\"clean_one\\"' in check.stdout
    time.sleep(0.5)
    assert vacuum_counts(db) == before
    real = _playbook(db, tmp_path, "db_maintenance.yml")
    assert real.returncode == 0, real.stdout[-3000:]
    assert "changed=1" in real.stdout
    assert wait_for(lambda: vacuum_counts(db)[("public", "clean_one")] > before[("public", "clean_one")])
    bad = _playbook(db, tmp_path, "db_maintenance.yml", "-e", "maintenance_kind=yearly")
    assert bad.returncode != 0 and "value of maintenance_kind must be one of: weekly, monthly, got: yearly" in bad.stdout
    perf = _playbook(db, tmp_path, "db_performance.yml")
    assert perf.returncode == 0, perf.stdout[-3000:]
    assert "skipping" in perf.stdout and "changed=0" in perf.stdout


# Lock waits of other sessions that one of our sessions (application_name runbook.ops) blocks:
# pg_blocking_pids lists the holders AND the waiters queued ahead with a conflicting request,
# which is how a pending ACCESS EXCLUSIVE request of ours stalls everyone behind it.
# pg_locks.waitstart (PostgreSQL 14+) is when the wait began.
OUR_VICTIMS_SQL = """
SELECT l.pid, l.waitstart, extract(epoch FROM clock_timestamp() - l.waitstart)::float8
FROM pg_catalog.pg_locks l
WHERE NOT l.granted AND l.waitstart IS NOT NULL
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
              WHERE a.pid = ANY (pg_catalog.pg_blocking_pids(l.pid)) AND a.application_name = 'runbook.ops')
"""


class LockWaitSampler(threading.Thread):
    """Samples OUR_VICTIMS_SQL every ``interval`` seconds; ``waits`` maps (pid, waitstart) to the
    longest wait seen. A wait ended at most ``interval`` after its last sample."""

    def __init__(self, postgres, interval=0.02):
        super().__init__(daemon=True)
        self.conn = connect(postgres)
        self.conn.autocommit = True
        self.interval = interval
        self.waits = {}
        self.samples = 0
        self.stopped = threading.Event()

    def run(self):
        with self.conn.cursor() as cur:
            while not self.stopped.is_set():
                cur.execute(OUR_VICTIMS_SQL)
                for pid, started, seconds in cur.fetchall():
                    key = (pid, started)
                    self.waits[key] = max(self.waits.get(key, 0.0), seconds)
                self.samples += 1
                time.sleep(self.interval)

    def stop(self):
        self.stopped.set()
        self.join(10)
        self.conn.close()

    def longest(self):
        """Upper bound of the longest wait: the longest seen plus one sampling interval."""
        return max(self.waits.values()) + self.interval if self.waits else 0.0


def test_maintenance_during_pgbench_no_client_errors_and_no_wait_on_us_beyond_lock_timeout(db, tmp_path):
    """pgbench (TPC-B, 4 clients) runs while (1) the maintenance of its tables runs and (2) a
    VACUUM FULL of pgbench_branches queues behind a reader's lock, which makes every pgbench
    transaction queue behind our pending ACCESS EXCLUSIVE request. No pgbench error, and no
    session waits on our sessions longer than lock_timeout (plus sampling and wake-up margin)."""
    import subprocess

    pgbench = "/usr/lib/postgresql/15/bin/pgbench"
    lock_timeout = 0.5
    margin = 0.25
    dsn = db.dsn(database=DB)
    env = {"PGPASSWORD": dsn["login_password"], "PATH": "/usr/bin:/bin"}
    conn_args = ["-h", dsn["login_host"], "-p", str(dsn["port"]), "-U", dsn["login_user"]]
    done = subprocess.run([pgbench, "-i", "-s", "2", "-q"] + conn_args + [DB], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    db.psql("ALTER TABLE pgbench_accounts SET (autovacuum_enabled = false)", database=DB)
    sampler = LockWaitSampler(db)
    sampler.start()
    bench = subprocess.Popen([pgbench, "-c", "4", "-j", "2", "-T", "10", "-n"] + conn_args + [DB], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holder = connect(db)
    try:
        time.sleep(2)
        params = args(db, operations=["vacuum", "analyze", "reindex"],
                      tables=["pgbench_accounts", "pgbench_branches", "pgbench_tellers"], lock_timeout=lock_timeout)
        result = run_module("pg_maintenance", params)
        routine_waits = dict(sampler.waits)
        # A long report holds ACCESS SHARE on pgbench_branches: our VACUUM FULL cannot get its
        # ACCESS EXCLUSIVE lock and queues; pgbench's RowExclusive requests queue behind it.
        with holder.cursor() as cur:
            cur.execute("SELECT count(*) FROM pgbench_branches")
        full = run_module("pg_maintenance", args(
            db, operations=["vacuum_full"], maintenance_window=True, tables=["pgbench_branches"],
            lock_timeout=lock_timeout, lock_retries=3, retry_backoff=0.2))
        holder.rollback()
        out, err = bench.communicate(timeout=60)
    finally:
        holder.close()
        sampler.stop()
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == 0, err
    assert "number of failed transactions: 0" in out, out
    assert result["status"] in ("ok", "warning"), result["summary"]
    assert all(a["status"] in ("done", "skipped") for a in result["actions"])
    assert any(a["status"] == "done" and a["action"] == "reindex_table" for a in result["actions"])
    item = full["actions"][0]
    assert item["status"] == "skipped" and item["attempts"] == 3, item
    # The sampler ran throughout and saw pgbench queue behind our VACUUM FULL (so it does see
    # such waits), yet no wait on us lasted longer than lock_timeout.
    assert sampler.samples > 100
    contended = {k: v for k, v in sampler.waits.items() if k not in routine_waits}
    assert len(contended) >= 3 and max(contended.values()) > lock_timeout / 2, sampler.waits
    assert sampler.longest() < lock_timeout + margin, sorted(sampler.waits.values())[-5:]
    assert max(routine_waits.values(), default=0.0) < lock_timeout + margin
