"""Retries of one endpoint (a fake fetcher, no I/O), and the names other code imports from probe_runner."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.http import errors_plan, http_client, probe_plan, probe_runner


def endpoint(**overrides):
    raw = {"name": "api", "url": "http://127.0.0.1:8000/health"}
    raw.update(overrides)
    return probe_plan.normalize_endpoint(raw)


# -- retries (fake fetcher, no I/O) -------------------------------------------------

def test_probe_retries_until_healthy():
    answers = [{"error_kind": "refused", "error": "connection refused", "latency": 0.0},
               {"status_code": 503, "body": "", "latency": 0.01},
               {"status_code": 200, "body": "", "latency": 0.02}]
    sleeps = []
    check, metrics = probe_runner.probe(endpoint(retries=3, retry_backoff=0.2), sleep=sleeps.append, fetcher=lambda ep: answers.pop(0))
    assert check["status"] == "ok" and check["value"]["attempts"] == 3
    assert sleeps == [0.2, 0.4]
    assert metrics['http_up{endpoint="api"}'] == 1.0


def test_probe_reports_last_failure_after_all_retries():
    calls = []

    def fetcher(ep):
        calls.append(1)
        return {"status_code": 500, "body": "", "latency": 0.01}

    check, _rest = probe_runner.probe(endpoint(retries=2, retry_backoff=0), sleep=lambda s: None, fetcher=fetcher)
    assert len(calls) == 3 and check["value"]["attempts"] == 3 and check["message"] == "HTTP 500, expected [200]"


def test_slow_but_correct_answers_are_not_retried():
    calls = []

    def fetcher(ep):
        calls.append(1)
        return {"status_code": 200, "body": "", "latency": 5.0}

    check, _rest = probe_runner.probe(endpoint(retries=3, latency_critical=1), sleep=lambda s: None, fetcher=fetcher)
    assert len(calls) == 1 and check["status"] == "critical"


def test_names_other_code_imports_stay_here():
    """docker/k8s rollouts and maintenance_mode import these from probe_runner."""
    assert probe_runner.normalize_endpoints is probe_plan.normalize_endpoints
    assert probe_runner.normalize_endpoint is probe_plan.normalize_endpoint
    assert probe_runner.EndpointError is probe_plan.EndpointError
    assert probe_runner.evaluate is probe_plan.evaluate
    assert probe_runner.fetch is http_client.fetch
    assert probe_runner.classify_error is errors_plan.classify_error
    assert callable(probe_runner.probe_all)
