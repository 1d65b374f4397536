"""Demo app for the rolling-deploy tests: reports its version, can be built broken.

    APP_VERSION=v2 APP_BROKEN=0 python3 app.py   (port 8000)

  /health   200 {"status": "healthy", "version": "v2"}; 500 when APP_BROKEN=1
  /         200 "demo <version> <hostname>"; 500 when APP_BROKEN=1
  Both answer 500 from the moment /tmp/broken exists (a replica that fails late:
  docker exec <container> touch /tmp/broken).
  /metrics  Prometheus text: demo_requests_total, demo_info{version=...}

SIGTERM stops accepting, finishes the requests in flight and exits (PID 1 in a
container ignores SIGTERM without a handler).
"""

import json
import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "dev")
BROKEN = os.environ.get("APP_BROKEN", "0") == "1"
BROKEN_FLAG = "/tmp/broken"
PORT = int(os.environ.get("APP_PORT", "8000"))
HOST = socket.gethostname()
COUNT = [0]
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code, body, ctype="application/json"):
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Demo-Version", VERSION)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server API
        with LOCK:
            COUNT[0] += 1
        path = self.path.split("?", 1)[0]
        broken = BROKEN or os.path.exists(BROKEN_FLAG)
        if path == "/health":
            if broken:
                self._send(500, json.dumps({"status": "unhealthy", "version": VERSION}))
            else:
                self._send(200, json.dumps({"status": "healthy", "version": VERSION}))
        elif path == "/metrics":
            text = "demo_requests_total %d\ndemo_info{version=\"%s\"} 1\n" % (COUNT[0], VERSION)
            self._send(200, text, "text/plain; version=0.0.4")
        elif path == "/":
            self._send(500 if broken else 200, "demo %s %s\n" % (VERSION, HOST), "text/plain")
        else:
            self._send(404, json.dumps({"error": "not found"}))

    def log_message(self, *args):  # quiet
        pass


def main():
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    # server_close() then waits for the requests in flight: a stop loses none of them.
    server.daemon_threads = False

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.2)
    server.server_close()


if __name__ == "__main__":
    main()
