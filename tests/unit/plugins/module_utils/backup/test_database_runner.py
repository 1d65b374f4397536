"""Unit tests for plugins/module_utils/backup/database_runner.py: libpq settings for the tools (the password in the environment only)."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.backup import database_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import dump_runner


def test_libpq_env_carries_password_only_in_env():
    env = database_runner.libpq_env({"login_host": "db", "port": 5433, "login_user": "u", "login_password": "s3cret",
                                     "ssl_mode": "require", "ca_cert": "/ca.pem", "connect_timeout": 5},
                                    base={"PATH": "/bin", "PGPASSWORD": "old", "PGSERVICE": "x"})
    assert env == {"PATH": "/bin", "PGHOST": "db", "PGPORT": "5433", "PGUSER": "u", "PGPASSWORD": "s3cret",
                   "PGSSLMODE": "require", "PGSSLROOTCERT": "/ca.pem", "PGCONNECT_TIMEOUT": "5",
                   "PGAPPNAME": "runbook.ops"}
    argv = dump_runner.dump_argv("/usr/bin/pg_dump", {"login_password": "s3cret"}, "db", "custom", 1, "zstd", "snap", None)
    assert "s3cret" not in " ".join(argv)
    assert argv[-2:] == ["-d", "dbname='db'"]


def test_conninfo_dbname_quotes():
    assert database_runner.conninfo_dbname("it's\\x") == "dbname='it\\'s\\\\x'"


class FakeError(Exception):
    def __init__(self, pgcode, message):
        super().__init__(message)
        self.pgcode = pgcode


class FakeConn:
    """Refuses CREATE DATABASE with options when ``refuse`` is set; records the statements run."""

    def __init__(self, refuse=None):
        self.refuse = refuse
        self.statements = []

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query):
        text = query.as_string(None) if hasattr(query, "as_string") else str(query)
        self.statements.append(text)
        if self.refuse and "LC_COLLATE" in text:
            raise FakeError(*self.refuse)


def _fake_errors(monkeypatch):
    from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as postgres_client
    monkeypatch.setattr(postgres_client, "DatabaseError", FakeError)


def _literal_sql(monkeypatch):
    """psycopg2.sql's Literal needs a connection to render; quote plainly for the fake."""
    from psycopg2 import sql
    monkeypatch.setattr(sql.Literal, "as_string", lambda self, _ctx: "'%s'" % self._wrapped)
    monkeypatch.setattr(sql.Identifier, "as_string", lambda self, _ctx: '"%s"' % self.strings[0])


OPTIONS = [("ENCODING", "UTF8"), ("LC_COLLATE", "xx_XX.UTF-8"), ("LC_CTYPE", "xx_XX.UTF-8")]


def test_create_database_falls_back_to_the_defaults_for_a_missing_locale(monkeypatch):
    _fake_errors(monkeypatch)
    _literal_sql(monkeypatch)
    conn = FakeConn(refuse=("42809", 'invalid LC_COLLATE locale name: "xx_XX.UTF-8"\nHINT: ...'))
    reason = database_runner.create_database(conn, "scratch", OPTIONS, locale_fallback=True)
    assert reason == 'invalid LC_COLLATE locale name: "xx_XX.UTF-8"'
    assert conn.statements[-1] == 'CREATE DATABASE "scratch" TEMPLATE template0'


def test_create_database_without_fallback_or_for_another_error_fails(monkeypatch):
    from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
    _fake_errors(monkeypatch)
    _literal_sql(monkeypatch)
    for refuse, fallback in ((("42809", "invalid LC_COLLATE locale name"), False),
                             (("42501", "permission denied to create database"), True)):
        conn = FakeConn(refuse=refuse)
        try:
            database_runner.create_database(conn, "scratch", OPTIONS, locale_fallback=fallback)
        except catalog_plan.BackupError as exc:
            assert refuse[1] in str(exc)
        else:
            raise AssertionError("created with %r" % (refuse,))
        assert len(conn.statements) == 1


def test_create_database_with_options_it_can_use_returns_none(monkeypatch):
    _literal_sql(monkeypatch)
    conn = FakeConn()
    assert database_runner.create_database(conn, "scratch", OPTIONS, locale_fallback=True) is None
    assert conn.statements == ["CREATE DATABASE \"scratch\" TEMPLATE template0 ENCODING 'UTF8' "
                               "LC_COLLATE 'xx_XX.UTF-8' LC_CTYPE 'xx_XX.UTF-8'"]
