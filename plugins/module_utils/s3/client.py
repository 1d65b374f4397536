# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 for runbook.ops backups, with boto3.

* ``client(params)`` builds a boto3 S3 client from the shared options (doc fragment
  ``runbook.ops.s3``): endpoint_url for S3-compatible stores, region, credentials
  (never shown), retries and timeouts.
* ``upload_file(...)`` streams a file to S3 with SHA-256 checksums: one PUT for small files,
  else a multipart upload reading one part at a time (memory bounded by ``part_size``), each
  part with its own ``ChecksumSHA256``; a failed multipart upload is aborted.
* ``download_file(...)`` streams an object to ``<dest>.partial`` while hashing it, checks the
  SHA-256 and only then renames it into place.
* ``error_message(exc, secrets)`` turns botocore errors into one clear line without secrets.

boto3 is optional at import time: modules check ``HAS_BOTO3``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import base64
import hashlib
import importlib.util
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

# boto3 is imported on first use (``_boto``): a module with optional S3 options (pg_restore,
# backup_retention) does not pay its ~0.1 s import when it does not talk to S3.
try:
    HAS_BOTO3 = importlib.util.find_spec("boto3") is not None and importlib.util.find_spec("botocore") is not None
except (ImportError, ValueError):  # pragma: no cover - a broken installation
    HAS_BOTO3 = False
BOTO3_IMPORT_ERROR: Optional[str] = None if HAS_BOTO3 else "No module named 'boto3'"


def _boto():
    """``(boto3, botocore)`` with botocore.config and botocore.exceptions loaded."""
    import boto3  # pylint: disable=import-outside-toplevel
    import botocore.config  # pylint: disable=import-outside-toplevel
    import botocore.exceptions  # pylint: disable=import-outside-toplevel

    return boto3, botocore


def _not_found(exc: BaseException) -> bool:
    """Whether ``exc`` is botocore's ClientError for a missing object (botocore is loaded once a
    client exists)."""
    exceptions = sys.modules.get("botocore.exceptions")
    return exceptions is not None and isinstance(exc, exceptions.ClientError) and \
        exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


MIN_PART = 5 * 1024 * 1024
MAX_PARTS = 10000
READ_CHUNK = 1024 * 1024

S3_ARGUMENT_SPEC: Dict[str, Dict[str, Any]] = dict(
    bucket=dict(type="str", required=True),
    endpoint_url=dict(type="str"),
    region=dict(type="str", default="us-east-1"),
    access_key=dict(type="str", no_log=True, aliases=["aws_access_key_id"]),
    secret_key=dict(type="str", no_log=True, aliases=["aws_secret_access_key"]),
    session_token=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True),
    retries=dict(type="int", default=5),
    s3_connect_timeout=dict(type="float", default=10),
    s3_read_timeout=dict(type="float", default=60),
)


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
    """An error message when the S3 options are unusable, else None."""
    if bool(params.get("access_key")) != bool(params.get("secret_key")):
        return "access_key and secret_key must be given together"
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
        return _boto()[0].session.Session().client("s3", **kwargs)
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
    return scrub("%s: %s" % (type(exc).__name__, exc), secrets)


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def part_size_for(size: int, wanted: int) -> int:
    """A part size of at least ``wanted`` (and 5 MiB) that needs no more than 10000 parts."""
    part = max(MIN_PART, int(wanted))
    while size > part * MAX_PARTS:
        part *= 2
    return part


def _extra(sse: Optional[str], kms_key: Optional[str], storage_class: Optional[str],
           metadata: Optional[Mapping[str, str]]) -> Dict[str, Any]:
    extra: Dict[str, Any] = {}
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
    """Read one part (a seam for fault-injection tests)."""
    return handle.read(size)


def upload_file(s3, bucket: str, key: str, path: str, part_size: int = 16 * 1024 * 1024,
                sse: Optional[str] = None, kms_key: Optional[str] = None, storage_class: Optional[str] = None,
                metadata: Optional[Mapping[str, str]] = None, secrets: Iterable[Optional[str]] = (),
                concurrency: int = 4) -> Dict[str, Any]:
    """Upload ``path`` to ``bucket/key`` with SHA-256 checksums; returns ``{size, parts, checksum}``.

    Parts are sent by ``concurrency`` threads; memory stays below ``concurrency x part size``.
    """
    secrets = list(secrets)
    size = os.path.getsize(path)
    extra = _extra(sse, kms_key, storage_class, metadata)
    part = part_size_for(size, part_size)
    if size <= part:
        with open(path, "rb") as handle:
            body = handle.read()
        checksum = b64_sha256(body)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                          ChecksumSHA256=checksum, **extra)
        except Exception as exc:  # pylint: disable=broad-except
            raise S3Error("uploading s3://%s/%s failed: %s" % (bucket, key, error_message(exc, secrets)))
        return {"size": size, "parts": 1, "checksum": checksum}
    try:
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256", **extra)
    except Exception as exc:  # pylint: disable=broad-except
        raise S3Error("starting the upload of s3://%s/%s failed: %s" % (bucket, key, error_message(exc, secrets)))
    upload_id = upload["UploadId"]
    parts: List[Dict[str, Any]] = []
    sent = [0]

    stop = threading.Event()

    def send(number: int, offset: int) -> Optional[Dict[str, Any]]:
        # Each worker reads its own part: at most `concurrency` parts are in memory at once.
        if stop.is_set():
            return None  # another part failed: send nothing more
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                body = read_part(handle, part)
            checksum = b64_sha256(body)
            done = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body,
                                  ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
        except BaseException:
            stop.set()
            raise
        sent[0] += 1
        return {"PartNumber": number, "ETag": done["ETag"], "ChecksumSHA256": checksum}

    try:
        offsets = list(range(0, size, part))
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(offsets)))) as pool:
            futures = [pool.submit(send, index + 1, offset) for index, offset in enumerate(offsets)]
            try:
                parts = [future.result() for future in futures]
            except BaseException:
                stop.set()
                for future in futures:
                    future.cancel()
                raise
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException as exc:
        aborted = True
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:  # pylint: disable=broad-except
            aborted = False
        if not isinstance(exc, Exception):
            raise
        raise S3Error("uploading s3://%s/%s failed after %d part(s): %s%s" % (
            bucket, key, sent[0], error_message(exc, secrets),
            "" if aborted else " (the multipart upload could not be aborted; a bucket lifecycle rule should "
                               "clean up incomplete uploads)"))
    return {"size": size, "parts": len(parts), "checksum": None}


def head(s3, bucket: str, key: str, secrets: Iterable[Optional[str]] = ()) -> Optional[Dict[str, Any]]:
    """The object's metadata, or None when it does not exist."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:  # pylint: disable=broad-except
        if _not_found(exc):
            return None
        raise S3Error("reading s3://%s/%s failed: %s" % (bucket, key, error_message(exc, list(secrets))))


def get_bytes(s3, bucket: str, key: str, limit: int = 16 * 1024 * 1024,
              secrets: Iterable[Optional[str]] = ()) -> Optional[bytes]:
    """A small object's content (manifests), None when it does not exist."""
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:  # pylint: disable=broad-except
        if _not_found(exc):
            return None
        raise S3Error("reading s3://%s/%s failed: %s" % (bucket, key, error_message(exc, list(secrets))))
    if answer.get("ContentLength", 0) > limit:
        raise S3Error("s3://%s/%s is larger than %d bytes" % (bucket, key, limit))
    return answer["Body"].read()


def download_file(s3, bucket: str, key: str, dest: str, expected_sha256: Optional[str] = None,
                  secrets: Iterable[Optional[str]] = ()) -> Tuple[str, int]:
    """Stream ``bucket/key`` to ``dest`` (via ``dest.partial``), hashing; check ``expected_sha256``.

    Returns ``(sha256 hex, size)``. On any failure ``dest.partial`` is removed and S3Error raised.
    """
    partial = dest + ".partial"
    digest = hashlib.sha256()
    size = 0
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
        body = answer["Body"]
        with open(partial, "wb") as out:
            for block in body.iter_chunks(READ_CHUNK):
                digest.update(block)
                out.write(block)
                size += len(block)
            out.flush()
            os.fsync(out.fileno())
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise S3Error("s3://%s/%s: sha256 %s does not match the manifest (%s)" % (
                bucket, key, digest.hexdigest()[:16], expected_sha256[:16]))
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
    return digest.hexdigest(), size


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def list_keys(s3, bucket: str, prefix: str, secrets: Iterable[Optional[str]] = ()) -> List[Dict[str, Any]]:
    """Every object under ``prefix``: ``[{key, size, last_modified}]``."""
    found = []
    try:
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found.append({"key": item["Key"], "size": item["Size"], "last_modified": item["LastModified"]})
    except Exception as exc:  # pylint: disable=broad-except
        raise S3Error("listing s3://%s/%s failed: %s" % (bucket, prefix, error_message(exc, list(secrets))))
    return found


def delete_keys(s3, bucket: str, keys: List[str], secrets: Iterable[Optional[str]] = ()) -> None:
    """Delete keys, 1000 per request; S3Error naming the first failure."""
    for start in range(0, len(keys), 1000):
        batch = keys[start:start + 1000]
        try:
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        except Exception as exc:  # pylint: disable=broad-except
            raise S3Error("deleting from s3://%s failed: %s" % (bucket, error_message(exc, list(secrets))))
        errors = answer.get("Errors") or []
        if errors:
            raise S3Error("deleting s3://%s/%s failed: %s" % (bucket, errors[0].get("Key"), errors[0].get("Message")))


# --------------------------------------------------------------------------------------------
# Backups (runbook.ops.pg_backup layout) to and from S3
# --------------------------------------------------------------------------------------------

def join_key(prefix: Optional[str], name: str) -> str:
    prefix = (prefix or "").strip("/")
    return "%s/%s" % (prefix, name) if prefix else name


def archive_keys(prefix: Optional[str], manifest: Mapping[str, Any]) -> List[Tuple[str, str, Optional[str]]]:
    """``[(key, relative file path or '', sha256)]`` of a backup's data objects."""
    base = join_key(prefix, manifest["name"])
    if manifest["format"] in ("custom", "tar"):  # one file (backup.SINGLE_FILE_FORMATS)
        return [(base, "", manifest["sha256"])]
    return [("%s/%s" % (base, f["path"]), f["path"], f["sha256"]) for f in manifest["files"]]


def same_backup(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Do two manifests describe the same archive content?"""
    if a.get("format") != b.get("format"):
        return False
    if a.get("format") in ("custom", "tar"):
        return a.get("sha256") == b.get("sha256") and a.get("size") == b.get("size")
    return sorted((f["path"], f["sha256"]) for f in a.get("files") or []) == \
        sorted((f["path"], f["sha256"]) for f in b.get("files") or [])


def list_backups(s3, bucket: str, prefix: Optional[str], database: Optional[str] = None,
                 secrets: Iterable[Optional[str]] = ()) -> List[Dict[str, Any]]:
    """Backups under ``s3://bucket/prefix/<kind>/``, in the same shape as ``backup.list_backups``.

    Extra keys: ``data_keys`` ({key: size}), ``manifest_key``, ``manifest_exists``.
    """
    from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner as bk

    base = join_key(prefix, "")
    entries: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for obj in list_keys(s3, bucket, base, secrets):
        rel = obj["key"][len(base):]
        parts = rel.split("/")
        if len(parts) < 2:
            continue
        kind, fname = parts[0], parts[1]
        is_manifest = len(parts) == 2 and fname.endswith(bk.MANIFEST_SUFFIX)
        backup = fname[:-len(bk.MANIFEST_SUFFIX)] if is_manifest else fname
        parsed = bk.parse_backup_name(backup)
        if parsed is None or (database and parsed["database"] != database):
            continue
        entry = entries.setdefault((kind, backup), {
            "name": "%s/%s" % (kind, backup), "kind": kind, "database": parsed["database"],
            "timestamp": parsed["timestamp"], "path": join_key(prefix, "%s/%s" % (kind, backup)),
            "manifest_key": join_key(prefix, "%s/%s" % (kind, backup)) + bk.MANIFEST_SUFFIX,
            "manifest_exists": False, "data_keys": {}, "partial": False, "verified": None,
        })
        if is_manifest:
            entry["manifest_exists"] = True
        else:
            entry["data_keys"][obj["key"]] = obj["size"]
    found = list(entries.values())
    for entry in found:
        entry["complete"] = entry["manifest_exists"]
    return sorted(found, key=lambda e: e["name"])


def check_backup(s3, bucket: str, entry: Dict[str, Any], secrets: Iterable[Optional[str]] = ()) -> Dict[str, Any]:
    """Fill ``verified``: the manifest is valid and the objects are the ones it describes.

    For a custom archive: the object's size and its ``sha256`` metadata (set by our upload, whose
    parts S3 checked with SHA-256) match the manifest; for a directory: every file is there with its size.
    """
    from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner as bk
    import json

    secrets = list(secrets)
    if not entry["complete"]:
        entry["verified"], entry["verify_message"] = False, "incomplete: no manifest on S3"
        return entry
    try:
        raw = get_bytes(s3, bucket, entry["manifest_key"], secrets=secrets)
        manifest = bk.validate_manifest(json.loads((raw or b"").decode("utf-8")))
    except (ValueError, bk.BackupError, S3Error) as exc:
        entry["verified"], entry["verify_message"] = False, "manifest unusable: %s" % exc
        return entry
    problems = []
    for key, _rel, digest in archive_keys(_prefix_of(entry), manifest):
        if key not in entry["data_keys"]:
            problems.append("%s missing" % key)
            continue
        if bk.single_file(manifest):
            if entry["data_keys"][key] != manifest["size"]:
                problems.append("%s is %d bytes, manifest says %d" % (key, entry["data_keys"][key], manifest["size"]))
                continue
            info = head(s3, bucket, key, secrets) or {}
            if (info.get("Metadata") or {}).get("sha256") != digest:
                problems.append("%s sha256 metadata does not match the manifest" % key)
    if manifest["format"] == "directory":
        sizes = {f["path"]: f["size"] for f in manifest["files"]}
        for key, rel, _digest in archive_keys(_prefix_of(entry), manifest):
            if key in entry["data_keys"] and entry["data_keys"][key] != sizes[rel]:
                problems.append("%s size differs from the manifest" % key)
    entry["verified"] = not problems
    entry["verify_message"] = "; ".join(problems[:5]) if problems else "objects match the manifest"
    return entry


def _prefix_of(entry: Mapping[str, Any]) -> str:
    """The key prefix an entry was listed under (its path without ``<kind>/<name>``)."""
    path = entry["path"]
    tail = entry["name"]
    return path[:-len(tail)].rstrip("/") if path.endswith(tail) else ""


def delete_backup(s3, bucket: str, entry: Mapping[str, Any], secrets: Iterable[Optional[str]] = ()) -> None:
    """Delete the manifest first (the backup is then incomplete, never complete without data), then the data."""
    if entry.get("manifest_exists"):
        delete_keys(s3, bucket, [entry["manifest_key"]], secrets)
    if entry.get("data_keys"):
        delete_keys(s3, bucket, sorted(entry["data_keys"]), secrets)


def fetch_backup(s3, bucket: str, prefix: Optional[str], name: str, backup_dir: str, overwrite: bool = False,
                 check_mode: bool = False, secrets: Iterable[Optional[str]] = ()) -> Dict[str, Any]:
    """Download the backup ``name`` (``<kind>/<file>``) into ``backup_dir``, verifying every SHA-256.

    The manifest must exist on S3 (else the upload never completed). Data is streamed to
    ``.partial`` files, checked, renamed into place; the local manifest is written last.
    Returns ``{changed, path, manifest_path, keys, manifest, bytes, seconds, message}``.
    """
    import json
    import time

    from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner as bk

    secrets = list(secrets)
    name = name.strip("/")
    if not name or ".." in name.split("/") or name.startswith("/"):
        raise S3Error("name %r must be relative to the backup directory (<kind>/<file>)" % name)
    mkey = join_key(prefix, name) + bk.MANIFEST_SUFFIX
    remote = get_bytes(s3, bucket, mkey, secrets=secrets)
    if remote is None:
        raise S3Error("s3://%s/%s does not exist: the backup is missing or its upload never completed" % (bucket, mkey))
    try:
        manifest = bk.validate_manifest(json.loads(remote.decode("utf-8")))
    except ValueError:
        raise S3Error("s3://%s/%s is not valid JSON" % (bucket, mkey))
    if manifest["name"] != name:
        raise S3Error("s3://%s/%s describes %s, not %s" % (bucket, mkey, manifest["name"], name))
    dest = os.path.join(backup_dir, name)
    mpath = bk.manifest_path(dest)
    data = archive_keys(prefix, manifest)
    result: Dict[str, Any] = {"changed": False, "path": dest, "manifest_path": mpath, "manifest": manifest,
                              "keys": [k for k, _p, _s in data] + [mkey], "bytes": 0, "seconds": 0.0}
    if os.path.exists(mpath):
        try:
            local = bk.load_manifest(mpath)
        except bk.BackupError:
            local = {}
        if same_backup(local, manifest) and bk.verify_archive(dest, manifest)[0]:
            result["message"] = "%s is already here and verified" % dest
            return result
        if not overwrite:
            raise S3Error("%s already exists and differs from s3://%s/%s: refusing without overwrite"
                          % (dest, bucket, mkey))
    result["changed"] = True
    if check_mode:
        result["message"] = "would download %d object(s) to %s" % (len(data), dest)
        return result
    started = time.monotonic()
    total = 0
    try:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
    except OSError as exc:
        raise S3Error("cannot create %s: %s" % (os.path.dirname(dest), exc.strerror or exc))
    bk.remove_path(mpath)
    if bk.single_file(manifest):
        total = download_file(s3, bucket, data[0][0], dest, manifest["sha256"], secrets)[1]
    else:
        staging = dest + bk.PARTIAL_SUFFIX
        bk.remove_path(staging)
        try:
            for key, rel, digest in data:
                target = os.path.join(staging, rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                total += download_file(s3, bucket, key, target, digest, secrets)[1]
            bk.remove_path(dest)
            os.rename(staging, dest)
        except OSError as exc:
            bk.remove_path(staging)
            raise S3Error("writing %s failed: %s" % (staging, exc.strerror or exc))
        except BaseException:
            bk.remove_path(staging)
            raise
    try:
        bk.atomic_write_json(mpath, manifest)
    except OSError as exc:
        raise S3Error("writing %s failed: %s" % (mpath, exc.strerror or exc))
    result["seconds"] = time.monotonic() - started
    result["bytes"] = total
    result["message"] = "downloaded %d bytes to %s, sha256 verified, in %.1fs" % (total, dest, result["seconds"])
    return result
