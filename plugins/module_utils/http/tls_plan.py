# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS certificate expiry, the pure half: a small X.509 reader and the verdicts.

A small DER reader (``parse_certificate``) pulls the subject, issuer, validity
and subject alternative names out of an X.509 certificate, so PEM files and
peer certificates are read the same way on a host that has only python3.
The decisions (``evaluate_expiry``, ``evaluate_trust``, ``evaluate_file``) take the
time as an argument; the sockets and files are in ``tls_runner``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import base64
import binascii
import datetime
import ipaddress
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    WARNING,
    check,
    level_low,
    metric_key,
)

UTC = datetime.timezone.utc


class CertificateError(ValueError):
    """The bytes are not an X.509 certificate we can read."""


class TargetError(ValueError):
    """A target definition is invalid or its file cannot be read; the message names it."""


# --------------------------------------------------------------------------- #
# Pure: a minimal DER reader for X.509
# --------------------------------------------------------------------------- #

_NAME_OIDS = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.42": "GN",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "emailAddress",
}
_SAN_OID = "2.5.29.17"


def _tlv(data: bytes, pos: int) -> Tuple[int, int, int]:
    """Read one DER element at ``pos``: ``(tag, content_start, content_end)``."""
    if pos + 2 > len(data):
        raise CertificateError("truncated DER at offset %d" % pos)
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise CertificateError("multi-byte DER tags are not used in certificates")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertificateError("bad DER length at offset %d" % pos)
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise CertificateError("DER element runs past the end of the data")
    return tag, pos, end


def _children(data: bytes, start: int, end: int) -> List[Tuple[int, int, int]]:
    items = []
    pos = start
    while pos < end:
        tag, cstart, cend = _tlv(data, pos)
        items.append((tag, cstart, cend))
        pos = cend
    return items


def _oid(raw: bytes) -> str:
    if not raw:
        raise CertificateError("empty OID")
    parts = [raw[0] // 40, raw[0] % 40] if raw[0] < 80 else [2, raw[0] - 80]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _string(tag: int, raw: bytes) -> str:
    if tag == 0x1E:
        return raw.decode("utf-16-be", errors="replace")
    if tag == 0x1C:
        return raw.decode("utf-32-be", errors="replace")
    if tag == 0x14:
        return raw.decode("latin-1")
    return raw.decode("utf-8", errors="replace")


def _time(tag: int, raw: bytes) -> datetime.datetime:
    text = raw.decode("ascii", errors="replace")
    try:
        if tag == 0x17:  # UTCTime YYMMDDHHMM[SS]Z
            stamp = datetime.datetime.strptime(text.rstrip("Z"), "%y%m%d%H%M%S" if len(text) >= 13 else "%y%m%d%H%M")
            # RFC 5280: YY >= 50 is 19YY; strptime's %y pivots at 69.
            year = stamp.year % 100
            stamp = stamp.replace(year=(1900 if year >= 50 else 2000) + year)
        elif tag == 0x18:  # GeneralizedTime YYYYMMDDHHMMSS[.fff]Z
            stamp = datetime.datetime.strptime(text.rstrip("Z").split(".")[0], "%Y%m%d%H%M%S")
        else:
            raise CertificateError("unexpected time tag 0x%02x" % tag)
    except ValueError as exc:
        raise CertificateError("bad certificate time %r: %s" % (text, exc))
    return stamp.replace(tzinfo=UTC)


def _name(data: bytes, start: int, end: int) -> List[Tuple[str, str]]:
    pairs = []
    for _set_tag, sstart, send in _children(data, start, end):
        for _seq_tag, astart, aend in _children(data, sstart, send):
            kids = _children(data, astart, aend)
            if len(kids) < 2:
                continue
            oid = _oid(data[kids[0][1]:kids[0][2]])
            pairs.append((_NAME_OIDS.get(oid, oid), _string(kids[1][0], data[kids[1][1]:kids[1][2]])))
    return pairs


def format_name(pairs: List[Tuple[str, str]]) -> str:
    """``[("C", "US"), ("CN", "x")]`` -> ``C=US, CN=x``."""
    return ", ".join("%s=%s" % pair for pair in pairs)


def _sans(data: bytes, start: int, end: int) -> List[str]:
    names = []
    tag, sstart, send = _tlv(data, start)
    if tag != 0x30:
        raise CertificateError("subjectAltName is not a SEQUENCE")
    for gtag, gstart, gend in _children(data, sstart, send):
        raw = data[gstart:gend]
        kind = gtag & 0x1F
        if kind == 2:
            names.append("DNS:" + raw.decode("ascii", errors="replace"))
        elif kind == 7:
            try:
                names.append("IP:" + str(ipaddress.ip_address(raw)))
            except ValueError:
                names.append("IP:" + raw.hex())
        elif kind == 1:
            names.append("email:" + raw.decode("ascii", errors="replace"))
        elif kind == 6:
            names.append("URI:" + raw.decode("ascii", errors="replace"))
    return names


def parse_certificate(der: bytes) -> Dict[str, Any]:
    """Read subject, issuer, validity, SANs and serial from a DER X.509 certificate.

    Raises ``CertificateError`` (only) for anything that is not a readable certificate.
    """
    try:
        return _parse_certificate(bytes(der))
    except CertificateError:
        raise
    except (IndexError, ValueError, TypeError) as exc:
        raise CertificateError("malformed certificate: %s" % exc)


def _parse_certificate(data: bytes) -> Dict[str, Any]:
    tag, cstart, cend = _tlv(data, 0)
    if tag != 0x30:
        raise CertificateError("not a DER certificate (no outer SEQUENCE)")
    parts = _children(data, cstart, cend)
    if not parts or parts[0][0] != 0x30:
        raise CertificateError("not a DER certificate (no tbsCertificate)")
    tbs = _children(data, parts[0][1], parts[0][2])
    if tbs and tbs[0][0] == 0xA0:  # explicit version
        tbs = tbs[1:]
    if len(tbs) < 6:
        raise CertificateError("tbsCertificate has %d fields, expected at least 6" % len(tbs))
    serial, _sig, issuer, validity, subject = tbs[0], tbs[1], tbs[2], tbs[3], tbs[4]
    if serial[0] != 0x02 or issuer[0] != 0x30 or validity[0] != 0x30 or subject[0] != 0x30:
        raise CertificateError("tbsCertificate fields are not in X.509 order")
    times = _children(data, validity[1], validity[2])
    if len(times) != 2:
        raise CertificateError("validity must hold two times")
    sans: List[str] = []
    for extra in tbs[6:]:
        if extra[0] != 0xA3:
            continue
        _seq, estart, eend = _tlv(data, extra[1])
        for _t, xstart, xend in _children(data, estart, eend):
            fields = _children(data, xstart, xend)
            if fields and _oid(data[fields[0][1]:fields[0][2]]) == _SAN_OID:
                octets = fields[-1]
                sans = _sans(data, octets[1], octets[2])
    subject_pairs = _name(data, subject[1], subject[2])
    issuer_pairs = _name(data, issuer[1], issuer[2])
    return {
        "subject": format_name(subject_pairs),
        "issuer": format_name(issuer_pairs),
        "common_name": next((v for k, v in subject_pairs if k == "CN"), None),
        "sans": sans,
        "serial": data[serial[1]:serial[2]].hex().lstrip("0") or "0",
        "not_before": _time(times[0][0], data[times[0][1]:times[0][2]]),
        "not_after": _time(times[1][0], data[times[1][1]:times[1][2]]),
    }


_PEM = re.compile(rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----(.+?)-----END (?:X509 |TRUSTED )?CERTIFICATE-----", re.S)


def pem_to_der(data: bytes) -> List[bytes]:
    """Every certificate in a PEM bundle, as DER, in file order."""
    found = []
    for block in _PEM.findall(data):
        try:
            found.append(base64.b64decode(b"".join(block.split()), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise CertificateError("bad base64 in PEM certificate: %s" % exc)
    return found


def load_certificates(data: bytes) -> List[Dict[str, Any]]:
    """Parse a PEM bundle (or one DER certificate) into certificate dicts."""
    ders = pem_to_der(data)
    if not ders:
        if data[:1] == b"\x30":
            ders = [data]
        else:
            raise CertificateError("no PEM certificate found")
    return [parse_certificate(der) for der in ders]


# --------------------------------------------------------------------------- #
# Pure: decisions
# --------------------------------------------------------------------------- #

def days_left(not_after: datetime.datetime, now: datetime.datetime) -> float:
    """Days (fractional) from ``now`` until ``not_after``; negative once expired."""
    return (not_after - now).total_seconds() / 86400.0


def _iso(stamp: datetime.datetime) -> str:
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cert_value(cert: Mapping[str, Any], now: datetime.datetime, source: str) -> Dict[str, Any]:
    """The check value: what the certificate is and when it ends."""
    return {
        "source": source,
        "subject": cert["subject"],
        "issuer": cert["issuer"],
        "sans": list(cert["sans"]),
        "serial": cert["serial"],
        "not_before": _iso(cert["not_before"]),
        "not_after": _iso(cert["not_after"]),
        "days_left": round(days_left(cert["not_after"], now), 2),
    }


def evaluate_expiry(name: str, cert: Mapping[str, Any], now: datetime.datetime, warning_days: float,
                    critical_days: float, source: str = "") -> Dict[str, Any]:
    """One ``tls.<name>`` check: expired or not yet valid is critical, then the day thresholds."""
    value = cert_value(cert, now, source)
    threshold = {"warning_days": warning_days, "critical_days": critical_days}
    left = days_left(cert["not_after"], now)
    who = cert.get("common_name") or cert["subject"] or "certificate"
    if left < 0:
        return check(name, CRITICAL, "certificate %s expired %.1f days ago (not_after %s)" % (who, -left, value["not_after"]),
                     value=value, threshold=threshold)
    if cert["not_before"] > now:
        return check(name, CRITICAL, "certificate %s is not valid before %s" % (who, value["not_before"]),
                     value=value, threshold=threshold)
    status = level_low(left, warning_days, critical_days)
    text = "certificate %s expires in %.1f days (%s)" % (who, left, value["not_after"])
    if status == CRITICAL:
        text += ", critical below %s days" % _num(critical_days)
    elif status == WARNING:
        text += ", warning below %s days" % _num(warning_days)
    return check(name, status, text, value=value, threshold=threshold)


def evaluate_trust(name: str, verified: bool, error: Optional[str], server_name: str) -> Dict[str, Any]:
    """The ``tls.<name>.verify`` check: does the chain verify for ``server_name``."""
    if verified:
        return check(name + ".verify", OK, "certificate verifies for %s" % server_name, value={"verified": True})
    return check(name + ".verify", CRITICAL, "certificate does not verify for %s: %s" % (server_name, error or "unknown error"),
                 value={"verified": False, "error": error})


def _num(value: float) -> str:
    return ("%.2f" % value).rstrip("0").rstrip(".")


def cert_metrics(target: str, cert: Mapping[str, Any], now: datetime.datetime) -> Dict[str, float]:
    return {
        metric_key("tls_cert_expiry_seconds", target=target): round((cert["not_after"] - now).total_seconds(), 3),
        metric_key("tls_cert_not_after_timestamp_seconds", target=target): float(int(cert["not_after"].timestamp())),
    }


def default_endpoint_name(host: str, port: int) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "%s_%d" % (host, port)).strip("_")


def default_file_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(path.rstrip("/"))).strip("_") or "file"


def split_host(host: str, port: Optional[int]) -> Tuple[str, Optional[int]]:
    """``example.com:8443`` -> ``("example.com", 8443)``; ``[::1]:443`` -> ``("::1", 443)``."""
    host = host.strip()
    match = re.match(r"^\[([^\]]+)\](?::(\d+))?$", host)
    if match:
        return match.group(1), port if port is not None else (int(match.group(2)) if match.group(2) else None)
    if host.count(":") == 1:
        name, _sep, text = host.partition(":")
        if text.isdigit():
            return name, port if port is not None else int(text)
    return host, port


def normalize_targets(endpoints: List[Mapping[str, Any]], files: List[Mapping[str, Any]],
                      defaults: Mapping[str, Any]) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Merge defaults into each target and validate; raises ``TargetError`` naming the target."""
    if not endpoints and not files:
        raise TargetError("give at least one of endpoints or files")
    names = set()
    out_endpoints = []
    for index, raw in enumerate(endpoints or []):
        host, label = _required(raw, "host", "endpoint", index)
        host, port = split_host(str(host), raw.get("port"))
        port = 443 if port is None else port
        if not 0 < int(port) < 65536:
            raise TargetError("endpoint %s: port must be 1-65535, got %s" % (label, port))
        item = _merge(raw, defaults, ("timeout", "validate_certs", "ca_path", "warning_days", "critical_days"))
        item.update(host=host, port=int(port), server_name=raw.get("server_name") or None,
                    name=str(raw.get("name") or default_endpoint_name(host, int(port))))
        _check_common(item, label)
        if item["timeout"] is None or item["timeout"] <= 0:
            raise TargetError("endpoint %s: timeout must be > 0" % label)
        out_endpoints.append(item)
    out_files = []
    for index, raw in enumerate(files or []):
        path, label = _required(raw, "path", "file", index)
        item = _merge(raw, defaults, ("warning_days", "critical_days"))
        item.update(path=str(path), name=str(raw.get("name") or default_file_name(str(path))))
        _check_common(item, label)
        out_files.append(item)
    for item in out_endpoints + out_files:
        if item["name"] in names:
            raise TargetError("target %s: duplicate name (set a distinct name)" % item["name"])
        names.add(item["name"])
    return out_endpoints, out_files


def _required(raw: Mapping[str, Any], key: str, kind: str, index: int) -> Tuple[Any, str]:
    """The target's ``key`` and the label that names it in messages; TargetError when missing."""
    value = raw.get(key)
    label = raw.get("name") or value or "#%d" % (index + 1)
    if not value:
        raise TargetError("%s %s: %s is required" % (kind, label, key))
    return value, label


def _merge(raw: Mapping[str, Any], defaults: Mapping[str, Any], keys: Tuple[str, ...]) -> Dict[str, Any]:
    return {k: raw.get(k) if raw.get(k) is not None else defaults.get(k) for k in keys}


def _check_common(item: Mapping[str, Any], label: str) -> None:
    if not re.match(r"^[A-Za-z0-9_.:/@-]+$", item["name"]):
        raise TargetError("target %s: name may only contain letters, digits and _ . : / @ -" % label)
    warn, crit = item["warning_days"], item["critical_days"]
    if warn is None or crit is None:
        raise TargetError("target %s: warning_days and critical_days are required" % label)
    if crit > warn:
        raise TargetError("target %s: critical_days (%s) is above warning_days (%s)" % (label, crit, warn))


def evaluate_file(target: Mapping[str, Any], cert: Mapping[str, Any],
                  now: datetime.datetime) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """Checks and metrics for one already-read PEM file."""
    item = evaluate_expiry("tls." + target["name"], cert, now, target["warning_days"], target["critical_days"], target["path"])
    item["value"]["certificates_in_file"] = cert.get("count", 1)
    return [item], cert_metrics(target["name"], cert, now)
