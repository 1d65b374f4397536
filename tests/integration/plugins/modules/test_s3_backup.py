"""s3_backup against moto's S3 server on loopback: multipart with SHA-256, manifest last, faults."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from utils.backup_fixtures import create_db, drop_db, unique
from sandbox.services import Moto
from utils.run import ModuleFailed, run_module

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client


@pytest.fixture(scope="module")
def big_backup(postgres, tmp_path_factory):
    """An uncompressed custom-format backup of about 12 MB, so that uploads are multipart."""
    name = create_db(postgres, unique("s3src"),
                     "CREATE TABLE noise AS SELECT i, md5(i::text) || md5((i * 7)::text) AS a "
                     "FROM generate_series(1, 160000) i;")
    base = tmp_path_factory.mktemp("s3src")
    made = {
        "custom": run_module("pg_backup", dict(postgres.dsn(database=name), backup_dir=str(base),
                                               compression="none", globals=False)),
        "directory": run_module("pg_backup", dict(postgres.dsn(database=name), backup_dir=str(base),
                                                  kind="weekly", format="directory", globals=False)),
    }
    assert made["custom"]["manifest"]["size"] > 11 * 1024 * 1024
    yield made
    drop_db(postgres, name)


def _s3(server, bucket, **extra):
    args = dict(endpoint_url=server.endpoint_url, access_key=server.access_key, secret_key=server.secret_key,
                bucket=bucket, retries=2)
    args.update(extra)
    return args


@pytest.fixture
def bucket(s3_server):
    name = "bk-" + unique("b").replace("_", "-")
    client = s3_client.client(_s3(s3_server, name))
    client.create_bucket(Bucket=name)
    return name


def _client(server):
    return s3_client.client(_s3(server, "unused"))


def test_upload_multipart_with_checksums_then_idempotent(s3_server, bucket, big_backup):
    backup = big_backup["custom"]
    args = _s3(s3_server, bucket, mode="upload", backup=backup["path"], prefix="pg", part_size_mb=5,
               sse="AES256", storage_class="STANDARD_IA")
    preview = run_module("s3_backup", args, check_mode=True)
    assert preview["changed"] is True and "would upload" in preview["checks"][0]["message"]
    client = _client(s3_server)
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    result = run_module("s3_backup", args)
    assert result["changed"] is True and result["status"] == "ok"
    key = "pg/" + backup["name"]
    assert result["keys"] == [key, key + ".manifest.json"]
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == backup["manifest"]["size"]
    assert head["ETag"].endswith('-3"')  # three 5 MiB parts
    assert head["ChecksumSHA256"]
    assert head["ServerSideEncryption"] == "AES256" and head["StorageClass"] == "STANDARD_IA"
    assert head["Metadata"]["sha256"] == backup["manifest"]["sha256"]
    remote = json.loads(client.get_object(Bucket=bucket, Key=key + ".manifest.json")["Body"].read())
    assert remote == backup["manifest"]
    # The manifest was written after the data.
    mhead = client.head_object(Bucket=bucket, Key=key + ".manifest.json")
    assert mhead["LastModified"] >= head["LastModified"]
    assert result["metrics"]['s3_transfer_bytes{mode="upload"}'] == backup["manifest"]["size"]
    dumped = json.dumps(result)
    assert s3_server.secret_key not in dumped

    again = run_module("s3_backup", args)
    assert again["changed"] is False and "already uploaded" in again["checks"][0]["message"]


def test_download_verifies_and_is_idempotent(s3_server, bucket, big_backup, tmp_path):
    backup = big_backup["custom"]
    run_module("s3_backup", _s3(s3_server, bucket, mode="upload", backup=backup["manifest_path"], part_size_mb=5))
    args = _s3(s3_server, bucket, mode="download", name=backup["name"], backup_dir=str(tmp_path))
    result = run_module("s3_backup", args)
    assert result["changed"] is True
    assert result["path"] == str(tmp_path / backup["name"])
    ok, message = catalog_runner.verify_archive(result["path"], catalog_runner.load_manifest(result["manifest_path"]))
    assert ok, message
    assert sorted(os.listdir(tmp_path / "daily")) == sorted([os.path.basename(result["path"]),
                                                            os.path.basename(result["manifest_path"])])
    again = run_module("s3_backup", args)
    assert again["changed"] is False


def test_corrupt_object_on_s3_is_refused(s3_server, bucket, big_backup, tmp_path):
    backup = big_backup["custom"]
    run_module("s3_backup", _s3(s3_server, bucket, mode="upload", backup=backup["path"], part_size_mb=5))
    data = bytearray(open(backup["path"], "rb").read())
    data[1000] ^= 0x01
    _client(s3_server).put_object(Bucket=bucket, Key=backup["name"], Body=bytes(data))
    with pytest.raises(ModuleFailed) as failed:
        run_module("s3_backup", _s3(s3_server, bucket, mode="download", name=backup["name"], backup_dir=str(tmp_path)))
    assert "does not match the manifest" in failed.value.result["msg"]
    assert list(tmp_path.rglob("*.dump*")) == []


def test_directory_backup_round_trip(s3_server, bucket, big_backup, tmp_path):
    backup = big_backup["directory"]
    up = run_module("s3_backup", _s3(s3_server, bucket, mode="upload", backup=backup["path"], prefix="x/y"))
    assert len(up["keys"]) == len(backup["manifest"]["files"]) + 1
    down = run_module("s3_backup", _s3(s3_server, bucket, mode="download", name=backup["name"], prefix="x/y",
                                       backup_dir=str(tmp_path)))
    assert catalog_runner.verify_archive(down["path"], catalog_runner.load_manifest(down["manifest_path"]))[0]


def test_incomplete_upload_is_not_downloadable(s3_server, bucket, big_backup, tmp_path):
    backup = big_backup["custom"]
    _client(s3_server).put_object(Bucket=bucket, Key=backup["name"], Body=b"data without manifest")
    with pytest.raises(ModuleFailed) as failed:
        run_module("s3_backup", _s3(s3_server, bucket, mode="download", name=backup["name"], backup_dir=str(tmp_path)))
    assert "upload never completed" in failed.value.result["msg"]


def test_corrupt_local_backup_is_not_uploaded(s3_server, bucket, big_backup, tmp_path):
    src = big_backup["custom"]
    archive = tmp_path / os.path.basename(src["path"])
    shutil.copy(src["path"], archive)
    shutil.copy(src["manifest_path"], str(archive) + ".manifest.json")
    with open(archive, "r+b") as handle:
        handle.seek(10)
        handle.write(b"X")
    with pytest.raises(ModuleFailed) as failed:
        run_module("s3_backup", _s3(s3_server, bucket, mode="upload", backup=str(archive)))
    assert "checksum verification failed" in failed.value.result["msg"]
    assert _client(s3_server).list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_different_backup_same_name_refused(s3_server, bucket, big_backup):
    backup = big_backup["custom"]
    other = dict(backup["manifest"], sha256="0" * 64)
    _client(s3_server).put_object(Bucket=bucket, Key=backup["name"] + ".manifest.json", Body=json.dumps(other).encode())
    with pytest.raises(ModuleFailed) as failed:
        run_module("s3_backup", _s3(s3_server, bucket, mode="upload", backup=backup["path"]))
    assert "refusing to overwrite" in failed.value.result["msg"]


def test_endpoint_stopped_during_multipart_upload(big_backup, monkeypatch):
    server = Moto(Path(tempfile.mkdtemp(prefix="runbook-ops-moto-"))).start()
    try:
        client = s3_client.client(_s3(server, "x"))
        client.create_bucket(Bucket="dying")
        calls = []
        real = s3_client.read_part

        def read_then_stop(handle, size):
            calls.append(size)
            if len(calls) == 2:
                server.stop()
            return real(handle, size)

        monkeypatch.setattr(s3_client, "read_part", read_then_stop)
        with pytest.raises(ModuleFailed) as failed:
            run_module("s3_backup", _s3(server, "dying", mode="upload", backup=big_backup["custom"]["path"],
                                        part_size_mb=5, retries=1, s3_connect_timeout=2, concurrency=1))
        msg = failed.value.result["msg"]
        # The transfer manager reads parts ahead: the endpoint may go before the first part is sent.
        assert re.search(r"failed after \d+ part\(s\)", msg)
        # Stopped between two requests it is unreachable; stopped in the middle of one, its answer
        # can be cut short (CreateMultipartUpload without UploadId, seen once in CI-like runs).
        assert "cannot reach the S3 endpoint" in msg or "the S3 endpoint answered without" in msg, msg
        assert server.secret_key not in json.dumps(failed.value.result)
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_upload_aborted_leaves_no_manifest(s3_server, bucket, big_backup, monkeypatch, concurrency):
    """A part that fails (here: a read error) aborts the multipart upload and writes no manifest."""
    calls = []
    real = s3_client.read_part

    def read_then_fail(handle, size):
        calls.append(size)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        return real(handle, size)

    monkeypatch.setattr(s3_client, "read_part", read_then_fail)
    with pytest.raises(ModuleFailed) as failed:
        run_module("s3_backup", _s3(s3_server, bucket, mode="upload", backup=big_backup["custom"]["path"],
                                    part_size_mb=5, concurrency=concurrency))
    assert "Input/output error" in failed.value.result["msg"]
    assert re.search(r"failed after \d+ part\(s\)", failed.value.result["msg"])
    client = _client(s3_server)
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("extra, message", [
    ({"part_size_mb": 4}, "part_size_mb must be at least 5"),
    ({"concurrency": 0}, "concurrency must be at least 1"),
    ({"secret_key": None}, "parameters are required together: access_key, secret_key"),
    ({"endpoint_url": "ftp://x"}, "endpoint_url must start with"),
    ({"backup": None}, "mode is upload but all of the following are missing: backup"),
])
def test_bad_input(s3_server, big_backup, extra, message):
    args = _s3(s3_server, "whatever", mode="upload", backup=big_backup["custom"]["path"])
    args.update(extra)
    args = {k: v for k, v in args.items() if v is not None}
    with pytest.raises(ModuleFailed) as failed:
        run_module("s3_backup", args)
    assert message in failed.value.result["msg"]


def test_wrong_credentials_clear_error(s3_server, bucket, big_backup):
    args = _s3(s3_server, "no-such-bucket-here", mode="upload", backup=big_backup["custom"]["path"])
    with pytest.raises(ModuleFailed) as failed:
        run_module("s3_backup", args)
    assert "NoSuchBucket" in failed.value.result["msg"]
    assert s3_server.secret_key not in json.dumps(failed.value.result)


def test_pg_restore_from_s3_needs_download_dir(postgres, s3_server, bucket):
    s3 = dict(bucket=bucket, endpoint_url=s3_server.endpoint_url, access_key=s3_server.access_key,
              secret_key=s3_server.secret_key)
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_restore", dict(postgres.dsn(database="postgres"), backup="daily/x-20261122T000000Z.dump.zst",
                                      target=unique("nodir"), s3=s3))
    assert "download_dir" in failed.value.result["msg"] and "s3" in failed.value.result["msg"]
    assert s3_server.secret_key not in json.dumps(failed.value.result)


def test_pg_restore_from_s3(postgres, s3_server, bucket, big_backup, tmp_path):
    backup = big_backup["custom"]
    run_module("s3_backup", _s3(s3_server, bucket, mode="upload", backup=backup["path"], prefix="pg", part_size_mb=5))
    target = unique("froms3")
    s3 = dict(bucket=bucket, prefix="pg", endpoint_url=s3_server.endpoint_url, access_key=s3_server.access_key,
              secret_key=s3_server.secret_key)
    args = dict(postgres.dsn(database="postgres"), backup=backup["name"], target=target, s3=s3,
                download_dir=str(tmp_path))
    try:
        plan = run_module("pg_restore", args, check_mode=True)
        assert "checksums are verified while downloading" in plan["checks"][0]["message"]
        assert list(tmp_path.iterdir()) == []
        result = run_module("pg_restore", args)
        assert result["status"] == "ok", result["summary"]
        assert result["downloaded"] == str(tmp_path / backup["name"])
        assert postgres.psql("SELECT count(*) FROM noise", database=target).strip() == "160000"
        assert s3_server.secret_key not in json.dumps(result)
    finally:
        drop_db(postgres, target)
    # A damaged object on S3: the download fails its checksum and nothing is restored.
    client = _client(s3_server)
    client.put_object(Bucket=bucket, Key="pg/" + backup["name"], Body=b"damaged")
    damaged = dict(args, download_dir=str(tmp_path / "again"))
    with pytest.raises(ModuleFailed) as failed:
        run_module("pg_restore", damaged)
    assert "does not match the manifest" in failed.value.result["msg"]
    assert postgres.psql("SELECT count(*) FROM pg_database WHERE datname = '%s'" % target).strip() == "0"


def test_upload_and_download_through_ansible_playbook(s3_server, bucket, big_backup, tmp_path):
    """s3_backup as Ansible runs it (AnsiballZ, the argument spec and its rules), both modes, then check mode."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[4]
    connection = dict(bucket=bucket, endpoint_url=s3_server.endpoint_url, access_key=s3_server.access_key,
                      secret_key=s3_server.secret_key, prefix="play")
    backup = big_backup["custom"]
    tasks = [
        {"name": "upload", "runbook.ops.s3_backup": dict(connection, mode="upload", backup=backup["path"],
                                                         part_size_mb=5), "register": "up"},
        {"name": "download", "runbook.ops.s3_backup": dict(connection, mode="download", name=backup["name"],
                                                           backup_dir=str(tmp_path / "back")), "register": "down"},
        {"name": "results", "ansible.builtin.assert": {"that": [
            "up is changed", "up['keys'] | length == 2", "down is changed",
            "down.path == '%s'" % (tmp_path / "back" / backup["name"])]}},
        {"name": "again, in check mode", "runbook.ops.s3_backup": dict(connection, mode="upload", backup=backup["path"]),
         "check_mode": True, "register": "again"},
        {"name": "nothing to do", "ansible.builtin.assert": {"that": ["again is not changed"]}},
    ]
    playbook = tmp_path / "s3.yml"
    playbook.write_text(json.dumps([{"name": "s3_backup", "hosts": "localhost", "gather_facts": False,
                                     "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"))
    env.pop("ANSIBLE_CONFIG", None)
    done = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          cwd=str(root), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert s3_server.secret_key not in done.stdout
    assert catalog_runner.verify_archive(str(tmp_path / "back" / backup["name"]), backup["manifest"])[0]
