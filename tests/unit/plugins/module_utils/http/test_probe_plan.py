"""Pure decisions of the HTTP checks: endpoint definitions, JSON conditions, verdicts."""

from __future__ import annotations
import pytest

from ansible_collections.runbook.ops.plugins.module_utils.http import probe_plan


def endpoint(**overrides):
    raw = {"name": "api", "url": "http://127.0.0.1:8000/health"}
    raw.update(overrides)
    return probe_plan.normalize_endpoint(raw)


# -- names, secrets ------------------------------------------------------------

@pytest.mark.parametrize("url, name", [
    ("http://localhost:8000/health", "localhost_8000_health"),
    ("https://api.example.com/", "api.example.com"),
    ("http://10.0.0.1/v1/status?x=1", "10.0.0.1_v1_status"),
    ("http://[::1]:9/", "1_9"),
])
def test_default_name(url, name):
    assert probe_plan.default_name(url) == name


def test_redact_url_hides_password_only():
    assert probe_plan.redact_url("http://ops:s3cret@h:81/p?q=1") == "http://ops:********@h:81/p?q=1"
    assert probe_plan.redact_url("http://h/p") == "http://h/p"


def test_secret_values_collects_every_credential():
    found = probe_plan.secret_values({"bearer_token": "tok1", "url": "http://u:pw1234@h/",
                                      "headers": {"Authorization": "Basic abcd1234", "X-Api-Key": "key1", "Accept": "json"}})
    assert set(found) == {"tok1", "pw1234", "Basic abcd1234", "abcd1234", "key1"}
    assert probe_plan.secret_values({}) == []


# -- normalize ---------------------------------------------------------------------

def test_defaults_merge_and_endpoint_wins():
    defaults = {"timeout": 3, "headers": {"A": "1", "B": "2"}, "latency_warning": 0.5, "status_codes": [200, 204]}
    item = probe_plan.normalize_endpoint({"url": "http://h/x", "headers": {"B": "x"}, "timeout": 1, "method": "head"}, defaults)
    assert item["timeout"] == 1.0 and item["latency_warning"] == 0.5
    assert item["headers"] == {"A": "1", "B": "x"}
    assert item["method"] == "HEAD" and item["status_codes"] == [200, 204]
    assert item["name"] == "h_x" and item["retries"] == 0 and item["validate_certs"] is True


def test_condition_defaults():
    item = endpoint(json_conditions=[{"path": "status", "value": "healthy"}, {"path": "v", "op": "exists"}])
    assert item["json_conditions"] == [{"path": "status", "op": "eq", "value": "healthy"},
                                       {"path": "v", "op": "exists", "value": True}]


@pytest.mark.parametrize("overrides, message", [
    ({"url": "ftp://h/"}, "endpoint api: url scheme must be http or https, got 'ftp'"),
    ({"url": "http:///nohost"}, "endpoint api: url http:///nohost has no host"),
    ({"url": "http://h:99999/"}, "endpoint api: invalid url"),
    ({"url": None}, "endpoint api: url is required"),
    ({"method": "PUT"}, "endpoint api: method must be one of GET, HEAD, POST"),
    ({"status_codes": [200, 999]}, "endpoint api: status_codes must be HTTP codes"),
    ({"status_codes": ["ok"]}, "endpoint api: status_codes must be integers"),
    ({"json_conditions": [{"path": "a", "op": "regex", "value": "x"}]}, "unknown json condition op 'regex' for path a"),
    ({"json_conditions": [{"op": "eq"}]}, "each json condition needs a path"),
    ({"json_conditions": [{"path": "a", "op": "in", "value": "x"}]}, "op 'in' for path a needs a list"),
    ({"json_conditions": [{"path": "a", "op": "lt", "value": "many"}]}, "op 'lt' for path a needs a number"),
    ({"body_regex": "(unclosed"}, "endpoint api: invalid body_regex '(unclosed'"),
    ({"timeout": 0}, "endpoint api: timeout must be >= 0.001"),
    ({"retries": -1}, "endpoint api: retries must be >= 0"),
    ({"body": "x"}, "endpoint api: body is only sent with method POST"),
    ({"latency_warning": 3, "latency_critical": 1}, "latency_warning (3.0) is above latency_critical (1.0)"),
    ({"name": "bad name"}, "name may only contain"),
])
def test_invalid_endpoints_name_the_endpoint(overrides, message):
    with pytest.raises(probe_plan.EndpointError) as err:
        endpoint(**overrides)
    assert message in str(err.value)


def test_endpoint_list_rules():
    with pytest.raises(probe_plan.EndpointError, match="at least one endpoint"):
        probe_plan.normalize_endpoints([])
    with pytest.raises(probe_plan.EndpointError, match="endpoint h_a: duplicate endpoint name"):
        probe_plan.normalize_endpoints([{"url": "http://h/a"}, {"url": "https://h/a"}])
    with pytest.raises(probe_plan.EndpointError, match="endpoint #2: url is required"):
        probe_plan.normalize_endpoints([{"url": "http://h/a"}, {}])


# -- JSON ------------------------------------------------------------------------

DOC = {"status": "healthy", "checks": {"db": {"status": "ok", "ms": 3}}, "items": [{"id": 7}, {"id": 9}],
       "count": 5, "ready": True, "none": None}


@pytest.mark.parametrize("path, found, value", [
    ("status", True, "healthy"),
    ("checks.db.ms", True, 3),
    ("items.1.id", True, 9),
    ("items.-1.id", True, 9),
    ("items.5.id", False, None),
    ("items.x", False, None),
    ("checks.cache", False, None),
    ("status.deeper", False, None),
    ("none", True, None),
])
def test_lookup_path(path, found, value):
    assert probe_plan.lookup_path(DOC, path) == (found, value)


@pytest.mark.parametrize("cond, passed", [
    ({"path": "status", "op": "eq", "value": "healthy"}, True),
    ({"path": "status", "op": "eq", "value": "degraded"}, False),
    ({"path": "status", "op": "ne", "value": "degraded"}, True),
    ({"path": "count", "op": "eq", "value": "5"}, True),      # YAML/Jinja string vs JSON number
    ({"path": "ready", "op": "eq", "value": "true"}, True),
    ({"path": "ready", "op": "eq", "value": 1}, False),       # a bool is not a number
    ({"path": "checks.db.status", "op": "in", "value": ["ok", "warn"]}, True),
    ({"path": "checks.db.status", "op": "in", "value": ["down"]}, False),
    ({"path": "count", "op": "lt", "value": 10}, True),
    ({"path": "count", "op": "le", "value": 5}, True),
    ({"path": "count", "op": "gt", "value": 5}, False),
    ({"path": "count", "op": "ge", "value": "5"}, True),
    ({"path": "status", "op": "lt", "value": 3}, False),      # not a number
    ({"path": "checks.db", "op": "exists", "value": True}, True),
    ({"path": "nothere", "op": "exists", "value": False}, True),
    ({"path": "nothere", "op": "exists", "value": True}, False),
    ({"path": "nothere", "op": "eq", "value": 1}, False),
    ({"path": "items", "op": "eq", "value": [{"id": 7}, {"id": 9}]}, True),
])
def test_evaluate_condition(cond, passed):
    assert probe_plan.evaluate_condition(DOC, cond)[0] is passed


def test_condition_messages_say_why():
    assert probe_plan.evaluate_condition(DOC, {"path": "status", "op": "eq", "value": "ok"})[1] == \
        'JSON status is "healthy", expected eq "ok"'
    assert probe_plan.evaluate_condition(DOC, {"path": "x.y", "op": "eq", "value": 1})[1] == "JSON x.y is missing (expected eq 1)"
    assert probe_plan.evaluate_condition(DOC, {"path": "status", "op": "gt", "value": 1})[1] == \
        'JSON status is "healthy", not a number (expected gt 1)'
    assert probe_plan.evaluate_condition(DOC, {"path": "count", "op": "exists", "value": False})[1] == \
        "JSON count exists, expected absent"


def test_loose_equal():
    assert probe_plan.loose_equal(200, "200") and probe_plan.loose_equal(1.0, 1) and probe_plan.loose_equal(False, "False")
    assert not probe_plan.loose_equal("a", "b") and not probe_plan.loose_equal(True, 1) and not probe_plan.loose_equal({"a": 1}, "{'a': 1}")


# -- evaluate ---------------------------------------------------------------------

def test_evaluate_ok():
    check = probe_plan.evaluate(endpoint(), {"status_code": 200, "body": "{}", "latency": 0.0123, "attempts": 1})
    assert check["status"] == "ok" and check["message"] == "HTTP 200 in 0.012s"
    assert check["name"] == "http.api" and check["value"]["latency_seconds"] == 0.0123
    assert check["threshold"] == {"status_codes": [200], "latency_warning": None, "latency_critical": None}


def test_evaluate_collects_every_problem():
    ep = endpoint(status_codes=[200], json_conditions=[{"path": "status", "value": "healthy"}],
                  body_regex="finchat_", latency_warning=0.1, latency_critical=2)
    check = probe_plan.evaluate(ep, {"status_code": 503, "body": '{"status": "starting"}', "latency": 0.25})
    assert check["status"] == "critical" and check["severity"] == "P0"
    assert check["message"] == ('HTTP 503, expected [200]; JSON status is "starting", expected eq "healthy"; '
                                "body does not match /finchat_/; latency 0.25s (warning >= 0.1s)")


@pytest.mark.parametrize("code, expected, status, severity", [
    (500, [200], "critical", "P0"),   # the seeds: a health endpoint answering 500 is "system down"
    (599, [200], "critical", "P0"),
    (404, [200], "critical", "P1"),   # answered, but not what we expected
    (503, [200, 503], "ok", "P3"),    # a 503 the user expects is fine
])
def test_server_errors_mean_down(code, expected, status, severity):
    check = probe_plan.evaluate(endpoint(status_codes=expected), {"status_code": code, "body": "", "latency": 0.01})
    assert (check["status"], check["severity"]) == (status, severity)


@pytest.mark.parametrize("latency, status", [(0.05, "ok"), (0.5, "warning"), (1.0, "critical"), (3.0, "critical")])
def test_latency_levels(latency, status):
    ep = endpoint(latency_warning=0.5, latency_critical=1)
    assert probe_plan.evaluate(ep, {"status_code": 200, "body": "", "latency": latency})["status"] == status


def test_non_json_body():
    ep = endpoint(json_conditions=[{"path": "status", "value": "healthy"}])
    check = probe_plan.evaluate(ep, {"status_code": 200, "body": "<html>oops</html>", "latency": 0.1})
    assert check["message"] == "response is not JSON ('<html>oops</html>')"
    assert probe_plan.evaluate(ep, {"status_code": 200, "body": "", "latency": 0.1})["message"] == "response is not JSON (empty body)"


@pytest.mark.parametrize("kind, severity", [("refused", "P0"), ("dns", "P0"), ("timeout", "P0"),
                                            ("connection", "P0"), ("protocol", "P0"), ("tls", "P1")])
def test_transport_errors(kind, severity):
    check = probe_plan.evaluate(endpoint(), {"error_kind": kind, "error": "msg " + kind, "latency": 0.01, "attempts": 3})
    assert check["status"] == "critical" and check["severity"] == severity
    assert check["message"] == "msg " + kind and check["value"]["error"] == kind and check["value"]["attempts"] == 3


def test_metrics():
    ep = endpoint()
    good = {"status_code": 200, "body": "", "latency": 0.2}
    assert probe_plan.endpoint_metrics(ep, good, probe_plan.evaluate(ep, good)) == {
        'http_latency_seconds{endpoint="api"}': 0.2, 'http_status_code{endpoint="api"}': 200.0,
        'http_up{endpoint="api"}': 1.0}
    bad = {"error_kind": "refused", "error": "x", "latency": 0.001}
    metrics = probe_plan.endpoint_metrics(ep, bad, probe_plan.evaluate(ep, bad))
    assert metrics['http_up{endpoint="api"}'] == 0.0 and metrics['http_status_code{endpoint="api"}'] == 0.0


def test_value_never_holds_the_url_password():
    ep = probe_plan.normalize_endpoint({"name": "a", "url": "http://ops:hunter22@h/"})
    check = probe_plan.evaluate(ep, {"status_code": 200, "body": "", "latency": 0.1})
    assert "hunter22" not in str(check)


def test_unexpected_errors_become_checks_not_tracebacks():
    check = probe_plan.evaluate(endpoint(), {"error_kind": "error", "error": "request failed: boom", "latency": 0.0})
    assert check["status"] == "critical" and check["severity"] == "P1"
