"""Unit tests for plugins/plugin_utils/report.py: entries, the run report and its renderers."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

import pytest
from utils.promtool import promtool_problems

from ansible_collections.runbook.ops.plugins.module_utils.common import result as schema
from ansible_collections.runbook.ops.plugins.plugin_utils import report as rpt

# One sample line of the Prometheus text format: name{labels} value
PROM_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
    r'(-?[0-9.eE+-]+|[+-]Inf|NaN)$'
)
PROM_META = re.compile(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$")


def redis_result(ping_ok=True, depth=3):
    checks = [
        schema.check("redis.ping", schema.OK, "PONG") if ping_ok
        else schema.down("redis.ping", "connection refused"),
        schema.threshold_check("redis.queue.celery", depth, 100, 1000, what="queue celery"),
    ]
    metrics = {schema.metric_key("redis_up"): 1 if ping_ok else 0,
               schema.metric_key("redis_queue_length", queue="celery"): depth}
    return schema.build(checks, metrics, subject="redis")


def http_result(latency=0.05):
    checks = [schema.threshold_check("http.api_health", latency, 1.0, 5.0, unit="s")]
    metrics = {schema.metric_key("http_latency_seconds", endpoint="api_health"): latency,
               'http_up{endpoint="a\\"b"}': True,
               "http_text": "not a number"}
    return schema.build(checks, metrics, subject="http")


def sample_report(ping_ok=False, latency=1.5):
    hosts = {
        "web-01": [rpt.task_entry("Check HTTP", "runbook.ops.http_check", http_result(latency), duration=0.4)],
        "cache-01": [rpt.task_entry("Check Redis", "runbook.ops.redis_check", redis_result(ping_ok), duration=0.2)],
    }
    return rpt.build_report(hosts, playbook="health_check.yml", started=1_700_000_000.0,
                            finished=1_700_000_012.5, ansible_version="2.19.0", check_mode=False)


# -- entries -------------------------------------------------------------------------------

def test_task_entry_keeps_checks_metrics_and_summary_of_a_schema_result():
    res = redis_result(ping_ok=False)
    entry = rpt.task_entry("Check Redis", "runbook.ops.redis_check", res, duration=0.25)
    assert entry["module"] == "redis_check"
    assert entry["status"] == "critical"
    assert entry["severity"] == "P0"
    assert entry["summary"] == res["summary"]
    assert [c["name"] for c in entry["checks"]] == ["redis.ping", "redis.queue.celery"]
    assert entry["metrics"]['redis_queue_length{queue="celery"}'] == 3
    assert entry["duration_seconds"] == 0.25


def test_unreachable_host_becomes_a_p0_host_reachable_check():
    entry = rpt.task_entry("Check Redis", "runbook.ops.redis_check",
                           {"msg": "Failed to connect to the host via ssh", "unreachable": True}, unreachable=True)
    assert entry["checks"][0]["name"] == "host.reachable"
    assert entry["checks"][0]["status"] == "critical"
    assert entry["checks"][0]["severity"] == "P0"
    assert "ssh" in entry["checks"][0]["message"]


def test_failed_task_becomes_a_task_check():
    entry = rpt.task_entry("Check Postgres", "runbook.ops.postgres_check",
                           {"failed": True, "msg": "port must be an int"}, failed=True)
    assert entry["checks"][0]["name"] == "task.Check Postgres"
    assert entry["checks"][0]["status"] == "critical"
    assert entry["checks"][0]["message"] == "port must be an int"


def test_module_error_hidden_by_failed_when_is_still_reported():
    result = {"failed": False, "failed_when_result": False, "msg": "endpoints[0].url is not a URL"}
    entry = rpt.task_entry("HTTP endpoints", "runbook.ops.http_check", result)
    assert entry["status"] == "critical"
    assert entry["checks"][0]["name"] == "task.HTTP endpoints"


def test_failed_schema_result_keeps_its_checks_and_adds_the_task_failure():
    res = dict(redis_result(), failed=True, msg="boom")
    entry = rpt.task_entry("Check Redis", "runbook.ops.redis_check", res, failed=True)
    names = [c["name"] for c in entry["checks"]]
    assert names == ["redis.ping", "redis.queue.celery", "task.Check Redis"]
    assert entry["status"] == "critical"


@pytest.mark.parametrize("action,result,failed", [
    ("ansible.builtin.debug", {"msg": "hello"}, False),
    ("runbook.ops.http_check", {"skipped": True, "skip_reason": "Conditional result was False"}, False),
    ("runbook.ops.health_gate", {"failed": True, "msg": "health gate: 1 check", "failures": ["x"]}, True),
    ("ansible.builtin.set_fact", {"ansible_facts": {"x": 1}}, False),
])
def test_entries_left_out(action, result, failed):
    assert rpt.task_entry("t", action, result, failed=failed) is None


def test_a_gate_that_errors_is_reported_but_its_verdict_is_not():
    verdict = {"failed": True, "msg": "health gate: 1 check", "failures": ["critical redis.ping: refused"]}
    assert rpt.task_entry("Gate", "runbook.ops.health_gate", verdict, failed=True) is None
    error = {"failed": True, "msg": "fail_on must be one of critical, warning, got 'x'"}
    entry = rpt.task_entry("Gate", "runbook.ops.health_gate", error, failed=True)
    assert entry["checks"][0]["name"] == "task.Gate" and entry["status"] == "critical"


def test_no_log_result_is_kept_without_content():
    censored = {"censored": "the output has been hidden due to the fact that 'no_log: true' was specified",
                "changed": False}
    entry = rpt.task_entry("Secret", "runbook.ops.redis_check", censored)
    assert entry["checks"] == []
    assert entry["summary"] == "result hidden by no_log"
    failed = rpt.task_entry("Secret", "runbook.ops.redis_check", dict(censored, failed=True), failed=True)
    assert failed["status"] == "critical"
    assert "hidden" in failed["checks"][0]["message"]


# -- report ----------------------------------------------------------------------------------

def test_build_report_worst_status_severity_and_failure_lines():
    report = sample_report(ping_ok=False, latency=1.5)
    assert report["schema"] == "runbook.ops/report/v1"
    assert report["status"] == "critical"
    assert report["severity"] == "P0"
    assert report["run"] == {"playbook": "health_check.yml", "started": "2023-11-14T22:13:20.000+00:00",
                             "finished": "2023-11-14T22:13:32.500+00:00", "duration_seconds": 12.5,
                             "ansible_version": "2.19.0", "check_mode": False}
    assert report["hosts"]["cache-01"]["status"] == "critical"
    assert report["hosts"]["cache-01"]["severity"] == "P0"
    assert report["hosts"]["web-01"]["status"] == "warning"
    assert report["hosts"]["web-01"]["severity"] == "P2"
    assert report["failures"] == [
        "cache-01: critical redis.ping: connection refused",
        "web-01: warning http.api_health: http.api_health at 1.5s (warning >= 1s)",
    ]
    assert report["counts"] == {"ok": 1, "warning": 1, "critical": 1}
    assert report["summary"] == "critical (P0): 3 checks on 2 hosts: 1 critical, 1 warning, 1 ok"


def test_all_ok_report_is_p3():
    report = sample_report(ping_ok=True, latency=0.05)
    assert (report["status"], report["severity"], report["failures"]) == ("ok", "P3", [])


def test_empty_report():
    report = rpt.build_report({})
    assert report["status"] == "ok" and report["hosts"] == {} and report["failures"] == []


# -- renderers -------------------------------------------------------------------------------

def test_to_json_round_trips():
    report = sample_report()
    assert json.loads(rpt.to_json(report)) == json.loads(json.dumps(report))


def test_to_json_handles_odd_values():
    text = rpt.to_json({"a": float("inf"), "b": (1, 2), "c": {3}, "d": Exception("x")})
    data = json.loads(text)
    assert data["a"] == "inf" and data["b"] == [1, 2] and data["c"] == [3] and data["d"] == "x"


def test_markdown_headline_meaning_failures_and_tables():
    text = rpt.to_markdown(sample_report(ping_ok=False, latency=1.5))
    lines = text.splitlines()
    assert lines[0] == "# Health report: CRITICAL (P0)"
    assert "respond within 15 minutes" in text
    assert "## Needs attention" in text
    assert "- cache-01: critical redis.ping: connection refused" in lines
    # the non-ok table comes before the count of ok checks, and the full list after it
    cache = text.index("## cache-01")
    row = text.index("| critical | P0 | redis.ping | connection refused |", cache)
    ok_line = text.index("1 check ok.", cache)
    full = text.index("<details><summary>All 2 checks on cache-01", cache)
    assert row < ok_line < full
    assert "0 checks ok." in text  # web-01: its only check is a warning


def test_markdown_all_ok_says_next_business_day():
    text = rpt.to_markdown(sample_report(ping_ok=True, latency=0.05))
    assert text.startswith("# Health report: OK (P3)")
    assert "next business day" in text
    assert "Needs attention" not in text
    assert "2 checks ok (nothing needs attention)." in text


def test_markdown_escapes_pipes():
    res = schema.build([schema.check("x.y", schema.CRITICAL, "a|b")])
    report = rpt.build_report({"h": [rpt.task_entry("t", "runbook.ops.x_check", res)]})
    assert "a\\|b" in rpt.to_markdown(report)


def test_junit_suites_cases_failures_and_time():
    report = sample_report(ping_ok=False, latency=1.5)
    root = ET.fromstring(rpt.to_junit(report))
    assert root.tag == "testsuites"
    assert root.get("tests") == "3" and root.get("failures") == "1"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["cache-01", "web-01"]
    cache = suites["cache-01"]
    assert cache.get("tests") == "2" and cache.get("failures") == "1" and cache.get("skipped") == "0"
    assert float(cache.get("time")) == pytest.approx(0.2, abs=0.002)
    cases = {c.get("name"): c for c in cache.findall("testcase")}
    failure = cases["redis.ping"].find("failure")
    assert failure is not None and failure.get("message") == "connection refused"
    assert "P0" in failure.get("type")
    assert cases["redis.queue.celery"].find("failure") is None
    assert float(cases["redis.ping"].get("time")) == pytest.approx(0.1, abs=0.002)
    # a warning is not a failure by default, but its text is kept
    web = suites["web-01"]
    assert web.get("failures") == "0"
    assert "warning" in web.find("testcase/system-out").text
    assert root.findall(".//skipped") == []


def test_junit_warning_as_failure():
    root = ET.fromstring(rpt.to_junit(sample_report(ping_ok=False, latency=1.5), warning_as_failure=True))
    assert root.get("failures") == "2"
    web = [s for s in root.findall("testsuite") if s.get("name") == "web-01"][0]
    assert web.find("testcase/failure").get("type") == "warning P2"


def test_prometheus_format_and_contents():
    report = sample_report(ping_ok=False, latency=1.5)
    text = rpt.to_prometheus(report)
    assert text.endswith("\n")
    families = []
    for line in text.splitlines():
        if line.startswith("#"):
            assert PROM_META.match(line), line
            if line.startswith("# TYPE"):
                families.append(line.split()[2])
        else:
            assert PROM_SAMPLE.match(line), line
    assert len(families) == len(set(families)), "each family's HELP/TYPE appears once"
    assert 'runbook_ops_check_status{host="cache-01",check="redis.ping"} 2' in text
    assert 'runbook_ops_check_status{host="cache-01",check="redis.queue.celery"} 0' in text
    assert 'runbook_ops_check_status{host="web-01",check="http.api_health"} 1' in text
    assert "runbook_ops_run_severity 0" in text
    assert "runbook_ops_run_status 2" in text
    assert "runbook_ops_run_duration_seconds 12.5" in text
    assert "runbook_ops_run_timestamp_seconds 1700000012.5" in text
    assert 'runbook_ops_redis_queue_length{host="cache-01",queue="celery"} 3' in text
    assert 'runbook_ops_http_latency_seconds{host="web-01",endpoint="api_health"} 1.5' in text
    assert 'runbook_ops_http_up{host="web-01",endpoint="a\\"b"} 1' in text
    assert "http_text" not in text


def test_prometheus_samples_of_one_family_are_grouped():
    text = rpt.to_prometheus(sample_report())
    names = [line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")]
    seen = []
    for name in names:
        if not seen or seen[-1] != name:
            assert name not in seen, "family %s is split" % name
            seen.append(name)


def test_prometheus_host_label_from_the_inventory_wins():
    res = schema.build([schema.check("a.b", schema.OK)], {'x_total{host="other",k="v"}': 2})
    report = rpt.build_report({"h1": [rpt.task_entry("t", "runbook.ops.x_check", res)]})
    assert 'runbook_ops_x_total{host="h1",k="v"} 2' in rpt.to_prometheus(report)


def test_prometheus_types_a_total_as_a_counter_and_a_level_as_a_gauge():
    res = schema.build([schema.check("redis.ping", schema.OK)], {
        "redis_keyspace_hits_total": 10, "redis_connected_clients": 3,
        schema.metric_key("container_restarts_total", container="api"): 1})
    text = rpt.to_prometheus(rpt.build_report({"h1": [rpt.task_entry("t", "runbook.ops.redis_check", res)]}))
    types = dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE"))
    assert types["runbook_ops_redis_keyspace_hits_total"] == "counter"
    assert types["runbook_ops_container_restarts_total"] == "counter"
    assert types["runbook_ops_redis_connected_clients"] == "gauge"
    assert types["runbook_ops_check_status"] == "gauge"
    assert set(types.values()) == {"counter", "gauge"}
    helps = [line for line in text.splitlines() if line.startswith("# HELP")]
    assert len(helps) == len(types)


def test_prometheus_textfile_passes_promtool():
    # Hostile label values (quotes, backslashes, newlines) in host names, check names and metric labels.
    res = schema.build([schema.check('odd "name" \\ with\nnewline', schema.WARNING)],
                       {schema.metric_key("redis_db_keys", db='a"b\\c\nd'): 4, "redis_evicted_keys_total": 7})
    hosts = {'host "x"\\y': [rpt.task_entry("t", "runbook.ops.redis_check", res)],
             "cache-01": [rpt.task_entry("t", "runbook.ops.redis_check", redis_result(False))],
             "web-01": [rpt.task_entry("t", "runbook.ops.http_check", http_result(1.5))]}
    report = rpt.build_report(hosts, playbook="health_check.yml", started=1_700_000_000.0,
                              finished=1_700_000_012.5, ansible_version="2.19.0", check_mode=False)
    text = rpt.to_prometheus(report)
    assert 'db="a\\"b\\\\c\\nd"' in text
    assert promtool_problems(text) == ""


@pytest.mark.parametrize("key,expected", [
    ("up", {"name": "up", "labels": []}),
    ('lat{a="1",b="x\\"y"}', {"name": "lat", "labels": [("a", "1"), ("b", 'x\\"y')]}),
    ("bad name", None),
    ('x{a=1}', None),
])
def test_parse_metric_key(key, expected):
    assert rpt.parse_metric_key(key) == expected


# -- files -------------------------------------------------------------------------------------

def test_write_report_writes_four_files_and_latest(tmp_path):
    report = sample_report()
    paths = rpt.write_report(report, str(tmp_path / "reports"), 1_700_000_000.0)
    run_dir = tmp_path / "reports" / "20231114T221320.000000Z"
    assert paths["directory"] == str(run_dir)
    assert sorted(os.listdir(run_dir)) == ["junit.xml", "report.json", "report.md", "runbook_ops.prom"]
    assert json.loads((run_dir / "report.json").read_text())["status"] == "critical"
    ET.parse(str(run_dir / "junit.xml"))
    latest = tmp_path / "reports" / "latest"
    assert latest.is_symlink() and os.readlink(latest) == run_dir.name
    # a second run moves latest
    second = rpt.write_report(report, str(tmp_path / "reports"), 1_700_000_100.0)
    assert os.path.realpath(latest) == second["directory"]
    assert not [n for n in os.listdir(tmp_path / "reports") if n.startswith(".")]
