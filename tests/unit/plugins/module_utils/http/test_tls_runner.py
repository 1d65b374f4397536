"""The I/O half of tls_check: PEM files on disk, endpoints that cannot be reached."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.http import tls_runner
from utils.http_servers import make_ca, make_cert


def test_read_pem_file(tmp_path):
    ca = make_ca(tmp_path)
    leaf = make_cert(tmp_path, "leaf", "leaf", days=3, ca=ca)
    bundle = tmp_path / "fullchain.pem"
    bundle.write_bytes(leaf.cert.read_bytes() + ca.cert.read_bytes())
    cert = tls_runner.read_pem_file(str(bundle))
    assert cert["common_name"] == "leaf" and cert["count"] == 2
    with pytest.raises(tls_runner.TargetError, match="cannot read certificate file"):
        tls_runner.read_pem_file(str(tmp_path / "missing.pem"))
    (tmp_path / "empty.pem").write_text("not a certificate\n")
    with pytest.raises(tls_runner.TargetError, match="no PEM certificate found"):
        tls_runner.read_pem_file(str(tmp_path / "empty.pem"))


def test_unreachable_endpoint_is_down_and_files_still_judged(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the probe: refused
    cert = make_cert(tmp_path, "site", "site", days=60)
    endpoint = {"name": "gone", "host": "127.0.0.1", "port": port, "server_name": None, "timeout": 2.0,
                "validate_certs": True, "ca_path": None, "warning_days": 30.0, "critical_days": 7.0}
    target = {"name": "site", "path": str(cert.cert), "warning_days": 30.0, "critical_days": 7.0}
    result = tls_runner.check_all([endpoint], [(target, tls_runner.read_pem_file(str(cert.cert)))])
    by_name = {c["name"]: c for c in result["checks"]}
    assert by_name["tls.gone"]["status"] == "critical" and by_name["tls.gone"]["severity"] == "P0"
    assert by_name["tls.gone"]["value"]["error"] == "refused"
    assert by_name["tls.site"]["status"] == "ok"
    assert result["metrics"]['tls_up{target="gone"}'] == 0.0


def test_read_files_turns_unreadable_files_into_critical_checks(tmp_path):
    cert = make_cert(tmp_path, "site", "site", days=60)
    (tmp_path / "bogus.pem").write_text("not a certificate\n")
    targets = [{"name": "site", "path": str(cert.cert)},
               {"name": "gone", "path": str(tmp_path / "missing.pem")},
               {"name": "bogus", "path": str(tmp_path / "bogus.pem")}]
    read, problems = tls_runner.read_files(targets)
    assert [target["name"] for target, _cert in read] == ["site"]
    assert [(p["name"], p["status"], p["value"]["error"]) for p in problems] == [
        ("tls.gone", "critical", "unreadable"), ("tls.bogus", "critical", "not_a_certificate")]
    for target in targets:
        target.update(warning_days=30.0, critical_days=7.0)
    result = tls_runner.check_all([], read, file_problems=problems)
    assert {c["name"]: c["status"] for c in result["checks"]} == {
        "tls.site": "ok", "tls.gone": "critical", "tls.bogus": "critical"}
