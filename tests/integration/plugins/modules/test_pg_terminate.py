"""pg_terminate against a real PostgreSQL 15: a session holding a lock is cancelled, then
terminated; a plain long query is only cancelled; excluded users and applications survive;
check mode signals nothing."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from utils.run import ModuleFailed, run_module

DB = "term_it"
KEEP_USER = "batch_keep"
KEEP_PASSWORD = "batch-keep-secret"


@pytest.fixture(scope="module")
def db(postgres):
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DB)
    postgres.psql('CREATE DATABASE "%s"' % DB)
    postgres.psql("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
                  "CREATE ROLE %s LOGIN PASSWORD '%s'; END IF; END$$" % (KEEP_USER, KEEP_USER, KEEP_PASSWORD))
    postgres.psql("CREATE TABLE locks_t (id int PRIMARY KEY); INSERT INTO locks_t VALUES (1); "
                  "GRANT SELECT, UPDATE ON locks_t TO %s" % KEEP_USER, database=DB)
    yield postgres
    postgres.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DB)


def connect(postgres, user=None, password=None, application_name="pytest"):
    dsn = postgres.dsn(database=DB)
    return psycopg2.connect(host=dsn["login_host"], port=dsn["port"], user=user or dsn["login_user"],
                            password=password or dsn["login_password"], dbname=DB,
                            application_name=application_name)


def alive(postgres, pid):
    conn = connect(postgres)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,))
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


class Sleeper:
    """A session that runs ``statements`` then a long pg_sleep in a thread."""

    def __init__(self, conn, statements=(), autocommit=False):
        self.conn = conn
        self.conn.autocommit = autocommit
        self.pid = conn.get_backend_pid()
        self.error = None
        with conn.cursor() as cur:
            for text in statements:
                cur.execute(text)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(120)")
        except psycopg2.Error as exc:
            self.error = exc

    def close(self):
        try:
            if not self.conn.closed:
                self.conn.cancel()
        except psycopg2.Error:
            pass
        self.thread.join(10)
        try:
            self.conn.close()
        except psycopg2.Error:
            pass


@pytest.fixture
def sessions(db):
    made = []

    def make(*a, **kw):
        item = Sleeper(*a, **kw)
        made.append(item)
        return item

    yield make
    for item in made:
        item.close()


def base_args(db, **extra):
    out = dict(db.dsn(database=DB), databases=[DB], min_duration=1, grace_seconds=1)
    out.update(extra)
    return out


def test_lock_holder_is_cancelled_then_terminated_and_excluded_sessions_survive(db, sessions):
    holder = sessions(connect(db), ["BEGIN", "LOCK TABLE locks_t IN ACCESS EXCLUSIVE MODE"])
    plain = sessions(connect(db), autocommit=True)
    kept_user = sessions(connect(db, KEEP_USER, KEEP_PASSWORD), ["SELECT 1"])
    kept_app = sessions(connect(db, application_name="nightly-report"), autocommit=True)
    time.sleep(1.5)

    checked = run_module("pg_terminate", base_args(db, exclude_users=[KEEP_USER],
                                                   exclude_applications=["nightly-report"]), check_mode=True)
    assert checked["changed"] is False
    listed = {s["pid"] for s in checked["sessions"]}
    assert listed == {holder.pid, plain.pid}
    assert all(s["outcome"] is None for s in checked["sessions"])
    assert {c["name"] for c in checked["checks"] if c["status"] == "warning"} >= {
        "postgres.session.%d" % holder.pid, "postgres.session.%d" % plain.pid}
    assert alive(db, holder.pid) == "active" and alive(db, plain.pid) == "active"

    result = run_module("pg_terminate", base_args(db, exclude_users=[KEEP_USER],
                                                  exclude_applications=["nightly-report"]))
    assert result["changed"] is True
    outcome = {s["pid"]: s["outcome"] for s in result["sessions"]}
    assert outcome == {holder.pid: "terminated", plain.pid: "cancelled"}
    assert result["status"] == "ok"
    assert result["metrics"]['pg_sessions_stopped{outcome="terminated"}'] == 1
    assert alive(db, holder.pid) is None
    assert alive(db, plain.pid) == "idle"
    assert isinstance(plain.error, psycopg2.errors.QueryCanceled)
    assert alive(db, kept_user.pid) == "active" and alive(db, kept_app.pid) == "active"
    # The lock is gone with the holder.
    probe = connect(db)
    with probe.cursor() as cur:
        cur.execute("LOCK TABLE locks_t IN ACCESS EXCLUSIVE MODE NOWAIT")
    probe.rollback()
    probe.close()


def test_idle_in_transaction_is_terminated_and_cancel_only_mode(db, sessions):
    idle = connect(db)
    with idle.cursor() as cur:
        cur.execute("SELECT 1 FROM locks_t FOR UPDATE")
    try:
        time.sleep(1.2)
        only_cancel = run_module("pg_terminate", base_args(db, terminate=False))
        item = {s["pid"]: s for s in only_cancel["sessions"]}[idle.get_backend_pid()]
        assert item["state"] == "idle in transaction" and item["outcome"] == "still_running"
        assert only_cancel["status"] == "warning"
        result = run_module("pg_terminate", base_args(db))
        item = {s["pid"]: s for s in result["sessions"]}[idle.get_backend_pid()]
        assert item["outcome"] == "terminated"
        assert alive(db, idle.get_backend_pid()) is None
    finally:
        try:
            idle.close()
        except psycopg2.Error:
            pass


def test_nothing_long_enough_and_own_session_never_listed(db):
    result = run_module("pg_terminate", base_args(db, min_duration=0, states=["active"], databases=[]),
                        check_mode=True)
    assert all(s["application"] != "runbook.ops" for s in result["sessions"])
    quiet = run_module("pg_terminate", base_args(db, min_duration=3600))
    assert quiet["changed"] is False and quiet["sessions"] == [] and quiet["status"] == "ok"


def test_bad_input_and_unreachable(db):
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_terminate", base_args(db, grace_seconds=-1))
    assert "grace_seconds" in err.value.result["msg"]
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_terminate", base_args(db, states=["sleeping"]))
    assert "states" in err.value.result["msg"]
    # An action that could not be carried out fails its task, keeping the result schema.
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_terminate", base_args(db, port=1, connect_timeout=2))
    result = err.value.result
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert result["changed"] is False and result["sessions"] == [] and result["msg"] == result["summary"]
    assert db.password not in str(result)


def test_missing_database_fails_the_task(db):
    with pytest.raises(ModuleFailed) as err:
        run_module("pg_terminate", base_args(db, database="no_such_database_here"))
    result = err.value.result
    assert result["status"] == "critical" and result["checks"][0]["name"] == "postgres.connection"
    assert "no_such_database_here" in result["msg"] and db.password not in str(result)


def test_signal_without_permission_is_a_critical_check(db, sessions):
    victim = sessions(connect(db), autocommit=True)
    time.sleep(1.2)
    monitor = dict(db.dsn("monitor", database=DB), databases=[DB], min_duration=1, grace_seconds=0.5)
    result = run_module("pg_terminate", monitor)
    item = {s["pid"]: s for s in result["sessions"]}[victim.pid]
    assert item["outcome"] == "failed" and item["error"] == "must be a superuser to cancel superuser query"
    assert {c["name"]: c["status"] for c in result["checks"]}["postgres.session.%d" % victim.pid] == "critical"
    assert result["status"] == "critical" and result["changed"] is False
    assert alive(db, victim.pid) == "active"


def test_through_ansible_playbook_with_module_defaults(db, sessions, tmp_path):
    """The real AnsiballZ path: the connection settings reach the module through
    ``module_defaults`` of the action group runbook.ops.postgres; a long query is cancelled."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[4]
    plain = sessions(connect(db), autocommit=True)
    time.sleep(1.2)
    dsn = db.dsn(database=DB)
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/runbook.ops.postgres:
      login_host: "%s"
      port: %d
      login_user: "%s"
      login_password: "%s"
      database: "%s"
  tasks:
    - name: stop long queries
      runbook.ops.pg_terminate:
        databases: ["%s"]
        min_duration: 1
        grace_seconds: 1
        states: [active]
        exclude_users: ["%s"]
""" % (dsn["login_host"], dsn["port"], dsn["login_user"], dsn["login_password"], DB, DB, KEEP_USER))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
        cwd=str(repo), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert dsn["login_password"] not in proc.stdout
    out = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("{"))[0]
    registered = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert registered["changed"] is True and not registered.get("failed")
    assert {s["pid"]: s["outcome"] for s in registered["sessions"]}[plain.pid] == "cancelled"
    assert alive(db, plain.pid) == "idle"
