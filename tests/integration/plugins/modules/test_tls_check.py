"""runbook.ops.tls_check against real TLS servers and PEM files made by the tests."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from pathlib import Path

import pytest

from utils.http_servers import TestServer, free_port, make_ca, make_cert
from utils.run import ModuleFailed, run_module


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("pki")
    ca = make_ca(base)
    return {
        "base": base,
        "ca": ca,
        "leaf5": make_cert(base, "leaf5", "api.runbook.test", days=5, ca=ca,
                           sans=["api.runbook.test", "localhost", "127.0.0.1"]),
        "other": make_cert(base, "other", "other.runbook.test", days=200, ca=ca, sans=["other.runbook.test"]),
        "file20": make_cert(base, "file20", "files.runbook.test", days=20),
        "file90": make_cert(base, "file90", "ok.runbook.test", days=90),
        "expired": make_cert(base, "expired", "old.runbook.test", days=-3, not_before_days=-100),
        "future": make_cert(base, "future", "soon.runbook.test", days=300, not_before_days=10),
    }


@pytest.fixture(scope="module")
def tls_server(pki):
    """Serves leaf5 by default and ``other`` to clients that ask for other.runbook.test by SNI."""
    ctx = pki["leaf5"].server_context()
    other_ctx = pki["other"].server_context()

    def pick(sock, server_name, _ctx):
        if server_name == "other.runbook.test":
            sock.context = other_ctx

    ctx.sni_callback = pick
    with TestServer(tls=ctx) as srv:
        yield srv


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


def test_endpoint_expiring_in_5_days_is_critical_and_untrusted(tls_server, pki):
    result = run_module("tls_check", {"endpoints": [{"name": "api", "host": "127.0.0.1", "port": tls_server.port}]})
    checks = by_name(result)
    expiry = checks["tls.api"]
    assert expiry["status"] == "critical" and expiry["severity"] == "P1"
    assert "expires in 5.0 days" in expiry["message"] and "critical below 7 days" in expiry["message"]
    value = expiry["value"]
    assert value["subject"] == "C=DE, O=runbook.ops tests, CN=api.runbook.test"
    assert value["issuer"] == "C=DE, O=runbook.ops tests, CN=runbook test CA"
    assert value["sans"] == ["DNS:api.runbook.test", "DNS:localhost", "IP:127.0.0.1"]
    assert value["not_after"] == pki["leaf5"].obj.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert 4.9 < value["days_left"] < 5.01
    assert value["source"] == "127.0.0.1:%d" % tls_server.port
    assert value["verified"] is False
    trust = checks["tls.api.verify"]
    assert trust["status"] == "critical" and "unable to get local issuer certificate" in trust["message"]
    metrics = result["metrics"]
    assert 4.9 * 86400 < metrics['tls_cert_expiry_seconds{target="api"}'] < 5.01 * 86400
    assert metrics['tls_cert_not_after_timestamp_seconds{target="api"}'] == int(pki["leaf5"].obj.not_valid_after_utc.timestamp())
    assert metrics['tls_cert_verified{target="api"}'] == 0
    assert metrics['tls_up{target="api"}'] == 1


def test_ca_path_verifies_and_validate_certs_false_skips(tls_server, pki):
    result = run_module("tls_check", {
        "critical_days": 3, "warning_days": 10,
        "endpoints": [
            {"name": "trusted", "host": "127.0.0.1:%d" % tls_server.port, "ca_path": str(pki["ca"].cert)},
            {"name": "by_name", "host": "localhost", "port": tls_server.port, "ca_path": str(pki["ca"].cert)},
            {"name": "unchecked", "host": "127.0.0.1", "port": tls_server.port, "validate_certs": False},
        ]})
    checks = by_name(result)
    assert checks["tls.trusted"]["status"] == "warning" and "warning below 10 days" in checks["tls.trusted"]["message"]
    assert checks["tls.trusted.verify"]["status"] == "ok"
    assert checks["tls.by_name.verify"]["status"] == "ok"
    assert checks["tls.unchecked"]["value"]["verified"] is None
    assert "tls.unchecked.verify" not in checks
    assert result["status"] == "warning" and result["severity"] == "P2"


def test_sni_server_name_selects_the_certificate(tls_server, pki):
    result = run_module("tls_check", {"endpoints": [
        {"name": "other", "host": "127.0.0.1", "port": tls_server.port, "server_name": "other.runbook.test",
         "ca_path": str(pki["ca"].cert)},
        {"name": "wrong_name", "host": "127.0.0.1", "port": tls_server.port, "server_name": "nothere.runbook.test",
         "ca_path": str(pki["ca"].cert)},
    ]})
    checks = by_name(result)
    assert checks["tls.other"]["status"] == "ok"
    assert checks["tls.other"]["value"]["subject"].endswith("CN=other.runbook.test")
    assert checks["tls.other"]["value"]["server_name"] == "other.runbook.test"
    assert checks["tls.other.verify"]["status"] == "ok"
    # The default certificate does not carry that name: hostname verification fails.
    assert checks["tls.wrong_name.verify"]["status"] == "critical"
    assert "Hostname mismatch" in checks["tls.wrong_name.verify"]["message"]


def test_pem_files(pki):
    result = run_module("tls_check", {"files": [
        {"path": str(pki["file20"].cert)},
        {"name": "ninety", "path": str(pki["file90"].cert)},
        {"name": "old", "path": str(pki["expired"].cert)},
        {"name": "future", "path": str(pki["future"].cert)},
    ]})
    checks = by_name(result)
    warn = checks["tls.file20.pem"]
    assert warn["status"] == "warning" and warn["severity"] == "P2"
    assert "expires in 20.0 days" in warn["message"] and "warning below 30 days" in warn["message"]
    assert warn["value"]["subject"].endswith("CN=files.runbook.test")
    assert warn["value"]["issuer"] == warn["value"]["subject"]  # self-signed
    assert warn["value"]["source"] == str(pki["file20"].cert)
    assert checks["tls.ninety"]["status"] == "ok"
    assert checks["tls.old"]["status"] == "critical" and "expired 3.0 days ago" in checks["tls.old"]["message"]
    assert result["metrics"]['tls_cert_expiry_seconds{target="old"}'] < -2.9 * 86400
    assert checks["tls.future"]["status"] == "critical" and "not valid before" in checks["tls.future"]["message"]


def test_pem_file_warning_alone(pki):
    result = run_module("tls_check", {"files": [{"name": "web", "path": str(pki["file20"].cert)}]})
    assert result["status"] == "warning" and result["severity"] == "P2"
    assert 19.9 * 86400 < result["metrics"]['tls_cert_expiry_seconds{target="web"}'] < 20.01 * 86400


def test_chain_file_reports_the_leaf(pki, tmp_path):
    chain = tmp_path / "fullchain.pem"
    chain.write_bytes(pki["leaf5"].cert.read_bytes() + pki["ca"].cert.read_bytes())
    result = run_module("tls_check", {"files": [{"name": "chain", "path": str(chain)}]})
    check = result["checks"][0]
    assert check["value"]["subject"].endswith("CN=api.runbook.test")
    assert check["value"]["certificates_in_file"] == 2
    assert check["status"] == "critical"


def test_unreachable_endpoints_are_down():
    closed = free_port()
    result = run_module("tls_check", {"timeout": 2, "endpoints": [
        {"name": "closed", "host": "127.0.0.1", "port": closed},
        {"name": "dns", "host": "tls.runbook-ops-test.invalid"},
    ]})
    checks = by_name(result)
    assert checks["tls.closed"]["severity"] == "P0" and "connection refused" in checks["tls.closed"]["message"]
    assert checks["tls.dns"]["severity"] == "P0" and "DNS lookup failed" in checks["tls.dns"]["message"]
    assert result["severity"] == "P0"
    assert result["metrics"]['tls_up{target="closed"}'] == 0


def test_plain_http_server_is_a_failed_handshake():
    with TestServer() as srv:
        result = run_module("tls_check", {"timeout": 3, "endpoints": [{"name": "plain", "host": "127.0.0.1",
                                                                       "port": srv.port}]})
    check = result["checks"][0]
    assert check["status"] == "critical" and check["severity"] == "P1"
    assert check["message"].startswith("TLS handshake with 127.0.0.1:%d failed" % srv.port)


def test_check_mode_same_result(tls_server, pki):
    args = {"endpoints": [{"name": "api", "host": "127.0.0.1", "port": tls_server.port}],
            "files": [{"name": "f", "path": str(pki["file20"].cert)}]}
    normal = run_module("tls_check", args)
    checked = run_module("tls_check", args, check_mode=True)
    assert normal["changed"] is False and checked["changed"] is False
    assert [(c["name"], c["status"]) for c in normal["checks"]] == [(c["name"], c["status"]) for c in checked["checks"]]
    assert normal["status"] == checked["status"] == "critical"


def test_matches_the_ssl_module_decoder(pki):
    """Our DER reader agrees with CPython's own certificate decoder on the same file."""
    ours = by_name(run_module("tls_check", {"files": [{"name": "x", "path": str(pki["leaf5"].cert)}]}))["tls.x"]["value"]
    theirs = ssl._ssl._test_decode_cert(str(pki["leaf5"].cert))
    assert ours["sans"] == ["%s:%s" % (k if k != "IP Address" else "IP", v) for k, v in theirs["subjectAltName"]]
    parsed = ssl.cert_time_to_seconds(theirs["notAfter"])
    assert ours["not_after"] == __import__("time").strftime("%Y-%m-%dT%H:%M:%SZ", __import__("time").gmtime(parsed))


@pytest.mark.parametrize("args, needle", [
    ({}, "give at least one of endpoints or files"),
    ({"endpoints": [{"name": "nohost"}]}, "endpoint nohost: host is required"),
    ({"endpoints": [{"host": "x", "port": 70000}]}, "endpoints[0].port must be between 1 and 65535, got 70000"),
    ({"warning_days": 5, "critical_days": 10, "endpoints": [{"name": "t", "host": "x"}]},
     "warning_days must be at least critical_days (10.0), got 5.0"),
])
def test_bad_parameters_fail_clearly(args, needle):
    with pytest.raises(ModuleFailed) as err:
        run_module("tls_check", args)
    assert needle in err.value.result["msg"]
    assert "Traceback" not in json.dumps(err.value.result)


def test_missing_or_non_certificate_file_is_a_critical_check(tmp_path, pki):
    # A health condition, as for the other targets: the task succeeds, the check is critical,
    # and the other files are still judged.
    bogus = tmp_path / "not-a-cert.pem"
    bogus.write_text("hello\n")
    result = run_module("tls_check", {"files": [{"name": "gone", "path": "/nonexistent/cert.pem"},
                                                {"path": str(bogus)},
                                                {"name": "good", "path": str(pki["file90"].cert)}]})
    found = by_name(result)
    assert result["status"] == "critical" and result["changed"] is False
    assert found["tls.gone"]["status"] == "critical"
    assert found["tls.gone"]["message"].startswith("cannot read certificate file /nonexistent/cert.pem")
    assert found["tls.gone"]["value"] == {"source": "/nonexistent/cert.pem", "error": "unreadable"}
    assert found["tls.not-a-cert.pem"]["status"] == "critical"
    assert found["tls.not-a-cert.pem"]["message"] == "certificate file %s: no PEM certificate found" % bogus
    assert found["tls.not-a-cert.pem"]["value"] == {"source": str(bogus), "error": "not_a_certificate"}
    assert found["tls.good"]["status"] == "ok"
    assert "tls.gone" in result["summary"]


def test_through_ansible_playbook(tls_server, pki, tmp_path):
    """The real AnsiballZ path: argument spec, doc fragments and module_utils as a target runs them."""
    repo = Path(__file__).resolve().parents[4]
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: check an endpoint and a file
      runbook.ops.tls_check:
        ca_path: "%s"
        endpoints:
          - name: api
            host: "127.0.0.1:%d"
            server_name: api.runbook.test
        files:
          - path: "%s"
      register: tls
""" % (pki["ca"].cert, tls_server.port, pki["file90"].cert))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run(
        [str(repo / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=%s" % (repo / ".venv/bin/python"), str(playbook)],
        cwd=str(repo), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("{"))[0]
    registered = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert registered["changed"] is False and not registered.get("failed")
    checks = by_name(registered)
    assert checks["tls.api"]["status"] == "critical"  # 5 days left, critical below 7
    assert checks["tls.api.verify"]["status"] == "ok"
    assert checks["tls.file90.pem"]["status"] == "ok"
    assert registered["metrics"]['tls_up{target="api"}'] == 1
