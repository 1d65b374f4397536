"""runbook.ops.log_check on real log files written by the tests (several formats, rotation, gzip)."""

from __future__ import annotations

import datetime
import gzip
import json
import os
import time

import pytest

from utils.run import ModuleFailed, run_module

UTC = datetime.timezone.utc


def _local(seconds_ago, fmt):
    return datetime.datetime.fromtimestamp(time.time() - seconds_ago).strftime(fmt)


def python_log(path, entries):
    """``entries``: (seconds_ago, level, message[, extra lines]) oldest first, Python logging format."""
    with open(path, "w") as handle:
        for entry in entries:
            ago, level, message = entry[:3]
            stamp = _local(ago, "%Y-%m-%d %H:%M:%S") + ",123"
            handle.write("%s %s app: %s\n" % (stamp, level, message))
            for extra in entry[3:]:
                handle.write(extra + "\n")


def _by_name(result):
    return {c["name"]: c for c in result["checks"]}


@pytest.fixture
def app_log(tmp_path):
    """30 old ERROR lines (2 to 3 days ago), then 12 ERROR entries in the last hours, each with a traceback."""
    entries = [(3 * 86400 - i * 60, "ERROR", "old failure %d" % i) for i in range(30)]
    entries += [(5 * 3600 - i * 600, "INFO", "request ok %d" % i) for i in range(20)]
    entries += [(3600 - i * 60, "ERROR", "job %d failed" % i, "Traceback (most recent call last):",
                 '  File "app.py", line 3, in run', "ValueError: bad input") for i in range(12)]
    path = tmp_path / "app.log"
    python_log(path, entries)
    return path


def test_twelve_errors_in_24_hours_is_a_warning(app_log):
    result = run_module("log_check", {"logs": [{"path": str(app_log)}]})
    check = _by_name(result)["log.app.error"]
    assert check["status"] == "warning" and result["severity"] == "P2"
    assert check["value"]["count"] == 12
    assert check["value"]["files"] == {str(app_log): 12}
    assert check["value"]["timestamps"] == {str(app_log): "timestamps"}
    assert "12 lines match 'ERROR' in the last 24h (warning above 10)" in check["message"]
    assert len(check["value"]["sample"]) == 5
    assert check["value"]["sample"][-1].endswith("app: job 11 failed")
    assert result["metrics"] == {'log_matches{file="%s",pattern="error"}' % app_log: 12.0}
    assert result["changed"] is False


def test_stack_trace_lines_inherit_the_entry_time(app_log):
    result = run_module("log_check", {"logs": [{"path": str(app_log), "patterns": [
        {"name": "valueerror", "regex": "^ValueError", "warning": 5, "critical": 11}]}]})
    check = _by_name(result)["log.app.valueerror"]
    assert check["value"]["count"] == 12
    assert check["status"] == "critical"
    assert "critical above 11" in check["message"]


def test_shorter_window_and_thresholds(app_log):
    result = run_module("log_check", {"since_hours": 0.5, "logs": [{"path": str(app_log), "name": "api"}],
                                      "sample_lines": 0})
    check = _by_name(result)["log.api.error"]
    # Entries at 60 min ... 49 min ago are outside the last 30 minutes: none of them counts.
    assert check["value"]["count"] == 0
    assert check["status"] == "ok"
    assert check["value"]["sample"] == []

    wide = run_module("log_check", {"since_hours": 96, "logs": [{"path": str(app_log)}]})
    assert _by_name(wide)["log.app.error"]["value"]["count"] == 42


def test_syslog_json_and_nginx_formats(tmp_path):
    syslog = tmp_path / "syslog"
    with open(syslog, "w") as handle:
        for ago, text in ((90000, "old security_event"), (600, "security_event login failed"),
                          (300, "cron ran"), (60, "security_event sudo")):
            stamp = datetime.datetime.fromtimestamp(time.time() - ago)
            fields = (stamp.strftime("%b"), stamp.day, stamp.strftime("%H:%M:%S"), text)
            handle.write("%s %2d %s host sshd[1]: %s\n" % fields)
    events = tmp_path / "events.jsonl"
    with open(events, "w") as handle:
        for ago, level in ((7200 * 20, "ERROR"), (100, "ERROR"), (50, "INFO"), (10, "ERROR")):
            stamp = datetime.datetime.fromtimestamp(time.time() - ago, UTC).isoformat()
            handle.write(json.dumps({"timestamp": stamp, "level": level, "msg": "x"}) + "\n")
    access = tmp_path / "access.log"
    with open(access, "w") as handle:
        for ago, status in ((200000, 500), (30, 502), (20, 200), (10, 500)):
            stamp = datetime.datetime.fromtimestamp(time.time() - ago, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
            handle.write('10.0.0.1 - - [%s] "GET / HTTP/1.1" %d 12 "-" "curl"\n' % (stamp, status))
    result = run_module("log_check", {"logs": [
        {"path": str(syslog), "patterns": [{"name": "security", "regex": "security_event", "warning": 1}]},
        {"path": str(events), "patterns": [{"name": "error", "regex": '"level": "ERROR"', "warning": 10}]},
        {"path": str(access), "name": "nginx", "patterns": [{"name": "5xx", "regex": '" 5\\d\\d ', "warning": 1}]},
    ]})
    checks = _by_name(result)
    assert checks["log.syslog.security"]["value"]["count"] == 2
    assert checks["log.syslog.security"]["status"] == "warning"
    assert checks["log.events.error"]["value"]["count"] == 2
    assert checks["log.events.error"]["status"] == "ok"
    assert checks["log.nginx.5xx"]["value"]["count"] == 2
    assert checks["log.nginx.5xx"]["status"] == "warning"


def test_file_without_timestamps_falls_back_to_mtime(tmp_path):
    plain = tmp_path / "worker.out"
    plain.write_text("starting\nERROR one\nERROR two\nstopping\n")
    result = run_module("log_check", {"logs": [{"path": str(plain)}]})
    check = result["checks"][0]
    assert check["name"] == "log.worker.out.error"
    assert check["value"]["count"] == 2
    assert check["value"]["timestamps"] == {str(plain): "mtime"}
    assert "no timestamps in %s: counted whole file" % plain in check["message"]

    old = time.time() - 3 * 86400
    os.utime(plain, (old, old))
    result = run_module("log_check", {"logs": [{"path": str(plain), "name": "worker"}]})
    check = result["checks"][0]
    assert check["value"]["count"] == 0
    assert check["value"]["timestamps"] == {str(plain): "old"}


def test_rotated_and_gzipped_files_count_under_the_current_file(tmp_path):
    current = tmp_path / "api.log"
    python_log(current, [(100, "ERROR", "now 1"), (50, "ERROR", "now 2")])
    python_log(tmp_path / "api.log.1", [(7200, "ERROR", "rotated 1"), (7100, "ERROR", "rotated 2")])
    older = tmp_path / "older.txt"
    python_log(older, [(20 * 3600, "ERROR", "gz 1"), (30 * 3600, "ERROR", "too old")])
    with open(older, "rb") as src, gzip.open(tmp_path / "api.log.2.gz", "wb") as dst:
        dst.write(src.read())
    os.remove(older)
    stale = tmp_path / "api.log.3.gz"
    with gzip.open(stale, "wb") as dst:
        dst.write(b"2001-01-01 00:00:00,000 ERROR ancient\n")
    past = time.time() - 10 * 86400
    os.utime(stale, (past, past))

    result = run_module("log_check", {"logs": [{"path": str(current)}]})
    check = result["checks"][0]
    assert check["value"]["count"] == 5, check
    assert check["value"]["files"] == {str(current): 5}
    assert set(check["value"]["timestamps"]) == {str(current), str(current) + ".1", str(current) + ".2.gz"}
    assert check["value"]["sample"][-1].endswith("app: now 2")

    no_rotated = run_module("log_check", {"logs": [{"path": str(current)}], "rotated": False})
    assert no_rotated["checks"][0]["value"]["count"] == 2
    no_gzip = run_module("log_check", {"logs": [{"path": str(current)}], "compressed": False})
    assert no_gzip["checks"][0]["value"]["count"] == 4


def test_glob_counts_per_file(tmp_path):
    logs = tmp_path / "finchat"
    logs.mkdir()
    python_log(logs / "api.log", [(60, "ERROR", "a")] * 3)
    python_log(logs / "worker.log", [(60, "ERROR", "w")] * 9)
    python_log(logs / "ignored.txt", [(60, "ERROR", "x")])
    result = run_module("log_check", {"logs": [{"path": str(logs / "*.log")}]})
    check = result["checks"][0]
    assert check["name"] == "log.finchat.error"
    assert check["value"]["files"] == {str(logs / "api.log"): 3, str(logs / "worker.log"): 9}
    assert check["status"] == "warning"
    assert set(result["metrics"]) == {'log_matches{file="%s",pattern="error"}' % (logs / n)
                                      for n in ("api.log", "worker.log")}


def test_missing_files_follow_the_missing_option(tmp_path):
    args = {"logs": [{"path": str(tmp_path / "gone.log")}, {"path": str(tmp_path / "none" / "*.log"), "name": "g",
                                                            "missing": "ok"}]}
    result = run_module("log_check", args)
    checks = _by_name(result)
    assert checks["log.gone.error"]["status"] == "warning"
    assert checks["log.gone.error"]["message"] == "no file matches %s" % (tmp_path / "gone.log")
    assert checks["log.g.error"]["status"] == "ok"
    critical = run_module("log_check", dict(args, missing="critical"))
    assert _by_name(critical)["log.gone.error"]["status"] == "critical"


def test_large_file_is_read_from_the_end(tmp_path):
    """80 MB of old lines, then a few recent ones: only the end is read, so it takes well under a second."""
    path = tmp_path / "big.log"
    old_line = (_local(5 * 86400, "%Y-%m-%d %H:%M:%S") + ",000 ERROR old noise " + "x" * 160 + "\n").encode()
    chunk = old_line * 10000
    with open(path, "wb") as handle:
        for _i in range(80 * 1024 * 1024 // len(chunk)):
            handle.write(chunk)
    python_log(tmp_path / "tail.part", [(120, "ERROR", "fresh %d" % i) for i in range(3)])
    with open(path, "ab") as handle, open(tmp_path / "tail.part", "rb") as tail:
        handle.write(tail.read())
    started = time.monotonic()
    result = run_module("log_check", {"logs": [{"path": str(path)}]})
    elapsed = time.monotonic() - started
    assert result["checks"][0]["value"]["count"] == 3
    assert elapsed < 1.0, elapsed


def test_check_mode_same_result(app_log):
    real = run_module("log_check", {"logs": [{"path": str(app_log)}]})
    checked = run_module("log_check", {"logs": [{"path": str(app_log)}]}, check_mode=True)
    assert checked["changed"] is False
    assert checked["checks"] == real["checks"]


def test_bad_input_fails(tmp_path, app_log):
    with pytest.raises(ModuleFailed, match="invalid regex 'ERROR\\(' in patterns\\[0\\]"):
        run_module("log_check", {"logs": [{"path": str(app_log), "patterns": [{"regex": "ERROR("}]}]})
    with pytest.raises(ModuleFailed, match="since_hours must be positive"):
        run_module("log_check", {"logs": [{"path": str(app_log)}], "since_hours": 0})
    with pytest.raises(ModuleFailed, match="two logs are named 'app'"):
        run_module("log_check", {"logs": [{"path": str(app_log)}, {"path": str(tmp_path / "x" / "app.log")}]})
    # A directory named like a log is not a file: the log is missing, not a crash.
    directory = tmp_path / "dir.log"
    directory.mkdir()
    result = run_module("log_check", {"logs": [{"path": str(directory)}]})
    assert result["checks"][0]["value"]["missing"] is True


@pytest.mark.docker
def test_scan_runs_inside_a_minimal_container(app_log):
    """log_scan needs only python3: count the same log inside the bare Debian image."""
    import uuid

    import docker

    client = docker.from_env(timeout=60)
    code = ("import json; from ansible_collections.runbook.ops.plugins.module_utils.host.log_runner import check_logs; "
            "print(json.dumps(check_logs({'logs': [{'path': '/logs/app.log'}], 'since_hours': 24, "
            "'sample_lines': 1})))")
    container = client.containers.run(
        "runbook-ops/debian12-python:1", ["python3", "-c", code], detach=True,
        name="rbops-logcheck-%s" % uuid.uuid4().hex[:10], labels={"runbook.ops.test": "1"},
        volumes={"/work/main": {"bind": "/work/main", "mode": "ro"},
                 str(app_log.parent): {"bind": "/logs", "mode": "ro"}},
        environment={"PYTHONPATH": "/work/main/collection", "TZ": time.strftime("%Z") or "UTC"})
    try:
        exit_code = container.wait(timeout=60)["StatusCode"]
        output = container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)
        client.close()
    assert exit_code == 0, output
    result = json.loads(output)
    assert result["checks"][0]["name"] == "log.app.error"
    assert result["checks"][0]["value"]["count"] == 12
    assert result["status"] == "warning"
