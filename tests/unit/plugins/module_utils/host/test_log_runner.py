"""Pure parts of log_check: timestamp formats, backwards reading, counting, input validation."""

from __future__ import annotations

import calendar
import io
import os
import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.host import log_runner as ls

NOW = float(calendar.timegm((2026, 11, 22, 12, 0, 0, 0, 0, 0)))


def local(y, mo, d, h, mi, s):
    return time.mktime((y, mo, d, h, mi, s, 0, 0, -1))


def patterns(*specs):
    return ls.normalize_patterns([{"name": n, "regex": r, "warning": w, "critical": c} for n, r, w, c in specs], "t")


@pytest.mark.parametrize("line, expected", [
    ("2026-11-22T08:12:01Z GET /", calendar.timegm((2026, 11, 22, 8, 12, 1))),
    ("2026-11-22T08:12:01.250+01:00 x", calendar.timegm((2026, 11, 22, 7, 12, 1)) + 0.25),
    ("2026-11-22 08:12:01-0230 x", calendar.timegm((2026, 11, 22, 10, 42, 1))),
    ("2026-11-22T08:12:01.123456789Z", calendar.timegm((2026, 11, 22, 8, 12, 1)) + 0.123456789),
    ("[2026-11-22 08:12:01] ERROR x", local(2026, 11, 22, 8, 12, 1)),
    ("2026-11-22 08:12:01,123 ERROR app: boom", local(2026, 11, 22, 8, 12, 1) + 0.123),
    ("Nov 22 08:12:01 host sshd[1]: x", local(2026, 11, 22, 8, 12, 1)),
    ("Nov  2 08:12:01 host cron[2]: x", local(2026, 11, 2, 8, 12, 1)),
    ('10.0.0.1 - - [22/Nov/2026:08:12:01 +0000] "GET / HTTP/1.1" 200 1', calendar.timegm((2026, 11, 22, 8, 12, 1))),
    ('{"timestamp": "2026-11-22T08:12:01Z", "level": "ERROR"}', calendar.timegm((2026, 11, 22, 8, 12, 1))),
    ('{"level": "ERROR", "ts": 1795000000.5}', 1795000000.5),
    ('{"time": 1795000000123}', 1795000000.123),
    ('{"@timestamp": "1795000000"}', 1795000000.0),
    ('level=error ts=2026-11-22T08:12:01.5Z caller=main.go:12 msg="boom"', calendar.timegm((2026, 11, 22, 8, 12, 1)) + 0.5),
    ('time="2026-11-22T08:12:01Z" level=warning', calendar.timegm((2026, 11, 22, 8, 12, 1))),
])
def test_parse_timestamp_formats(line, expected):
    assert ls.parse_timestamp(line, NOW) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("line", [
    "Traceback (most recent call last):",
    '  File "app.py", line 3, in run',
    "ValueError: bad input",
    "12345 not a date",
    "2026-13-40 08:12:01 bad month",
    '{"msg": "no time here"}',
    "{not json",
    "[1, 2]",
    "Foo 22 08:12:01 not a month",
    "retry=3 time=later",
    "",
])
def test_lines_without_timestamps(line):
    assert ls.parse_timestamp(line, NOW) is None


def test_syslog_in_january_reads_december_as_last_year():
    january = float(calendar.timegm((2027, 1, 1, 0, 30, 0)))
    assert time.localtime(ls.parse_timestamp("Dec 31 23:50:00 h x", january)).tm_year == 2026


def test_json_time_fields_are_configurable():
    line = '{"when": "2026-11-22T08:00:00Z", "time": "garbage"}'
    assert ls.parse_timestamp(line, NOW) is None
    assert ls.parse_timestamp(line, NOW, ["time", "when"]) == calendar.timegm((2026, 11, 22, 8, 0, 0))


def _newest_first(text):
    return list(reversed(text.splitlines()))


def _iso(seconds_ago):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


LOG = "\n".join([
    _iso(7200) + " ERROR too old",
    "ERROR continuation of the old entry",
    _iso(3000) + " INFO inside",
    _iso(1800) + " ERROR first",
    "Traceback: ERROR inside the trace",
    _iso(60) + " ERROR second",
])


def test_scan_reverse_counts_window_and_inherits_entry_time():
    tally = ls.Tally(patterns(("error", "ERROR", 10, None)), 5, reverse=True)
    outcome = ls.scan_reverse(_newest_first(LOG), tally, NOW - 3600, NOW)
    assert outcome["stopped"] is True and outcome["timestamps"] is True
    assert tally.counts == {"error": 3}
    samples = [line for _stamp, _where, line in sorted(tally.samples["error"])]
    assert samples == [_iso(1800) + " ERROR first", "Traceback: ERROR inside the trace", _iso(60) + " ERROR second"]


def test_scan_forward_agrees_with_scan_reverse():
    tally = ls.Tally(patterns(("error", "ERROR", 10, None)), 5)
    outcome = ls.scan_forward(LOG.splitlines(), tally, NOW - 3600, NOW)
    assert outcome["timestamps"] is True
    assert tally.counts == {"error": 3}
    samples = [line for _stamp, _where, line in sorted(tally.samples["error"])]
    assert samples[-1] == _iso(60) + " ERROR second"


def test_scan_reverse_stops_at_the_first_old_entry_without_reading_further():
    consumed = []

    def lines():
        for line in _newest_first(LOG * 1) + ["never read"] * 1000:
            consumed.append(line)
            yield line

    tally = ls.Tally(patterns(("error", "ERROR", None, None)), 5, reverse=True)
    ls.scan_reverse(lines(), tally, NOW - 3600, NOW)
    assert len(consumed) == 6  # up to and including the 7200 s old line


def test_slightly_out_of_order_entries_are_tolerated():
    text = "\n".join([_iso(4000) + " ERROR old", _iso(3500) + " ERROR in", _iso(3700) + " ERROR late write",
                      _iso(3400) + " ERROR in"])
    tally = ls.Tally(patterns(("error", "ERROR", None, None)), 5, reverse=True)
    outcome = ls.scan_reverse(_newest_first(text), tally, NOW - 3600, NOW)
    # 3700 s ago is older than the window but within the slack: it neither counts nor stops the scan.
    assert tally.counts == {"error": 2}
    assert outcome["stopped"] is True  # stopped at 4000 s ago


def test_lines_above_the_first_timestamp_count_with_it():
    text = "ERROR preamble\n" + _iso(60) + " INFO started"
    tally = ls.Tally(patterns(("error", "ERROR", None, None)), 5, reverse=True)
    ls.scan_reverse(_newest_first(text), tally, NOW - 3600, NOW)
    assert tally.counts == {"error": 0}  # pending until the caller commits (scan_file does)
    tally.commit(NOW - 3600)
    assert tally.counts == {"error": 1}
    forward = ls.Tally(patterns(("error", "ERROR", None, None)), 5)
    ls.scan_forward(text.splitlines(), forward, NOW - 3600, NOW)
    assert forward.counts == {"error": 1}


def test_samples_keep_the_newest_lines_only():
    text = "\n".join(_iso(3000 - i) + " ERROR n%d" % i for i in range(100))
    tally = ls.Tally(patterns(("error", "ERROR", None, None)), 3, reverse=True)
    ls.scan_reverse(_newest_first(text), tally, NOW - 3600, NOW)
    assert tally.counts == {"error": 100}
    assert [line[-3:] for _stamp, _where, line in sorted(tally.samples["error"])[-3:]] == ["n97", "n98", "n99"]


class CountingReader(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


@pytest.mark.parametrize("block_size", [1, 3, 7, 64, 65536])
def test_iter_reverse_lines(block_size):
    data = "first\r\nsecond\n\nthird ü\nlast".encode()
    lines = list(ls.iter_reverse_lines(io.BytesIO(data), len(data), block_size=block_size))
    assert lines == ["last", "third ü", "", "second", "first"]
    with_newline = data + b"\n"
    assert list(ls.iter_reverse_lines(io.BytesIO(with_newline), len(with_newline), block_size=block_size)) == lines
    assert list(ls.iter_reverse_lines(io.BytesIO(b""), 0, block_size=block_size)) == []


def test_iter_reverse_lines_max_bytes_drops_the_cut_line():
    data = b"aaaa\nbbbb\ncccc\n"
    assert list(ls.iter_reverse_lines(io.BytesIO(data), len(data), max_bytes=8, block_size=3)) == ["cccc"]


def test_backwards_read_touches_only_the_end_of_a_big_log():
    old = (_iso(10 * 86400) + " ERROR old " + "x" * 100 + "\n").encode() * 50000  # about 6 MB
    recent = "".join(_iso(60 - i) + " ERROR recent\n" for i in range(3)).encode()
    handle = CountingReader(old + recent)
    tally = ls.Tally(patterns(("error", "ERROR", None, None)), 5, reverse=True)
    ls.scan_reverse(ls.iter_reverse_lines(handle, len(old + recent)), tally, NOW - 86400, NOW)
    assert tally.counts == {"error": 3}
    assert handle.bytes_read <= 2 * ls.BLOCK_SIZE


def test_count_status_is_more_than():
    assert ls.count_status(10, 10, None) == "ok"
    assert ls.count_status(11, 10, None) == "warning"
    assert ls.count_status(21, 10, 20) == "critical"
    assert ls.count_status(0, 0, None) == "ok"
    assert ls.count_status(1, 0, None) == "warning"


def test_normalize_patterns():
    default = ls.normalize_patterns(None, "log app")
    assert [(p["name"], p["regex"], p["warning"]) for p in default] == [("error", "ERROR", 10)]
    named = ls.normalize_patterns([{"regex": r"security_event\b"}, {"regex": "x", "ignore_case": True}], "w")
    assert [p["name"] for p in named] == ["security_event_b", "x"]
    assert named[1]["compiled"].search("X")
    with pytest.raises(ls.LogScanError, match=r"log app: invalid regex '\(' in patterns\[0\]"):
        ls.normalize_patterns([{"regex": "("}], "log app")
    with pytest.raises(ls.LogScanError, match="two patterns are named 'e'"):
        ls.normalize_patterns([{"name": "e", "regex": "a"}, {"name": "e", "regex": "b"}], "w")
    with pytest.raises(ls.LogScanError, match="above critical"):
        ls.normalize_patterns([{"regex": "a", "warning": 5, "critical": 1}], "w")
    with pytest.raises(ls.LogScanError, match="needs a regex"):
        ls.normalize_patterns([{"name": "a"}], "w")


def test_default_log_name():
    assert ls.default_log_name("/var/log/finchat/app.log") == "app"
    assert ls.default_log_name("/var/log/finchat/*.log") == "finchat"
    assert ls.default_log_name("/var/log/syslog") == "syslog"
    assert ls.default_log_name("logs/security.log") == "security"
    assert ls.default_log_name("/var/log/nginx/access.log.1.gz") == "access.log.1"


def test_normalize_logs_defaults_and_errors():
    targets = ls.normalize_logs({"logs": [{"path": "/x/app.log", "since_hours": 2, "missing": "ok"}],
                                 "since_hours": 24, "missing": "warning"})
    assert targets[0]["name"] == "app" and targets[0]["since_hours"] == 2.0 and targets[0]["missing"] == "ok"
    with pytest.raises(ls.LogScanError, match="at least one"):
        ls.normalize_logs({"logs": []})
    with pytest.raises(ls.LogScanError, match="needs a path"):
        ls.normalize_logs({"logs": [{"name": "x"}]})
    with pytest.raises(ls.LogScanError, match="since_hours must be positive"):
        ls.normalize_logs({"logs": [{"path": "/a"}], "since_hours": -1})


def test_rotated_siblings_stop_at_old_or_missing():
    files = {"/l/a.log.1": NOW - 100, "/l/a.log.2.gz": NOW - 5000, "/l/a.log.3.gz": NOW - 90000,
             "/l/a.log.4.gz": NOW - 100000}
    found = ls.rotated_siblings("/l/a.log", NOW - 3600 * 2, files.__contains__, files.__getitem__)
    assert found == ["/l/a.log.1", "/l/a.log.2.gz"]
    assert ls.rotated_siblings("/l/b.log", NOW, files.__contains__, files.__getitem__) == []


def test_scan_file_unreadable_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "app.log"
    path.write_text(_iso(1) + " ERROR x\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(ls.LogScanError, match="cannot read log file .*app.log: Permission denied"):
        ls.scan_file(str(path), patterns(("error", "ERROR", None, None)), time.time() - 3600, time.time(), 5)


def test_scan_file_max_bytes_marks_truncation(tmp_path):
    path = tmp_path / "app.log"
    now = time.time()
    path.write_text("".join(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)) + " ERROR %05d\n" % i
                            for i in range(1000)))
    info = ls.scan_file(str(path), patterns(("error", "ERROR", None, None)), now - 3600, now, 2, max_bytes=1000)
    assert info["truncated"] is True
    assert 0 < info["counts"]["error"] < 1000
    target = {"name": "app", "since_hours": 1.0, "missing": "warning", "path": str(path),
              "patterns": patterns(("error", "ERROR", None, None))}
    checks, _rest = ls.evaluate_target(target, [info], 2, {})
    assert "read only the last part of" in checks[0]["message"]
    full = ls.scan_file(str(path), patterns(("error", "ERROR", None, None)), now - 3600, now, 2)
    assert full["counts"]["error"] == 1000 and full["truncated"] is False
    assert os.path.getsize(path) > 1000
