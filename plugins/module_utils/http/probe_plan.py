# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP endpoint checks, the pure half: endpoint definitions, JSON conditions, verdicts.

No network, no clock: ``evaluate`` judges an outcome (status code, body, latency, or
the transport error) that ``http_client.fetch`` measured; ``probe_runner`` does the requests.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import json
import re
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    WARNING,
    check,
    down,
    level_high,
    metric_key,
    worst,
)
from ansible_collections.runbook.ops.plugins.module_utils.http.errors_plan import UNREACHABLE, seconds_text

METHODS = ("GET", "HEAD", "POST")
OPS = ("eq", "ne", "in", "lt", "le", "gt", "ge", "exists")
SCHEMES = ("http", "https")
# Header names whose values are credentials: scrubbed from every output.
SECRET_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token")

# Endpoint settings that may also be given once at the top level of the module.
DEFAULTS: Dict[str, Any] = {
    "method": "GET",
    "body": None,
    "headers": {},
    "bearer_token": None,
    "status_codes": [200],
    "json_conditions": [],
    "body_regex": None,
    "latency_warning": None,
    "latency_critical": None,
    "timeout": 10.0,
    "retries": 0,
    "retry_backoff": 0.5,
    "validate_certs": True,
    "ca_path": None,
    "follow_redirects": True,
}


class EndpointError(ValueError):
    """An endpoint definition is invalid; the message names the endpoint."""


# --------------------------------------------------------------------------- #
# Pure: endpoint definitions
# --------------------------------------------------------------------------- #

def default_name(url: str) -> str:
    """A stable endpoint name from its URL: ``http://api:8000/health`` -> ``api_8000_health``."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    text = host
    if parts.port:
        text += "_%d" % parts.port
    path = parts.path.strip("/")
    if path:
        text += "_" + path
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")
    return text or "endpoint"


def redact_url(url: str) -> str:
    """The URL without a password in its user-info part."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    netloc = "%s:********@%s" % (parts.username or "", host)
    if parts.port:
        netloc += ":%d" % parts.port
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def secret_values(endpoint: Mapping[str, Any]) -> List[str]:
    """Every credential in an endpoint definition (token, secret headers, URL password)."""
    found = []
    if endpoint.get("bearer_token"):
        found.append(str(endpoint["bearer_token"]))
    for key, value in (endpoint.get("headers") or {}).items():
        if str(key).lower() in SECRET_HEADERS and value not in (None, ""):
            found.append(str(value))
            # "Bearer abc" -> also the bare token, in case it is echoed alone.
            pieces = str(value).split(None, 1)
            if len(pieces) == 2 and len(pieces[1]) >= 4:
                found.append(pieces[1])
    url = endpoint.get("url")
    if url:
        try:
            password = urllib.parse.urlsplit(str(url)).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return found


def _number(value: Any, what: str, label: str, minimum: float = 0.0) -> Optional[float]:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EndpointError("endpoint %s: %s must be a number, got %r" % (label, what, value))
    if number < minimum:
        raise EndpointError("endpoint %s: %s must be >= %s, got %s" % (label, what, minimum, value))
    return number


def normalize_endpoint(raw: Mapping[str, Any], defaults: Optional[Mapping[str, Any]] = None,
                       index: int = 0) -> Dict[str, Any]:
    """Merge an endpoint with the top-level defaults and validate it.

    Raises ``EndpointError`` with a message that names the endpoint.
    """
    merged: Dict[str, Any] = dict(DEFAULTS)
    for source in (defaults or {}), raw:
        for key, value in source.items():
            if key == "headers":
                continue
            if value is not None and (key in DEFAULTS or key in ("name", "url")):
                merged[key] = value
    headers: Dict[str, str] = {}
    for source in (defaults or {}), raw:
        for key, value in (source.get("headers") or {}).items():
            headers[str(key)] = "" if value is None else str(value)
    merged["headers"] = headers

    url = raw.get("url")
    label = raw.get("name") or (url and default_name(str(url))) or "#%d" % (index + 1)
    if not url or not isinstance(url, str):
        raise EndpointError("endpoint %s: url is required" % label)
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise EndpointError("endpoint %s: invalid url %r: %s" % (label, redact_url(url), exc))
    if parts.scheme.lower() not in SCHEMES:
        raise EndpointError("endpoint %s: url scheme must be http or https, got %r in %s"
                            % (label, parts.scheme, redact_url(url)))
    if not parts.hostname:
        raise EndpointError("endpoint %s: url %s has no host" % (label, redact_url(url)))
    merged["url"] = url
    merged["name"] = str(raw.get("name") or default_name(url))
    if not re.match(r"^[A-Za-z0-9_.:/@-]+$", merged["name"]):
        raise EndpointError("endpoint %s: name may only contain letters, digits and _ . : / @ -" % label)

    method = str(merged["method"]).upper()
    if method not in METHODS:
        raise EndpointError("endpoint %s: method must be one of %s, got %r" % (label, ", ".join(METHODS), merged["method"]))
    merged["method"] = method

    codes = merged["status_codes"]
    if isinstance(codes, (int, str)):
        codes = [codes]
    try:
        merged["status_codes"] = [int(c) for c in codes]
    except (TypeError, ValueError):
        raise EndpointError("endpoint %s: status_codes must be integers, got %r" % (label, codes))
    if not merged["status_codes"] or any(c < 100 or c > 599 for c in merged["status_codes"]):
        raise EndpointError("endpoint %s: status_codes must be HTTP codes 100-599, got %r" % (label, codes))

    conditions = []
    for cond in merged["json_conditions"] or []:
        if not isinstance(cond, Mapping) or not cond.get("path"):
            raise EndpointError("endpoint %s: each json condition needs a path, got %r" % (label, cond))
        op = str(cond.get("op") or "eq")
        if op not in OPS:
            raise EndpointError("endpoint %s: unknown json condition op %r for path %s (use one of %s)"
                                % (label, op, cond["path"], ", ".join(OPS)))
        value = cond.get("value")
        if op == "in" and not isinstance(value, (list, tuple)):
            raise EndpointError("endpoint %s: op 'in' for path %s needs a list value" % (label, cond["path"]))
        if op in ("lt", "le", "gt", "ge") and _as_float(value) is None:
            raise EndpointError("endpoint %s: op %r for path %s needs a number value, got %r"
                                % (label, op, cond["path"], value))
        conditions.append({"path": str(cond["path"]), "op": op, "value": True if op == "exists" and value is None else value})
    merged["json_conditions"] = conditions

    if merged["body_regex"] is not None:
        try:
            re.compile(merged["body_regex"])
        except re.error as exc:
            raise EndpointError("endpoint %s: invalid body_regex %r: %s" % (label, merged["body_regex"], exc))

    merged["timeout"] = _number(merged["timeout"], "timeout", label, minimum=0.001)
    merged["latency_warning"] = _number(merged["latency_warning"], "latency_warning", label)
    merged["latency_critical"] = _number(merged["latency_critical"], "latency_critical", label)
    if (merged["latency_warning"] is not None and merged["latency_critical"] is not None
            and merged["latency_warning"] > merged["latency_critical"]):
        raise EndpointError("endpoint %s: latency_warning (%s) is above latency_critical (%s)"
                            % (label, merged["latency_warning"], merged["latency_critical"]))
    merged["retry_backoff"] = _number(merged["retry_backoff"], "retry_backoff", label)
    try:
        merged["retries"] = int(merged["retries"])
    except (TypeError, ValueError):
        raise EndpointError("endpoint %s: retries must be an integer, got %r" % (label, merged["retries"]))
    if merged["retries"] < 0:
        raise EndpointError("endpoint %s: retries must be >= 0" % label)
    if merged["body"] is not None and method != "POST":
        raise EndpointError("endpoint %s: body is only sent with method POST" % label)
    merged["validate_certs"] = bool(merged["validate_certs"])
    merged["follow_redirects"] = bool(merged["follow_redirects"])
    return merged


def normalize_endpoints(endpoints: List[Mapping[str, Any]], defaults: Optional[Mapping[str, Any]] = None) -> List[Dict[str, Any]]:
    """Validate every endpoint; names must be unique."""
    if not endpoints:
        raise EndpointError("endpoints must list at least one endpoint")
    result = [normalize_endpoint(raw, defaults, i) for i, raw in enumerate(endpoints)]
    seen = set()
    for item in result:
        if item["name"] in seen:
            raise EndpointError("endpoint %s: duplicate endpoint name (set a distinct name)" % item["name"])
        seen.add(item["name"])
    return result


# --------------------------------------------------------------------------- #
# Pure: JSON conditions
# --------------------------------------------------------------------------- #

def lookup_path(data: Any, path: str) -> Tuple[bool, Any]:
    """Follow a dotted path (``checks.db.status``, ``items.0.id``) into JSON data.

    Returns ``(found, value)``. Integer parts index lists (negative counts from the end).
    """
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return False, None
            current = current[part]
        elif isinstance(current, list):
            try:
                current = current[int(part)]
            except (ValueError, IndexError):
                return False, None
        else:
            return False, None
    return True, current


def _as_float(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _canonical(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value))
    if isinstance(value, str):
        number = _as_float(value)
        if number is not None:
            return repr(number)
        return value.lower() if value.lower() in ("true", "false") else value
    return value


def loose_equal(actual: Any, expected: Any) -> bool:
    """Equality that forgives YAML/Jinja type changes: ``200 == "200"``, ``True == "true"``."""
    if actual == expected and type(actual) is type(expected):
        return True
    if isinstance(actual, (dict, list)) or isinstance(expected, (dict, list)):
        return actual == expected
    return _canonical(actual) == _canonical(expected)


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def evaluate_condition(data: Any, condition: Mapping[str, Any]) -> Tuple[bool, str]:
    """Apply one condition to parsed JSON; ``(passed, message)``. The message says why."""
    path, op = condition["path"], condition.get("op") or "eq"
    expected = condition.get("value")
    found, actual = lookup_path(data, path)
    if op == "exists":
        want = True if expected is None else bool(loose_equal(expected, True))
        if found == want:
            return True, "JSON %s %s" % (path, "exists" if found else "is absent")
        return False, "JSON %s %s" % (path, "is missing" if want else "exists, expected absent")
    if not found:
        return False, "JSON %s is missing (expected %s %s)" % (path, op, _show(expected))
    if op == "eq":
        passed = loose_equal(actual, expected)
    elif op == "ne":
        passed = not loose_equal(actual, expected)
    elif op == "in":
        passed = any(loose_equal(actual, item) for item in expected or [])
    elif op in ("lt", "le", "gt", "ge"):
        left, right = _as_float(actual), _as_float(expected)
        if left is None or right is None:
            return False, "JSON %s is %s, not a number (expected %s %s)" % (path, _show(actual), op, _show(expected))
        passed = {"lt": left < right, "le": left <= right, "gt": left > right, "ge": left >= right}[op]
    else:
        raise ValueError("unknown op %r" % (op,))
    if passed:
        return True, "JSON %s is %s" % (path, _show(actual))
    return False, "JSON %s is %s, expected %s %s" % (path, _show(actual), op, _show(expected))


# --------------------------------------------------------------------------- #
# Pure: evaluating one probe outcome
# --------------------------------------------------------------------------- #

def evaluate(endpoint: Mapping[str, Any], outcome: Mapping[str, Any]) -> Dict[str, Any]:
    """Judge one probe outcome against the endpoint's expectations; returns a result check.

    ``outcome`` holds ``latency`` (seconds) and either ``status_code``, ``body`` (text)
    or ``error_kind`` and ``error``; ``attempts`` is how many tries were made.
    """
    name = "http." + endpoint["name"]
    latency = outcome.get("latency")
    value = {
        "url": redact_url(endpoint["url"]),
        "method": endpoint["method"],
        "status_code": outcome.get("status_code"),
        "latency_seconds": None if latency is None else round(latency, 4),
        "attempts": outcome.get("attempts", 1),
    }
    threshold = {
        "status_codes": list(endpoint["status_codes"]),
        "latency_warning": endpoint.get("latency_warning"),
        "latency_critical": endpoint.get("latency_critical"),
    }
    kind = outcome.get("error_kind")
    if kind:
        value["error"] = kind
        message = outcome.get("error") or kind
        if kind in UNREACHABLE:
            return down(name, message, value=value, threshold=threshold)
        return check(name, CRITICAL, message, value=value, threshold=threshold)

    problems: List[Tuple[str, str]] = []
    code = outcome.get("status_code")
    if code not in endpoint["status_codes"]:
        problems.append((CRITICAL, "HTTP %s, expected %s" % (code, _codes(endpoint["status_codes"]))))
    body = outcome.get("body") or ""
    if endpoint.get("json_conditions"):
        try:
            data = json.loads(body)
        except ValueError:
            problems.append((CRITICAL, "response is not JSON (%s)" % _excerpt(body)))
        else:
            for cond in endpoint["json_conditions"]:
                passed, why = evaluate_condition(data, cond)
                if not passed:
                    problems.append((CRITICAL, why))
    if endpoint.get("body_regex") is not None and not re.search(endpoint["body_regex"], body, re.MULTILINE):
        problems.append((CRITICAL, "body does not match /%s/" % endpoint["body_regex"]))
    level = level_high(latency, endpoint.get("latency_warning"), endpoint.get("latency_critical"))
    if level == CRITICAL:
        problems.append((CRITICAL, "latency %ss (critical >= %ss)" % (seconds_text(latency), seconds_text(endpoint["latency_critical"]))))
    elif level == WARNING:
        problems.append((WARNING, "latency %ss (warning >= %ss)" % (seconds_text(latency), seconds_text(endpoint["latency_warning"]))))
    if not problems:
        return check(name, OK, "HTTP %s in %ss" % (code, seconds_text(latency)), value=value, threshold=threshold)
    status = worst(p[0] for p in problems)
    # The runbooks treat a health endpoint answering 5xx as "service down" (P0), like no answer at all.
    severity = "P0" if status == CRITICAL and server_error(code, endpoint["status_codes"]) else None
    return check(name, status, "; ".join(p[1] for p in problems), value=value, threshold=threshold, severity=severity)


def server_error(code: Optional[int], expected: List[int]) -> bool:
    """True when the server answered with an unexpected 5xx: the service is down."""
    return code is not None and 500 <= code <= 599 and code not in expected


def _codes(codes: List[int]) -> str:
    return "[%s]" % ", ".join(str(c) for c in codes)


def _excerpt(body: str, size: int = 60) -> str:
    text = " ".join(body.split())
    if not text:
        return "empty body"
    return repr(text if len(text) <= size else text[:size] + "...")


def endpoint_metrics(endpoint: Mapping[str, Any], outcome: Mapping[str, Any], result_check: Mapping[str, Any]) -> Dict[str, float]:
    """The three per-endpoint metrics.

    ``http_up`` is 1 when the endpoint answered and its check is not critical.
    ``http_status_code`` is 0 when no HTTP answer came back.
    """
    label = endpoint["name"]
    latency = outcome.get("latency")
    return {
        metric_key("http_latency_seconds", endpoint=label): round(latency, 4) if latency is not None else 0.0,
        metric_key("http_status_code", endpoint=label): float(outcome.get("status_code") or 0),
        metric_key("http_up", endpoint=label): 1.0 if (not outcome.get("error_kind") and result_check["status"] != CRITICAL) else 0.0,
    }


def retryable(endpoint: Mapping[str, Any], outcome: Mapping[str, Any]) -> bool:
    """Retry transport failures and answers that fail the status/JSON/regex expectations.

    A slow but correct answer is not retried: retrying would hide the latency problem.
    """
    if outcome.get("error_kind"):
        return True
    probe_only = dict(endpoint, latency_warning=None, latency_critical=None)
    return evaluate(probe_only, outcome)["status"] == CRITICAL
