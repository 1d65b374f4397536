"""Connection settings from the environment, as the peers' modules read them: PG* for the
PostgreSQL and backup modules, AWS_* for S3, REDISCLI_AUTH for Redis, DOCKER_* and K8S_AUTH_*.

Against the real services of tests/conftest.py. For every family: the variable alone is enough,
an option given in the task wins over it, and a secret taken from it never shows in the result.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.services import free_port
from utils.backup_fixtures import create_db, drop_db, unique
from utils.k8s_fake_apiserver import FakeApiServer
from utils.run import ModuleFailed, run_module

from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client

PG_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE",
                "PGSSLROOTCERT", "PGCONNECT_TIMEOUT", "PGSERVICE")
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_S3", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


@pytest.fixture
def pg_env(postgres, monkeypatch):
    """The monitor role's connection, in the environment only."""
    for name in PG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    values = dict(PGHOST="127.0.0.1", PGPORT=str(postgres.port), PGUSER=postgres.monitor_user,
                  PGPASSWORD=postgres.monitor_password, PGDATABASE=postgres.database)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def aws_env(s3_server, monkeypatch, tmp_path):
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # No shared files of the machine's user: only what the test gives counts.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    return monkeypatch


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #

def test_postgres_check_connects_with_the_libpq_environment_alone(postgres, pg_env):
    result = run_module("postgres_check", {})
    assert result["status"] == "ok", result["summary"]
    assert "connected as monitor to app" in by_name(result)["postgres.ping"]["message"]
    assert postgres.monitor_password not in json.dumps(result)


def test_an_option_in_the_task_wins_over_its_variable(postgres, pg_env, monkeypatch):
    closed = free_port()
    monkeypatch.setenv("PGPORT", str(closed))
    refused = run_module("postgres_check", {})
    assert by_name(refused)["postgres.ping"]["message"] == "connection refused by 127.0.0.1:%d" % closed
    assert run_module("postgres_check", {"port": postgres.port})["status"] == "ok"
    # And the other way round: a right variable does not override a wrong option.
    monkeypatch.setenv("PGPORT", str(postgres.port))
    assert run_module("postgres_check", {"port": closed})["status"] == "critical"
    monkeypatch.setenv("PGUSER", "nobody_here")
    assert run_module("postgres_check", {"login_user": postgres.monitor_user})["status"] == "ok"


def test_pguser_pgdatabase_and_a_wrong_pgpassword_are_honoured_and_never_shown(postgres, pg_env, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "Env-Wr0ng-Pa55!")
    result = run_module("postgres_check", {})
    assert by_name(result)["postgres.ping"]["message"] == "authentication failed for user monitor"
    assert "Env-Wr0ng-Pa55!" not in json.dumps(result)
    monkeypatch.setenv("PGPASSWORD", postgres.monitor_password)
    monkeypatch.setenv("PGDATABASE", "no_such_db_env")
    result = run_module("postgres_check", {})
    assert by_name(result)["postgres.ping"]["message"] == 'database "no_such_db_env" does not exist'


def test_pgsslmode_is_honoured_and_the_option_wins(postgres, pg_env, monkeypatch):
    monkeypatch.setenv("PGSSLMODE", "require")   # the sandbox server has no TLS
    result = run_module("postgres_check", {})
    assert result["status"] == "critical"
    assert "SSL" in by_name(result)["postgres.ping"]["message"]
    assert run_module("postgres_check", {"ssl_mode": "disable"})["status"] == "ok"
    monkeypatch.setenv("PGSSLMODE", "not-a-mode")
    with pytest.raises(ModuleFailed, match="ssl_mode"):
        run_module("postgres_check", {})


def test_pg_diagnostics_and_pg_terminate_read_the_environment(postgres, pg_env):
    assert run_module("pg_diagnostics", {})["status"] in ("ok", "warning")
    terminated = run_module("pg_terminate", {"min_duration": 3600}, check_mode=True)
    assert terminated["changed"] is False and not terminated.get("failed")


def test_pg_backup_dumps_with_the_environment_alone(postgres, pg_env, monkeypatch, tmp_path):
    name = create_db(postgres, unique("envdump"), "CREATE TABLE t AS SELECT 1 AS a;")
    try:
        monkeypatch.setenv("PGUSER", postgres.superuser)
        monkeypatch.setenv("PGPASSWORD", postgres.password)
        monkeypatch.setenv("PGDATABASE", name)
        result = run_module("pg_backup", {"backup_dir": str(tmp_path), "globals": False})
        assert result["changed"] is True and result["status"] == "ok", result["summary"]
        assert result["manifest"]["database"] == name
        assert Path(result["manifest_path"]).is_file()
        assert postgres.password not in json.dumps(result)
        # An explicit wrong port still wins over PGPORT: the backup could not be made.
        with pytest.raises(ModuleFailed) as failed:
            run_module("pg_backup", {"backup_dir": str(tmp_path), "globals": False, "port": free_port()})
        assert postgres.password not in json.dumps(failed.value.result)
    finally:
        drop_db(postgres, name)


def test_through_ansible_playbook_the_environment_reaches_the_module_and_stays_hidden(postgres, pg_env, tmp_path):
    """AnsiballZ on localhost: the module's process inherits the controller's environment (AWX's
    credential injectors set it there); the password read from it is masked like an option's."""
    repo = Path(__file__).resolve().parents[4]
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: health of the database named by PG* only
      runbook.ops.postgres_check: {}
""")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local", "-vvv",
         "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
        cwd=str(repo), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "connected as monitor to app" in proc.stdout
    # -vvv shows the module's arguments as it resolved them: the port from PGPORT, the password masked.
    invocation = proc.stdout[proc.stdout.index('"invocation"'):]
    assert '"port": %d' % postgres.port in invocation
    assert '"login_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in invocation
    assert postgres.monitor_password not in proc.stdout + proc.stderr
    assert not list((tmp_path / "reports").glob("*")) or all(
        postgres.monitor_password not in p.read_text() for p in (tmp_path / "reports").rglob("*") if p.is_file())


# --------------------------------------------------------------------------- #
# Redis
# --------------------------------------------------------------------------- #

def test_redis_check_takes_its_password_from_rediscli_auth(redis_server, monkeypatch):
    args = {"login_host": "127.0.0.1", "port": redis_server.port, "checks": ["memory"]}
    monkeypatch.delenv("REDISCLI_AUTH", raising=False)
    without = run_module("redis_check", args)
    assert without["status"] == "critical"
    monkeypatch.setenv("REDISCLI_AUTH", redis_server.password)
    assert run_module("redis_check", args)["status"] == "ok"
    monkeypatch.setenv("REDISCLI_AUTH", "Env-Wr0ng-Redis!")
    wrong = run_module("redis_check", args)
    assert wrong["status"] == "critical" and "Env-Wr0ng-Redis!" not in json.dumps(wrong)
    assert run_module("redis_check", dict(args, login_password=redis_server.password))["status"] == "ok"


# --------------------------------------------------------------------------- #
# S3
# --------------------------------------------------------------------------- #

def _bucket(s3_server):
    name = "env-" + unique("b").replace("_", "-")
    s3_client.client(dict(endpoint_url=s3_server.endpoint_url, access_key=s3_server.access_key,
                          secret_key=s3_server.secret_key, bucket=name)).create_bucket(Bucket=name)
    return name


def _retention(bucket, **s3):
    return {"s3": dict(bucket=bucket, prefix="pg", retries=1, **s3), "verify_checksums": False}


def test_s3_options_from_the_aws_environment(s3_server, aws_env):
    bucket = _bucket(s3_server)
    aws_env.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    aws_env.setenv("AWS_SESSION_TOKEN", "env-session-token-xyz")
    aws_env.setenv("AWS_REGION", "eu-west-3")
    # The service-specific endpoint wins over the general one, as in boto3.
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:%d" % free_port())
    aws_env.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint_url)
    result = run_module("backup_retention", _retention(bucket))
    assert result["status"] == "ok" and result["s3_kept"] == [], result["summary"]
    text = json.dumps(result)
    assert s3_server.secret_key not in text and "env-session-token-xyz" not in text
    # The general endpoint alone is used too.
    aws_env.delenv("AWS_ENDPOINT_URL_S3")
    aws_env.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    assert run_module("backup_retention", _retention(bucket))["status"] == "ok"


def test_s3_option_in_the_task_wins_over_the_environment(s3_server, aws_env, tmp_path):
    bucket = _bucket(s3_server)
    aws_env.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    aws_env.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:%d" % free_port())
    with pytest.raises(ModuleFailed, match="cannot reach the S3 endpoint"):
        run_module("s3_backup", {"bucket": bucket, "mode": "download", "name": "daily/x", "retries": 1,
                                 "backup_dir": str(tmp_path)})
    result = run_module("backup_retention", _retention(bucket, endpoint_url=s3_server.endpoint_url))
    assert result["status"] == "ok"


def test_s3_profile_from_aws_profile(s3_server, aws_env, tmp_path):
    bucket = _bucket(s3_server)
    credentials = tmp_path / "credentials"
    credentials.write_text("[backups]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                           % (s3_server.access_key, s3_server.secret_key))
    aws_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    aws_env.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint_url)
    with pytest.raises(ModuleFailed, match="no S3 credentials"):
        run_module("backup_retention", _retention(bucket))
    aws_env.setenv("AWS_PROFILE", "backups")
    assert run_module("backup_retention", _retention(bucket))["status"] == "ok"
    aws_env.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(ModuleFailed, match="no-such-profile"):
        run_module("backup_retention", _retention(bucket))


# --------------------------------------------------------------------------- #
# Docker and Kubernetes
# --------------------------------------------------------------------------- #

def test_docker_cert_path_gives_the_tls_files_when_tls_is_asked_for(monkeypatch, tmp_path, request):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("not a certificate\n")
    # An "engine" that accepts and says nothing: plain HTTP times out, TLS fails on the files.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    request.addfinalizer(listener.close)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:%d" % listener.getsockname()[1])
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    monkeypatch.delenv("DOCKER_TLS", raising=False)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    plain = run_module("container_check", {"names": ["x"], "timeout": 2})
    assert "no answer from" in plain["checks"][0]["message"], plain["checks"][0]["message"]
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    with_tls = run_module("container_check", {"names": ["x"], "timeout": 2})
    # The SDK now loads the files of DOCKER_CERT_PATH, which hold no certificate.
    assert with_tls["status"] == "critical"
    assert with_tls["checks"][0]["message"].startswith("docker engine unreachable: TLS error"), with_tls["checks"]
    assert "PEM" in with_tls["checks"][0]["message"]


def test_k8s_rollout_reads_k8s_auth_variables(monkeypatch):
    with FakeApiServer() as api:
        api.add_deployment("env-ns", "api", {"api": "reg/api:1.0"}, replicas=1)
        monkeypatch.setenv("K8S_AUTH_HOST", api.url)
        monkeypatch.setenv("K8S_AUTH_API_KEY", api.token)
        monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "false")
        result = run_module("k8s_rollout", {"namespace": "env-ns", "name": "api", "images": {"api": "reg/api:2.0"}},
                            check_mode=True)
        assert result["changed"] is True and api.token not in json.dumps(result)
        monkeypatch.setenv("K8S_AUTH_API_KEY", "wrong-token")
        with pytest.raises(ModuleFailed) as failed:
            run_module("k8s_rollout", {"namespace": "env-ns", "name": "api", "images": {"api": "reg/api:2.0"}},
                       check_mode=True)
        assert "wrong-token" not in json.dumps(failed.value.result)
        explicit = run_module("k8s_rollout", {"namespace": "env-ns", "name": "api", "api_key": api.token,
                                              "images": {"api": "reg/api:2.0"}}, check_mode=True)
        assert explicit["changed"] is True
