"""The execution environment built by scripts/build-ee, used as AWX uses one: ansible-runner
in container mode (process_isolation_executable docker) runs the health check playbook of
the collection installed in the image, against a real PostgreSQL and Redis on this machine
(the container shares the host's network, as an AWX execution node reaches its targets),
with the connection secrets in the environment as a credential injector sets them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import ansible_runner
import pytest
import yaml

from utils import awx

from sandbox.services import Postgres, Redis

ROOT = Path(__file__).resolve().parents[3]
REDIS_PASSWORD = "ee-redis-secret"

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def ee_image():
    """The EE image's tag, built by scripts/build-ee when its inputs changed, reused otherwise."""
    done = subprocess.run([str(ROOT / "scripts" / "build-ee"), "--print-tag"], capture_output=True,
                          text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def services():
    base = Path(tempfile.mkdtemp(prefix="runbook-ops-ee-"))
    os.chmod(base, 0o755)
    postgres = Postgres(base / "postgres").start()
    redis = Redis(base / "redis", password=REDIS_PASSWORD).start()
    try:
        yield {"postgres": postgres, "redis": redis}
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


def in_image(tag, *command):
    return subprocess.run(["docker", "run", "--rm", tag, *command], capture_output=True, text=True,
                          timeout=120, check=False)


def test_image_holds_the_tools_and_libraries(ee_image):
    done = in_image(ee_image, "sh", "-c",
                    "pg_dump --version && pg_restore --version && zstd --version && ansible-runner --version"
                    " && python3 -c 'import psycopg2, boto3, docker, kubernetes'"
                    " && ansible-galaxy collection list runbook.ops")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pg_dump (PostgreSQL) 15." in done.stdout
    assert "pg_restore (PostgreSQL) 15." in done.stdout
    assert "runbook.ops" in done.stdout and "/usr/share/ansible/collections" in done.stdout


def test_image_is_reused_when_its_inputs_are_unchanged(ee_image):
    again = subprocess.run([str(ROOT / "scripts" / "build-ee"), "--print-tag"], capture_output=True, text=True,
                           timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == ee_image
    assert "reused" in again.stderr
    label = subprocess.run(["docker", "image", "inspect", "--format",
                            '{{ index .Config.Labels "runbook.ops.ee.inputs" }}', ee_image],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert ee_image.endswith(":" + label)


def write_job(private, postgres, redis_port):
    """A job's private data dir as AWX lays it out (project/, inventory/), the project's
    ansible.cfg enabling the report callback as the repository's does. No secret in the
    inventory: they come from the environment the credential types inject."""
    (private / "project").mkdir(parents=True)
    (private / "inventory").mkdir()
    (private / "project" / "ansible.cfg").write_text("[defaults]\ncallbacks_enabled = runbook.ops.report\n")
    # The playbook of the installed collection, by name (the image has no checkout).
    (private / "project" / "health_check.yml").write_text(
        "---\n- name: Health check from the execution environment\n"
        "  ansible.builtin.import_playbook: runbook.ops.health_check\n")
    inventory = {"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/usr/bin/python3",
        # Empty dicts would turn the checks off: the keys that are not connection settings.
        "health_postgres": {"connections_warning": 80},
        "health_redis": {"login_host": "127.0.0.1", "port": redis_port},
        "health_host": {"mounts": ["/"], "load_warning": 50, "load_critical": 100},
    }}}}
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))


def injected_env(postgres):
    env = awx.inject("postgres", {"host": "127.0.0.1", "port": str(postgres.port), "username": "monitor",
                                  "password": postgres.monitor_password, "database": "app", "sslmode": "disable"})
    env.update(awx.inject("redis", {"password": REDIS_PASSWORD}))
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def run_in_ee(private, ident, image, envvars):
    name = "i14-ee-" + ident
    try:
        return ansible_runner.run(
            private_data_dir=str(private), playbook="health_check.yml", ident=ident,
            process_isolation=True, process_isolation_executable="docker", container_image=image,
            container_options=["--network=host", "--name=" + name],
            envvars=envvars, quiet=True, timeout=600,
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def verdict(run):
    stats = [e for e in run.events if e.get("event") == "playbook_on_stats"]
    assert len(stats) == 1
    return stats[0]["event_data"].get("artifact_data") or {}


def test_health_check_runs_inside_the_image_through_ansible_runner(ee_image, services, tmp_path):
    postgres, redis = services["postgres"], services["redis"]
    private = tmp_path / "job"
    ident = "hc-" + uuid.uuid4().hex[:8]
    write_job(private, postgres, redis.port)
    run = run_in_ee(private, ident, ee_image, injected_env(postgres))
    stdout = run.stdout.read()
    assert run.status == "successful", stdout[-4000:]
    assert run.rc == 0
    # The report in the job's artifact directory, where AWX keeps it.
    latest = private / "artifacts" / ident / "runbook_ops_report" / "latest"
    report = json.loads((latest / "report.json").read_text())
    assert report["status"] == "ok", report.get("failures")
    checks = {c["name"]: c["status"] for r in report["hosts"]["localhost"]["results"] for c in r["checks"]}
    assert checks["redis.ping"] == "ok"
    assert any(name.startswith("postgres.") for name in checks)
    assert any(name.startswith("disk.") for name in checks)
    # The verdict as set_stats data, the path as the container sees it.
    stats = verdict(run)
    assert stats["runbook_ops_status"] == "ok"
    assert stats["runbook_ops_severity"] == "P3"
    assert stats["runbook_ops_report"].startswith("/runner/artifacts/%s/runbook_ops_report/" % ident)
    # No secret in what the job leaves behind, except in ansible-runner's own `command` and
    # `env.list` (the job's environment; env.list is what it hands to docker, mode 0644), inside
    # the job's artifact directory, which only its owner can enter.
    assert (private / "artifacts" / ident).stat().st_mode & 0o077 == 0
    for path in (private / "artifacts" / ident).rglob("*"):
        if path.is_file() and path.name not in ("command", "env.list"):
            text = path.read_text(errors="replace")
            assert REDIS_PASSWORD not in text, path
            assert postgres.monitor_password not in text, path


def test_a_down_service_fails_the_job_and_still_writes_the_report(ee_image, services, tmp_path):
    postgres = services["postgres"]
    private = tmp_path / "job"
    ident = "down-" + uuid.uuid4().hex[:8]
    # A Redis port where nothing listens: redis.ping is critical, the gate fails the host.
    write_job(private, postgres, 1)
    run = run_in_ee(private, ident, ee_image, injected_env(postgres))
    assert run.status == "failed"
    assert run.rc != 0
    report = json.loads((private / "artifacts" / ident / "runbook_ops_report" / "latest" / "report.json").read_text())
    assert report["status"] == "critical"
    assert report["severity"] == "P0"
    assert verdict(run)["runbook_ops_severity"] == "P0"


def test_a_wrong_injected_password_is_a_critical_check_not_a_leak(ee_image, services, tmp_path):
    postgres, redis = services["postgres"], services["redis"]
    private = tmp_path / "job"
    ident = "badpw-" + uuid.uuid4().hex[:8]
    write_job(private, postgres, redis.port)
    env = injected_env(postgres)
    env["PGPASSWORD"] = "wrong-" + uuid.uuid4().hex
    run = run_in_ee(private, ident, ee_image, env)
    assert run.status == "failed"
    report = json.loads((private / "artifacts" / ident / "runbook_ops_report" / "latest" / "report.json").read_text())
    failing = {c["name"] for r in report["hosts"]["localhost"]["results"] for c in r["checks"]
               if c["status"] == "critical"}
    assert any(name.startswith("postgres.") for name in failing), failing
    stdout = run.stdout.read()
    assert env["PGPASSWORD"] not in stdout
    assert env["PGPASSWORD"] not in json.dumps(report)
