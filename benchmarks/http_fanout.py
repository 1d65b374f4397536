"""Fan-out benchmark: runbook.ops.http_check (one task) against an ansible.builtin.uri loop.

Starts N local HTTP endpoints (one ThreadingHTTPServer per port on 127.0.0.1,
each answering after ``--delay`` seconds), then runs benchmarks/http_fanout/fanout.yml
through a real ``ansible-playbook`` (localhost, connection local), which checks
all endpoints once with runbook.ops.http_check and once with a uri loop.

How the durations are measured: the playbook runs with the ``ansible.posix.json``
stdout callback, which stamps every task with a start time (when the task starts)
and an end time (when the host's final result, after all loop items, arrives).
Each task's duration is end - start: the wall-clock time of that task alone,
module transfer and execution included, playbook start-up excluded. A warm-up
``ping`` task runs first so neither measured task pays the connection set-up.

The last line printed is the speed-up ratio, e.g. ``speedup: 31.2x``.

    .venv/bin/python benchmarks/http_fanout.py [--endpoints 50] [--delay 0.1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
PLAYBOOK = REPO / "benchmarks" / "http_fanout" / "fanout.yml"
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
PYTHON = REPO / ".venv" / "bin" / "python"
CHECK_TASK = "Fan-out with runbook.ops.http_check: all endpoints in one task"
URI_TASK = "Loop with ansible.builtin.uri: one loop item per endpoint"


def make_handler(delay: float):
    body = json.dumps({"status": "healthy"}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002
            pass

        def do_GET(self):  # noqa: N802 - http.server API
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class Endpoints:
    """``count`` ThreadingHTTPServers on 127.0.0.1, one port each, in threads."""

    def __init__(self, count: int, delay: float):
        handler = make_handler(delay)
        self.servers = []
        for _i in range(count):
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            self.servers.append(server)
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
                        for s in self.servers]

    @property
    def urls(self) -> List[str]:
        return ["http://127.0.0.1:%d/health" % s.server_address[1] for s in self.servers]

    def __enter__(self) -> "Endpoints":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def _stamp(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.rstrip("Z"))


def run_playbook(urls: List[str], workdir: Path) -> Tuple[Dict[str, float], Dict[str, dict], float]:
    """Run the playbook once; task durations (s), task results by name, and total wall time."""
    extra = workdir / "vars.json"
    extra.write_text(json.dumps({
        "fanout_urls": urls,
        "fanout_endpoints": [{"name": "ep%02d" % i, "url": url} for i, url in enumerate(urls)],
        "ansible_python_interpreter": str(PYTHON),
    }))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               RUNBOOK_OPS_REPORT_DIR=str(workdir / "reports"), ANSIBLE_LOCAL_TEMP=str(workdir / "tmp"))
    start = time.monotonic()
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", "-e", "@%s" % extra,
                           str(PLAYBOOK)], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=900, check=False)
    total = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit("ansible-playbook failed with exit code %d" % proc.returncode)
    out = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("{"))[0]
    durations, results = {}, {}
    for task in out["plays"][0]["tasks"]:
        info = task["task"]
        durations[info["name"]] = (_stamp(info["duration"]["end"]) - _stamp(info["duration"]["start"])).total_seconds()
        results[info["name"]] = task["hosts"]["localhost"]
    return durations, results, total


def verify(results: Dict[str, dict], count: int) -> None:
    """Both tasks must have seen every endpoint healthy, or the timing means nothing."""
    check = results[CHECK_TASK]
    if check.get("status") != "ok" or len(check.get("checks", [])) != count:
        raise SystemExit("http_check did not see %d healthy endpoints: %s" % (count, check.get("summary")))
    items = results[URI_TASK].get("results", [])
    if len(items) != count or any(item.get("status") != 200 for item in items):
        raise SystemExit("the uri loop did not get %d answers with status 200" % count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds each endpoint waits before answering")
    parser.add_argument("--repeat", type=int, default=1, help="playbook runs; the median of each task is reported")
    args = parser.parse_args()
    if not ANSIBLE_PLAYBOOK.exists():
        raise SystemExit("%s not found: set up the project virtualenv first (scripts/setup)" % ANSIBLE_PLAYBOOK)

    check_times, uri_times, totals = [], [], []
    with Endpoints(args.endpoints, args.delay) as endpoints, tempfile.TemporaryDirectory(prefix="http-fanout-") as tmp:
        for _i in range(args.repeat):
            durations, results, total = run_playbook(endpoints.urls, Path(tmp))
            verify(results, args.endpoints)
            check_times.append(durations[CHECK_TASK])
            uri_times.append(durations[URI_TASK])
            totals.append(total)

    check_time = statistics.median(check_times)
    uri_time = statistics.median(uri_times)
    print("endpoints: %d local HTTP servers, each answering after %.0f ms" % (args.endpoints, args.delay * 1000))
    runs = "%d playbook run%s" % (args.repeat, "" if args.repeat == 1 else "s")
    print("measured: task start to final host result, from the ansible.posix.json callback "
          "(median of %s; whole playbook %.1f s)" % (runs, statistics.median(totals)))
    print("runbook.ops.http_check, one task for %d endpoints: %.2f s" % (args.endpoints, check_time))
    per_item = uri_time / args.endpoints
    print("ansible.builtin.uri loop over %d endpoints: %.2f s (%.2f s per item)" % (args.endpoints, uri_time, per_item))
    print("speedup: %.1fx" % (uri_time / check_time))
    return 0


if __name__ == "__main__":
    sys.exit(main())
