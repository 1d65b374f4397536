"""Metric names, types and HELP texts: Prometheus's conventions, checked by promtool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from utils.promtool import promtool_problems

from ansible_collections.runbook.ops.plugins.module_utils.common import result as schema
from ansible_collections.runbook.ops.plugins.plugin_utils import metric_help
from ansible_collections.runbook.ops.plugins.plugin_utils import report as rpt

ROOT = Path(__file__).resolve().parents[4]
# Names built at run time (``"load%d" % minutes``), which the source scan cannot see.
DYNAMIC = {"load1", "load5", "load15", "load1_per_cpu", "load5_per_cpu", "load15_per_cpu"}
# Keys of a metrics dict whose values are lists, not numbers: the textfile leaves them out.
NOT_NUMERIC = {"table_bloat", "index_bloat", "invalid_indexes", "unused_indexes", "duplicate_indexes"}


PLUGINS = ROOT / "plugins"
_EMITTED = (
    re.compile(r'metric_key\(\s*"([A-Za-z0-9_]+)"'),
    re.compile(r'metrics\[\s*"([A-Za-z0-9_]+)"\s*\]'),
)
_DICT_KEY = re.compile(r'"([A-Za-z0-9_]+)"\s*:')
# A dict literal of metrics: assigned to a name with "metrics" in it, or returned beside the checks.
_METRICS_DICT = re.compile(r"(metrics\b[^=]*=\s*\{|^\s*return\s+\w+,\s*\{)")


def emitted_metric_names():
    """Every metric name written literally in plugins/.

    ``metric_key("x", ...)``, ``metrics["x"] = ...``, and the keys of the dict literals of
    metrics (``metrics = {"x": ...}``, ``return checks, {"x": ...}``), over several lines too.
    """
    names = set()
    for path in PLUGINS.rglob("*.py"):
        depth = 0
        for line in path.read_text().splitlines():
            for pattern in _EMITTED:
                names.update(pattern.findall(line))
            opener = _METRICS_DICT.search(line)
            if depth == 0 and opener:
                depth = 1
                line = line[opener.end():]
            if depth:
                names.update(_DICT_KEY.findall(line))
                depth += line.count("{") - line.count("}")
                depth = max(depth, 0)
    return names


def textfile(names):
    metrics = {schema.metric_key(name, case="x"): 1 for name in names}
    res = schema.build([schema.check("a.b", schema.OK)], metrics)
    return rpt.to_prometheus(rpt.build_report({"h1": [rpt.task_entry("t", "runbook.ops.x_check", res)]}))


def test_the_catalog_passes_promtool_with_its_help_texts():
    text = textfile(metric_help.METRIC_HELP)
    assert promtool_problems(text) == ""
    assert ("# HELP runbook_ops_redis_keyspace_hits_total Successful key lookups since the Redis server started."
            in text)
    assert "# TYPE runbook_ops_redis_keyspace_hits_total counter" in text
    assert "# HELP runbook_ops_host_cpus CPUs available to the host's processes." in text


@pytest.mark.parametrize("name,kind", [
    ("redis_keyspace_hits_total", "counter"), ("container_restarts_total", "counter"),
    ("postgres_connections_used", "gauge"), ("memory_total_bytes", "gauge"), ("host_cpus", "gauge"),
])
def test_metric_type_follows_the_name(name, kind):
    assert metric_help.metric_type(name) == kind


def test_an_unknown_metric_gets_a_generic_help_line():
    assert metric_help.metric_help("brand_new", "redis_check") == "runbook.ops metric brand_new (module redis_check)."


def test_the_catalog_names_only_metrics_the_plugins_emit():
    stale = set(metric_help.METRIC_HELP) - emitted_metric_names() - DYNAMIC
    assert not stale, "METRIC_HELP explains metrics no module emits: %s" % sorted(stale)


def test_docs_list_every_metric_of_the_catalog_with_its_type():
    docs = (ROOT / "docs" / "reports.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z0-9_]+)(?:\{[^`]*\})?` \| (counter|gauge) \|", docs, re.M))
    assert set(rows) == set(metric_help.METRIC_HELP)
    assert all(rows[name] == metric_help.metric_type(name) for name in rows)


def test_every_metric_the_plugins_emit_is_named_by_prometheus_conventions():
    names = emitted_metric_names()
    # The scan itself still finds what it should.
    assert {"redis_keyspace_hits_total", "http_latency_seconds", "postgres_cache_hit_ratio", "disk_used_ratio",
            "backup_size_bytes", "postgres_oldest_idle_in_transaction_seconds", "unused_indexes"} <= names, sorted(names)
    assert len(names) > 60
    assert promtool_problems(textfile(names | DYNAMIC)) == ""
    # A share is a ratio from 0 to 1 (Prometheus's base unit), never a percentage.
    assert not sorted(name for name in names | set(metric_help.METRIC_HELP) if "percent" in name)
