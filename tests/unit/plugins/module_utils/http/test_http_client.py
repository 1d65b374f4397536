"""The HTTP transport: request headers, TLS contexts, fetch without tracebacks."""

from __future__ import annotations

import ssl

from ansible_collections.runbook.ops.plugins.module_utils.http import http_client, probe_plan


def endpoint(**overrides):
    raw = {"name": "api", "url": "http://127.0.0.1:8000/health"}
    raw.update(overrides)
    return probe_plan.normalize_endpoint(raw)


def test_request_headers_add_bearer_token():
    headers = http_client.request_headers(endpoint(bearer_token="abc", headers={"X-Trace": "1"}))
    assert headers["Authorization"] == "Bearer abc" and headers["X-Trace"] == "1"


def test_ssl_context_modes(tmp_path):
    assert http_client.ssl_context(False, None).verify_mode == ssl.CERT_NONE
    ctx = http_client.ssl_context(True, None)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert http_client.ssl_context(True, str(tmp_path)).verify_mode == ssl.CERT_REQUIRED  # a CA directory


def test_fetch_turns_unexpected_errors_into_an_outcome():
    outcome = http_client.fetch(endpoint(url="http://" + "a" * 70 + ".invalid/"))  # label too long for IDNA
    assert outcome["error_kind"] in ("error", "dns", "connection") and outcome["error"]
