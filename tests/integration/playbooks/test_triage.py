"""playbooks/triage.yml (the role runbook.ops.triage) end to end: the real ansible-playbook on the
local inventory, pointed with extra vars at services this module starts on free ports (PostgreSQL,
Redis with a password, the demo API and web app), with Redis then stopped: the health check runs
afresh, its gate fails, the triage goes on, proposes P0 with Redis as the evidence, and writes the
bundle and the reports, in under 60 seconds. Check mode writes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.triage import bundle_runner
from sandbox.services import DemoApp, Postgres, Redis

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
REDIS_PASSWORD = "triage-playbook-redis-secret"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broken_stack():
    base = Path(tempfile.mkdtemp(prefix="runbook-ops-triage-"))
    os.chmod(base, 0o755)
    started = []
    try:
        postgres = Postgres(base / "postgres").start()
        started.append(postgres)
        redis = Redis(base / "redis", password=REDIS_PASSWORD).start()
        started.append(redis)
        api = DemoApp(base / "apps", "finchat-api", postgres=postgres, redis=redis).start()
        started.append(api)
        web = DemoApp(base / "apps", "finchat-webapp", redis=redis).start()
        started.append(web)
        redis.stop()  # the incident
        extra = {"sandbox_api_port": api.port, "sandbox_web_port": web.port, "sandbox_postgres_port": postgres.port,
                 "sandbox_redis_port": redis.port, "sandbox_redis_password": REDIS_PASSWORD, "sandbox_dir": str(base),
                 "triage_reports_dir": str(base / "reports")}
        (base / "extra.json").write_text(json.dumps(extra))
        yield base
    finally:
        for service in reversed(started):
            service.stop()
        shutil.rmtree(base, ignore_errors=True)


def _run(base, *args):
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(base / "reports"), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    started = time.monotonic()
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "playbooks/triage.yml",
                           "-e", "@%s" % (base / "extra.json"), *args], cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    return proc, time.monotonic() - started


def test_check_mode_writes_no_bundle(broken_stack):
    proc, _seconds = _run(broken_stack, "--check")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "check mode: not written" in proc.stdout
    assert not (broken_stack / "incidents").exists()


def test_one_command_triage_of_a_stopped_redis(broken_stack):
    proc, seconds = _run(broken_stack, "-e", "triage_reporter=oncall")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert seconds < 60
    assert "Note that the health check found problems" in proc.stdout
    bundles = sorted((broken_stack / "incidents").glob("INC-*.tar.zst"))
    assert len(bundles) == 1
    assert bundle_runner.verify_bundle(str(bundles[0])) == []
    report = json.loads(bundles[0].with_name(bundles[0].name.replace(".tar.zst", ".json")).read_text())
    assert report["severity"] == "P0" and report["reporter"] == "oncall"
    names = [e["name"] for e in report["evidence"]]
    assert "redis.ping" in names
    assert {"postgres", "redis", "host", "logs", "reports"} <= {c["name"] for c in report["collectors"]}
    assert all(c["status"] == "ok" for c in report["collectors"])
    files = bundle_runner.read_bundle(str(bundles[0]))
    health = json.loads(next(v for k, v in files.items() if k.endswith("health/results.json")))
    assert {"http", "postgres", "redis", "host", "logs"} <= set(health)
    everything = b"".join(files.values()) + proc.stdout.encode()
    assert REDIS_PASSWORD.encode() not in everything and b"monitor-secret" not in everything


def test_fallback_mode_only_when_asked_through_k8s_rollout(tmp_path):
    """Without triage_fallback_mode nothing is patched; with it, k8s_rollout sets seed 002's variables."""
    from utils.k8s_fake_apiserver import FakeApiServer

    with FakeApiServer(deadline_gets=4) as server:
        server.add_deployment("sec-analysis", "api", {"api": "reg/api:1.0"}, replicas=2)
        extra = {"triage_health_check": False, "health_postgres": {}, "health_redis": {}, "health_logs": {},
                 "triage_output_dir": str(tmp_path / "incidents"),
                 "triage_kubernetes": {"host": server.url, "api_key": server.token, "namespace": "sec-analysis",
                                       "deployments": ["api"]},
                 "triage_fallback_deployments": ["api"]}
        (tmp_path / "extra.json").write_text(json.dumps(extra))
        proc, _seconds = _run(tmp_path, "-e", "triage_reporter=oncall")
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert server.patches() == []
        proc, _seconds = _run(tmp_path, "-e", "triage_fallback_mode=fallback")
        assert proc.returncode == 0, proc.stdout[-3000:]
        containers = server.deployment("sec-analysis", "api")["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in containers[0].get("env") or []}
        assert env == {"ENABLE_FALLBACK_MODE": "true", "CACHE_ONLY_MODE": "true"}
        assert server.token not in proc.stdout
        proc, _seconds = _run(tmp_path, "-e", "triage_fallback_mode=sideways")
        assert proc.returncode != 0 and "triage_fallback_mode must be one of" in proc.stdout
