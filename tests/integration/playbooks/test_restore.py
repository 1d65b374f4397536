"""playbooks/restore.yml (role runbook.ops.restore) end to end: the maintenance window around a real restore.

ansible-playbook runs restore.yml with the local inventory against the real PostgreSQL
fixture, with one writer container (runbook-ops/debian12-python:1 running ``sleep
infinity``, named rbrst-...) stopped and started by community.docker (declared in galaxy.yml), and one writer
Deployment on the real Kubernetes control plane of the ``k8s_cluster`` fixture (a namespace of
its own per test) scaled to 0 and back by runbook.ops.k8s_rollout. A watch on the Deployment
records every replica count the apiserver stored (a dry run stores none), the Docker engine every
container's StartedAt/FinishedAt: together they show what the play did to the writers, and in
which order.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

import docker
import pytest

from utils.run import run_module
from utils.backup_fixtures import create_db, drop_db, unique
from utils.k8s_cluster import ReplicaRecorder

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
IMAGE = "runbook-ops/debian12-python:1"
WRITER = "writer"
REPLICAS = 3
NEVER = datetime(1, 1, 1, tzinfo=timezone.utc)

pytestmark = pytest.mark.slow


def _when(stamp: str) -> datetime:
    """Docker's RFC 3339 time with nanoseconds (trailing zeros trimmed) as a datetime."""
    stamp = stamp.rstrip("Z")
    whole, _dot, frac = stamp.partition(".")
    return datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(
        microsecond=int((frac + "000000")[:6]), tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def source(postgres, tmp_path_factory):
    """A database with many types and a verified backup of it (pg_backup, exact row counts)."""
    name = create_db(postgres, unique("rbrst_src"))
    base = tmp_path_factory.mktemp("rbrst-backups")
    made = run_module("pg_backup", dict(postgres.dsn(database=name), backup_dir=str(base), kind="manual",
                                        exact_counts=True))
    try:
        yield {"name": name, "backup": made["path"], "manifest": made["manifest"],
               "manifest_path": made["manifest_path"]}
    finally:
        drop_db(postgres, name)


@pytest.fixture(scope="module")
def directory_backup(postgres, source, tmp_path_factory):
    """A format=directory backup (pg_dump -Fd, each data file compressed with zstd) of the source."""
    base = tmp_path_factory.mktemp("rbrst-dir-backups")
    return run_module("pg_backup", dict(postgres.dsn(database=source["name"]), backup_dir=str(base), kind="manual",
                                        format="directory"))


@pytest.fixture
def window(postgres, tmp_path, k8s_cluster, k8s_ns):
    """One writer container and one writer Deployment, a restore target name, and the play's vars."""
    client = docker.from_env(timeout=60)
    name = "rbrst-writer-%s" % uuid.uuid4().hex[:8]
    container = client.containers.run(IMAGE, ["sleep", "infinity"], name=name, detach=True, init=True,
                                      labels={"runbook.ops.test": "1"})
    # A writer that was already stopped before the window: the play leaves it stopped.
    idle = client.containers.create(IMAGE, ["sleep", "infinity"], name=name + "-idle", init=True,
                                    labels={"runbook.ops.test": "1"})
    target = unique("rbrst_tgt")
    dsn = postgres.dsn()
    k8s_cluster.create_deployment(k8s_ns, WRITER, {"writer": "reg/writer:1.0"}, replicas=REPLICAS)
    recorder = ReplicaRecorder(k8s_cluster, k8s_ns, WRITER)
    extra = {
        "sandbox_dir": str(tmp_path), "sandbox_host": "127.0.0.1", "sandbox_postgres_port": dsn["port"],
        "backup_postgres": {"login_host": dsn["login_host"], "port": dsn["port"], "login_user": dsn["login_user"],
                            "login_password": dsn["login_password"], "ssl_mode": "disable"},
        "restore_target": target,
        "restore_stop_containers": [name, idle.name],
        "restore_scale_deployments": [{"name": WRITER, "namespace": k8s_ns}],
        "restore_k8s_kubeconfig": k8s_cluster.kubeconfig,
        "restore_k8s_wait_timeout": 60, "restore_k8s_wait_sleep": 0.1,
    }
    try:
        container.reload()
        yield {"client": client, "container": container, "idle": idle,
               "started": _when(container.attrs["State"]["StartedAt"]), "k8s": k8s_cluster, "ns": k8s_ns,
               "recorder": recorder, "target": target, "extra": extra, "tmp": tmp_path}
    finally:
        recorder.stop()
        container.remove(force=True)
        idle.remove(force=True)
        client.close()
        for db in postgres.psql("SELECT datname FROM pg_database WHERE datname LIKE '%s%%'" % target).split():
            drop_db(postgres, db)


def _play(window, _check: bool = False, **more: Any) -> subprocess.CompletedProcess:
    extra_file = window["tmp"] / ("extra-%s.json" % uuid.uuid4().hex[:6])
    extra_file.write_text(json.dumps(dict(window["extra"], **more)))
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(window["tmp"] / "reports"), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "playbooks/restore.yml",
                           "-e", "@%s" % extra_file] + (["--check"] if _check else []),
                          cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def _replica_changes(window) -> List[int]:
    """The replica counts the apiserver stored for the writer Deployment, in order (dry runs store none)."""
    return window["recorder"].settle()


def _writers_after(window) -> Dict[str, Any]:
    container = window["container"]
    container.reload()
    state = container.attrs["State"]
    deployment = window["k8s"].wait_rollout(window["ns"], WRITER, timeout=30)
    return {"running": state["Running"], "started": _when(state["StartedAt"]), "finished": _when(state["FinishedAt"]),
            "replicas": deployment["spec"]["replicas"], "available": deployment["status"].get("availableReplicas")}


def _assert_writers_stopped_and_back(window) -> None:
    """The writer container was stopped and started again, the writer Deployment scaled to 0
    and back to its replicas, all available."""
    after = _writers_after(window)
    assert after["running"] is True
    assert window["started"] < after["finished"] <= after["started"], after  # stopped, then started again
    assert _replica_changes(window) == [0, REPLICAS]
    assert after["replicas"] == REPLICAS and after["available"] == REPLICAS


def _target_databases(postgres, window) -> int:
    """Databases named like the restore target (the target, its _restore_ and _before_ copies)."""
    return int(postgres.psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%s%%'" % window["target"]))


def _counts(postgres, database: str) -> Dict[str, int]:
    """count(*) of every user table, keyed schema.table as in the manifest."""
    rows = postgres.psql("SELECT schemaname || '.' || tablename, format('%I.%I', schemaname, tablename) FROM pg_tables "
                         "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
                         database=database).splitlines()
    return {key: int(postgres.psql("SELECT count(*) FROM %s" % quoted, database=database))
            for key, quoted in (row.split("|", 1) for row in rows)}


def _task(name: str) -> str:
    """The banner of a task of role runbook.ops.restore."""
    return "TASK [runbook.ops.restore : %s]" % name


def _order(out: str, *tasks: str) -> List[int]:
    return [out.index(_task(task)) for task in tasks]


def test_restore_stops_the_writers_restores_verifies_and_starts_them(postgres, source, window):
    proc = _play(window, restore_backup=source["backup"])
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]

    # The writers were stopped before the restore and started after it, in that order.
    steps = _order(out, "Verify the checksum and plan the restore before stopping anything",
                   "Stop the writer containers", "Scale the writer Deployments to zero",
                   "Restore, then compare the row counts with the manifest",
                   "Scale the writer Deployments back to their replicas", "Start the writer containers again")
    assert steps == sorted(steps)
    _assert_writers_stopped_and_back(window)
    window["idle"].reload()
    assert window["idle"].attrs["State"]["Status"] == "created"  # not started by the play

    # The restored database holds the source's rows, as its manifest says.
    restored = _counts(postgres, window["target"])
    assert restored == _counts(postgres, source["name"])
    assert restored["public.filings"] == 2000
    assert {"%s.%s" % (t["schema"], t["table"]): t["rows"] for t in source["manifest"]["tables"]} == restored


def test_restore_of_a_directory_backup(postgres, source, directory_backup, window):
    assert directory_backup["manifest"]["compression"] == "zstd"
    proc = _play(window, restore_backup=directory_backup["path"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    _assert_writers_stopped_and_back(window)
    assert _counts(postgres, window["target"]) == _counts(postgres, source["name"])
    # The data files were decompressed next to the backup and removed again.
    assert sorted(os.listdir(os.path.dirname(directory_backup["path"]))) == sorted(
        [os.path.basename(directory_backup["path"]), os.path.basename(directory_backup["manifest_path"]),
         os.path.basename(directory_backup["path"]) + ".globals.sql"])


def test_failed_restore_still_starts_the_writers_again(postgres, source, window):
    # A role that can log in and read, but not create the database the restore needs: the
    # plan (check mode) passes, the restore itself fails after the writers were stopped.
    role = "rbrst_%s" % uuid.uuid4().hex[:8]
    postgres.psql("CREATE ROLE %s LOGIN NOCREATEDB PASSWORD 'rbrst-pw'" % role)
    try:
        login = dict(window["extra"]["backup_postgres"], login_user=role, login_password="rbrst-pw")
        proc = _play(window, restore_backup=source["backup"], backup_postgres=login)
    finally:
        postgres.psql("DROP ROLE %s" % role)
    out = proc.stdout
    assert proc.returncode != 0, out[-4000:]
    assert "restore into %s failed" % window["target"] in out, out[-4000:]
    assert "permission denied to create database" in out, out[-4000:]

    _assert_writers_stopped_and_back(window)
    assert _target_databases(postgres, window) == 0


def test_corrupt_archive_fails_before_any_writer_is_touched(postgres, source, window):
    corrupt_dir = window["tmp"] / "corrupt"
    corrupt_dir.mkdir()
    archive = corrupt_dir / Path(source["backup"]).name
    shutil.copy(source["backup"], archive)
    shutil.copy(source["manifest_path"], corrupt_dir / Path(source["manifest_path"]).name)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))

    proc = _play(window, restore_backup=str(archive))
    out = proc.stdout
    assert proc.returncode != 0, out[-4000:]
    assert "checksum" in out.lower(), out[-4000:]
    assert _task("Stop the writer containers") not in out, out[-4000:]

    after = _writers_after(window)
    assert after["running"] is True
    assert after["started"] == window["started"] and after["finished"] == NEVER, after  # never stopped
    assert _replica_changes(window) == []
    assert after["replicas"] == REPLICAS
    assert _target_databases(postgres, window) == 0


def test_writer_deployment_that_cannot_be_scaled_stops_the_restore(postgres, source, window):
    # The second Deployment does not exist: k8s_rollout fails that item (critical result kept),
    # the play stops before restoring, and puts back what it had already stopped.
    deployments = [{"name": WRITER, "namespace": window["ns"]}, {"name": "no-such-writer", "namespace": window["ns"]}]
    proc = _play(window, restore_backup=source["backup"], restore_scale_deployments=deployments)
    out = proc.stdout
    assert proc.returncode != 0, out[-4000:]
    assert "writers not stopped, nothing restored" in out and "no-such-writer" in out, out[-4000:]
    assert _task("Restore, then compare the row counts with the manifest") not in out, out[-4000:]

    _assert_writers_stopped_and_back(window)
    assert _target_databases(postgres, window) == 0


def test_check_mode_previews_the_window_and_changes_nothing(postgres, source, window):
    proc = _play(window, restore_backup=source["backup"], _check=True)
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    # Every step of the window ran, in check mode: the writers that would be stopped are shown.
    for task in ("Stop the writer containers", "Scale the writer Deployments to zero",
                 "Restore, then compare the row counts with the manifest"):
        assert _task(task) in out, out[-4000:]
    stop = out[out.index(_task("Stop the writer containers")):out.index(_task("Scale the writer Deployments to zero"))]
    assert "changed: [localhost] => (item=%s)" % window["container"].name in stop, stop
    assert "ok: [localhost] => (item=%s)" % window["idle"].name in stop, stop

    # Nothing changed: the container kept running, the Deployment was only dry-run patched,
    # no database was created.
    after = _writers_after(window)
    assert after["running"] is True
    assert after["started"] == window["started"] and after["finished"] == NEVER, after
    assert _replica_changes(window) == []
    assert after["replicas"] == REPLICAS
    assert _target_databases(postgres, window) == 0


def test_failed_writer_stop_stops_the_restore_and_starts_the_others(postgres, source, window):
    # The second writer name does not exist: its stop fails (community.docker cannot create it
    # without an image), the play restores nothing, the writer it did stop is started again,
    # and the missing one is looked up (it does not exist) and never created.
    missing = window["container"].name + "-missing"
    proc = _play(window, restore_backup=source["backup"], restore_stop_timeout=5,
                 restore_stop_containers=[window["container"].name, missing])
    out = proc.stdout
    assert proc.returncode != 0, out[-4000:]
    assert _task("Restore, then compare the row counts with the manifest") not in out, out[-4000:]
    assert _task("Look up the writer containers whose stop failed") in out, out[-4000:]
    lookup = out[out.index(_task("Look up the writer containers whose stop failed")):]
    assert "(item=%s)" % missing in lookup, lookup[:2000]

    after = _writers_after(window)
    assert after["running"] is True
    assert window["started"] < after["finished"] <= after["started"], after  # stopped, then started
    assert after["replicas"] == REPLICAS
    assert window["client"].containers.list(all=True, filters={"name": missing}) == []
    assert _target_databases(postgres, window) == 0
