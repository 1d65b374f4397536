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
