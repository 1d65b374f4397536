"""Real local receivers for the notification tests, on 127.0.0.1 free ports.

``Receivers`` is one HTTP server that answers as the documented endpoints do:

- PagerDuty Events API v2, ``POST /v2/enqueue``: 202 ``{"status": "success", "message": "Event
  processed", "dedup_key"}``; 400 ``{"status": "invalid event", "message": "Event object is invalid",
  "errors": [...]}`` for a wrong routing key, action, severity, a missing summary or source, a
  dedup_key over 255 characters; it keeps the alerts (triggered/resolved) by dedup_key;
- Slack Web API, ``POST /api/chat.postMessage`` and ``/api/chat.update``: HTTP 200 with
  ``{"ok": true, "channel", "ts", "message"}`` or ``{"ok": false, "error": "invalid_auth" |
  "not_authed" | "channel_not_found" | "message_not_found" | "no_text"}``; it keeps the messages;
- a Slack incoming webhook, ``POST /slack-hook/<path>``: 200 ``ok`` or 400 ``invalid_payload``;
- a generic webhook, ``POST /hook``: the HMAC-SHA256 signature verified (401 when wrong).

``limit(path, times, retry_after)`` answers the next requests to ``path`` with HTTP 429 and
Retry-After, as PagerDuty and Slack do when rate limiting. ``SmtpServer`` is a real SMTP server
(aiosmtpd) that requires STARTTLS and AUTH.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

from sandbox.services import free_port

PD_SEVERITIES = ("critical", "error", "warning", "info")


class _Handler(BaseHTTPRequestHandler):
    server_version = "runbook-notify-test/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - silence the access log
        pass

    def _send(self, code: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode(), "application/json"
        else:
            data, ctype = str(body).encode(), "text/plain"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - http.server's naming
        owner: Receivers = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if owner.delay:
            time.sleep(owner.delay)
        entry = {"path": path, "headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw,
                 "time": time.monotonic()}
        with owner.lock:
            owner.requests.append(entry)
            limited = owner.limits.get(path)
            if limited and limited[0] > 0:
                owner.limits[path] = (limited[0] - 1, limited[1])
                self._send(429, {"status": "throttled", "message": "Too many requests"} if path == "/v2/enqueue"
                           else {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limited[1])})
                return
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            body = None
        entry["body"] = body
        with owner.lock:
            if path == "/v2/enqueue":
                code, answer = owner.pagerduty(body)
            elif path.startswith("/api/chat."):
                code, answer = owner.slack(path[len("/api/"):], body, self.headers.get("Authorization") or "")
            elif path.startswith("/slack-hook/"):
                code, answer = owner.slack_hook(path, body)
            elif path == "/hook":
                code, answer = owner.webhook(raw, body, self.headers.get(owner.webhook_header) or "")
            else:
                code, answer = 404, "not found"
        self._send(code, answer)


class Receivers:
    """PagerDuty, Slack (Web API and incoming webhook) and a signed webhook, in one HTTP server."""

    def __init__(self, routing_key: str = "R" * 32, slack_token: str = "xoxb-test",
                 webhook_secret: str = "hook-secret", webhook_header: str = "X-Runbook-Ops-Signature",
                 hook_path: str = "/slack-hook/T000/B000/XXXX", port: int = 0):
        self.routing_key = routing_key
        self.slack_token = slack_token
        self.webhook_secret = webhook_secret
        self.webhook_header = webhook_header
        self.hook_path = hook_path
        self.delay = 0.0  # seconds before each answer (widens the window of concurrent runs)
        self.lock = threading.Lock()
        self.requests: List[Dict[str, Any]] = []
        self.limits: Dict[str, Any] = {}
        self.alerts: Dict[str, Dict[str, Any]] = {}
        self.messages: Dict[str, Dict[str, Any]] = {}
        self.hook_messages: List[str] = []
        self.webhook_events: List[Dict[str, Any]] = []
        self._ts = 1700000000
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port or free_port()), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return "http://127.0.0.1:%d" % self._httpd.server_address[1]

    def start(self) -> "Receivers":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "Receivers":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def limit(self, path: str, times: int, retry_after: int) -> None:
        """Answer the next ``times`` requests to ``path`` with 429 and ``Retry-After: retry_after``."""
        with self.lock:
            self.limits[path] = (times, retry_after)

    def to(self, path: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    # -- PagerDuty Events API v2 -------------------------------------------------
    def pagerduty(self, body: Any):
        errors = []
        if not isinstance(body, dict):
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["not JSON"]}
        if body.get("routing_key") != self.routing_key:
            errors.append("'routing_key' is invalid")
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        key = body.get("dedup_key")
        if key is not None and (not isinstance(key, str) or len(key) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not key:
            errors.append("'dedup_key' is required for %s" % action)
        if action == "trigger":
            payload = body.get("payload") or {}
            for field in ("summary", "source", "severity"):
                if not payload.get(field):
                    errors.append("'payload.%s' is missing" % field)
            if payload.get("severity") and payload["severity"] not in PD_SEVERITIES:
                errors.append("'payload.severity' is invalid")
            if len(str(payload.get("summary") or "")) > 1024:
                errors.append("'payload.summary' is too long")
        if errors:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        key = key or "generated-%d" % len(self.alerts)
        alert = self.alerts.get(key)
        if action == "trigger":
            if alert is None or alert["status"] == "resolved":
                # A trigger after a resolve opens a new alert.
                alert = self.alerts[key] = {"status": "triggered", "opened": (alert or {}).get("opened", 0) + 1,
                                            "events": []}
            alert["events"].append(body)
            alert["summary"] = body["payload"]["summary"]
        elif alert is not None:
            alert["status"] = "resolved" if action == "resolve" else "acknowledged"
            alert["events"].append(body)
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}

    # -- Slack Web API ------------------------------------------------------------
    def slack(self, method: str, body: Any, authorization: str):
        if not authorization.startswith("Bearer "):
            return 200, {"ok": False, "error": "not_authed"}
        if authorization[len("Bearer "):] != self.slack_token:
            return 200, {"ok": False, "error": "invalid_auth"}
        if not isinstance(body, dict):
            return 200, {"ok": False, "error": "invalid_json"}
        channel = body.get("channel")
        if not channel or not (str(channel).startswith("C") or str(channel).startswith("#")):
            return 200, {"ok": False, "error": "channel_not_found"}
        channel_id = "C0NOTIFY01"
        if not body.get("text"):
            return 200, {"ok": False, "error": "no_text"}
        if method == "chat.postMessage":
            self._ts += 1
            ts = "%d.000100" % self._ts
            self.messages[ts] = {"channel": channel_id, "text": body["text"], "edits": 0}
            return 200, {"ok": True, "channel": channel_id, "ts": ts,
                         "message": {"type": "message", "text": body["text"], "ts": ts}}
        if method == "chat.update":
            ts = body.get("ts")
            if ts not in self.messages or channel != channel_id:
                return 200, {"ok": False, "error": "message_not_found"}
            self.messages[ts]["text"] = body["text"]
            self.messages[ts]["edits"] += 1
            return 200, {"ok": True, "channel": channel_id, "ts": ts, "text": body["text"]}
        return 200, {"ok": False, "error": "unknown_method"}

    # -- Slack incoming webhook ------------------------------------------------------
    def slack_hook(self, path: str, body: Any):
        if path != self.hook_path:
            return 404, "no_service"
        if not isinstance(body, dict) or not body.get("text"):
            return 400, "invalid_payload"
        self.hook_messages.append(body["text"])
        return 200, "ok"

    # -- generic webhook -------------------------------------------------------------
    def webhook(self, raw: bytes, body: Any, signature: str):
        expected = "sha256=" + hmac.new(self.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return 401, {"error": "bad signature"}
        self.webhook_events.append(body)
        return 200, {"received": True}


class SmtpServer:
    """A real SMTP server (aiosmtpd) that requires STARTTLS before AUTH, and AUTH before mail."""

    def __init__(self, cert, key, username: str, password: str):
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: List[Dict[str, Any]] = []
        self.logins: List[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        owner = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
                owner.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                       "data": envelope.content.decode("utf-8", "replace"),
                                       "tls": session.ssl is not None})
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
            secret = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
            owner.logins.append(login)
            return AuthResult(success=(login == username and secret == password), handled=False)

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=context,
                                     require_starttls=True, auth_required=True, authenticator=authenticator,
                                     auth_require_tls=True)

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
