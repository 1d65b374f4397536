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


def write_job(private, postgres, redis, ident):
    """A job's private data dir as AWX lays it out: project/, inventory/, env/."""
    (private / "project").mkdir(parents=True)
    (private / "inventory").mkdir()
    # The playbook of the installed collection, by name (the image has no checkout).
    (private / "project" / "health_check.yml").write_text(
        "---\n- name: Health check from the execution environment\n"
        "  ansible.builtin.import_playbook: runbook.ops.health_check\n")
    inventory = {"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": "/usr/bin/python3",
        "health_postgres": {"login_host": "127.0.0.1", "port": postgres.port, "login_user": "monitor",
                            "login_password": postgres.monitor_password, "database": "app",
                            "ssl_mode": "disable"},
        "health_redis": {"login_host": "127.0.0.1", "port": redis.port, "login_password": REDIS_PASSWORD},
        "health_host": {"mounts": ["/"], "load_warning": 50, "load_critical": 100},
    }}}}
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    return ident


def test_health_check_runs_inside_the_image_through_ansible_runner(ee_image, services, tmp_path):
    postgres, redis = services["postgres"], services["redis"]
    private = tmp_path / "job"
    ident = write_job(private, postgres, redis, "hc-" + uuid.uuid4().hex[:8])
    name = "i14-ee-" + ident
    report_dir = "/runner/artifacts/%s/reports" % ident
    try:
        run = ansible_runner.run(
            private_data_dir=str(private), playbook="health_check.yml", ident=ident,
            process_isolation=True, process_isolation_executable="docker", container_image=ee_image,
            container_options=["--network=host", "--name=" + name],
            envvars={"ANSIBLE_CALLBACKS_ENABLED": "runbook.ops.report", "RUNBOOK_OPS_REPORT_DIR": report_dir,
                     "ANSIBLE_NOCOLOR": "1"},
            quiet=True, timeout=600,
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    stdout = run.stdout.read()
    assert run.status == "successful", stdout[-4000:]
    assert run.rc == 0
    latest = private / "artifacts" / ident / "reports" / "latest"
    report = json.loads((latest / "report.json").read_text())
    assert report["status"] == "ok", report.get("failures")
    checks = {c["name"]: c["status"] for r in report["hosts"]["localhost"]["results"] for c in r["checks"]}
    assert checks["redis.ping"] == "ok"
    assert any(name.startswith("postgres.") for name in checks)
    assert any(name.startswith("disk.") for name in checks)
    # The modules ran in the container (the image's Python), not on this machine.
    events = [e for e in run.events if e.get("event") == "runner_on_ok"]
    assert events
    # No secret in what the job leaves behind.
    for path in (private / "artifacts" / ident).rglob("*"):
        if path.is_file() and path.name not in ("env.list",):
            text = path.read_text(errors="replace")
            assert REDIS_PASSWORD not in text, path
            assert postgres.monitor_password not in text or path.name == "command", path


def test_a_down_service_fails_the_job_and_still_writes_the_report(ee_image, services, tmp_path):
    postgres, redis = services["postgres"], services["redis"]
    private = tmp_path / "job"
    ident = write_job(private, postgres, redis, "down-" + uuid.uuid4().hex[:8])
    inventory = yaml.safe_load((private / "inventory" / "hosts.yml").read_text())
    # A Redis port where nothing listens: redis.ping is critical, the gate fails the host.
    inventory["all"]["hosts"]["localhost"]["health_redis"]["port"] = 1
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    name = "i14-ee-" + ident
    try:
        run = ansible_runner.run(
            private_data_dir=str(private), playbook="health_check.yml", ident=ident,
            process_isolation=True, process_isolation_executable="docker", container_image=ee_image,
            container_options=["--network=host", "--name=" + name],
            envvars={"ANSIBLE_CALLBACKS_ENABLED": "runbook.ops.report",
                     "RUNBOOK_OPS_REPORT_DIR": "/runner/artifacts/%s/reports" % ident},
            quiet=True, timeout=600,
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    assert run.status == "failed"
    assert run.rc != 0
    report = json.loads((private / "artifacts" / ident / "reports" / "latest" / "report.json").read_text())
    assert report["status"] == "critical"
    assert report["severity"] == "P0"
