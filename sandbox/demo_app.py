"""The sandbox's demo web app: stands in for the seeds' FinChat API and web app.

    python sandbox/demo_app.py CONFIG.json

CONFIG (written by sandbox.services.DemoApp): name, port, metrics_prefix, log_file,
optional postgres {login_host, port, login_user, login_password, database} and
redis {host, port, password}.

Endpoints:
  /health   200 {"status": "healthy", "checks": {"database": "ok", "redis": "ok"}, "version": ...}
            503 {"status": "unhealthy", ...} when a configured backend is down
  /ready    200 {"ready": true} / 503 {"ready": false, ...}
  /         a small HTML page
  /metrics  Prometheus text, every metric prefixed with metrics_prefix (finchat_ by default)

It logs with Python logging timestamps to log_file: INFO per request, ERROR when a
backend check fails. Standard library plus psycopg2 (optional: without it the
database check reports "psycopg2 missing").
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Tuple

try:
    import psycopg2
except ImportError:  # pragma: no cover - the venv has psycopg2
    psycopg2 = None

VERSION = "1.4.2-sandbox"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LOG = logging.getLogger("demo_app")


def _resp_command(*args: str) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def redis_ping(host: str, port: int, password: Optional[str], timeout: float = 2.0) -> Tuple[bool, str]:
    """PING (after AUTH when a password is set) over a raw socket: (ok, detail)."""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            reader = sock.makefile("rb")
            if password:
                sock.sendall(_resp_command("AUTH", password))
                reply = reader.readline().strip()
                if not reply.startswith(b"+"):
                    return False, "auth failed"
            sock.sendall(_resp_command("PING"))
            reply = reader.readline().strip()
            return (reply == b"+PONG", "ok" if reply == b"+PONG" else "unexpected reply")
    except ConnectionRefusedError:
        return False, "connection refused"
    except socket.timeout:
        return False, "timeout"
    except OSError as exc:
        return False, exc.strerror or exc.__class__.__name__


def postgres_ping(dsn: Dict[str, Any], timeout: int = 2) -> Tuple[bool, str]:
    """SELECT 1 on a fresh connection: (ok, detail). Never shows the password."""
    if psycopg2 is None:
        return False, "psycopg2 missing"
    try:
        conn = psycopg2.connect(host=dsn.get("login_host", "127.0.0.1"), port=int(dsn.get("port", 5432)),
                                user=dsn.get("login_user"), password=dsn.get("login_password"),
                                dbname=dsn.get("database", "postgres"), connect_timeout=timeout)
    except psycopg2.Error as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        if "refused" in text:
            return False, "connection refused"
        return False, text[:200]
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return True, "ok"
    except psycopg2.Error as exc:
        return False, str(exc).strip()[:200]
    finally:
        conn.close()


class Metrics:
    """Request counters and a latency histogram, thread-safe."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.lock = threading.Lock()
        self.requests: Dict[Tuple[str, str, int], int] = {}
        self.buckets: Dict[float, int] = {b: 0 for b in BUCKETS}
        self.count = 0
        self.total = 0.0
        self.started = time.time()
        self.backend_up: Dict[str, int] = {}

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        with self.lock:
            key = (method, path, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            self.count += 1
            self.total += seconds
            for bound in BUCKETS:
                if seconds <= bound:
                    self.buckets[bound] += 1

    def render(self) -> str:
        p = self.prefix
        with self.lock:
            lines = ["# HELP %sup Whether the app is up." % p, "# TYPE %sup gauge" % p, "%sup 1" % p,
                     "# HELP %sstart_time_seconds Start time of the process." % p,
                     "# TYPE %sstart_time_seconds gauge" % p, "%sstart_time_seconds %.3f" % (p, self.started),
                     "# HELP %shttp_requests_total Requests served." % p, "# TYPE %shttp_requests_total counter" % p]
            for (method, path, status), value in sorted(self.requests.items()):
                lines.append('%shttp_requests_total{method="%s",path="%s",status="%d"} %d'
                             % (p, method, path.replace('"', ""), status, value))
            lines += ["# HELP %shttp_request_duration_seconds Request latency." % p,
                      "# TYPE %shttp_request_duration_seconds histogram" % p]
            for bound in BUCKETS:
                lines.append('%shttp_request_duration_seconds_bucket{le="%s"} %d' % (p, bound, self.buckets[bound]))
            lines.append('%shttp_request_duration_seconds_bucket{le="+Inf"} %d' % (p, self.count))
            lines.append("%shttp_request_duration_seconds_sum %.6f" % (p, self.total))
            lines.append("%shttp_request_duration_seconds_count %d" % (p, self.count))
            lines += ["# HELP %sbackend_up Whether a backend answered the last health check." % p,
                      "# TYPE %sbackend_up gauge" % p]
            for name, value in sorted(self.backend_up.items()):
                lines.append('%sbackend_up{backend="%s"} %d' % (p, name, value))
        return "\n".join(lines) + "\n"


class App:
    """Configuration plus the health logic shared by the request handlers."""

    def __init__(self, config: Dict[str, Any]):
        self.name = config.get("name", "demo")
        self.port = int(config["port"])
        self.postgres = config.get("postgres")
        self.redis = config.get("redis")
        self.metrics = Metrics(config.get("metrics_prefix", "finchat_"))

    def health(self) -> Tuple[bool, Dict[str, Any]]:
        checks: Dict[str, str] = {}
        healthy = True
        if self.postgres:
            ok, detail = postgres_ping(self.postgres)
            checks["database"] = "ok" if ok else "error: %s" % detail
            healthy = healthy and ok
            self.metrics.backend_up["database"] = int(ok)
            if not ok:
                LOG.error("health check: database unavailable: %s", detail)
        if self.redis:
            ok, detail = redis_ping(self.redis.get("host", "127.0.0.1"), self.redis["port"], self.redis.get("password"))
            checks["redis"] = "ok" if ok else "error: %s" % detail
            healthy = healthy and ok
            self.metrics.backend_up["redis"] = int(ok)
            if not ok:
                LOG.error("health check: redis unavailable: %s", detail)
        body = {"status": "healthy" if healthy else "unhealthy", "checks": checks, "version": VERSION,
                "service": self.name, "uptime_seconds": round(time.time() - self.metrics.started, 1)}
        return healthy, body


def make_handler(app: App):
    class Handler(BaseHTTPRequestHandler):
        server_version = "finchat-demo/" + VERSION
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _json(self, status: int, payload: Dict[str, Any]) -> None:
            self._send(status, json.dumps(payload), "application/json")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            start = time.monotonic()
            path = self.path.split("?", 1)[0]
            status = 200
            if path == "/health":
                healthy, body = app.health()
                status = 200 if healthy else 503
                self._json(status, body)
            elif path == "/ready":
                healthy, body = app.health()
                status = 200 if healthy else 503
                self._json(status, {"ready": healthy, "checks": body["checks"]})
            elif path == "/metrics":
                self._send(200, app.metrics.render(), "text/plain; version=0.0.4")
            elif path in ("/", "/index.html"):
                self._send(200, "<!doctype html><html><head><title>%s</title></head><body><h1>%s</h1>"
                           "<p>FinChat demo (sandbox), version %s.</p></body></html>\n"
                           % (app.name, app.name, VERSION), "text/html; charset=utf-8")
            else:
                status = 404
                self._json(404, {"error": "not found", "path": path})
            elapsed = time.monotonic() - start
            app.metrics.observe("GET", path if status != 404 else "other", status, elapsed)

        do_HEAD = do_GET

        def log_message(self, fmt: str, *args: Any) -> None:
            LOG.info("%s %s", self.address_string(), fmt % args)

    return Handler


def main(argv: list) -> int:
    if len(argv) != 2:
        print("usage: demo_app.py CONFIG.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    handlers = [logging.StreamHandler(sys.stderr)]
    if config.get("log_file"):
        handlers.append(logging.FileHandler(config["log_file"]))
    logging.basicConfig(level=logging.INFO, handlers=handlers,
                        format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    app = App(config)
    server = ThreadingHTTPServer(("127.0.0.1", app.port), make_handler(app))
    server.daemon_threads = True

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOG.info("%s listening on 127.0.0.1:%d (version %s)", app.name, app.port, VERSION)
    server.serve_forever()
    LOG.info("%s stopped", app.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
