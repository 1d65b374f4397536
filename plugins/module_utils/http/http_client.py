# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP transport: one request with the standard library, its TLS contexts.

``fetch`` never raises for a transport problem: the outcome carries ``error_kind``
and ``error`` (see ``errors_plan.classify_error``) so the caller can judge it.
Only ``urllib``/``http.client``/``ssl``, so it runs on a host or container that has
nothing but python3.

This is the http package's ``client.py``, named ``http_client.py`` so that no tool that puts
``module_utils/`` on its path takes it for the standard library's ``http.client``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import http.client
import json
import os
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.http.errors_plan import classify_error

MAX_BODY_BYTES = 4 * 1024 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401 - urllib API
        return None


def ssl_context(validate_certs: bool, ca_path: Optional[str]) -> ssl.SSLContext:
    """A client TLS context: the system CA store (or ``ca_path``), or no verification."""
    if not validate_certs:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca_path:
        if os.path.isdir(ca_path):
            return ssl.create_default_context(capath=ca_path)
        return ssl.create_default_context(cafile=ca_path)
    return ssl.create_default_context()


_CONTEXTS: Dict[Tuple[bool, Optional[str]], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def shared_ssl_context(validate_certs: bool, ca_path: Optional[str]) -> ssl.SSLContext:
    """One context per (validate_certs, ca_path), shared by the worker threads.

    Loading the CA store takes tens of milliseconds of CPU under the GIL; building it
    once instead of once per request keeps a 50-endpoint fan-out fast.
    """
    key = (bool(validate_certs), ca_path or None)
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            ctx = _CONTEXTS[key] = ssl_context(validate_certs, ca_path)
        return ctx


def request_headers(endpoint: Mapping[str, Any]) -> Dict[str, str]:
    """Headers to send: defaults, the endpoint's own, then the bearer token."""
    headers = {"User-Agent": "runbook.ops-http_check/0.1", "Accept": "*/*", "Connection": "close"}
    headers.update(endpoint.get("headers") or {})
    if endpoint.get("bearer_token"):
        headers["Authorization"] = "Bearer %s" % endpoint["bearer_token"]
    return headers


def _request_body(endpoint: Mapping[str, Any], headers: Dict[str, str]) -> Optional[bytes]:
    body = endpoint.get("body")
    if body is None:
        return b"" if endpoint["method"] == "POST" else None
    if isinstance(body, (dict, list)):
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return json.dumps(body).encode("utf-8")
    if isinstance(body, bytes):
        return body
    return str(body).encode("utf-8")


def fetch(endpoint: Mapping[str, Any], clock: Callable[[], float] = time.monotonic) -> Dict[str, Any]:
    """One HTTP request; never raises for transport problems (they become ``error_kind``)."""
    headers = request_headers(endpoint)
    data = _request_body(endpoint, headers)
    handlers: List[Any] = []
    if endpoint["url"].lower().startswith("https:"):
        handlers.append(urllib.request.HTTPSHandler(context=shared_ssl_context(endpoint["validate_certs"], endpoint.get("ca_path"))))
    if not endpoint.get("follow_redirects", True):
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(endpoint["url"], data=data, headers=headers, method=endpoint["method"])
    parts = urllib.parse.urlsplit(endpoint["url"])
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    start = clock()
    response = None
    try:
        try:
            response = opener.open(req, timeout=endpoint["timeout"])
        except urllib.error.HTTPError as err:
            response = err
        code = response.getcode() if hasattr(response, "getcode") else response.code
        raw = b"" if endpoint["method"] == "HEAD" else (response.read(MAX_BODY_BYTES) or b"")
        latency = clock() - start
        charset = "utf-8"
        try:
            charset = response.headers.get_content_charset() or "utf-8"
        except (AttributeError, LookupError):
            pass
        try:
            body = raw.decode(charset, errors="replace")
        except LookupError:
            body = raw.decode("utf-8", errors="replace")
        return {"status_code": int(code), "body": body, "latency": latency}
    except (OSError, http.client.HTTPException, ValueError) as exc:
        latency = clock() - start
        kind, message = classify_error(exc, endpoint["timeout"], host, port)
        return {"error_kind": kind, "error": message, "latency": latency}
    except Exception as exc:  # pylint: disable=broad-exception-caught  # never a traceback for the user
        return {"error_kind": "error", "error": "request failed: %s: %s" % (type(exc).__name__, exc),
                "latency": clock() - start}
    finally:
        if response is not None:
            try:
                response.close()
            except OSError:
                pass
