"""Unit tests for plugins/module_utils/s3/client.py: pure helpers (no S3 endpoint)."""

from __future__ import annotations

import botocore.exceptions
import pytest

from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3u


def test_part_size_minimum_and_part_limit():
    assert s3u.part_size_for(100, 1) == s3u.MIN_PART
    assert s3u.part_size_for(100, 64 * 1024 * 1024) == 64 * 1024 * 1024
    huge = 10 * 1024 ** 4  # 10 TiB needs parts bigger than 64 MiB to stay under 10000 parts
    part = s3u.part_size_for(huge, 64 * 1024 * 1024)
    assert huge / part <= s3u.MAX_PARTS


@pytest.mark.parametrize("params, message", [
    ({"access_key": "a"}, "given together"),
    ({"secret_key": "s"}, "given together"),
    ({"endpoint_url": "127.0.0.1:9000"}, "must start with http"),
    ({"retries": 0}, "retries must be at least 1"),
])
def test_validate_params(params, message):
    assert message in s3u.validate_params(params)


def test_validate_params_ok():
    assert s3u.validate_params({"access_key": "a", "secret_key": "s", "endpoint_url": "http://x", "retries": 3}) is None


def test_client_kwargs():
    kwargs = s3u.client_kwargs({"endpoint_url": "http://127.0.0.1:9000", "access_key": "AK", "secret_key": "SK",
                                "region": "eu-west-1", "retries": 7, "validate_certs": False})
    assert kwargs["endpoint_url"] == "http://127.0.0.1:9000"
    assert kwargs["aws_access_key_id"] == "AK" and kwargs["aws_secret_access_key"] == "SK"
    assert kwargs["verify"] is False
    config = kwargs["config"]
    assert config.region_name == "eu-west-1"
    assert config.retries == {"max_attempts": 7, "mode": "standard"}
    assert config.s3 == {"addressing_style": "path"}


def test_error_message_scrubs_secrets():
    exc = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "key SECRETVALUE denied"}}, "PutObject")
    assert s3u.error_message(exc, ["SECRETVALUE"]) == "PutObject AccessDenied: key ******** denied"
    exc = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert s3u.error_message(exc).startswith("cannot reach the S3 endpoint")
    assert "no S3 credentials" in s3u.error_message(botocore.exceptions.NoCredentialsError())


def test_keys_and_same_backup():
    custom = {"name": "daily/db-20261122T000000Z.dump.zst", "format": "custom", "sha256": "a" * 64, "size": 3}
    assert s3u.archive_keys("pg/", custom) == [("pg/daily/db-20261122T000000Z.dump.zst", "", "a" * 64)]
    assert s3u.archive_keys("", custom)[0][0] == "daily/db-20261122T000000Z.dump.zst"
    directory = {"name": "weekly/db-20261122T000000Z.dir", "format": "directory",
                 "files": [{"path": "toc.dat", "sha256": "b" * 64, "size": 1}]}
    assert s3u.archive_keys("x/y", directory) == [("x/y/weekly/db-20261122T000000Z.dir/toc.dat", "toc.dat", "b" * 64)]
    assert s3u.same_backup(custom, dict(custom))
    assert not s3u.same_backup(custom, dict(custom, sha256="c" * 64))
    assert not s3u.same_backup(custom, directory)
    assert s3u.same_backup(directory, dict(directory))


def test_b64_sha256():
    assert s3u.b64_sha256(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
