# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL connections for runbook.ops modules, with psycopg2.

* ``connect_kwargs(params)`` turns the shared connection options (the
  ``runbook.ops.postgres`` doc fragment) into ``psycopg2.connect`` keyword
  arguments; ``application_name`` is always ``runbook.ops``.
* ``connect(params, ...)`` opens a session in autocommit mode, read-only
  (``default_transaction_read_only = on``) unless asked otherwise, with
  ``statement_timeout`` and ``lock_timeout`` set on the session.
* ``fetch_all(conn, statement, args)`` runs one query and returns its rows as dicts;
  ``first_line(exc)`` and ``error_message(exc, password)`` turn a failed query into one line.
* ``classify_error(exc, password)`` turns a psycopg2/libpq error into
  ``(kind, message)``: a short, clear line that never contains the password.
  Connection failures raise ``PgConnectError`` with those two attributes.

psycopg2 is optional at import time: modules check ``HAS_PSYCOPG2`` and report
``missing_required_lib("psycopg2")``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import re
import traceback
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible.module_utils.basic import missing_required_lib

try:
    import psycopg2

    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR: Optional[str] = None
except ImportError:  # pragma: no cover - exercised on hosts without psycopg2
    psycopg2 = None  # type: ignore[assignment]
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()


class _NoDriverError(Exception):
    """Stands in for psycopg2.Error when psycopg2 is missing (never raised)."""


# What a query can raise: catch this to turn a failed query into a check.
DatabaseError = psycopg2.Error if HAS_PSYCOPG2 else _NoDriverError

APPLICATION_NAME = "runbook.ops"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

# The connection options every Postgres module shares (doc fragment runbook.ops.postgres).
CONNECTION_ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = dict(
    login_host=dict(type="str", default="localhost"),
    port=dict(type="int", default=5432),
    login_user=dict(type="str", default="postgres"),
    login_password=dict(type="str", no_log=True),
    database=dict(type="str", default="postgres"),
    login_unix_socket=dict(type="path"),
    ssl_mode=dict(type="str", default="prefer", choices=list(SSL_MODES)),
    ca_cert=dict(type="path"),
    connect_timeout=dict(type="int", default=10),
)


class PgConnectError(Exception):
    """The server could not be reached or refused the session.

    ``kind``: ``refused``, ``auth``, ``dns``, ``timeout``, ``database``, ``tls``,
    ``too_many_connections``, ``unavailable``, ``connection``.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def require_driver(module: Any) -> None:
    """``fail_json`` with Ansible's usual message when psycopg2 cannot be imported."""
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_IMPORT_ERROR)


def validate_params(params: Mapping[str, Any]) -> Optional[str]:
    """An error message when the connection options are unusable, else None."""
    port = params.get("port")
    if port is not None and not 0 < int(port) < 65536:
        return "port must be between 1 and 65535, got %s" % port
    timeout = params.get("connect_timeout")
    if timeout is not None and int(timeout) < 1:
        return "connect_timeout must be at least 1 second, got %s" % timeout
    if not params.get("login_unix_socket") and not params.get("login_host"):
        return "login_host or login_unix_socket is required"
    return None


def connect_kwargs(params: Mapping[str, Any]) -> Dict[str, Any]:
    """``psycopg2.connect`` keyword arguments from the module's connection options.

    ``login_unix_socket`` (a directory) wins over ``login_host``. No DSN string
    is built, so no value needs quoting.
    """
    kwargs: Dict[str, Any] = {
        "host": params.get("login_unix_socket") or params.get("login_host") or "localhost",
        "port": int(params.get("port") or 5432),
        "user": params.get("login_user") or "postgres",
        "dbname": params.get("database") or "postgres",
        "connect_timeout": max(1, int(params.get("connect_timeout") or 10)),
        "sslmode": params.get("ssl_mode") or "prefer",
        "application_name": APPLICATION_NAME,
    }
    if params.get("login_password") is not None:
        kwargs["password"] = params["login_password"]
    if params.get("ca_cert"):
        kwargs["sslrootcert"] = params["ca_cert"]
    return kwargs


def scrub(text: str, secrets: Sequence[Optional[str]]) -> str:
    """``text`` with every non-empty secret replaced by ``********``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


_FATAL = re.compile(r"^\s*(FATAL|ERROR):\s+", re.MULTILINE)
_WHERE = re.compile(r'connection to server (?:at "([^"]*)"(?: \(([^)]*)\))?, port (\d+)|on socket "([^"]*)") failed:\s*')


def _where(text: str) -> str:
    match = _WHERE.search(text)
    if not match:
        return ""
    if match.group(4):
        return "socket %s" % match.group(4)
    return "%s:%s" % (match.group(1), match.group(3))


def _detail(text: str) -> str:
    """The first meaningful line of a libpq message, without location and FATAL prefixes."""
    text = _WHERE.sub("", text)
    text = _FATAL.sub("", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def classify_error(exc: Any, password: Optional[str] = None, timeout: Optional[int] = None) -> Tuple[str, str]:
    """``(kind, message)`` for a psycopg2 exception (or libpq message text).

    The message is one short line; the password never appears in it.
    """
    text = scrub(str(exc), [password])
    lower = text.lower()
    where = _where(text)
    at = (" by %s" % where) if where else ""
    detail = _detail(text)
    if "connection refused" in lower:
        return "refused", "connection refused%s" % at
    if "could not translate host name" in lower or "name or service not known" in lower \
            or "nodename nor servname" in lower or "temporary failure in name resolution" in lower:
        host = re.search(r'host name "([^"]*)"', text)
        return "dns", "unknown host %s" % (host.group(1) if host else where or "")
    if "timeout expired" in lower or "timed out" in lower:
        secs = (" after %ds" % timeout) if timeout else ""
        return "timeout", "connection timed out%s%s" % (secs, (" to %s" % where) if where else "")
    if "password authentication failed" in lower or "authentication failed" in lower \
            or "no password supplied" in lower or "no pg_hba.conf entry" in lower \
            or ("role" in lower and "does not exist" in lower):
        user = re.search(r'user "([^"]*)"', text)
        reason = "authentication failed"
        if user:
            reason += " for user %s" % user.group(1)
        if "no password supplied" in lower:
            reason += " (no password given)"
        elif "no pg_hba.conf entry" in lower:
            reason += " (no pg_hba.conf entry)"
        return "auth", reason
    if "database" in lower and "does not exist" in lower:
        return "database", detail
    if "too many clients" in lower or "remaining connection slots are reserved" in lower:
        return "too_many_connections", "too many connections: %s" % detail
    if "the database system is" in lower:
        return "unavailable", detail
    if "ssl" in lower or "certificate" in lower:
        return "tls", "TLS error: %s" % detail
    if "no such file or directory" in lower and "socket" in lower:
        return "refused", "no server listening on %s" % (where or "the Unix socket")
    return "connection", detail


def connect(
    params: Mapping[str, Any],
    statement_timeout_ms: int = 10000,
    lock_timeout_ms: int = 2000,
    read_only: bool = True,
) -> Any:
    """A psycopg2 connection in autocommit mode with the session settings applied.

    Raises ``PgConnectError`` (kind, message without the password) when the
    session cannot be opened.
    """
    if not HAS_PSYCOPG2:
        raise PgConnectError("connection", "psycopg2 is not installed")
    kwargs = connect_kwargs(params)
    try:
        conn = psycopg2.connect(**kwargs)
    except psycopg2.Error as exc:
        kind, message = classify_error(exc, kwargs.get("password"), kwargs["connect_timeout"])
        raise PgConnectError(kind, message) from None
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            if read_only:
                cur.execute("SET default_transaction_read_only = on")
            cur.execute("SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false)",
                        (str(int(statement_timeout_ms)), str(int(lock_timeout_ms))))
    except psycopg2.Error as exc:
        conn.close()
        kind, message = classify_error(exc, kwargs.get("password"), kwargs["connect_timeout"])
        raise PgConnectError(kind, message) from None
    return conn


def fetch_all(conn: Any, statement: Any, args: Optional[Sequence[Any]] = None) -> List[Dict[str, Any]]:
    """Run ``statement`` (a string or a ``psycopg2.sql`` object) with bound ``args``; rows as dicts."""
    with conn.cursor() as cur:
        cur.execute(statement, args)
        if cur.description is None:
            return []
        names = [col[0] for col in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def first_line(exc: Exception) -> str:
    """The first line of a server error (``pgerror``), without its ``ERROR:`` prefix.

    For a statement that failed inside a run (a lock timeout, permission denied): the
    text the server sent, never a traceback. Falls back to the exception's class name.
    """
    text = (getattr(exc, "pgerror", None) or str(exc) or "").strip()
    if not text:
        return exc.__class__.__name__
    return _FATAL.sub("", text.splitlines()[0], count=1)


def error_message(exc: Any, password: Optional[str] = None) -> str:
    """A short line for an error raised by a query (permission denied, statement timeout ...)."""
    pgcode = getattr(exc, "pgcode", None)
    text = scrub(str(getattr(exc, "pgerror", None) or exc), [password])
    detail = _detail(text)
    if pgcode == "57014":
        return "query cancelled by statement_timeout: %s" % detail
    if pgcode == "42501":
        return "permission denied (grant the role pg_monitor): %s" % detail
    return detail
