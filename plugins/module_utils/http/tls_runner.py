# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS certificate expiry, the I/O half: read PEM files and the certificates of endpoints.

``run(module)`` is what ``tls_check`` calls; the decisions are in ``tls_plan``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.http import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import CRITICAL, build, check, down, metric_key
from ansible_collections.runbook.ops.plugins.module_utils.http.http_client import ssl_context
from ansible_collections.runbook.ops.plugins.module_utils.http.errors_plan import classify_error
from ansible_collections.runbook.ops.plugins.module_utils.http.tls_plan import (
    UTC,
    CertificateError,
    TargetError,
    cert_metrics,
    evaluate_expiry,
    evaluate_file,
    evaluate_trust,
    load_certificates,
    normalize_targets,
    parse_certificate,
)


class UnreadableFile(TargetError):
    """A certificate file that cannot be read (``error``: ``unreadable``) or holds no
    certificate (``not_a_certificate``): a health condition, reported as a critical check."""

    def __init__(self, message: str, error: str):
        super().__init__(message)
        self.error = error


def read_pem_file(path: str) -> Dict[str, Any]:
    """The first (leaf) certificate of a PEM file, plus how many the file holds."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise UnreadableFile("cannot read certificate file %s: %s" % (path, exc.strerror or exc), "unreadable")
    try:
        certs = load_certificates(data)
    except CertificateError as exc:
        raise UnreadableFile("certificate file %s: %s" % (path, exc), "not_a_certificate")
    leaf = dict(certs[0])
    leaf["count"] = len(certs)
    return leaf


def read_files(files: List[Mapping[str, Any]]) -> Tuple[List[Tuple[Mapping[str, Any], Dict[str, Any]]], List[Dict[str, Any]]]:
    """The files read, and a critical ``tls.<name>`` check for each one missing, unreadable or
    holding no certificate (the other files are still judged)."""
    read: List[Tuple[Mapping[str, Any], Dict[str, Any]]] = []
    problems: List[Dict[str, Any]] = []
    for target in files:
        try:
            read.append((target, read_pem_file(target["path"])))
        except UnreadableFile as exc:
            problems.append(check("tls." + target["name"], CRITICAL, str(exc),
                                  value={"source": target["path"], "error": exc.error}))
    return read, problems


def _handshake(host: str, port: int, server_name: str, timeout: float, ctx: ssl.SSLContext) -> Optional[bytes]:
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True)


def peer_certificate(host: str, port: int, server_name: str, timeout: float) -> bytes:
    """The server's certificate in DER, read without verification (SNI = ``server_name``)."""
    der = _handshake(host, port, server_name, timeout, ssl_context(False, None))
    if not der:
        raise ssl.SSLError("server sent no certificate")
    return der


def verify_peer(host: str, port: int, server_name: str, timeout: float, ca_path: Optional[str]) -> Tuple[bool, Optional[str]]:
    """Does the chain verify against the CA store (or ``ca_path``) and match ``server_name``?"""
    try:
        _handshake(host, port, server_name, timeout, ssl_context(True, ca_path))
    except ssl.SSLCertVerificationError as exc:
        return False, getattr(exc, "verify_message", None) or str(exc)
    except (ssl.SSLError, OSError) as exc:
        return False, classify_error(exc, timeout, host, port)[1]
    return True, None


def probe_endpoint(target: Mapping[str, Any], now: Optional[datetime.datetime] = None) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """Checks and metrics for one ``host:port``."""
    name = "tls." + target["name"]
    host, port = target["host"], target["port"]
    sni = target.get("server_name") or host
    source = "%s:%d" % (host, port)
    try:
        der = peer_certificate(host, port, sni, target["timeout"])
    except (OSError, ssl.SSLError) as exc:
        kind, message = classify_error(exc, target["timeout"], host, port)
        value = {"source": source, "error": kind}
        if kind == "tls":
            return ([check(name, CRITICAL, "TLS handshake with %s failed: %s" % (source, message), value=value)],
                    {metric_key("tls_up", target=target["name"]): 0.0})
        return [down(name, message, value=value)], {metric_key("tls_up", target=target["name"]): 0.0}
    try:
        cert = parse_certificate(der)
    except CertificateError as exc:
        return [check(name, CRITICAL, "cannot read the certificate of %s: %s" % (source, exc), value={"source": source})], {}
    now = now or datetime.datetime.now(UTC)
    checks = [evaluate_expiry(name, cert, now, target["warning_days"], target["critical_days"], source)]
    metrics = cert_metrics(target["name"], cert, now)
    metrics[metric_key("tls_up", target=target["name"])] = 1.0
    checks[0]["value"]["server_name"] = sni
    if target.get("validate_certs", True):
        verified, error = verify_peer(host, port, sni, target["timeout"], target.get("ca_path"))
        checks[0]["value"]["verified"] = verified
        checks.append(evaluate_trust(name, verified, error, sni))
        metrics[metric_key("tls_cert_verified", target=target["name"])] = 1.0 if verified else 0.0
    else:
        checks[0]["value"]["verified"] = None
    return checks, metrics


def check_all(endpoints: List[Mapping[str, Any]], files: List[Tuple[Mapping[str, Any], Mapping[str, Any]]],
              max_workers: int = 16, file_problems: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Probe the endpoints concurrently and judge the files (``file_problems``: the checks of
    the files that could not be read); one result."""
    results: List[Tuple[List[Dict[str, Any]], Dict[str, float]]] = []
    now = datetime.datetime.now(UTC)
    if endpoints:
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(endpoints)))) as pool:
            results.extend(pool.map(probe_endpoint, endpoints))
    for target, cert in files:
        results.append(evaluate_file(target, cert, now))
    results.extend(([problem], {}) for problem in file_problems or [])
    checks: List[Dict[str, Any]] = []
    metrics: Dict[str, float] = {}
    for item_checks, item_metrics in results:
        checks.extend(item_checks)
        metrics.update(item_metrics)
    return build(checks, metrics, subject="tls")


def run(module: Any) -> None:
    """``tls_check``: validate the targets, read the files, probe the endpoints, exit with the result."""
    params = module.params
    validation.validate(module, argspec.RULES)
    try:
        endpoints, files = normalize_targets(params["endpoints"], params["files"], params)
    except TargetError as exc:
        module.fail_json(msg=str(exc))
    read, problems = read_files(files)
    module.exit_json(changed=False, **check_all(endpoints, read, max_workers=params["max_workers"],
                                                file_problems=problems))
