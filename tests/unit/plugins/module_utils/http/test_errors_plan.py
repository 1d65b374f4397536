"""What a failed connection means: errors_plan.classify_error."""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error

from ansible_collections.runbook.ops.plugins.module_utils.http import errors_plan


def test_classify_error():
    assert errors_plan.classify_error(urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), 5, "x.invalid") == \
        ("dns", "DNS lookup failed for x.invalid: Name or service not known")
    assert errors_plan.classify_error(urllib.error.URLError(ConnectionRefusedError(111, "refused")), 5, "h", 81) == \
        ("refused", "connection refused by h:81")
    assert errors_plan.classify_error(TimeoutError("timed out"), 2.5) == ("timeout", "timed out after 2.5s")
    assert errors_plan.classify_error(urllib.error.URLError(socket.timeout("x")), 1.0) == ("timeout", "timed out after 1s")
    err = ssl.SSLCertVerificationError(1, "x")
    err.verify_message = "certificate has expired"
    assert errors_plan.classify_error(urllib.error.URLError(err)) == ("tls", "TLS certificate verification failed: certificate has expired")
    assert errors_plan.classify_error(http.client.RemoteDisconnected("gone"))[0] == "connection"
    assert errors_plan.classify_error(ConnectionResetError(104, "reset")) == ("connection", "connection reset by peer")
    assert errors_plan.classify_error(http.client.BadStatusLine("garbage"))[0] == "protocol"
    assert errors_plan.classify_error(urllib.error.URLError("unknown url type")) == ("connection", "request failed: unknown url type")


def test_unexpected_errors_are_classified_not_raised():
    assert errors_plan.classify_error(RuntimeError("boom")) == ("error", "request failed: boom")


def test_seconds_text():
    assert errors_plan.seconds_text(2.0) == "2"
    assert errors_plan.seconds_text(0.1234) == "0.123"
    assert errors_plan.seconds_text(None) == "n/a"
