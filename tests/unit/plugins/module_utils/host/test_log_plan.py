"""Pure parts of log_check: timestamp formats, counting in a window, verdicts."""

from __future__ import annotations

import calendar
import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.host import log_plan

NOW = float(calendar.timegm((2026, 11, 22, 12, 0, 0, 0, 0, 0)))


def local(y, mo, d, h, mi, s):
    return time.mktime((y, mo, d, h, mi, s, 0, 0, -1))


def patterns(*specs):
    return log_plan.normalize_patterns([{"name": n, "regex": r, "warning": w, "critical": c} for n, r, w, c in specs], "t")


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
    assert log_plan.parse_timestamp(line, NOW) == pytest.approx(expected, abs=1e-3)


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
    assert log_plan.parse_timestamp(line, NOW) is None


def test_syslog_in_january_reads_december_as_last_year():
    january = float(calendar.timegm((2027, 1, 1, 0, 30, 0)))
    assert time.localtime(log_plan.parse_timestamp("Dec 31 23:50:00 h x", january)).tm_year == 2026


def test_json_time_fields_are_configurable():
    line = '{"when": "2026-11-22T08:00:00Z", "time": "garbage"}'
    assert log_plan.parse_timestamp(line, NOW) is None
    assert log_plan.parse_timestamp(line, NOW, ["time", "when"]) == calendar.timegm((2026, 11, 22, 8, 0, 0))


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
    tally = log_plan.Tally(patterns(("error", "ERROR", 10, None)), 5, reverse=True)
    outcome = log_plan.scan_reverse(_newest_first(LOG), tally, NOW - 3600, NOW)
    assert outcome["stopped"] is True and outcome["timestamps"] is True
    assert tally.counts == {"error": 3}
    samples = [line for _stamp, _where, line in sorted(tally.samples["error"])]
    assert samples == [_iso(1800) + " ERROR first", "Traceback: ERROR inside the trace", _iso(60) + " ERROR second"]


def test_scan_forward_agrees_with_scan_reverse():
    tally = log_plan.Tally(patterns(("error", "ERROR", 10, None)), 5)
    outcome = log_plan.scan_forward(LOG.splitlines(), tally, NOW - 3600, NOW)
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

    tally = log_plan.Tally(patterns(("error", "ERROR", None, None)), 5, reverse=True)
    log_plan.scan_reverse(lines(), tally, NOW - 3600, NOW)
    assert len(consumed) == 6  # up to and including the 7200 s old line


def test_slightly_out_of_order_entries_are_tolerated():
    text = "\n".join([_iso(4000) + " ERROR old", _iso(3500) + " ERROR in", _iso(3700) + " ERROR late write",
                      _iso(3400) + " ERROR in"])
    tally = log_plan.Tally(patterns(("error", "ERROR", None, None)), 5, reverse=True)
    outcome = log_plan.scan_reverse(_newest_first(text), tally, NOW - 3600, NOW)
    # 3700 s ago is older than the window but within the slack: it neither counts nor stops the scan.
    assert tally.counts == {"error": 2}
    assert outcome["stopped"] is True  # stopped at 4000 s ago


def test_lines_above_the_first_timestamp_count_with_it():
    text = "ERROR preamble\n" + _iso(60) + " INFO started"
    tally = log_plan.Tally(patterns(("error", "ERROR", None, None)), 5, reverse=True)
    log_plan.scan_reverse(_newest_first(text), tally, NOW - 3600, NOW)
    assert tally.counts == {"error": 0}  # pending until the caller commits (scan_file does)
    tally.commit(NOW - 3600)
    assert tally.counts == {"error": 1}
    forward = log_plan.Tally(patterns(("error", "ERROR", None, None)), 5)
    log_plan.scan_forward(text.splitlines(), forward, NOW - 3600, NOW)
    assert forward.counts == {"error": 1}


def test_samples_keep_the_newest_lines_only():
    text = "\n".join(_iso(3000 - i) + " ERROR n%d" % i for i in range(100))
    tally = log_plan.Tally(patterns(("error", "ERROR", None, None)), 3, reverse=True)
    log_plan.scan_reverse(_newest_first(text), tally, NOW - 3600, NOW)
    assert tally.counts == {"error": 100}
    assert [line[-3:] for _stamp, _where, line in sorted(tally.samples["error"])[-3:]] == ["n97", "n98", "n99"]


def test_count_status_is_more_than():
    assert log_plan.count_status(10, 10, None) == "ok"
    assert log_plan.count_status(11, 10, None) == "warning"
    assert log_plan.count_status(21, 10, 20) == "critical"
    assert log_plan.count_status(0, 0, None) == "ok"
    assert log_plan.count_status(1, 0, None) == "warning"


def test_normalize_patterns():
    default = log_plan.normalize_patterns(None, "log app")
    assert [(p["name"], p["regex"], p["warning"]) for p in default] == [("error", "ERROR", 10)]
    named = log_plan.normalize_patterns([{"regex": r"security_event\b"}, {"regex": "x", "ignore_case": True}], "w")
    assert [p["name"] for p in named] == ["security_event_b", "x"]
    assert named[1]["compiled"].search("X")
    with pytest.raises(log_plan.LogScanError, match=r"log app: invalid regex '\(' in patterns\[0\]"):
        log_plan.normalize_patterns([{"regex": "("}], "log app")
    with pytest.raises(log_plan.LogScanError, match="two patterns are named 'e'"):
        log_plan.normalize_patterns([{"name": "e", "regex": "a"}, {"name": "e", "regex": "b"}], "w")
    with pytest.raises(log_plan.LogScanError, match="above critical"):
        log_plan.normalize_patterns([{"regex": "a", "warning": 5, "critical": 1}], "w")
    with pytest.raises(log_plan.LogScanError, match="needs a regex"):
        log_plan.normalize_patterns([{"name": "a"}], "w")


def test_default_log_name():
    assert log_plan.default_log_name("/var/log/finchat/app.log") == "app"
    assert log_plan.default_log_name("/var/log/finchat/*.log") == "finchat"
    assert log_plan.default_log_name("/var/log/syslog") == "syslog"
    assert log_plan.default_log_name("logs/security.log") == "security"
    assert log_plan.default_log_name("/var/log/nginx/access.log.1.gz") == "access.log.1"


def test_normalize_logs_defaults_and_errors():
    targets = log_plan.normalize_logs({"logs": [{"path": "/x/app.log", "since_hours": 2, "missing": "ok"}],
                                       "since_hours": 24, "missing": "warning"})
    assert targets[0]["name"] == "app" and targets[0]["since_hours"] == 2.0 and targets[0]["missing"] == "ok"
    with pytest.raises(log_plan.LogScanError, match="at least one"):
        log_plan.normalize_logs({"logs": []})
    with pytest.raises(log_plan.LogScanError, match="needs a path"):
        log_plan.normalize_logs({"logs": [{"name": "x"}]})
    with pytest.raises(log_plan.LogScanError, match="since_hours must be positive"):
        log_plan.normalize_logs({"logs": [{"path": "/a"}], "since_hours": -1})
