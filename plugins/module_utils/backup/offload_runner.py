# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups to and from S3 (module s3_backup; pg_restore's and backup_retention's S3 side).

s3/client.py is the plain transport; this file knows the catalog: a local backup is checked
against its manifest before it is uploaded, its data objects go first and the manifest LAST; a
download checks every SHA-256 against the manifest and writes the local manifest last.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import json
import os
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_runner
from ansible_collections.runbook.ops.plugins.module_utils.backup import globals_plan
from ansible_collections.runbook.ops.plugins.module_utils.backup import offload_plan
from ansible_collections.runbook.ops.plugins.module_utils.common.result import build, check, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client

MIB = 1024 * 1024


def s3_session(module, options: Mapping[str, Any], where: str = ""):
    """The S3 client for ``options`` (the module's S3 options, or its ``s3`` suboptions: ``where``
    is then ``"s3: "``), failing the module with a clear message when they are unusable."""
    if not s3_client.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=s3_client.BOTO3_IMPORT_ERROR)
    problem = s3_client.validate_params(options)
    if problem:
        module.fail_json(msg=where + problem)
    try:
        return s3_client.client(options)
    except s3_client.S3Error as exc:
        module.fail_json(msg=where + str(exc))
    return None  # not reached: fail_json exits


def list_backups(s3, bucket: str, prefix: Optional[str], database: Optional[str] = None,
                 secrets: Iterable[Optional[str]] = ()) -> List[Dict[str, Any]]:
    """Backups under ``s3://bucket/prefix/<kind>/`` (see ``offload_plan.catalog_from_keys``)."""
    objects = s3_client.list_keys(s3, bucket, offload_plan.join_key(prefix, ""), secrets)
    return offload_plan.catalog_from_keys(objects, prefix, database)


def check_backup(s3, bucket: str, entry: Dict[str, Any], secrets: Iterable[Optional[str]] = ()) -> Dict[str, Any]:
    """Fill ``verified``: the manifest is valid and the objects are the ones it describes.

    For a single-file backup: the object's size and its ``sha256`` metadata (set by our upload,
    whose requests S3 checked with SHA-256) match the manifest; for a directory: every file is
    there with its size. Nothing is downloaded but the manifest.
    """
    secrets = list(secrets)
    if not entry["complete"]:
        entry["verified"], entry["verify_message"] = False, "incomplete: no manifest on S3"
        return entry
    try:
        raw = s3_client.get_bytes(s3, bucket, entry["manifest_key"], secrets=secrets)
        manifest = catalog_plan.validate_manifest(json.loads((raw or b"").decode("utf-8")))
        metadata = {}
        if catalog_plan.single_file(manifest):
            for key, _rel, _digest in offload_plan.archive_keys(entry["prefix"], manifest):
                if key in entry["data_keys"]:
                    metadata[key] = ((s3_client.head(s3, bucket, key, secrets) or {}).get("Metadata") or {}).get("sha256")
    except (ValueError, catalog_plan.BackupError, s3_client.S3Error) as exc:
        entry["verified"], entry["verify_message"] = False, "manifest unusable: %s" % exc
        return entry
    problems = offload_plan.object_problems(entry, manifest, metadata)
    entry["verified"] = not problems
    entry["verify_message"] = "; ".join(problems[:5]) if problems else "objects match the manifest"
    return entry


def delete_backup(s3, bucket: str, entry: Mapping[str, Any], secrets: Iterable[Optional[str]] = ()) -> None:
    """Delete the manifest first (the backup is then incomplete, never complete without data), then the data."""
    if entry.get("manifest_exists"):
        s3_client.delete_keys(s3, bucket, [entry["manifest_key"]], secrets)
    if entry.get("data_keys"):
        s3_client.delete_keys(s3, bucket, sorted(entry["data_keys"]), secrets)


def _remote_manifest(s3, bucket: str, mkey: str, secrets: List[Optional[str]]) -> Dict[str, Any]:
    remote = s3_client.get_bytes(s3, bucket, mkey, secrets=secrets)
    if remote is None:
        raise s3_client.S3Error("s3://%s/%s does not exist: the backup is missing or its upload never completed"
                                % (bucket, mkey))
    try:
        return catalog_plan.validate_manifest(json.loads(remote.decode("utf-8")))
    except ValueError:
        raise s3_client.S3Error("s3://%s/%s is not valid JSON" % (bucket, mkey))


def fetch_backup(s3, bucket: str, prefix: Optional[str], name: str, backup_dir: str, overwrite: bool = False,
                 check_mode: bool = False, secrets: Iterable[Optional[str]] = (), concurrency: int = 4) -> Dict[str, Any]:
    """Download the backup ``name`` (``<kind>/<file>``) into ``backup_dir``, verifying every SHA-256.

    The manifest must exist on S3 (else the upload never completed). Data is streamed to
    ``.partial`` files, checked, renamed into place; the local manifest is written last.
    Returns ``{changed, path, manifest_path, keys, manifest, bytes, seconds, message}``.
    """
    secrets = list(secrets)
    try:
        name = offload_plan.safe_name(name)
    except ValueError as exc:
        raise s3_client.S3Error(str(exc))
    mkey = offload_plan.manifest_key(prefix, name)
    manifest = _remote_manifest(s3, bucket, mkey, secrets)
    if manifest["name"] != name:
        raise s3_client.S3Error("s3://%s/%s describes %s, not %s" % (bucket, mkey, manifest["name"], name))
    dest = os.path.join(backup_dir, name)
    mpath = catalog_plan.manifest_path(dest)
    data = offload_plan.archive_keys(prefix, manifest)
    result: Dict[str, Any] = {"changed": False, "path": dest, "manifest_path": mpath, "manifest": manifest,
                              "keys": [k for k, _p, _s in data] + [mkey], "bytes": 0, "seconds": 0.0}
    if os.path.exists(mpath):
        try:
            local = catalog_runner.load_manifest(mpath)
        except catalog_plan.BackupError:
            local = {}
        if offload_plan.same_backup(local, manifest) and catalog_runner.verify_archive(dest, manifest)[0]:
            result["message"] = "%s is already here and verified" % dest
            return result
        if not overwrite:
            raise s3_client.S3Error("%s already exists and differs from s3://%s/%s: refusing without overwrite"
                                    % (dest, bucket, mkey))
    result["changed"] = True
    if check_mode:
        result["message"] = "would download %d object(s) to %s" % (len(data), dest)
        return result
    started = time.monotonic()
    try:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
    except OSError as exc:
        raise s3_client.S3Error("cannot create %s: %s" % (os.path.dirname(dest), exc.strerror or exc))
    catalog_runner.remove_path(mpath)
    result["bytes"] = _download_data(s3, bucket, data, dest, catalog_plan.single_file(manifest), secrets, concurrency)
    extra = offload_plan.globals_key(prefix, manifest)
    if extra:
        result["keys"].insert(-1, extra[0])
        result["bytes"] += s3_client.download_file(s3, bucket, extra[0], globals_plan.globals_path(dest), extra[1],
                                                   secrets, concurrency=concurrency)[1]
    try:
        catalog_runner.atomic_write_json(mpath, manifest)
    except OSError as exc:
        raise s3_client.S3Error("writing %s failed: %s" % (mpath, exc.strerror or exc))
    result["seconds"] = time.monotonic() - started
    result["message"] = "downloaded %d bytes to %s, sha256 verified, in %.1fs" % (
        result["bytes"], dest, result["seconds"])
    return result


def _download_data(s3, bucket: str, data, dest: str, single: bool, secrets: List[Optional[str]],
                   concurrency: int) -> int:
    if single:
        return s3_client.download_file(s3, bucket, data[0][0], dest, data[0][2], secrets, concurrency=concurrency)[1]
    staging = dest + catalog_plan.PARTIAL_SUFFIX
    catalog_runner.remove_path(staging)
    total = 0
    try:
        for key, rel, digest in data:
            target = os.path.join(staging, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            total += s3_client.download_file(s3, bucket, key, target, digest, secrets, concurrency=concurrency)[1]
        catalog_runner.remove_path(dest)
        os.rename(staging, dest)
    except OSError as exc:
        catalog_runner.remove_path(staging)
        raise s3_client.S3Error("writing %s failed: %s" % (staging, exc.strerror or exc))
    except BaseException:
        catalog_runner.remove_path(staging)
        raise
    return total


def upload_backup(s3, params: Mapping[str, Any], check_mode: bool, secrets: List[Optional[str]]) -> Dict[str, Any]:
    """s3_backup mode=upload: the local backup verified, its data objects sent, its manifest LAST.
    Returns ``{changed, message, keys, path, manifest_path, bytes, seconds}``."""
    archive, manifest, _message = catalog_runner.load_verified(params["backup"])
    bucket, prefix = params["bucket"], params["prefix"]
    data = offload_plan.archive_keys(prefix, manifest)
    mkey = offload_plan.manifest_key(prefix, manifest["name"])
    extra = offload_plan.globals_key(prefix, manifest)
    out = {"changed": False, "keys": [k for k, _p, _s in data] + ([extra[0]] if extra else []) + [mkey], "path": archive,
           "manifest_path": catalog_plan.manifest_path(archive), "bytes": None}
    remote = s3_client.get_bytes(s3, bucket, mkey, secrets=secrets)
    if remote is not None:
        try:
            remote_manifest = json.loads(remote.decode("utf-8"))
        except ValueError:
            remote_manifest = {}
        if offload_plan.same_backup(remote_manifest, manifest):
            return dict(out, message="s3://%s/%s is already uploaded" % (bucket, mkey))
        if not params["overwrite"]:
            raise s3_client.S3Error("s3://%s/%s holds a different backup of the same name: refusing to overwrite it "
                                    "without overwrite" % (bucket, mkey))
    if check_mode:
        return dict(out, changed=True, message="would upload %d object(s) and the manifest to s3://%s/%s"
                    % (len(data), bucket, out["keys"][0]))
    started = time.monotonic()
    total = 0
    storage = dict(sse=params["sse"], kms_key=params["sse_kms_key_id"], storage_class=params["storage_class"])
    for key, rel, digest in data:
        done = s3_client.upload_file(s3, bucket, key, os.path.join(archive, rel) if rel else archive,
                                     part_size=params["part_size_mb"] * MIB, concurrency=params["concurrency"],
                                     metadata={"sha256": digest}, secrets=secrets, **storage)
        total += done["size"]
    extra = offload_plan.globals_key(prefix, manifest)
    if extra:  # the globals file beside the backup, before the manifest too
        total += s3_client.upload_file(s3, bucket, extra[0], globals_plan.globals_path(archive),
                                       metadata={"sha256": extra[1]}, secrets=secrets, **storage)["size"]
    body = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    s3_client.put_bytes(s3, bucket, mkey, body, content_type="application/json", secrets=secrets, **storage)
    seconds = time.monotonic() - started
    return dict(out, changed=True, bytes=total, seconds=seconds,
                message="uploaded %d bytes in %d object(s) and the manifest to s3://%s/%s in %.1fs" % (
                    total, len(data), bucket, out["keys"][0], seconds))


def run(module) -> None:
    """The module s3_backup: upload a verified local backup, or download one and verify it."""
    validation.validate(module, argspec.VALUE_RULES)
    params = module.params
    s3 = s3_session(module, params)
    secrets = s3_client.secrets_of(params)
    mode = params["mode"]
    try:
        if mode == "upload":
            done = upload_backup(s3, params, module.check_mode, secrets)
        else:
            done = fetch_backup(s3, params["bucket"], params["prefix"], params["name"], params["backup_dir"],
                                overwrite=params["overwrite"], check_mode=module.check_mode, secrets=secrets,
                                concurrency=params["concurrency"])
    except (s3_client.S3Error, catalog_plan.BackupError) as exc:
        module.fail_json(msg=s3_client.scrub(str(exc), secrets))
    except Exception as exc:  # pylint: disable=broad-except  # never a traceback
        module.fail_json(msg="s3_backup %s failed: %s" % (mode, s3_client.error_message(exc, secrets)))
    metrics: Dict[str, float] = {}
    value = None
    if done["changed"] and not module.check_mode:
        metrics = {metric_key("s3_transfer_bytes", mode=mode): float(done["bytes"]),
                   metric_key("s3_transfer_seconds", mode=mode): round(done["seconds"], 3)}
        value = {"bytes": done["bytes"]}
    result = build([check("s3.%s" % mode, "ok", done["message"], value=value)], metrics, "s3")
    module.exit_json(changed=done["changed"], keys=done["keys"], path=done["path"],
                     manifest_path=done["manifest_path"], **result)
