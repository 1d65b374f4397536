"""runbook.ops.postgres_check against a real PostgreSQL 15 (the session fixture ``postgres``)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

from ansible_collections.runbook.ops.plugins.module_utils.postgres.client import connect
from sandbox.services import PG_BIN, Postgres, free_port
from utils.run import run_module

HOSTILE_DB = 'we"ird db'


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


def monitor(postgres, **extra):
    args = postgres.dsn(user=postgres.monitor_user)
    args.update(extra)
    return args


def superuser_conn(postgres, database=None):
    conn = psycopg2.connect(host="127.0.0.1", port=postgres.port, user=postgres.superuser,
                            password=postgres.password, dbname=database or postgres.database)
    return conn


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met within %ss" % timeout)


def activity(postgres, sql, args=()):
    conn = superuser_conn(postgres)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def test_healthy_server_is_ok_with_the_monitor_role(postgres):
    result = run_module("postgres_check", monitor(postgres))
    assert result["status"] == "ok", result["summary"]
    assert result["severity"] == "P3" and result["changed"] is False
    assert [c["name"] for c in result["checks"]] == [
        "postgres.ping", "postgres.connections", "postgres.long_queries", "postgres.idle_in_transaction",
        "postgres.replication", "postgres.xid_age", "postgres.database_size", "postgres.cache_hit_ratio"]
    checks = by_name(result)
    assert checks["postgres.ping"]["message"].startswith("PostgreSQL 15.")
    assert "connected as monitor to app" in checks["postgres.ping"]["message"]
    metrics = result["metrics"]
    assert metrics["postgres_up"] == 1 and metrics["postgres_max_connections"] == 100
    assert metrics["postgres_connections_used"] >= 1
    assert metrics['postgres_database_size_bytes{database="app"}'] > 1000000
    assert metrics['postgres_xid_age{database="app"}'] >= 0
    assert 'postgres_xid_age{database="template0"}' in metrics
    assert metrics["postgres_replicas"] == 0 and metrics["postgres_in_recovery"] == 0
    assert "monitor-secret" not in json.dumps(result)


def test_check_mode_gives_the_same_result(postgres):
    normal = run_module("postgres_check", monitor(postgres, checks=["xid_age", "replication", "database_sizes"]))
    checked = run_module("postgres_check", monitor(postgres, checks=["xid_age", "replication", "database_sizes"]),
                         check_mode=True)
    assert checked["changed"] is False
    assert [(c["name"], c["status"]) for c in checked["checks"]] == [(c["name"], c["status"]) for c in normal["checks"]]
    assert checked["status"] == normal["status"] == "ok"


def test_session_is_read_only_with_timeouts_and_application_name(postgres):
    conn = connect(monitor(postgres), statement_timeout_ms=1500, lock_timeout_ms=700)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('default_transaction_read_only'), current_setting('statement_timeout'),"
                        " current_setting('lock_timeout'), current_setting('application_name')")
            assert cur.fetchone() == ("on", "1500ms", "700ms", "runbook.ops")
            with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
                cur.execute("CREATE TABLE runbook_should_not_exist (id int)")
            with pytest.raises(psycopg2.errors.QueryCanceled):
                cur.execute("SELECT pg_sleep(3)")
    finally:
        conn.close()


def test_long_running_query_is_detected(postgres):
    conn = superuser_conn(postgres)
    conn.autocommit = True
    pid = conn.get_backend_pid()

    def sleep():
        with contextlib.suppress(psycopg2.errors.QueryCanceled):
            conn.cursor().execute("SELECT pg_sleep(6)")

    worker = threading.Thread(target=sleep, daemon=True)
    worker.start()
    try:
        wait_for(lambda: activity(postgres, "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active' "
                                            "AND now() - query_start > interval '1.3 seconds'", (pid,)))
        result = run_module("postgres_check", monitor(postgres, checks=["long_queries"], long_query_seconds=1,
                                                      show_queries=True))
        check = by_name(result)["postgres.long_queries"]
        assert check["status"] == "warning" and result["severity"] == "P2"
        assert check["value"]["count"] == 1
        session = check["value"]["sessions"][0]
        assert session["pid"] == pid and session["user"] == "runbook" and session["database"] == "app"
        assert session["seconds"] > 1 and session["query"] == "SELECT pg_sleep(6)"
        assert "1 queries active longer than 1s" in check["message"] and "pid %d" % pid in check["message"]
        assert result["metrics"]["postgres_long_queries"] == 1
        quiet = run_module("postgres_check", monitor(postgres, checks=["long_queries"], long_query_seconds=30))
        assert by_name(quiet)["postgres.long_queries"]["status"] == "ok"
        hidden = run_module("postgres_check", monitor(postgres, checks=["long_queries"], long_query_seconds=1))
        assert "query" not in by_name(hidden)["postgres.long_queries"]["value"]["sessions"][0]
    finally:
        conn.cancel()
        worker.join(10)
        conn.close()


def test_idle_in_transaction_session_is_detected(postgres):
    conn = superuser_conn(postgres)
    pid = conn.get_backend_pid()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")  # psycopg2 opened a transaction: now idle in transaction
        wait_for(lambda: activity(postgres, "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND "
                                            "state = 'idle in transaction' AND now() - state_change > "
                                            "interval '1.3 seconds'", (pid,)))
        result = run_module("postgres_check", monitor(postgres, checks=["idle_in_transaction"],
                                                      idle_in_transaction_seconds=1))
        check = by_name(result)["postgres.idle_in_transaction"]
        assert check["status"] == "warning"
        assert [s["pid"] for s in check["value"]["sessions"]] == [pid]
        assert check["value"]["sessions"][0]["state"] == "idle in transaction"
        assert result["metrics"]["postgres_idle_in_transaction_sessions"] == 1
        critical = run_module("postgres_check", monitor(postgres, checks=["idle_in_transaction"],
                                                        idle_in_transaction_seconds=1, idle_in_transaction_critical=1))
        assert critical["status"] == "critical" and critical["severity"] == "P1"
    finally:
        conn.rollback()
        conn.close()
    after = run_module("postgres_check", monitor(postgres, checks=["idle_in_transaction"], idle_in_transaction_seconds=1))
    assert after["status"] == "ok"


def test_connections_threshold_crossed_by_opening_connections(postgres):
    before = run_module("postgres_check", monitor(postgres, checks=["connections"], connections_warning=10,
                                                  connections_critical=20))
    assert before["status"] == "ok", before["summary"]
    extra = [superuser_conn(postgres) for _i in range(12)]
    try:
        result = run_module("postgres_check", monitor(postgres, checks=["connections"], connections_warning=10,
                                                      connections_critical=20))
        check = by_name(result)["postgres.connections"]
        assert check["status"] == "warning", check
        assert check["value"] >= 13 and "of max_connections 100" in check["message"]
        assert result["metrics"]["postgres_connections_used"] >= 13
        assert result["metrics"]['postgres_connections{state="idle"}'] >= 12
        more = [superuser_conn(postgres) for _i in range(8)]
        try:
            result = run_module("postgres_check", monitor(postgres, checks=["connections"], connections_warning=10,
                                                          connections_critical=20))
            assert by_name(result)["postgres.connections"]["status"] == "critical"
        finally:
            for conn in more:
                conn.close()
    finally:
        for conn in extra:
            conn.close()


def test_closed_port_is_down_with_connection_refused(postgres):
    args = monitor(postgres, port=free_port())
    result = run_module("postgres_check", args)
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert result["checks"] == [{"name": "postgres.ping", "status": "critical", "value": None, "threshold": None,
                                 "message": "connection refused by 127.0.0.1:%d" % args["port"], "severity": "P0"}]
    assert result["metrics"] == {"postgres_up": 0}
    assert "monitor-secret" not in json.dumps(result)


def test_wrong_password_is_down_with_auth_failure_and_no_password(postgres):
    result = run_module("postgres_check", monitor(postgres, login_password="Wr0ng-Pa55word!"))
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert by_name(result)["postgres.ping"]["message"] == "authentication failed for user monitor"
    assert result["summary"] == "postgres: postgres.ping authentication failed for user monitor"
    text = json.dumps(result)
    assert "Wr0ng-Pa55word!" not in text and "monitor-secret" not in text


def test_unknown_host_and_missing_database(postgres):
    result = run_module("postgres_check", monitor(postgres, login_host="db.runbook-ops.invalid", connect_timeout=2))
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert by_name(result)["postgres.ping"]["message"] == "unknown host db.runbook-ops.invalid"
    result = run_module("postgres_check", monitor(postgres, database="no_such_db"))
    assert by_name(result)["postgres.ping"]["message"] == 'database "no_such_db" does not exist'


def test_server_that_never_answers_times_out(postgres):
    with contextlib.closing(socket.socket()) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = run_module("postgres_check", monitor(postgres, port=port, connect_timeout=1))
        assert time.monotonic() - started < 10
    check = by_name(result)["postgres.ping"]
    assert check["status"] == "critical" and check["severity"] == "P0"
    assert check["message"] == "connection timed out after 1s to 127.0.0.1:%d" % port


@pytest.fixture()
def hostile_database(postgres):
    postgres.psql('CREATE DATABASE "we""ird db"')
    yield HOSTILE_DB
    postgres.psql('DROP DATABASE IF EXISTS "we""ird db"')


def test_hostile_database_name_in_sizes_and_xid_age(postgres, hostile_database):
    result = run_module("postgres_check", monitor(postgres, checks=["database_sizes", "xid_age"]))
    assert result["status"] == "ok", result["summary"]
    assert result["metrics"]['postgres_database_size_bytes{database="we\\"ird db"}'] > 1000000
    assert 'postgres_xid_age{database="we\\"ird db"}' in result["metrics"]
    # and the module connects to it as its own database
    inside = run_module("postgres_check", monitor(postgres, database=hostile_database, checks=["connections"]))
    assert inside["status"] == "ok"
    assert 'connected as monitor to we"ird db' in by_name(inside)["postgres.ping"]["message"]


def test_size_thresholds(postgres):
    result = run_module("postgres_check", monitor(postgres, checks=["database_sizes"],
                                                  database_size_warning_bytes=1024))
    check = by_name(result)["postgres.database_size"]
    assert check["status"] == "warning" and "(warning at 1.0 KiB)" in check["message"]


def test_xid_age_and_cache_thresholds_from_options(postgres):
    result = run_module("postgres_check", monitor(postgres, checks=["xid_age", "cache_hit_ratio"], xid_age_warning=1,
                                                  xid_age_critical=2000000000, cache_hit_min_blocks=1,
                                                  cache_hit_ratio_warning=1.0))
    checks = by_name(result)
    assert checks["postgres.xid_age"]["status"] == "warning"
    assert checks["postgres.cache_hit_ratio"]["status"] == "warning"  # some block was read from disk
    assert 0 < result["metrics"]["postgres_cache_hit_ratio"] < 1


def test_role_without_pg_monitor_still_gets_results(postgres):
    postgres.psql("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'plain') THEN "
                  "CREATE ROLE plain LOGIN PASSWORD 'plain-secret'; END IF; END$$")
    result = run_module("postgres_check", monitor(postgres, login_user="plain", login_password="plain-secret"))
    checks = by_name(result)
    assert checks["postgres.ping"]["status"] == "ok"
    assert checks["postgres.connections"]["status"] == "ok"
    assert "plain-secret" not in json.dumps(result)


@pytest.fixture(scope="module")
def standby(postgres):
    """A real streaming replica of the session's Postgres (pg_basebackup -R), named standby1."""
    base = Path(tempfile.mkdtemp(prefix="runbook-ops-pgstandby-"))
    os.chmod(base, 0o755)
    entry = pwd.getpwnam("postgres")
    data = base / "pgdata"
    data.mkdir(mode=0o700)
    for path in (base, data):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    done = subprocess.run(["runuser", "-u", "postgres", "--", "env", "PGPASSWORD=%s" % postgres.password,
                           str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(postgres.port),
                           "-U", postgres.superuser, "-D", str(data), "-R", "-X", "stream", "-c", "fast"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    with open(data / "postgresql.conf", "a") as conf:
        conf.write("\ncluster_name = 'standby1'\nhot_standby = on\n")
    server = Postgres(base)
    try:
        server.start()
        wait_for(lambda: activity(postgres, "SELECT 1 FROM pg_stat_replication WHERE application_name = 'standby1' "
                                            "AND state = 'streaming'"), timeout=30)
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_replication_lag_per_replica_with_a_real_standby(postgres, standby):
    activity(postgres, "SELECT txid_current()")  # some WAL for the replica to replay
    result = run_module("postgres_check", monitor(postgres, checks=["replication"], min_replicas=1))
    assert result["status"] == "ok", result["summary"]
    checks = by_name(result)
    assert checks["postgres.replication"]["message"] == "1 replica connected"
    lag = checks["postgres.replication.standby1"]
    assert lag["status"] == "ok" and lag["message"].startswith("replay lag of standby1 at ")
    assert result["metrics"]["postgres_replicas"] == 1
    assert 0 <= result["metrics"]['postgres_replication_lag_seconds{replica="standby1"}'] < 1
    assert 'postgres_replication_lag_bytes{replica="standby1"}' in result["metrics"]
    strict = run_module("postgres_check", monitor(postgres, checks=["replication"], replication_lag_warning=0,
                                                  min_replicas=2))
    checks = by_name(strict)
    assert checks["postgres.replication"]["status"] == "critical"
    assert checks["postgres.replication"]["message"] == "1 replica connected, expected at least 2"
    assert checks["postgres.replication.standby1"]["status"] == "warning"  # any lag >= 0 s


def test_standby_reports_itself_as_standby(standby):
    result = run_module("postgres_check", monitor(standby))
    assert result["status"] == "ok", result["summary"]
    assert result["metrics"]["postgres_in_recovery"] == 1
    assert by_name(result)["postgres.replication"]["message"] == \
        "this server is a standby; lag is measured on the primary"
