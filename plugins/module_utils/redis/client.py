# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Redis client speaking RESP2, with nothing but the standard library.

Why our own and not redis-py: redis_check runs on the targets and inside minimal
containers, which must need nothing installed beyond python3.

Enough for health checks: connect (with a timeout, optionally over TLS),
``AUTH`` (password, or ACL user and password), ``SELECT``, and the read-only
commands ``PING``, ``INFO``, ``LLEN`` and ``CONFIG GET``.

The wire format is handled by pure functions (``encode_command``,
``parse_reply``, ``parse_info``) so it can be tested without a server.

Every failure is a ``RespError`` subclass with a short message that never
contains the password:

* ``RespConnectionError`` (``kind``: ``dns``, ``refused``, ``timeout``, ``tls``,
  ``connection``): the server could not be reached or the connection broke;
* ``RespAuthError``: the server rejected the credentials, or wants some;
* ``RespReplyError``: the server answered a command with an error reply;
* ``RespProtocolError``: the bytes received are not RESP.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import socket
import ssl
from typing import Any, Dict, List, Optional, Tuple, Union

CRLF = b"\r\n"
MAX_BULK_BYTES = 512 * 1024 * 1024
MAX_REPLY_BYTES = 64 * 1024 * 1024

Reply = Union[str, int, bytes, None, List[Any], "RespReplyError"]


class RespError(Exception):
    """Base of every error raised by this module."""


class RespConnectionError(RespError):
    """The server could not be reached, or the connection failed.

    ``kind`` is one of ``dns``, ``refused``, ``timeout``, ``tls``, ``connection``.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class RespAuthError(RespError):
    """Authentication failed (wrong password or user) or is required."""


class RespProtocolError(RespError):
    """The server sent something that is not a valid RESP2 reply."""


class RespReplyError(RespError):
    """An error reply (``-ERR ...``, ``-WRONGTYPE ...``) from the server.

    ``code`` is the first word (``ERR``, ``WRONGTYPE``, ``NOAUTH``), ``message`` the full text.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        first = message.split(" ", 1)[0]
        self.code = first if first.isupper() else "ERR"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RespReplyError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


class Incomplete(Exception):
    """``parse_reply`` needs more bytes to finish the reply."""


# --------------------------------------------------------------------------- #
# Pure: the wire format
# --------------------------------------------------------------------------- #

def _to_bytes(arg: Union[str, bytes, int, float]) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, bool):
        raise TypeError("RESP arguments cannot be booleans")
    if isinstance(arg, (int, float)):
        return repr(arg).encode("ascii")
    if isinstance(arg, str):
        return arg.encode("utf-8")
    raise TypeError("RESP arguments must be str, bytes, int or float, not %s" % type(arg).__name__)


def encode_command(*args: Union[str, bytes, int, float]) -> bytes:
    """Encode a command as a RESP array of bulk strings.

    >>> encode_command("LLEN", "celery")
    b'*2\\r\\n$4\\r\\nLLEN\\r\\n$6\\r\\ncelery\\r\\n'
    """
    if not args:
        raise ValueError("a command needs at least a name")
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _to_bytes(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _line(data: bytes, pos: int) -> Tuple[bytes, int]:
    end = data.find(CRLF, pos)
    if end < 0:
        if len(data) - pos > 64 * 1024:
            raise RespProtocolError("reply line longer than 64 KiB without CRLF")
        raise Incomplete()
    return data[pos:end], end + 2


def _int(text: bytes, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RespProtocolError("invalid %s %r" % (what, text[:40])) from None


def parse_reply(data: bytes, pos: int = 0) -> Tuple[Reply, int]:
    """Parse one RESP2 reply from ``data`` at ``pos``; return ``(reply, next_pos)``.

    Simple strings become ``str``, integers ``int``, bulk strings ``bytes``,
    arrays ``list``, null bulk strings and null arrays ``None``. Error replies
    are returned (not raised) as ``RespReplyError`` so an array can hold them.
    Raises ``Incomplete`` when ``data`` ends before the reply does and
    ``RespProtocolError`` when the bytes are not RESP2.
    """
    if pos >= len(data):
        raise Incomplete()
    marker = data[pos:pos + 1]
    if marker not in (b"+", b"-", b":", b"$", b"*"):
        raise RespProtocolError("unexpected reply type byte %r" % marker)
    line, after = _line(data, pos + 1)
    if marker == b"+":
        return line.decode("utf-8", "replace"), after
    if marker == b"-":
        return RespReplyError(line.decode("utf-8", "replace")), after
    if marker == b":":
        return _int(line, "integer"), after
    if marker == b"$":
        length = _int(line, "bulk length")
        if length == -1:
            return None, after
        if length < 0 or length > MAX_BULK_BYTES:
            raise RespProtocolError("invalid bulk length %d" % length)
        end = after + length
        if len(data) < end + 2:
            raise Incomplete()
        if data[end:end + 2] != CRLF:
            raise RespProtocolError("bulk string not terminated by CRLF")
        return data[after:end], end + 2
    if marker == b"*":
        count = _int(line, "array length")
        if count == -1:
            return None, after
        if count < 0:
            raise RespProtocolError("invalid array length %d" % count)
        items: List[Any] = []
        for _index in range(count):
            item, after = parse_reply(data, after)
            items.append(item)
        return items, after
    raise RespProtocolError("unexpected reply type byte %r" % marker)  # pragma: no cover


def _number(text: str) -> Union[int, float, str]:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_info(text: Union[str, bytes]) -> Dict[str, Any]:
    """Parse the reply of ``INFO`` into one flat dict.

    Numbers become ``int`` or ``float``. Fields made of ``k=v`` pairs (the
    keyspace lines ``db0:keys=1,expires=0,avg_ttl=0``, ``cmdstat_*``) become
    dicts. Section headers (``# Memory``) and blank lines are skipped.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    info: Dict[str, Any] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        if "=" in value and (key.startswith("db") or "," in value):
            fields: Dict[str, Any] = {}
            for pair in value.split(","):
                name, sep, val = pair.partition("=")
                if sep:
                    fields[name] = _number(val)
            info[key] = fields
        else:
            info[key] = _number(value)
    return info


def keyspace(info: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The ``dbN`` entries of parsed INFO: ``{"db0": {"keys": 1, "expires": 0, ...}}``."""
    return {key: value for key, value in info.items()
            if key.startswith("db") and key[2:].isdigit() and isinstance(value, dict)}


def classify_socket_error(exc: BaseException, host: str, port: int, timeout: float) -> RespConnectionError:
    """Turn a socket/SSL exception into a ``RespConnectionError`` with a short message."""
    where = "%s:%d" % (host, port)
    if isinstance(exc, socket.gaierror):
        return RespConnectionError("dns", "unknown host %s: %s" % (host, exc.strerror or exc))
    if isinstance(exc, ConnectionRefusedError):
        return RespConnectionError("refused", "connection refused by %s" % where)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return RespConnectionError("timeout", "timed out after %gs talking to %s" % (timeout, where))
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None) or exc
        return RespConnectionError("tls", "TLS certificate verification failed for %s: %s" % (where, detail))
    if isinstance(exc, ssl.SSLError):
        return RespConnectionError("tls", "TLS error with %s: %s" % (where, getattr(exc, "reason", None) or exc))
    if isinstance(exc, ConnectionResetError):
        return RespConnectionError("connection", "connection reset by %s" % where)
    if isinstance(exc, OSError):
        return RespConnectionError("connection", "connection to %s failed: %s" % (where, exc.strerror or exc))
    return RespConnectionError("connection", "connection to %s failed: %s" % (where, exc))


# --------------------------------------------------------------------------- #
# The client
# --------------------------------------------------------------------------- #

class RespClient:
    """One connection to a Redis server. Use as a context manager.

    >>> with RespClient("127.0.0.1", 6379, password="s3cret") as client:
    ...     client.ping()
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        timeout: float = 5.0,
        password: Optional[str] = None,
        username: Optional[str] = None,
        db: int = 0,
        tls: bool = False,
        validate_certs: bool = True,
        ca_path: Optional[str] = None,
        server_name: Optional[str] = None,
    ):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._password = password
        self.username = username
        self.db = db
        self.tls = tls
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.server_name = server_name or host
        self._sock: Optional[socket.socket] = None
        self._buffer = b""

    # -- connection -------------------------------------------------------- #
    def _tls_context(self) -> ssl.SSLContext:
        if self.validate_certs:
            if self.ca_path and os.path.isdir(self.ca_path):
                context = ssl.create_default_context(capath=self.ca_path)
            else:
                context = ssl.create_default_context(cafile=self.ca_path)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def connect(self) -> "RespClient":
        """Open the connection, authenticate and select the database."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except (OSError, ValueError) as exc:
            raise classify_socket_error(exc, self.host, self.port, self.timeout) from None
        if self.tls:
            try:
                sock = self._tls_context().wrap_socket(sock, server_hostname=self.server_name)
            except (OSError, ValueError) as exc:
                sock.close()
                raise classify_socket_error(exc, self.host, self.port, self.timeout) from None
        sock.settimeout(self.timeout)
        self._sock = sock
        self._buffer = b""
        try:
            if self._password is not None:
                self.auth(self._password, self.username)
            if self.db:
                self.execute("SELECT", self.db)
        except RespError:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buffer = b""

    def __enter__(self) -> "RespClient":
        return self.connect()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- wire -------------------------------------------------------------- #
    def _scrub(self, text: str) -> str:
        if self._password:
            text = text.replace(self._password, "********")
        return text

    def _read_reply(self) -> Reply:
        if self._sock is None:
            raise RespConnectionError("connection", "not connected")
        while True:
            if self._buffer:
                try:
                    reply, used = parse_reply(self._buffer)
                except Incomplete:
                    pass
                else:
                    self._buffer = self._buffer[used:]
                    return reply
            if len(self._buffer) > MAX_REPLY_BYTES:
                raise RespProtocolError("reply larger than %d bytes" % MAX_REPLY_BYTES)
            try:
                chunk = self._sock.recv(65536)
            except (OSError, ValueError) as exc:
                raise classify_socket_error(exc, self.host, self.port, self.timeout) from None
            if not chunk:
                raise RespConnectionError("connection", "%s:%d closed the connection" % (self.host, self.port))
            self._buffer += chunk

    def execute_raw(self, *args: Union[str, bytes, int, float]) -> Reply:
        """Send one command and return its reply; error replies are returned, not raised."""
        if self._sock is None:
            raise RespConnectionError("connection", "not connected")
        try:
            self._sock.sendall(encode_command(*args))
        except (OSError, ValueError) as exc:
            raise classify_socket_error(exc, self.host, self.port, self.timeout) from None
        return self._read_reply()

    def execute(self, *args: Union[str, bytes, int, float]) -> Reply:
        """Send one command and return its reply; raise the error reply if there is one."""
        reply = self.execute_raw(*args)
        if isinstance(reply, RespReplyError):
            if reply.code == "NOAUTH":
                raise RespAuthError("authentication required: the server wants a password")
            if reply.code == "NOPERM":
                raise RespReplyError(self._scrub("permission denied: %s" % reply.message))
            raise RespReplyError(self._scrub(reply.message))
        return reply

    # -- commands ---------------------------------------------------------- #
    def auth(self, password: str, username: Optional[str] = None) -> None:
        args: List[Union[str, bytes]] = ["AUTH"]
        if username:
            args.append(username)
        args.append(password)
        reply = self.execute_raw(*args)
        if isinstance(reply, RespReplyError):
            text = self._scrub(reply.message)
            if reply.code == "WRONGPASS" or "invalid password" in text or "invalid username" in text:
                raise RespAuthError("authentication failed: wrong password%s" % (" or user" if username else ""))
            if "without any password configured" in text:
                raise RespAuthError("authentication failed: the server has no password configured")
            raise RespAuthError("authentication failed: %s" % text)

    def ping(self) -> str:
        reply = self.execute("PING")
        if isinstance(reply, bytes):
            return reply.decode("utf-8", "replace")
        if not isinstance(reply, str):
            raise RespProtocolError("unexpected reply to PING: %r" % (reply,))
        return reply

    def info(self, section: Optional[str] = None) -> Dict[str, Any]:
        reply = self.execute("INFO", section) if section else self.execute("INFO")
        if not isinstance(reply, (bytes, str)):
            raise RespProtocolError("unexpected reply to INFO: %r" % (type(reply).__name__,))
        return parse_info(reply)

    def llen(self, key: str) -> int:
        reply = self.execute("LLEN", key)
        if not isinstance(reply, int):
            raise RespProtocolError("unexpected reply to LLEN: %r" % (reply,))
        return reply

    def config_get(self, pattern: str) -> Dict[str, str]:
        reply = self.execute("CONFIG", "GET", pattern)
        if not isinstance(reply, list) or len(reply) % 2:
            raise RespProtocolError("unexpected reply to CONFIG GET")
        out: Dict[str, str] = {}
        for key, value in zip(reply[0::2], reply[1::2]):
            out[_text(key)] = _text(value)
        return out


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
