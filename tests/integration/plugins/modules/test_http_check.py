"""runbook.ops.http_check against real HTTP(S) servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from utils.http_servers import TestServer, free_port, make_ca, make_cert
from utils.run import ModuleFailed, run_module

REPO = Path(__file__).resolve().parents[4]
TOKEN = "tok-9f8e7d6c5b4a-very-secret"


@pytest.fixture(scope="module")
def server():
    with TestServer(token=TOKEN) as srv:
        yield srv


@pytest.fixture(scope="module")
def tls_env(tmp_path_factory):
    """An HTTPS server whose certificate (from a test CA) expires in 5 days."""
    base = tmp_path_factory.mktemp("http-tls")
    ca = make_ca(base)
    leaf = make_cert(base, "leaf", "localhost", days=5, ca=ca, sans=["localhost", "127.0.0.1"])
    with TestServer(tls=leaf.server_context()) as srv:
        yield {"server": srv, "ca": ca, "leaf": leaf}


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


def test_healthy_json_endpoint_with_conditions(server):
    result = run_module("http_check", {"endpoints": [{
        "name": "api_health", "url": server.url("/health"),
        "json_conditions": [
            {"path": "status", "op": "eq", "value": "healthy"},
            {"path": "checks.db.status", "op": "in", "value": ["ok", "degraded"]},
            {"path": "queue.depth", "op": "lt", "value": 100},
            {"path": "workers.0.alive", "value": True},
            {"path": "version", "op": "exists"},
            {"path": "maintenance", "op": "exists", "value": False},
        ],
    }]})
    assert result["changed"] is False
    assert result["status"] == "ok" and result["severity"] == "P3"
    assert result["summary"] == "http: 1 check ok"
    check = result["checks"][0]
    assert check["name"] == "http.api_health" and check["status"] == "ok"
    assert check["value"]["status_code"] == 200 and check["value"]["attempts"] == 1
    assert check["message"].startswith("HTTP 200 in ")
    metrics = result["metrics"]
    assert metrics['http_status_code{endpoint="api_health"}'] == 200
    assert metrics['http_up{endpoint="api_health"}'] == 1
    assert 0 < metrics['http_latency_seconds{endpoint="api_health"}'] < 1


def test_many_failures_in_one_call(server):
    closed = free_port()
    result = run_module("http_check", {"endpoints": [
        {"name": "error", "url": server.url("/error")},
        {"name": "wrong_json", "url": server.url("/degraded"),
         "json_conditions": [{"path": "status", "value": "healthy"}]},
        {"name": "not_json", "url": server.url("/text"), "json_conditions": [{"path": "status", "value": "healthy"}]},
        {"name": "refused", "url": "http://127.0.0.1:%d/health" % closed},
        {"name": "dns", "url": "http://api.runbook-ops-test.invalid/health"},
        {"name": "metrics_ok", "url": server.url("/metrics"), "body_regex": "^finchat_requests_total \\d+"},
        {"name": "metrics_missing", "url": server.url("/metrics"), "body_regex": "celery_"},
        {"name": "closed_early", "url": server.url("/close")},
    ]})
    checks = by_name(result)
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert checks["http.error"]["status"] == "critical" and checks["http.error"]["severity"] == "P0"
    assert checks["http.error"]["message"] == "HTTP 500, expected [200]"
    assert checks["http.wrong_json"]["message"] == 'JSON status is "degraded", expected eq "healthy"'
    assert checks["http.not_json"]["message"].startswith("response is not JSON")
    assert checks["http.refused"]["severity"] == "P0"
    assert checks["http.refused"]["message"] == "connection refused by 127.0.0.1:%d" % closed
    assert checks["http.refused"]["value"]["error"] == "refused"
    assert checks["http.dns"]["severity"] == "P0"
    assert checks["http.dns"]["message"].startswith("DNS lookup failed for api.runbook-ops-test.invalid")
    assert checks["http.metrics_ok"]["status"] == "ok"
    assert checks["http.metrics_missing"]["message"] == "body does not match /celery_/"
    assert checks["http.closed_early"]["severity"] == "P0"
    assert checks["http.closed_early"]["value"]["error"] == "connection"
    m = result["metrics"]
    assert m['http_up{endpoint="refused"}'] == 0 and m['http_status_code{endpoint="refused"}'] == 0
    assert m['http_up{endpoint="error"}'] == 0 and m['http_status_code{endpoint="error"}'] == 500
    assert m['http_up{endpoint="metrics_ok"}'] == 1
    # The summary names every failing endpoint and nothing that passed.
    assert "http.error HTTP 500, expected [200]" in result["summary"]
    assert "metrics_ok" not in result["summary"]
    # Checks come back in the order the endpoints were given.
    assert [c["name"] for c in result["checks"]][:3] == ["http.error", "http.wrong_json", "http.not_json"]


def test_latency_thresholds_and_timeout(server):
    result = run_module("http_check", {
        "latency_warning": 0.2, "latency_critical": 1.0,
        "endpoints": [
            {"name": "fast", "url": server.url("/health")},
            {"name": "slowish", "url": server.url("/slow?s=0.35")},
            {"name": "slow", "url": server.url("/slow?s=0.35"), "latency_critical": 0.3},
            {"name": "hangs", "url": server.url("/slow?s=5"), "timeout": 0.5},
        ]})
    checks = by_name(result)
    assert checks["http.fast"]["status"] == "ok"
    assert checks["http.slowish"]["status"] == "warning" and checks["http.slowish"]["severity"] == "P2"
    assert "(warning >= 0.2s)" in checks["http.slowish"]["message"]
    assert checks["http.slow"]["status"] == "critical" and "(critical >= 0.3s)" in checks["http.slow"]["message"]
    assert checks["http.hangs"]["severity"] == "P0"
    assert checks["http.hangs"]["message"] == "timed out after 0.5s"
    assert checks["http.hangs"]["value"]["error"] == "timeout"
    assert 0.45 < result["metrics"]['http_latency_seconds{endpoint="hangs"}'] < 2


def test_endpoints_are_checked_concurrently(server):
    endpoints = [{"name": "slow%d" % i, "url": server.url("/slow?s=0.5")} for i in range(12)]
    start = time.monotonic()
    result = run_module("http_check", {"endpoints": endpoints})
    elapsed = time.monotonic() - start
    assert result["status"] == "ok" and len(result["checks"]) == 12
    assert elapsed < 2.0, "12 x 0.5 s endpoints took %.2fs: not concurrent" % elapsed
    # With one worker they run one after another.
    start = time.monotonic()
    run_module("http_check", {"endpoints": endpoints[:3], "max_workers": 1})
    assert time.monotonic() - start >= 1.5


def test_retry_succeeds_on_second_try(server):
    result = run_module("http_check", {"endpoints": [
        {"name": "flaky", "url": server.url("/flaky?key=a&fail=1"), "retries": 2, "retry_backoff": 0.05},
        {"name": "flaky_no_retry", "url": server.url("/flaky?key=b&fail=1")},
        {"name": "always_down", "url": server.url("/flaky?key=c&fail=9"), "retries": 2, "retry_backoff": 0.05},
    ]})
    checks = by_name(result)
    assert checks["http.flaky"]["status"] == "ok" and checks["http.flaky"]["value"]["attempts"] == 2
    assert checks["http.flaky_no_retry"]["message"] == "HTTP 503, expected [200]"
    assert checks["http.always_down"]["value"]["attempts"] == 3
    flaky_hits = [r for r in server.requests if "key=a" in r["path"]]
    assert len(flaky_hits) == 2


def test_bearer_token_is_sent_but_never_returned(server):
    result = run_module("http_check", {"endpoints": [
        {"name": "auth", "url": server.url("/auth"), "bearer_token": TOKEN},
        {"name": "auth_header", "url": server.url("/auth?h=1"), "headers": {"Authorization": "Bearer " + TOKEN}},
        {"name": "no_auth", "url": server.url("/auth?none=1")},
    ]})
    checks = by_name(result)
    assert checks["http.auth"]["status"] == "ok"
    assert checks["http.auth_header"]["status"] == "ok"
    assert checks["http.no_auth"]["message"] == "HTTP 401, expected [200]"
    sent = [r["headers"].get("authorization") for r in server.requests if r["path"].startswith("/auth")]
    assert "Bearer " + TOKEN in sent
    text = json.dumps(result)
    assert TOKEN not in text
    assert "invocation" in result  # the echoed arguments are there, masked
    headers = result["invocation"]["module_args"]["endpoints"][1]["headers"]
    assert TOKEN not in headers["Authorization"]


def test_post_head_redirects_and_status_codes(server):
    result = run_module("http_check", {"endpoints": [
        {"name": "post", "url": server.url("/echo"), "method": "POST", "body": {"ping": 1},
         "json_conditions": [{"path": "content_type", "value": "application/json"},
                             {"path": "body", "value": '{"ping": 1}'}]},
        {"name": "head", "url": server.url("/health"), "method": "head"},
        {"name": "redirect_followed", "url": server.url("/redirect"),
         "json_conditions": [{"path": "status", "value": "healthy"}]},
        {"name": "redirect_kept", "url": server.url("/redirect"), "follow_redirects": False, "status_codes": [301, 302]},
        {"name": "missing_ok", "url": server.url("/nothing"), "status_codes": [404]},
    ]})
    assert result["status"] == "ok", result["summary"]
    checks = by_name(result)
    assert checks["http.head"]["value"]["method"] == "HEAD"
    assert checks["http.redirect_kept"]["value"]["status_code"] == 302
    assert checks["http.missing_ok"]["value"]["status_code"] == 404


def test_tls_validation_and_ca_path(tls_env):
    srv, ca = tls_env["server"], tls_env["ca"]
    result = run_module("http_check", {"endpoints": [
        {"name": "verified", "url": srv.url("/health")},
        {"name": "unverified", "url": srv.url("/health"), "validate_certs": False},
        {"name": "private_ca", "url": srv.url("/health", host="localhost"), "ca_path": str(ca.cert)},
        {"name": "private_ca_ip", "url": srv.url("/health"), "ca_path": str(ca.cert)},
    ]})
    checks = by_name(result)
    failed = checks["http.verified"]
    assert failed["status"] == "critical" and failed["severity"] == "P1"
    assert failed["value"]["error"] == "tls"
    assert failed["message"].startswith("TLS certificate verification failed")
    assert "unable to get local issuer certificate" in failed["message"]
    assert checks["http.unverified"]["status"] == "ok"
    assert checks["http.private_ca"]["status"] == "ok"
    assert checks["http.private_ca_ip"]["status"] == "ok"


def test_tls_hostname_mismatch_is_reported(tmp_path):
    ca = make_ca(tmp_path)
    leaf = make_cert(tmp_path, "other", "other.example", days=90, ca=ca, sans=["other.example"])
    with TestServer(tls=leaf.server_context()) as srv:
        result = run_module("http_check", {"endpoints": [{"name": "mismatch", "url": srv.url("/health"),
                                                          "ca_path": str(ca.cert)}]})
    check = result["checks"][0]
    assert check["status"] == "critical" and "IP address mismatch" in check["message"]


def test_check_mode_gives_the_same_result(server):
    args = {"endpoints": [{"name": "api", "url": server.url("/health")},
                          {"name": "err", "url": server.url("/error")},
                          {"name": "down", "url": "http://127.0.0.1:%d/" % free_port()}]}
    normal = run_module("http_check", args)
    checked = run_module("http_check", args, check_mode=True)
    assert checked["changed"] is False and normal["changed"] is False

    def strip(result):
        return [(c["name"], c["status"], c["severity"], c["message"].split(" in ")[0]) for c in result["checks"]]

    assert strip(normal) == strip(checked)
    assert normal["status"] == checked["status"] == "critical"


@pytest.mark.parametrize("args, needle", [
    ({"endpoints": []}, "at least one endpoint"),
    ({"endpoints": [{"name": "ftp", "url": "ftp://example.com/x"}]}, "endpoint ftp: url scheme must be http or https"),
    ({"endpoints": [{"name": "nourl"}]}, "endpoint nourl: url is required"),
    ({"endpoints": [{"name": "api", "url": "http://x/", "json_conditions": [{"path": "a", "op": "like", "value": 1}]}]},
     "endpoint api: unknown json condition op 'like'"),
    ({"endpoints": [{"name": "re", "url": "http://x/", "body_regex": "finchat_("}]}, "endpoint re: invalid body_regex"),
    ({"endpoints": [{"name": "m", "url": "http://x/", "method": "DELETE"}]}, "endpoint m: method must be one of"),
    ({"endpoints": [{"url": "http://x/a"}, {"url": "http://x/a"}]}, "x_a: duplicate endpoint name"),
    ({"endpoints": [{"name": "lat", "url": "http://x/", "latency_warning": 2, "latency_critical": 1}]},
     "endpoints[0].latency_warning must be at most endpoints[0].latency_critical (1.0), got 2.0"),
])
def test_bad_parameters_fail_with_a_clear_message(args, needle):
    with pytest.raises(ModuleFailed) as err:
        run_module("http_check", args)
    assert needle in err.value.result["msg"]
    assert "Traceback" not in json.dumps(err.value.result)


def test_through_ansible_playbook(server, tmp_path):
    closed = free_port()
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: check endpoints
      runbook.ops.http_check:
        latency_warning: 2
        endpoints:
          - name: api_health
            url: "%s"
            bearer_token: "%s"
            json_conditions:
              - {path: status, op: eq, value: healthy}
          - name: api_down
            url: "http://127.0.0.1:%d/health"
      register: http
    - name: show it
      ansible.builtin.debug:
        var: http
""" % (server.url("/health"), TOKEN, closed))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=%s" % (REPO / ".venv/bin/python"), str(playbook)],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr
    out = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("{"))[0]
    task = out["plays"][0]["tasks"][0]
    registered = task["hosts"]["localhost"]
    assert registered["changed"] is False and not registered.get("failed")
    assert registered["schema"] == "runbook.ops/result/v1"
    assert registered["status"] == "critical" and registered["severity"] == "P0"
    checks = by_name(registered)
    assert checks["http.api_health"]["status"] == "ok"
    assert checks["http.api_down"]["message"] == "connection refused by 127.0.0.1:%d" % closed
    assert registered["metrics"]['http_up{endpoint="api_health"}'] == 1


def test_wrong_shape_through_ansible_playbook_names_the_option_and_hides_the_token(tmp_path):
    """Through AnsiballZ (the raw parameters read the way ansible-core hands them over): a string
    where the list of endpoints goes fails naming ``endpoints``, and the token given beside it
    appears nowhere in the output (ansible-core alone printed it in ``invocation``)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: endpoints given as a string
      runbook.ops.http_check:
        bearer_token: "%s"
        endpoints: "http://127.0.0.1/health"
""" % TOKEN)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=%s" % (REPO / ".venv/bin/python"), str(playbook)],
        cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr
    out = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("{"))[0]
    registered = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert registered["failed"] is True
    assert registered["msg"] == "endpoints must be a list of dicts, got str"
