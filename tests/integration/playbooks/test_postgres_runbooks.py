"""playbooks/backup.yml, backup_verify.yml and db_performance.yml (the roles runbook.ops.backup,
backup_verify and db_performance) end to end: the real ansible-playbook with the local inventory,
pointed at a PostgreSQL started here on a free port (-e sandbox_postgres_port, sandbox_dir).

db_maintenance.yml runs in tests/integration/plugins/modules/test_pg_maintenance.py and in the
molecule scenario db_maintenance; health_check.yml in test_health_check.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sandbox.services import Postgres

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    base = Path(tempfile.mkdtemp(prefix="runbook-ops-pgrb-"))
    os.chmod(base, 0o755)  # the postgres user must reach its data directory below
    server = Postgres(base / "postgres").start()
    try:
        server.psql("CREATE TABLE public.filings (id int PRIMARY KEY, cik int, filing_date date);"
                    "INSERT INTO public.filings SELECT g, g % 97, date '2020-01-01' + g % 900 "
                    "FROM generate_series(1, 5000) g;", database="app")
        (base / "sandbox").mkdir()
        (base / "sandbox" / "state.json").write_text('{"demo": true}')
        (base / "sandbox" / "apps").mkdir()
        (base / "sandbox" / "apps" / "finchat-api.log").write_text("INFO started\n")
        yield {"server": server, "base": base,
               "extra": {"sandbox_postgres_port": server.port, "sandbox_dir": str(base / "sandbox")}}
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def run_playbook(postgres, playbook, name, variables=None, *args):
    """Run a playbook from the repository root with the local inventory; return (process, report)."""
    report_dir = postgres["base"] / ("reports-" + name)
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(report_dir), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    extra = dict(postgres["extra"], **(variables or {}))
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", playbook, "-e", json.dumps(extra), *args],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    report_file = report_dir / "latest" / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    return proc, report


def modules_run(report):
    return [r["module"].split(".")[-1] for r in report["hosts"]["localhost"]["results"]]


def test_backup_then_verify_with_a_test_restore(postgres):
    proc, report = run_playbook(postgres, "playbooks/backup.yml", "backup", {"backup_kind": "manual"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert report["status"] == "ok", report["failures"]
    backups = Path(postgres["extra"]["sandbox_dir"]) / "backups" / "postgres" / "manual"
    names = sorted(p.name for p in backups.iterdir())
    assert any(n.startswith("app-") and n.endswith(".manifest.json") for n in names), names
    # backup_files archives on the kinds it lists (manual among them in inventories/local)
    assert any(n.startswith("sandbox-files-") and n.endswith(".manifest.json") for n in names), names
    assert {"pg_backup", "file_archive", "backup_retention", "backup_verify"} <= set(modules_run(report))

    proc, report = run_playbook(postgres, "runbook.ops.backup_verify", "verify",
                                {"backup_verify_max_age_hours": {"manual": 1}})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    checks = {c["name"]: c["status"] for r in report["hosts"]["localhost"]["results"] for c in r["checks"]}
    assert checks and set(checks.values()) == {"ok"}, checks
    assert any("restore" in name for name in checks), checks
    assert Postgres.password not in proc.stdout + proc.stderr


@pytest.mark.parametrize("playbook, variables, message", [
    ("playbooks/backup.yml", {"backup_format": "tar"},
     "value of backup_format must be one of: custom, directory, got: tar"),
    ("playbooks/backup.yml", {"backup_s3": {"bucket": "b", "storage": "GLACIER"}}, "storage"),
    ("playbooks/backup_verify.yml", {"backup_verify_test_restore": "perhaps"}, "backup_verify_test_restore"),
    ("playbooks/db_performance.yml", {"db_performance_create_index": True,
                                      "db_maintenance": {"databases": ["app"],
                                                         "performance": {"index": {"name": "i"}}}},
     "parameters are required together: name, table, columns"),
], ids=["backup-choice", "backup-s3-unknown-key", "verify-bool", "performance-index"])
def test_a_wrong_variable_is_refused_before_any_task(postgres, playbook, variables, message):
    proc, report = run_playbook(postgres, playbook, "bad-" + sorted(variables)[0], variables)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "Validation of arguments failed" in proc.stdout and message in proc.stdout, proc.stdout[-3000:]
    assert modules_run(report) == ["validate_argument_spec"], modules_run(report)


def test_db_performance_remediations(postgres):
    """Diagnosis, then the hot-table VACUUM and the CONCURRENTLY built index (postgresql_idx with
    the connection from module_defaults); a second run builds nothing."""
    server = postgres["server"]
    index = {"name": "idx_filings_cik_date", "table": "filings", "columns": ["cik", "filing_date"]}
    variables = {"db_performance_vacuum_hot_tables": True, "db_performance_create_index": True,
                 "db_maintenance": {"hosts": "sandbox", "postgres": {
                     "login_host": "127.0.0.1", "port": server.port, "login_user": server.superuser,
                     "login_password": server.password, "ssl_mode": "disable"},
                     "databases": ["app"], "performance": {"hot_tables": ["public.filings"], "index": index}}}
    proc, report = run_playbook(postgres, "playbooks/db_performance.yml", "perf", variables)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert server.psql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.idx_filings_cik_date'::regclass",
                       database="app").strip() == "t"
    assert {"pg_diagnostics", "pg_maintenance"} <= set(modules_run(report)), modules_run(report)
    assert "changed=" in proc.stdout and server.password not in proc.stdout
    again, again_report = run_playbook(postgres, "runbook.ops.db_performance", "perf-again",
                                       dict(variables, db_performance_vacuum_hot_tables=False))
    assert again.returncode == 0, again.stdout[-4000:]
    assert "changed=0" in again.stdout
    assert again_report["status"] in ("ok", "warning"), again_report["failures"]
