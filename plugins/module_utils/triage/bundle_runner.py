# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The triage bundle: one tar (zstd through ``backup/compress_runner``'s compressor, gzip, or
none) with a manifest holding the SHA-256 of every file, written atomically; its verification;
its optional upload with ``s3/client.py``.

Every file reaches the tar from memory, already redacted by the caller: nothing unredacted is
ever written, not even to a temporary file. The name of the bundle is reserved first with an
exclusive create, so two triages started at the same time never write the same file.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.backup import compress_runner
from ansible_collections.runbook.ops.plugins.module_utils.common import fileio
from ansible_collections.runbook.ops.plugins.module_utils.s3 import client as s3_client
from ansible_collections.runbook.ops.plugins.module_utils.triage import report_plan

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "runbook.ops/triage-bundle/v1"
SUFFIX = {"zstd": ".tar.zst", "gzip": ".tar.gz", "none": ".tar"}


class BundleError(Exception):
    """The bundle could not be written, read or uploaded; the message says where and why."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def taken_ids(directory: str) -> List[str]:
    """The incident ids that already have a bundle or a report in ``directory``."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    out = []
    for name in names:
        for suffix in list(SUFFIX.values()) + [".md", ".json"]:
            if name.endswith(suffix):
                out.append(name[: -len(suffix)])
    return out


def plan_path(directory: str, incident: str, compression: str) -> str:
    """Where the bundle goes: ``<directory>/<incident><suffix>``, ``-2``, ``-3`` ... when taken."""
    suffix = SUFFIX[compression]
    path = os.path.join(directory, incident + suffix)
    number = 1
    while os.path.exists(path):
        number += 1
        path = os.path.join(directory, "%s-%d%s" % (incident, number, suffix))
    return path


def reserve(directory: str, date: str, given: Optional[str], compression: str) -> Tuple[str, str]:
    """Create ``directory`` if needed and claim the bundle's name with an exclusive create:
    ``(incident id, bundle path)``. A concurrent triage that claimed the same name first makes
    this one take the next."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise BundleError("cannot create output_dir %s: %s" % (directory, exc.strerror or exc))
    for _attempt in range(1000):
        if given:
            incident, path = given, plan_path(directory, given, compression)
        else:  # a name another triage claimed meanwhile is taken: the next id
            incident = report_plan.incident_id(date, taken_ids(directory))
            path = os.path.join(directory, incident + SUFFIX[compression])
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise BundleError("cannot write into output_dir %s: %s" % (directory, exc.strerror or exc))
        os.close(fd)
        return incident, path
    raise BundleError("no free bundle name in %s" % directory)


def manifest(incident: str, created: str, files: Mapping[str, bytes], extra: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The manifest: every file's path, size and SHA-256 (the manifest itself excepted)."""
    entries = [{"path": path, "size": len(data), "sha256": sha256(data)} for path, data in sorted(files.items())]
    return dict({"schema": MANIFEST_SCHEMA, "incident": incident, "created": created, "files": entries}, **(extra or {}))


def write_bundle(path: str, root: str, files: Mapping[str, bytes], manifest_data: Mapping[str, Any],
                 compression: str, mtime: float) -> Dict[str, Any]:
    """Write the tar (files, then the manifest) through the compressor into ``path`` (already
    reserved) via a temporary file and a rename; ``{"path", "size", "sha256"}``."""
    argv = compress_runner.compressor_argv(compression)
    directory = os.path.dirname(path) or "."
    fd, partial = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".partial", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err) if argv else None  # noqa: S603
            sink = proc.stdin if proc else out
            code = 0
            try:
                with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    items = list(sorted(files.items())) + [(MANIFEST, json.dumps(manifest_data, indent=2, sort_keys=True).encode() + b"\n")]
                    for name, data in items:
                        info = tarfile.TarInfo("%s/%s" % (root, name))
                        info.size, info.mtime, info.mode = len(data), int(mtime), 0o600
                        tar.addfile(info, io.BytesIO(data))
            finally:
                if proc:
                    proc.stdin.close()
                    code = proc.wait()
            if proc and code != 0:
                err.seek(0)
                raise BundleError("compressing %s failed (exit %d): %s" % (path, code, err.read(2000).decode("utf-8", "replace").strip()))
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except OSError as exc:
        raise BundleError("writing %s failed: %s" % (path, exc.strerror or exc))
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    fileio.fsync_dir(directory)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return {"path": path, "size": os.path.getsize(path), "sha256": digest.hexdigest()}


def read_bundle(path: str) -> Dict[str, bytes]:
    """Every file of a bundle, by its path inside the bundle (the root directory included)."""
    compression = next((c for c, s in SUFFIX.items() if path.endswith(s) and c != "none"), "none")
    argv = compress_runner.compressor_argv(compression, decompress=True)
    try:
        if argv:
            with open(path, "rb") as inp:
                data = subprocess.run(argv, stdin=inp, capture_output=True, check=True).stdout  # noqa: S603
        else:
            with open(path, "rb") as inp:
                data = inp.read()
        out = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar.getmembers():
                if member.isfile():
                    handle = tar.extractfile(member)
                    out[member.name] = handle.read() if handle else b""
        return out
    except (OSError, subprocess.CalledProcessError, tarfile.TarError) as exc:
        raise BundleError("cannot read the bundle %s: %s" % (path, exc))


def verify_bundle(path: str) -> List[str]:
    """Problems of a bundle against its manifest (empty: it verifies): a file missing, changed,
    or not listed."""
    files = read_bundle(path)
    manifests = [name for name in files if name.split("/", 1)[-1] == MANIFEST]
    if len(manifests) != 1:
        return ["the bundle holds %d manifests, not 1" % len(manifests)]
    root = manifests[0][: -len(MANIFEST)]
    data = json.loads(files.pop(manifests[0]).decode("utf-8"))
    problems = []
    listed = set()
    for entry in data.get("files") or []:
        name = root + entry["path"]
        listed.add(name)
        if name not in files:
            problems.append("%s is missing" % entry["path"])
        elif sha256(files[name]) != entry["sha256"] or len(files[name]) != entry["size"]:
            problems.append("%s does not match its SHA-256" % entry["path"])
    problems.extend("%s is not in the manifest" % name for name in sorted(set(files) - listed))
    return problems


def upload(options: Mapping[str, Any], paths: Sequence[str]) -> List[str]:
    """Upload the bundle and its reports under ``<prefix>/``; the keys written."""
    secrets = s3_client.secrets_of(options)
    try:
        s3 = s3_client.client(options)
        keys = []
        for path in paths:
            key = "%s/%s" % (str(options.get("prefix") or "incidents").strip("/"), os.path.basename(path))
            s3_client.upload_file(s3, options["bucket"], key, path, secrets=secrets)
            keys.append(key)
        return keys
    except s3_client.S3Error as exc:
        raise BundleError(str(exc))
