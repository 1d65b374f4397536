# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 transport for runbook.ops, with boto3. It knows buckets, keys and files, nothing of backups.

* ``client(params)`` builds a boto3 S3 client from the shared options (doc fragment
  ``runbook.ops.s3``, argument spec in ``s3/argspec.py``): endpoint_url for S3-compatible stores,
  region, credentials (never shown), botocore's per-request retries and timeouts.
* ``upload_file(...)`` sends a file with boto3's transfer manager (``upload_fileobj`` with a
  ``TransferConfig``): one PUT up to ``part_size``, else a multipart upload of ``concurrency``
  parts at a time, every request with ``ChecksumAlgorithm=SHA256`` (S3 checks each part). At
  most ``concurrency`` parts are read into memory at once. A failed multipart upload is aborted.
* ``download_file(...)`` streams an object (``download_fileobj``, ranged GETs in parallel for a big
  one) to ``<dest>.partial`` while hashing it, checks the SHA-256 and only then renames it.
* Each function makes one library call, wrapped in ``retried``: S3's transient answers
  (throttling, 5xx) that outlive botocore's own retries are tried again with backoff.
* ``error_message(exc, secrets)`` turns botocore errors into one clear line without secrets.

boto3 is optional at import time: modules check ``HAS_BOTO3``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import base64
import functools
import hashlib
import importlib.util
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.retry import backoff_delays

# boto3 is imported on first use (``_boto``): a module with optional S3 options (pg_restore,
# backup_retention) does not pay its ~0.1 s import when it does not talk to S3.
try:
    HAS_BOTO3 = importlib.util.find_spec("boto3") is not None and importlib.util.find_spec("botocore") is not None
except (ImportError, ValueError):  # pragma: no cover - a broken installation
    HAS_BOTO3 = False
BOTO3_IMPORT_ERROR: Optional[str] = None if HAS_BOTO3 else "No module named 'boto3'"

MIN_PART = 5 * 1024 * 1024
MAX_PARTS = 10000
READ_CHUNK = 1024 * 1024
# ``retried``: attempts of one call on a transient answer, on top of botocore's per-request retries.
RETRY_ATTEMPTS = 3
RETRY_BACKOFF = 1.0
TRANSIENT_CODES = ("SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError",
                   "ServiceUnavailable", "500", "502", "503", "504")


def _boto():
    """``(boto3, botocore)`` with botocore.config, botocore.exceptions and boto3's transfer loaded."""
    import boto3  # pylint: disable=import-outside-toplevel
    import boto3.s3.transfer  # pylint: disable=import-outside-toplevel
    import botocore.config  # pylint: disable=import-outside-toplevel
    import botocore.exceptions  # pylint: disable=import-outside-toplevel

    return boto3, botocore


def _error_code(exc: BaseException) -> Optional[str]:
    """The S3 error code of botocore's ClientError, else None (botocore is loaded once a client exists)."""
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None or not isinstance(exc, exceptions.ClientError):
        return None
    return str(exc.response.get("Error", {}).get("Code") or "")


def _not_found(exc: BaseException) -> bool:
    return _error_code(exc) in ("404", "NoSuchKey", "NotFound")


def transient(exc: BaseException) -> bool:
    """Is ``exc`` an answer worth trying again (throttling, a 5xx)?"""
    return _error_code(exc) in TRANSIENT_CODES


def retried(func: Callable) -> Callable:
    """Decorator for a function making one library call: on a transient S3 answer the call is made
    again (RETRY_ATTEMPTS in all, exponential backoff); any other error is raised at once."""

    @functools.wraps(func)
    def call(*args, **kwargs):
        for delay in backoff_delays(RETRY_ATTEMPTS, RETRY_BACKOFF):
            try:
                return func(*args, **kwargs)
            except Exception as exc:  # pylint: disable=broad-except  # filtered just below
                if not transient(exc):
                    raise
            time.sleep(delay)
        return func(*args, **kwargs)

    return call


class S3Error(Exception):
    """An S3 operation failed; the message is safe to show."""


def secrets_of(params: Mapping[str, Any]) -> List[Optional[str]]:
    return [params.get("secret_key"), params.get("session_token"), params.get("access_key")]


def scrub(text: str, secrets: Iterable[Optional[str]]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(str(secret), "********")
    return text


def validate_params(params: Mapping[str, Any]) -> Optional[str]:
    """An error message when the S3 options are unusable, else None (the rules an argument spec
    cannot declare; access_key with secret_key is declared in s3/argspec.py)."""
    url = params.get("endpoint_url")
    if url and not (url.startswith("http://") or url.startswith("https://")):
        return "endpoint_url must start with http:// or https://, got %r" % url
    if params.get("retries") is not None and params["retries"] < 1:
        return "retries must be at least 1"
    return None


def client_kwargs(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Keyword arguments for ``boto3.client('s3', ...)`` (the Config object included)."""
    _boto3, botocore = _boto()
    config = botocore.config.Config(
        region_name=params.get("region") or "us-east-1",
        retries={"max_attempts": int(params.get("retries") or 5), "mode": "standard"},
        connect_timeout=params.get("s3_connect_timeout") or 10,
        read_timeout=params.get("s3_read_timeout") or 60,
        signature_version="s3v4",
        s3={"addressing_style": "path"} if params.get("endpoint_url") else {},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=32,
    )
    kwargs: Dict[str, Any] = {"config": config, "verify": bool(params.get("validate_certs", True))}
    if params.get("endpoint_url"):
        kwargs["endpoint_url"] = params["endpoint_url"]
    if params.get("access_key"):
        kwargs["aws_access_key_id"] = params["access_key"]
        kwargs["aws_secret_access_key"] = params["secret_key"]
    if params.get("session_token"):
        kwargs["aws_session_token"] = params["session_token"]
    return kwargs


def client(params: Mapping[str, Any]):
    try:
        kwargs = client_kwargs(params)
        return _boto()[0].session.Session(profile_name=params.get("profile") or None).client("s3", **kwargs)
    except Exception as exc:  # pylint: disable=broad-except
        raise S3Error("cannot create the S3 client: %s" % scrub(str(exc), secrets_of(params)))


def error_message(exc: BaseException, secrets: Iterable[Optional[str]] = ()) -> str:
    """One line for a botocore/boto3 error."""
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is not None:
        if isinstance(exc, exceptions.ClientError):
            err = exc.response.get("Error", {})
            code = err.get("Code") or "error"
            text = err.get("Message") or ""
            op = getattr(exc, "operation_name", "")
            return scrub(("%s%s: %s" % (("%s " % op) if op else "", code, text)).strip(), secrets)
        if isinstance(exc, exceptions.EndpointConnectionError):
            return scrub("cannot reach the S3 endpoint: %s" % exc, secrets)
        if isinstance(exc, exceptions.NoCredentialsError):
            return "no S3 credentials: set access_key and secret_key or configure the environment"
        if isinstance(exc, (exceptions.ConnectTimeoutError, exceptions.ReadTimeoutError)):
            return scrub("S3 endpoint timed out: %s" % exc, secrets)
    if isinstance(exc, KeyError):
        # boto3's transfer manager reads fields of the answers it expects: an endpoint that goes away
        # mid-request can leave one half-written (seen: CreateMultipartUpload without UploadId).
        return scrub("the S3 endpoint answered without %s (did it go away mid-request?)" % exc, secrets)
    if isinstance(exc, OSError) and exc.strerror:
        return scrub("%s: %s" % (exc.filename, exc.strerror) if exc.filename else exc.strerror, secrets)
    return scrub("%s: %s" % (type(exc).__name__, exc), secrets)


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def part_size_for(size: int, wanted: int) -> int:
    """A part size of at least ``wanted`` (and 5 MiB) that needs no more than 10000 parts."""
    part = max(MIN_PART, int(wanted))
    while size > part * MAX_PARTS:
        part *= 2
    return part


def transfer_config(size: int, part_size: int, concurrency: int):
    """boto3's TransferConfig: parts of ``part_size`` (grown to stay under 10000 parts), objects up to
    one part in one request, ``concurrency`` threads and at most as many parts in memory."""
    boto3, _botocore = _boto()
    part = part_size_for(size, part_size)
    config = boto3.s3.transfer.TransferConfig(
        multipart_threshold=part + 1, multipart_chunksize=part, max_concurrency=max(1, concurrency),
        use_threads=True, preferred_transfer_client="classic")
    # s3transfer reads the parts of a file object into memory: bound them to the parts in flight.
    config.max_in_memory_upload_chunks = max(1, concurrency)
    return config


def extra_args(sse: Optional[str] = None, kms_key: Optional[str] = None, storage_class: Optional[str] = None,
               metadata: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """The ExtraArgs of an upload: SHA-256 checksums always, encryption, storage class, metadata."""
    extra: Dict[str, Any] = {"ChecksumAlgorithm": "SHA256"}
    if sse:
        extra["ServerSideEncryption"] = sse
        if kms_key:
            extra["SSEKMSKeyId"] = kms_key
    if storage_class:
        extra["StorageClass"] = storage_class
    if metadata:
        extra["Metadata"] = dict(metadata)
    return extra


def read_part(handle, size: int) -> bytes:
    """Read from the file being uploaded (a seam for fault-injection tests)."""
    return handle.read(size)


class _UploadSource:
    """The file handed to the transfer manager: reads go through ``read_part``."""

    def __init__(self, handle):
        self.handle = handle

    def read(self, amount: int = -1) -> bytes:
        return read_part(self.handle, amount)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def tell(self) -> int:
        return self.handle.tell()

    @staticmethod
    def seekable() -> bool:
        return True

    @staticmethod
    def readable() -> bool:
        return True

    def close(self) -> None:
        """The transfer manager closes what it read; the handle is closed by its owner."""


class _PartCounter:
    """Counts the parts S3 accepted (botocore's after-call event, from the transfer's threads)."""

    def __init__(self):
        self.done = 0
        self.lock = threading.Lock()

    def __call__(self, http_response=None, **_kwargs) -> None:
        if http_response is not None and http_response.status_code == 200:
            with self.lock:
                self.done += 1


@retried
def _upload(s3, path: str, bucket: str, key: str, extra: Mapping[str, Any], config) -> None:
    with open(path, "rb") as handle:
        s3.upload_fileobj(_UploadSource(handle), bucket, key, ExtraArgs=dict(extra), Config=config)


@retried
def _abort_leftovers(s3, bucket: str, key: str) -> None:
    answer = s3.list_multipart_uploads(Bucket=bucket, Prefix=key)
    for upload in answer.get("Uploads") or []:
        if upload.get("Key") == key:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])


def upload_file(s3, bucket: str, key: str, path: str, part_size: int = 16 * 1024 * 1024,
                sse: Optional[str] = None, kms_key: Optional[str] = None, storage_class: Optional[str] = None,
                metadata: Optional[Mapping[str, str]] = None, secrets: Iterable[Optional[str]] = (),
                concurrency: int = 4) -> Dict[str, Any]:
    """Upload ``path`` to ``bucket/key`` with SHA-256 checksums; returns ``{size, parts}``.

    S3Error on failure; the transfer manager aborts a failed multipart upload (when that abort
    could not reach S3 either, the message says so).
    """
    secrets = list(secrets)
    size = os.path.getsize(path)
    config = transfer_config(size, part_size, concurrency)
    parts = 1 if size <= config.multipart_chunksize else -(-size // config.multipart_chunksize)
    counter = _PartCounter()
    s3.meta.events.register("after-call.s3.UploadPart", counter)
    try:
        _upload(s3, path, bucket, key, extra_args(sse, kms_key, storage_class, metadata), config)
    except Exception as exc:  # pylint: disable=broad-except
        note = ""
        if parts > 1:
            try:
                _abort_leftovers(s3, bucket, key)
            except Exception:  # pylint: disable=broad-except
                note = (" (the multipart upload could not be aborted; a bucket lifecycle rule should clean up "
                        "incomplete uploads)")
        raise S3Error("uploading s3://%s/%s failed after %d part(s): %s%s" % (
            bucket, key, counter.done, error_message(exc, secrets), note))
    finally:
        s3.meta.events.unregister("after-call.s3.UploadPart", counter)
    return {"size": size, "parts": parts}


@retried
def _put_object(s3, **kwargs) -> Dict[str, Any]:
    return s3.put_object(**kwargs)


def put_bytes(s3, bucket: str, key: str, body: bytes, content_type: str = "application/octet-stream",
              sse: Optional[str] = None, kms_key: Optional[str] = None, storage_class: Optional[str] = None,
              secrets: Iterable[Optional[str]] = ()) -> None:
    """A small object (a manifest) in one PUT with its SHA-256 checked by S3."""
    try:
        _put_object(s3, Bucket=bucket, Key=key, Body=body, ChecksumSHA256=b64_sha256(body), ContentType=content_type,
                    **extra_args(sse, kms_key, storage_class))
    except Exception as exc:  # pylint: disable=broad-except
        raise S3Error("uploading s3://%s/%s failed: %s" % (bucket, key, error_message(exc, list(secrets))))


@retried
def _head_object(s3, bucket: str, key: str) -> Dict[str, Any]:
    return s3.head_object(Bucket=bucket, Key=key)


def head(s3, bucket: str, key: str, secrets: Iterable[Optional[str]] = ()) -> Optional[Dict[str, Any]]:
    """The object's metadata, or None when it does not exist."""
    try:
        return _head_object(s3, bucket, key)
    except Exception as exc:  # pylint: disable=broad-except
        if _not_found(exc):
            return None
        raise S3Error("reading s3://%s/%s failed: %s" % (bucket, key, error_message(exc, list(secrets))))


@retried
def _get_small(s3, bucket: str, key: str, limit: int) -> Tuple[int, Optional[bytes]]:
    answer = s3.get_object(Bucket=bucket, Key=key)
    length = int(answer.get("ContentLength", 0))
    return length, None if length > limit else answer["Body"].read()


def get_bytes(s3, bucket: str, key: str, limit: int = 16 * 1024 * 1024,
              secrets: Iterable[Optional[str]] = ()) -> Optional[bytes]:
    """A small object's content (manifests), None when it does not exist."""
    try:
        length, body = _get_small(s3, bucket, key, limit)
    except Exception as exc:  # pylint: disable=broad-except
        if _not_found(exc):
            return None
        raise S3Error("reading s3://%s/%s failed: %s" % (bucket, key, error_message(exc, list(secrets))))
    if body is None:
        raise S3Error("s3://%s/%s is larger than %d bytes (%d)" % (bucket, key, limit, length))
    return body


class _HashingWriter:
    """Where the transfer manager writes a download: hashed, then written. It cannot seek, so the
    transfer manager hands it the bytes in order (ranges fetched ahead wait in memory)."""

    def __init__(self, out):
        self.out = out
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.out.write(data)
        self.size += len(data)
        return len(data)


@retried
def _download(s3, bucket: str, key: str, partial: str, config) -> Tuple[str, int]:
    with open(partial, "wb") as out:
        writer = _HashingWriter(out)
        s3.download_fileobj(bucket, key, writer, Config=config)
        out.flush()
        os.fsync(out.fileno())
    return writer.digest.hexdigest(), writer.size


def download_file(s3, bucket: str, key: str, dest: str, expected_sha256: Optional[str] = None,
                  secrets: Iterable[Optional[str]] = (), part_size: int = 16 * 1024 * 1024,
                  concurrency: int = 4) -> Tuple[str, int]:
    """Stream ``bucket/key`` to ``dest`` (via ``dest.partial``), hashing; check ``expected_sha256``.

    Returns ``(sha256 hex, size)``. On any failure ``dest.partial`` is removed and S3Error raised.
    """
    partial = dest + ".partial"
    try:
        digest, size = _download(s3, bucket, key, partial, transfer_config(0, part_size, concurrency))
        if expected_sha256 and digest != expected_sha256:
            raise S3Error("s3://%s/%s: sha256 %s does not match the manifest (%s)" % (
                bucket, key, digest[:16], expected_sha256[:16]))
        os.rename(partial, dest)
    except S3Error:
        _remove(partial)
        raise
    except OSError as exc:
        _remove(partial)
        raise S3Error("writing %s failed: %s" % (partial, exc.strerror or exc))
    except Exception as exc:  # pylint: disable=broad-except
        _remove(partial)
        raise S3Error("downloading s3://%s/%s failed: %s" % (bucket, key, error_message(exc, list(secrets))))
    except BaseException:
        _remove(partial)
        raise
    return digest, size


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@retried
def _list_all(s3, bucket: str, prefix: str) -> List[Dict[str, Any]]:
    return s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix).build_full_result() \
        .get("Contents", [])


def list_keys(s3, bucket: str, prefix: str, secrets: Iterable[Optional[str]] = ()) -> List[Dict[str, Any]]:
    """Every object under ``prefix``: ``[{key, size, last_modified}]``."""
    try:
        contents = _list_all(s3, bucket, prefix)
    except Exception as exc:  # pylint: disable=broad-except
        raise S3Error("listing s3://%s/%s failed: %s" % (bucket, prefix, error_message(exc, list(secrets))))
    return [{"key": item["Key"], "size": item["Size"], "last_modified": item["LastModified"]} for item in contents]


@retried
def _delete_objects(s3, bucket: str, keys: List[str]) -> Dict[str, Any]:
    return s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})


def delete_keys(s3, bucket: str, keys: List[str], secrets: Iterable[Optional[str]] = ()) -> None:
    """Delete keys, 1000 per request; S3Error naming the first failure."""
    for start in range(0, len(keys), 1000):
        try:
            answer = _delete_objects(s3, bucket, keys[start:start + 1000])
        except Exception as exc:  # pylint: disable=broad-except
            raise S3Error("deleting from s3://%s failed: %s" % (bucket, error_message(exc, list(secrets))))
        errors = answer.get("Errors") or []
        if errors:
            raise S3Error("deleting s3://%s/%s failed: %s" % (bucket, errors[0].get("Key"), errors[0].get("Message")))
