"""Every AWX job template of collection/awx/, launched as AWX would launch it, without AWX:
ansible_runner.run of the template's playbook from the repository (the AWX project), the
survey's answers (its defaults, or what an operator would type) as extra vars, and the
environment the template's credential types inject, rendered from their injectors
(utils.awx.inject). The inventory holds no secret and no PostgreSQL connection setting: the
PostgreSQL login, the Redis password and the S3 keys and endpoint reach the modules only
through that environment. Real PostgreSQL 15, Redis, moto's S3 server and Docker containers.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import ansible_runner
import boto3
import docker
import pytest
import yaml

from utils import awx
from utils.backup_fixtures import create_db, drop_db, unique
from utils.demo_stack import APP_IMAGE, TEST_LABEL, Service, build_demo_images

from ansible_collections.runbook.ops.plugins.module_utils.triage import bundle_runner

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
BUCKET = "awx-backups"
TEMPLATES = {Path(t["playbook"]).stem: t for t in awx.job_templates()}

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def sandbox(postgres, redis_server, s3_server, tmp_path_factory):
    """A database of our own, a bucket, a directory of files to archive, the credentials' inputs."""
    base = tmp_path_factory.mktemp("awx")
    os.chmod(base, 0o755)
    database = create_db(postgres, unique("awx"))
    files = base / "files"
    (files / "config").mkdir(parents=True)
    (files / "config" / "app.env").write_text("FEATURE=on\n")
    boto3.client("s3", endpoint_url=s3_server.endpoint_url, aws_access_key_id="awx-key",
                 aws_secret_access_key="awx-secret", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    inputs = {
        "postgres": {"host": "127.0.0.1", "port": str(postgres.port), "username": postgres.superuser,
                     "password": postgres.password, "database": database, "sslmode": "disable"},
        "s3": {"access_key": "awx-key", "secret_key": "awx-secret", "endpoint_url": s3_server.endpoint_url},
        "redis": {"password": redis_server.password},
        "notify": {},
    }
    try:
        yield {"base": base, "database": database, "files": files, "inputs": inputs, "postgres": postgres,
               "redis": redis_server, "s3": s3_server}
    finally:
        drop_db(postgres, database)


def inventory(sandbox, **more):
    """The hosts' variables as a site's inventory would hold them, minus every secret and the
    PostgreSQL connection (the credentials inject those)."""
    base = sandbox["base"]
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        # health_check: the checks that need a credential, and the host.
        "health_postgres": {"connections_warning": 80, "connections_critical": 95},
        "health_redis": {"login_host": "127.0.0.1", "port": sandbox["redis"].port},
        "health_host": {"mounts": ["/"], "disk_warning": 98, "disk_critical": 99, "load_warning": 50,
                        "load_critical": 100},
        # db_maintenance and db_performance
        "db_maintenance": {"postgres": {}, "databases": [sandbox["database"]], "lock_timeout": 2,
                           "weekly": {"operations": ["vacuum", "analyze"]},
                           "monthly": {"operations": ["vacuum", "analyze", "reindex", "vacuum_full"]}},
        # backup, backup_verify, restore, restore_files
        "backup_postgres": {},
        "backup_dir": str(base / "backups"),
        "backup_databases": [sandbox["database"]],
        "backup_s3": {"bucket": BUCKET, "prefix": "awx"},
        "backup_files": {"name": "files", "kinds": ["monthly", "manual"], "paths": [str(sandbox["files"])],
                         "compression": "zstd"},
        "backup_retention_rules": {"manual": {"keep_count": 5}},
        "backup_verify_max_age_hours": {"manual": 1},
        "backup_verify_test_restore": True,
        "restore_download_dir": str(base / "downloads"),
        "restore_files_dest": str(base / ("restored-files-%s" % uuid.uuid4().hex[:6])),
        # maintenance
        "maintenance_dir": str(base / "maintenance"),
    }
    host.update(more)
    return {"all": {"hosts": {"localhost": host}}}


def launch(sandbox, runbook, answers=None, credentials=None, **inventory_vars):
    """One job of the runbook's template: (runner, its report or None, the extra vars, the env)."""
    template = TEMPLATES[runbook]
    extra = awx.survey_defaults(template, **(answers or {}))
    env = {}
    for key in template["credential_types"] if credentials is None else credentials:
        env.update(awx.inject(key, sandbox["inputs"][key]))
    ident = "%s-%s" % (runbook, uuid.uuid4().hex[:8])
    private = sandbox["base"] / "jobs" / ident
    (private / "inventory").mkdir(parents=True)
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory(sandbox, **inventory_vars)))
    envvars = dict(env, ANSIBLE_NOCOLOR="1", PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "")))
    run = ansible_runner.run(private_data_dir=str(private), project_dir=str(ROOT), playbook=template["playbook"],
                             inventory=str(private / "inventory" / "hosts.yml"), extravars=extra,
                             envvars=envvars, ident=ident, quiet=True, timeout=900)
    latest = private / "artifacts" / ident / "runbook_ops_report" / "latest" / "report.json"
    report = json.loads(latest.read_text()) if latest.exists() else None
    return run, report, extra, env


def stdout(run):
    return run.stdout.read()


def checks(report):
    return {c["name"]: c["status"] for host in report["hosts"].values() for r in host["results"] for c in r["checks"]}


def assert_no_secret(run, report, env):
    out = stdout(run)
    for name, value in env.items():
        if value and any(word in name for word in ("PASSWORD", "SECRET", "AUTH", "TOKEN", "KEY")) and len(value) > 4:
            assert value not in out, name
            if report is not None:
                assert value not in json.dumps(report), name


def test_health_check_with_the_injected_credentials(sandbox):
    run, report, extra, env = launch(sandbox, "health_check")
    assert extra == {"health_fail_on": "critical"}
    assert run.status == "successful", stdout(run)[-4000:]
    states = checks(report)
    assert states["redis.ping"] == "ok"
    assert [name for name in states if name.startswith("postgres.") and states[name] == "critical"] == []
    assert any(name.startswith("postgres.") for name in states)
    assert_no_secret(run, report, env)


def test_health_check_without_the_credentials_is_critical(sandbox):
    """The inventory really carries no secret: without the injected environment the checks fail."""
    run, report, _extra, _env = launch(sandbox, "health_check", credentials=[])
    assert run.status == "failed"
    assert report["severity"] == "P0"
    states = checks(report)
    assert states["redis.ping"] == "critical" or any(
        states[name] == "critical" for name in states if name.startswith("redis."))
    assert any(states[name] == "critical" for name in states if name.startswith("postgres."))


@pytest.mark.parametrize("answers", [{}, {"maintenance_kind": "monthly", "db_maintenance_window": "true"}],
                         ids=["weekly-schedule", "monthly-window"])
def test_db_maintenance_as_its_schedules_launch_it(sandbox, answers):
    run, _report, extra, env = launch(sandbox, "db_maintenance", answers)
    assert extra["maintenance_kind"] == answers.get("maintenance_kind", "weekly")
    assert run.status == "successful", stdout(run)[-4000:]
    assert_no_secret(run, None, env)


def test_db_maintenance_schedule_extra_data_is_a_valid_launch(sandbox):
    """The monthly window's extra_data, as the schedule sends it."""
    schedule = next(s for s in TEMPLATES["db_maintenance"]["schedules"] if "first Saturday" in s["name"])
    run, _report, extra, _env = launch(sandbox, "db_maintenance", schedule["extra_data"])
    assert extra["db_maintenance_window"] == "true"
    assert run.status == "successful", stdout(run)[-4000:]


def test_db_performance_diagnoses_with_the_survey_defaults(sandbox):
    run, _report, extra, env = launch(sandbox, "db_performance")
    assert set(extra.values()) == {"false"}
    assert run.status == "successful", stdout(run)[-4000:]
    assert_no_secret(run, None, env)


def test_backup_verify_restore_and_file_restore_chain(sandbox):
    """The daily chain and its recovery: backup (offloaded to S3), verification with a test
    restore, a restore confirmed by typing the name twice, a file archive restored."""
    postgres = sandbox["postgres"]
    run, _report, extra, env = launch(sandbox, "backup")
    assert extra == {"backup_kind": "manual"}
    assert run.status == "successful", stdout(run)[-4000:]
    assert_no_secret(run, None, env)
    dumps = sorted((sandbox["base"] / "backups").rglob("*.dump.zst"))
    archives = sorted((sandbox["base"] / "backups").rglob("files-*.tar.zst"))
    assert dumps and archives, sorted(p.name for p in (sandbox["base"] / "backups").rglob("*"))
    s3 = boto3.client("s3", endpoint_url=sandbox["s3"].endpoint_url, aws_access_key_id="awx-key",
                      aws_secret_access_key="awx-secret", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert any(key.endswith(dumps[-1].name) for key in keys), keys

    run, report, _extra, env = launch(sandbox, "backup_verify")
    assert run.status == "successful", stdout(run)[-4000:]
    assert_no_secret(run, report, env)

    # A confirmation that does not match: nothing happens.
    target = unique("awx_restored")
    run, _report, _extra, _env = launch(sandbox, "restore", {"restore_backup": str(dumps[-1]), "restore_confirm": "something else",
                                                             "restore_target": target})
    assert run.status == "failed"
    assert "does not match restore_backup" in stdout(run)
    assert not postgres.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % target).strip()

    try:
        run, _report, _extra, env = launch(sandbox, "restore", {"restore_backup": str(dumps[-1]),
                                                                "restore_confirm": str(dumps[-1]), "restore_target": target})
        assert run.status == "successful", stdout(run)[-4000:]
        assert postgres.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % target).strip() == "1"
        assert_no_secret(run, None, env)
    finally:
        drop_db(postgres, target)

    run, _report, _extra, env = launch(sandbox, "restore_files", {"restore_files_backup": str(archives[-1])})
    assert run.status == "successful", stdout(run)[-4000:]
    restored = list(sandbox["base"].glob("restored-files-*"))
    assert any(p.name == "app.env" for d in restored for p in d.rglob("*")), restored


def test_restore_from_s3_by_its_name(sandbox):
    """restore_from_s3 answered "true": the backup's name on S3, downloaded with the injected keys."""
    postgres = sandbox["postgres"]
    run, _report, _extra, _env = launch(sandbox, "backup")
    assert run.status == "successful", stdout(run)[-4000:]
    dump = sorted((sandbox["base"] / "backups").rglob("*.dump.zst"))[-1]
    name = "%s/%s" % (dump.parent.name, dump.name)
    target = unique("awx_s3_restored")
    try:
        run, _report, _extra, env = launch(sandbox, "restore", {"restore_backup": name, "restore_confirm": name,
                                                                "restore_target": target, "restore_from_s3": "true"})
        assert run.status == "successful", stdout(run)[-4000:]
        assert postgres.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % target).strip() == "1"
        assert_no_secret(run, None, env)
    finally:
        drop_db(postgres, target)


def test_maintenance_on_with_the_survey_message_then_off(sandbox):
    message = "Database upgrade <b>tonight</b> & more"
    run, _report, _extra, _env = launch(sandbox, "maintenance", {"maintenance_message": message})
    assert run.status == "successful", stdout(run)[-4000:]
    pages = [p for p in (sandbox["base"] / "maintenance").rglob("*") if p.is_file()]
    assert any("Database upgrade" in p.read_text(errors="replace") for p in pages), pages
    run, _report, _extra, _env = launch(sandbox, "maintenance", {"maintenance_state": "off"})
    assert run.status == "successful", stdout(run)[-4000:]


@pytest.fixture
def service(tmp_path):
    """Two replicas of the demo app at v1 on a network of their own."""
    client = docker.from_env(timeout=60)
    build_demo_images(client)
    project = "i14awx%s" % uuid.uuid4().hex[:8]
    network = client.networks.create("%s_default" % project, driver="bridge", labels={TEST_LABEL: "1"})
    svc = Service(client, project, network, tmp_path)
    try:
        for index in (1, 2):
            svc.start_replica(index, "%s:v1" % APP_IMAGE)
        svc.wait_healthy(2)
        yield svc
    finally:
        svc.remove_all()
        network.remove()
        client.close()


@pytest.mark.docker
def test_deploy_with_the_survey_tag_then_rollback_with_its_default(sandbox, service):
    deploy_vars = {
        "deploy_project": service.project,
        "deploy_services": {"api": {"service": "api", "repository": APP_IMAGE,
                                    "http_gate": {"url": "http://{ip}:8000/health", "network": service.network.name}}},
        "deploy_gate_timeout": 30, "deploy_monitor_seconds": 0, "deploy_check_retries": 1,
        "deploy_pre_checks": [], "deploy_post_checks": [], "rollback_services": ["api"],
    }
    with pytest.raises(ValueError, match="deploy_version"):
        awx.survey_defaults(TEMPLATES["deploy"])  # no tag, no launch
    run, _report, extra, _env = launch(sandbox, "deploy", {"deploy_version": "v2"}, **deploy_vars)
    assert extra == {"deploy_version": "v2"}
    assert run.status == "successful", stdout(run)[-4000:]
    assert {c.attrs["Config"]["Image"] for c in service.replicas()} == {"%s:v2" % APP_IMAGE}
    run, _report, extra, _env = launch(sandbox, "rollback", **deploy_vars)
    assert extra == {"rollback_version": ""}
    assert run.status == "successful", stdout(run)[-4000:]
    assert {c.attrs["Config"]["Image"] for c in service.replicas()} == {"%s:v1" % APP_IMAGE}


def test_triage_with_the_survey_defaults_writes_a_verified_bundle_without_secrets(sandbox):
    out = sandbox["base"] / ("incidents-%s" % uuid.uuid4().hex[:6])
    run, report, extra, env = launch(sandbox, "triage", triage_output_dir=str(out))
    assert extra["triage_reporter"] == "on-call" and float(extra["triage_since_hours"]) == 1
    assert run.status == "successful", stdout(run)[-4000:]
    bundles = sorted(out.glob("INC-*.tar.zst"))
    assert len(bundles) == 1
    assert bundle_runner.verify_bundle(str(bundles[0])) == []
    incident = json.loads(bundles[0].with_name(bundles[0].name.replace(".tar.zst", ".json")).read_text())
    assert incident["reporter"] == "on-call"
    # The credentials reached the collectors through the injected environment.
    collectors = {c["name"]: c["status"] for c in incident["collectors"]}
    assert collectors["postgres"] == "ok" and collectors["redis"] == "ok", collectors
    files = bundle_runner.read_bundle(str(bundles[0]))
    everything = b"".join(files.values())
    for name, value in env.items():
        if value and any(word in name for word in ("PASSWORD", "SECRET", "AUTH", "TOKEN", "KEY")) and len(value) > 4:
            assert value.encode() not in everything, name
    assert_no_secret(run, report, env)
