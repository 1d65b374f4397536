"""Unit tests for plugins/module_utils/s3/client.py: pure helpers (no S3 endpoint)."""

from __future__ import annotations

import botocore.exceptions
import pytest

from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client


def test_part_size_minimum_and_part_limit():
    assert s3_client.part_size_for(100, 1) == s3_client.MIN_PART
    assert s3_client.part_size_for(100, 64 * 1024 * 1024) == 64 * 1024 * 1024
    huge = 10 * 1024 ** 4  # 10 TiB needs parts bigger than 64 MiB to stay under 10000 parts
    part = s3_client.part_size_for(huge, 64 * 1024 * 1024)
    assert huge / part <= s3_client.MAX_PARTS


@pytest.mark.parametrize("params, message", [
    ({"endpoint_url": "127.0.0.1:9000"}, "must start with http"),
    ({"retries": 0}, "retries must be at least 1"),
])
def test_validate_params(params, message):
    assert message in s3_client.validate_params(params)


def test_validate_params_ok():
    assert s3_client.validate_params({"access_key": "a", "secret_key": "s", "endpoint_url": "http://x", "retries": 3}) is None


def test_client_kwargs():
    kwargs = s3_client.client_kwargs({"endpoint_url": "http://127.0.0.1:9000", "access_key": "AK", "secret_key": "SK",
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
    assert s3_client.error_message(exc, ["SECRETVALUE"]) == "PutObject AccessDenied: key ******** denied"
    exc = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert s3_client.error_message(exc).startswith("cannot reach the S3 endpoint")
    assert "no S3 credentials" in s3_client.error_message(botocore.exceptions.NoCredentialsError())


@pytest.mark.parametrize("code, transient", [("SlowDown", True), ("503", True), ("AccessDenied", False)])
def test_retried_tries_transient_answers_again(monkeypatch, code, transient):
    monkeypatch.setattr(s3_client.time, "sleep", lambda _s: None)
    calls = []

    @s3_client.retried
    def call():
        calls.append(1)
        if len(calls) < 3:
            raise botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}}, "PutObject")
        return "done"

    if transient:
        assert call() == "done" and len(calls) == 3
    else:
        with pytest.raises(botocore.exceptions.ClientError):
            call()
        assert len(calls) == 1


def test_transfer_config_bounds_parts_in_memory():
    config = s3_client.transfer_config(100 * 1024 * 1024, 16 * 1024 * 1024, 4)
    assert config.multipart_chunksize == 16 * 1024 * 1024 and config.multipart_threshold == 16 * 1024 * 1024 + 1
    assert config.max_concurrency == 4 and config.max_in_memory_upload_chunks == 4
    assert s3_client.extra_args("aws:kms", "k", "STANDARD_IA", {"sha256": "x"}) == {
        "ChecksumAlgorithm": "SHA256", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "k",
        "StorageClass": "STANDARD_IA", "Metadata": {"sha256": "x"}}


def test_b64_sha256():
    assert s3_client.b64_sha256(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_error_message_for_an_answer_cut_short():
    message = s3_client.error_message(KeyError("UploadId"))
    assert message == "the S3 endpoint answered without 'UploadId' (did it go away mid-request?)"
