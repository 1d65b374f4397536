# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a failed HTTP or TLS connection means: its kind and a short message.

Pure: it only looks at the exception. Shared by the HTTP client (``http_client.fetch``),
the endpoint decisions (``probe_plan``) and the TLS runner (``tls_runner``).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import http.client
import socket
import ssl
import urllib.error
from typing import Optional, Tuple

# Transport failures: no HTTP answer at all. ``tls`` is reachable but untrusted.
UNREACHABLE = ("dns", "refused", "timeout", "connection", "protocol")


def classify_error(exc: BaseException, timeout: Optional[float] = None, host: str = "",
                   port: Optional[int] = None) -> Tuple[str, str]:
    """Turn a transport exception into ``(kind, message)``.

    Kinds: ``dns``, ``refused``, ``timeout``, ``connection``, ``protocol`` (no answer: the
    endpoint is down), ``tls`` (reachable but not trusted) and ``error`` (anything else).
    """
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        if isinstance(reason, BaseException):
            exc = reason
        else:
            return "connection", "request failed: %s" % reason
    if isinstance(exc, socket.gaierror):
        return "dns", "DNS lookup failed for %s: %s" % (host or "host", exc.strerror or exc)
    if isinstance(exc, ConnectionRefusedError):
        where = "%s:%s" % (host, port) if host and port else host
        return "refused", "connection refused%s" % (" by %s" % where if where else "")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout", "timed out after %ss" % seconds_text(timeout) if timeout is not None else "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None) or str(exc)
        return "tls", "TLS certificate verification failed: %s" % detail
    if isinstance(exc, ssl.SSLError):
        return "tls", "TLS error: %s" % (getattr(exc, "reason", None) or exc)
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection", "server closed the connection without a response"
    if isinstance(exc, ConnectionResetError):
        return "connection", "connection reset by peer"
    if isinstance(exc, http.client.HTTPException):
        return "protocol", "invalid HTTP response: %s" % (exc.__class__.__name__ if not str(exc) else exc)
    if isinstance(exc, OSError):
        return "connection", "connection failed: %s" % (exc.strerror or exc)
    return "error", "request failed: %s" % exc


def seconds_text(value: Optional[float]) -> str:
    """``2.0`` -> ``2``, ``0.1234`` -> ``0.123``; ``n/a`` for None."""
    if value is None:
        return "n/a"
    return ("%.3f" % value).rstrip("0").rstrip(".") or "0"
