"""Connection settings and error messages of module_utils/postgres/client.py (no server needed)."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.postgres import client
from ansible_collections.runbook.ops.plugins.module_utils.postgres.client import (
    APPLICATION_NAME,
    PgConnectError,
    classify_error,
    connect_kwargs,
    error_message,
    first_line,
    scrub,
    validate_params,
)

BASE = {"login_host": "db.internal", "port": 5433, "login_user": "monitor", "login_password": "p4ss-w0rd",
        "database": "app", "login_unix_socket": None, "ssl_mode": "prefer", "ca_cert": None, "connect_timeout": 7}


def test_connect_kwargs_maps_every_option():
    kwargs = connect_kwargs(BASE)
    assert kwargs == {"host": "db.internal", "port": 5433, "user": "monitor", "password": "p4ss-w0rd",
                      "dbname": "app", "connect_timeout": 7, "sslmode": "prefer", "application_name": "runbook.ops"}
    assert APPLICATION_NAME == "runbook.ops"


def test_unix_socket_wins_and_ca_cert_is_sslrootcert():
    kwargs = connect_kwargs(dict(BASE, login_unix_socket="/var/run/postgresql", ca_cert="/etc/ca.pem",
                                 ssl_mode="verify-full"))
    assert kwargs["host"] == "/var/run/postgresql"
    assert kwargs["sslrootcert"] == "/etc/ca.pem"
    assert kwargs["sslmode"] == "verify-full"


def test_no_password_key_when_none_so_libpq_can_use_pgpass():
    kwargs = connect_kwargs(dict(BASE, login_password=None))
    assert "password" not in kwargs


def test_hostile_database_names_pass_through_unquoted():
    # keyword arguments, not a DSN string: nothing to escape, nothing to inject
    assert connect_kwargs(dict(BASE, database="we\"ird db' host=evil"))["dbname"] == "we\"ird db' host=evil"


def test_defaults_when_options_are_missing():
    kwargs = connect_kwargs({})
    assert kwargs["host"] == "localhost" and kwargs["port"] == 5432 and kwargs["user"] == "postgres"
    assert kwargs["dbname"] == "postgres" and kwargs["connect_timeout"] == 10


@pytest.mark.parametrize("params, needle", [
    (dict(BASE, port=0), "port must be between 1 and 65535"),
    (dict(BASE, port=70000), "port must be between 1 and 65535"),
    (dict(BASE, connect_timeout=0), "connect_timeout must be at least 1"),
    (dict(BASE, login_host="", login_unix_socket=None), "login_host or login_unix_socket is required"),
])
def test_validate_params(params, needle):
    assert needle in validate_params(params)


def test_validate_params_accepts_good_input():
    assert validate_params(BASE) is None


def test_scrub_replaces_every_secret():
    assert scrub("pw p4ss and p4ss", ["p4ss", None, ""]) == "pw ******** and ********"


# Messages as libpq 15 / psycopg2 2.9 print them.
REFUSED = ('connection to server at "127.0.0.1", port 46377 failed: Connection refused\n'
           '\tIs the server running on that host and accepting TCP/IP connections?\n')
AUTH = 'connection to server at "127.0.0.1", port 46377 failed: FATAL:  password authentication failed for user "monitor"\n'
NO_PASSWORD = 'connection to server at "127.0.0.1", port 46377 failed: fe_sendauth: no password supplied\n'
NO_DB = 'connection to server at "127.0.0.1", port 46377 failed: FATAL:  database "nodb" does not exist\n'
DNS = 'could not translate host name "nope.invalid" to address: Name or service not known\n'
TIMEOUT = 'connection to server at "10.0.0.9", port 5432 failed: timeout expired\n'
NO_SSL = 'connection to server at "127.0.0.1", port 46377 failed: server does not support SSL, but SSL was required\n'
SOCKET = ('connection to server on socket "/nonexistent/.s.PGSQL.5432" failed: No such file or directory\n'
          '\tIs the server running locally and accepting connections on that socket?\n')
TOO_MANY = 'connection to server at "127.0.0.1", port 5432 failed: FATAL:  sorry, too many clients already\n'
STARTING = 'connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system is starting up\n'
HBA = ('connection to server at "10.0.0.1", port 5432 failed: FATAL:  no pg_hba.conf entry for host "10.0.0.2", '
       'user "monitor", database "app", SSL off\n')


@pytest.mark.parametrize("text, kind, message", [
    (REFUSED, "refused", "connection refused by 127.0.0.1:46377"),
    (AUTH, "auth", "authentication failed for user monitor"),
    (NO_PASSWORD, "auth", "authentication failed (no password given)"),
    (HBA, "auth", "authentication failed for user monitor (no pg_hba.conf entry)"),
    (NO_DB, "database", 'database "nodb" does not exist'),
    (DNS, "dns", "unknown host nope.invalid"),
    (TIMEOUT, "timeout", "connection timed out after 3s to 10.0.0.9:5432"),
    (NO_SSL, "tls", "TLS error: server does not support SSL, but SSL was required"),
    (SOCKET, "refused", "no server listening on socket /nonexistent/.s.PGSQL.5432"),
    (TOO_MANY, "too_many_connections", "too many connections: sorry, too many clients already"),
    (STARTING, "unavailable", "the database system is starting up"),
    ("something new went wrong\nsecond line", "connection", "something new went wrong"),
])
def test_classify_error(text, kind, message):
    assert classify_error(text, password="p4ss-w0rd", timeout=3) == (kind, message)


def test_classify_error_never_returns_the_password():
    kind, message = classify_error('invalid dsn: password=p4ss-w0rd host=x', password="p4ss-w0rd")
    assert "p4ss-w0rd" not in message
    assert kind == "connection"


class _PgError(Exception):
    def __init__(self, pgcode, pgerror):
        super().__init__(pgerror)
        self.pgcode = pgcode
        self.pgerror = pgerror


def test_error_message_for_query_errors():
    assert error_message(_PgError("57014", "ERROR:  canceling statement due to statement timeout\n")) == \
        "query cancelled by statement_timeout: canceling statement due to statement timeout"
    assert error_message(_PgError("42501", "ERROR:  permission denied for table pg_authid\n")) == \
        "permission denied (grant the role pg_monitor): permission denied for table pg_authid"
    assert error_message(_PgError("XX000", "ERROR:  boom with secret-1\nDETAIL: x"), password="secret-1") == \
        "boom with ********"


def test_pg_connect_error_carries_kind_and_message():
    error = PgConnectError("refused", "connection refused by 127.0.0.1:5432")
    assert error.kind == "refused" and str(error) == error.message


def test_connect_turns_driver_errors_into_pg_connect_error(monkeypatch):
    import psycopg2

    def fake_connect(**kwargs):
        assert kwargs["application_name"] == "runbook.ops"
        raise psycopg2.OperationalError(AUTH.replace("monitor", "monitor p4ss-w0rd"))

    monkeypatch.setattr(client.psycopg2, "connect", fake_connect)
    with pytest.raises(PgConnectError) as info:
        client.connect(BASE)
    assert info.value.kind == "auth"
    assert "p4ss-w0rd" not in info.value.message


def test_connect_without_psycopg2_says_so(monkeypatch):
    monkeypatch.setattr(client, "HAS_PSYCOPG2", False)
    with pytest.raises(PgConnectError, match="psycopg2 is not installed"):
        client.connect(BASE)


def test_first_line_is_the_server_text_without_prefix():
    assert first_line(_PgError("55P03", "ERROR:  canceling statement due to lock timeout\nCONTEXT: x")) == \
        "canceling statement due to lock timeout"
    assert first_line(ValueError("no pgerror here")) == "no pgerror here"
    assert first_line(ValueError()) == "ValueError"


def test_require_driver_fails_with_missing_required_lib(monkeypatch):
    failed = {}

    class Module:
        def fail_json(self, **kwargs):
            failed.update(kwargs)

    monkeypatch.setattr(client, "HAS_PSYCOPG2", False)
    client.require_driver(Module())
    assert "Failed to import the required Python library (psycopg2)" in failed["msg"]
