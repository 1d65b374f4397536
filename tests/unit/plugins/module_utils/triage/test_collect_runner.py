"""Collectors run concurrently; time limits, byte limits and failures are recorded, never fatal."""

from __future__ import annotations

import threading
import time

from ansible_collections.runbook.ops.plugins.module_utils.triage import collect_runner
from ansible_collections.runbook.ops.plugins.module_utils.triage.collect_runner import Box, read_tail, run_collectors, safe_name


def test_concurrent_failing_and_hung_collectors():
    release = threading.Event()

    def quick(box):
        box.add("a.txt", "hello")
        box.findings["x"] = 1

    def slow(box):
        time.sleep(0.5)
        box.add("b.txt", "slow but in time")

    def broken(box):
        raise RuntimeError("engine said no\nsecond line")

    def hung(box):
        release.wait(30)
        box.add("late.txt", "too late")

    started = time.monotonic()
    out = run_collectors([("quick", quick), ("slow", slow), ("broken", broken), ("hung", hung)], timeout=1.0,
                         workers=4, max_bytes=1000)
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 2.5
    by = {o["name"]: o for o in out}
    assert [o["name"] for o in out] == ["quick", "slow", "broken", "hung"]
    assert by["quick"]["status"] == "ok" and by["quick"]["box"].files == {"a.txt": "hello"}
    assert by["slow"]["status"] == "ok"
    assert by["broken"]["status"] == "failed" and by["broken"]["error"] == "RuntimeError: engine said no second line"
    assert by["hung"]["status"] == "timeout" and by["hung"]["box"] is None


def test_parallel_not_serial():
    def sleeper(box):
        time.sleep(0.4)
    started = time.monotonic()
    run_collectors([("s%d" % i, sleeper) for i in range(5)], timeout=5, workers=5, max_bytes=10)
    assert time.monotonic() - started < 1.2


def test_box_byte_limit_keeps_the_end_of_logs_and_the_start_of_the_rest():
    box = Box("c", 100)
    box.add("log", "x" * 50 + "END", keep_end=True)
    box.add("json", "START" + "y" * 100)
    assert box.bytes == 100
    assert box.files["log"].endswith("END")
    assert box.files["json"].startswith("START") and "truncated by runbook.ops triage" in box.files["json"]
    assert box.truncated == ["json"]
    box.close()
    box.add("after", "ignored")
    assert "after" not in box.files


def test_read_tail(tmp_path):
    path = tmp_path / "log"
    path.write_text("".join("line %d\n" % i for i in range(1000)))
    text, size, cut = read_tail(str(path), 50, 1000)
    assert cut and text.endswith("line 999\n") and not text.startswith("ine")
    text, _size, cut = read_tail(str(path), 10 ** 6, 3)
    assert cut and text == "line 997\nline 998\nline 999\n"
    text, _size, cut = read_tail(str(path), 10 ** 6, 5000)
    assert not cut and text.startswith("line 0\n")


def test_safe_names():
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert safe_name("api-1.web") == "api-1.web"
    assert safe_name("") == "unnamed" and safe_name("..") == "unnamed"


def test_reports_collector(tmp_path):
    run = tmp_path / "20261202T070000Z"
    run.mkdir()
    (run / "report.json").write_text('{"status": "critical", "summary": "s", "run": {"started": "2026-12-02T07:00:00Z"}}')
    (tmp_path / "20261202T060000Z").mkdir()
    (tmp_path / "20261202T060000Z" / "report.json").write_text("not json")
    box = Box("reports", 10 ** 6)
    collect_runner.reports_collector(str(tmp_path), 5)(box)
    assert list(box.files) == ["reports/20261202T070000Z/report.json"]
    assert [e["kind"] for e in box.events] == ["report.critical"]
