# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker SDK client for runbook.ops modules, and pure container health decisions.

``docker_argument_spec()`` holds the options of the ``runbook.ops.docker`` doc
fragment; ``connect(params)`` turns them into a ``docker.DockerClient`` that has
answered a ping, or raises ``EngineUnreachable`` with a one-line reason
(``no Docker socket at /var/run/docker.sock``) that callers turn into
``engine_down_check()``. Bad options raise ``DockerClientError`` (fail_json).

The second half judges a container from its ``docker inspect`` attributes:
state, HEALTHCHECK status, restart count and restart loops, and log lines
matching a pattern. These are pure so that container_check and the rolling
deploy modules share them and tests replay recorded attributes.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import calendar
import os
import re
import time
import traceback
from typing import Any, Dict, List, Mapping, Optional, Pattern, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    WARNING,
    build,
    check,
    down,
    level_high,
    metric_key,
)

try:
    import docker
    from docker.errors import DockerException

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised where the SDK is absent
    docker = None
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):  # type: ignore[no-redef]
        """Stand-in so that ``except DockerException`` works without the SDK."""

try:
    from requests.exceptions import RequestException
except ImportError:  # pragma: no cover
    class RequestException(Exception):  # type: ignore[no-redef]
        """Stand-in when requests is absent."""

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
ENGINE_CHECK = "docker.engine"


class DockerClientError(ValueError):
    """Invalid connection options (bad URL scheme, a client cert without key, a missing file)."""


class EngineUnreachable(Exception):
    """The engine did not answer; ``str()`` is a short reason without a traceback."""


# --------------------------------------------------------------------------- #
# Options and client
# --------------------------------------------------------------------------- #

def _env_fallback(*names: str):
    from ansible.module_utils.basic import env_fallback

    return (env_fallback, list(names))


def docker_argument_spec(**extra: Any) -> Dict[str, Any]:
    """The argument spec of the ``runbook.ops.docker`` doc fragment, plus ``extra``."""
    spec = dict(
        docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST, fallback=_env_fallback("DOCKER_HOST")),
        api_version=dict(type="str", default="auto", fallback=_env_fallback("DOCKER_API_VERSION")),
        timeout=dict(type="int", default=30, fallback=_env_fallback("DOCKER_TIMEOUT")),
        tls=dict(type="bool", default=False, fallback=_env_fallback("DOCKER_TLS")),
        validate_certs=dict(type="bool", default=False, fallback=_env_fallback("DOCKER_TLS_VERIFY")),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path"),
    )
    spec.update(extra)
    return spec


def client_kwargs(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Keyword arguments for ``docker.DockerClient`` (``tls`` as a plain dict); DockerClientError on bad input."""
    host = (params.get("docker_host") or DEFAULT_DOCKER_HOST).strip()
    scheme = host.split("://", 1)[0].lower() if "://" in host else ""
    if scheme not in ("unix", "tcp", "http", "https", "ssh", "npipe"):
        raise DockerClientError(
            "docker_host must look like unix:///var/run/docker.sock or tcp://host:2376, got %r" % host)
    timeout = params.get("timeout")
    if timeout is not None and timeout <= 0:
        raise DockerClientError("timeout must be positive, got %s" % timeout)
    kwargs: Dict[str, Any] = {
        "base_url": host,
        "version": params.get("api_version") or "auto",
        "timeout": timeout or 30,
    }
    cert, key = params.get("client_cert"), params.get("client_key")
    if bool(cert) != bool(key):
        raise DockerClientError("client_cert and client_key must be given together")
    for option in ("ca_path", "client_cert", "client_key"):
        path = params.get(option)
        if path and not os.path.isfile(path):
            raise DockerClientError("%s %s is not a readable file" % (option, path))
    use_tls = bool(params.get("tls") or params.get("validate_certs") or cert or scheme == "https")
    if use_tls:
        if scheme in ("unix", "npipe", "ssh"):
            raise DockerClientError("TLS options apply to tcp:// engines only, not %s" % host)
        kwargs["tls"] = {
            "client_cert": (cert, key) if cert else None,
            "ca_cert": params.get("ca_path"),
            "verify": bool(params.get("validate_certs")),
        }
    return kwargs


def describe_error(exc: BaseException, docker_host: str = "", timeout: Optional[float] = None) -> str:
    """A short reason for a failed engine call, without the SDK's nesting."""
    text = str(exc)
    socket_path = docker_host[len("unix://"):] if docker_host.startswith("unix://") else ""
    lowered = text.lower()
    if "no such file or directory" in lowered or "filenotfounderror" in lowered:
        return "no Docker socket at %s" % (socket_path or docker_host)
    if "permission denied" in lowered:
        return "permission denied on %s (is the user in the docker group?)" % (socket_path or docker_host)
    if "connection refused" in lowered:
        return "connection refused by %s" % docker_host
    if "timed out" in lowered or "timeout" in lowered:
        return "no answer from %s within %ss" % (docker_host, timeout) if timeout else "timed out: %s" % docker_host
    if "certificate" in lowered or "ssl" in lowered:
        return "TLS error talking to %s: %s" % (docker_host, _short(text))
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "cannot resolve the host in %s" % docker_host
    return _short(text) or exc.__class__.__name__


def _short(text: str, size: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 3] + "..."


def connect(params: Mapping[str, Any], ping: bool = True) -> Any:
    """A ``docker.DockerClient`` for the options, checked with a ping.

    Raises DockerClientError for bad options, EngineUnreachable when the engine
    does not answer, RuntimeError when the SDK is not installed (modules check
    HAS_DOCKER first and use ``missing_required_lib``).
    """
    if not HAS_DOCKER:
        raise RuntimeError("the Docker SDK for Python (docker) is not installed")
    kwargs = client_kwargs(params)
    tls = kwargs.pop("tls", None)
    try:
        if tls:
            kwargs["tls"] = docker.tls.TLSConfig(**tls)
        client = docker.DockerClient(**kwargs)
        if ping:
            client.ping()
    except docker.errors.TLSParameterError as exc:
        raise DockerClientError("invalid TLS options: %s" % exc)
    except (DockerException, RequestException, OSError) as exc:
        raise EngineUnreachable(describe_error(exc, kwargs["base_url"], kwargs.get("timeout")))
    return client


def engine_down_check(reason: str) -> Dict[str, Any]:
    """The ``docker.engine`` check for an engine that did not answer (P0)."""
    return down(ENGINE_CHECK, "docker engine unreachable: %s" % reason)


def api_error_message(exc: BaseException) -> str:
    """The engine's own explanation of an APIError, else the exception text."""
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return _short(str(explanation or exc))


# --------------------------------------------------------------------------- #
# Pure: container health
# --------------------------------------------------------------------------- #

_DOCKER_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def parse_docker_time(value: Optional[str]) -> Optional[float]:
    """Epoch seconds of a Docker RFC 3339 time (nanoseconds allowed); None for empty or the zero time."""
    if not value:
        return None
    match = _DOCKER_TIME.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if int(year) <= 1:
        return None
    epoch = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0))
    epoch += float("0." + fraction[:9]) if fraction else 0.0
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        epoch -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return epoch


def container_name(attrs: Mapping[str, Any]) -> str:
    return str(attrs.get("Name") or attrs.get("Id", "")[:12]).lstrip("/")


def label_filters(labels: List[str]) -> List[str]:
    """Validate ``key`` / ``key=value`` selectors for the engine's label filter (all must match)."""
    cleaned = []
    for label in labels:
        key = label.split("=", 1)[0].strip()
        if not key:
            raise DockerClientError("label selector %r needs a key (key or key=value)" % label)
        cleaned.append(label.strip())
    return cleaned


def state_check(name: str, attrs: Mapping[str, Any], now: float, last_logs: Optional[List[str]] = None
                ) -> Dict[str, Any]:
    """``container.<name>.state``: running is ok, paused a warning, restarting critical (P1),
    exited / dead / created / removing critical P0 (the service is not running).
    """
    state = attrs.get("State") or {}
    status = state.get("Status") or ("running" if state.get("Running") else "unknown")
    restarts = int(attrs.get("RestartCount") or 0)
    value: Dict[str, Any] = {
        "status": status,
        "running": bool(state.get("Running")),
        "exit_code": state.get("ExitCode"),
        "oom_killed": bool(state.get("OOMKilled")),
        "error": state.get("Error") or "",
        "started_at": state.get("StartedAt"),
        "finished_at": state.get("FinishedAt"),
        "restart_count": restarts,
        "image": (attrs.get("Config") or {}).get("Image"),
    }
    check_name = "container.%s.state" % name
    if status == "running" and not state.get("Restarting"):
        if state.get("Paused"):
            return check(check_name, WARNING, "paused", value=value)
        started = parse_docker_time(state.get("StartedAt"))
        up = " for %s" % _duration(now - started) if started and now >= started else ""
        return check(check_name, OK, "running%s" % up, value=value)
    if status == "paused":
        return check(check_name, WARNING, "paused", value=value)
    if last_logs:
        value["last_logs"] = last_logs
    if status == "restarting" or state.get("Restarting"):
        return check(check_name, CRITICAL, "restarting (exit code %s, %d restarts)" % (state.get("ExitCode"), restarts),
                     value=value)
    detail = status
    if status in ("exited", "dead"):
        detail += " with code %s" % state.get("ExitCode")
        finished = parse_docker_time(state.get("FinishedAt"))
        if finished and now >= finished:
            detail += " %s ago" % _duration(now - finished)
    elif status == "created":
        detail = "created but never started"
    if state.get("OOMKilled"):
        detail += " (OOM killed)"
    if state.get("Error"):
        detail += ": %s" % _short(state["Error"], 200)
    return down(check_name, "not running: %s" % detail, value=value)


def health_check(name: str, attrs: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """``container.<name>.health`` from the HEALTHCHECK status; None when the container is not running.

    healthy is ok, starting a warning, unhealthy critical with the last probe output.
    Without a HEALTHCHECK the check is ok with value ``none``.
    """
    state = attrs.get("State") or {}
    if not state.get("Running") or state.get("Restarting"):
        return None
    check_name = "container.%s.health" % name
    health = state.get("Health")
    if not health:
        return check(check_name, OK, "no HEALTHCHECK defined", value={"status": "none"})
    status = health.get("Status") or "none"
    log = health.get("Log") or []
    last = log[-1] if log else {}
    output = _short(str(last.get("Output") or ""), 300)
    value = {"status": status, "failing_streak": health.get("FailingStreak", 0),
             "last_exit_code": last.get("ExitCode"), "last_output": output}
    if status == "healthy":
        return check(check_name, OK, "healthy", value=value)
    if status == "starting":
        return check(check_name, WARNING, "health check starting (not yet healthy)", value=value)
    if status == "unhealthy":
        message = "unhealthy (%d failing probes in a row)" % int(health.get("FailingStreak") or 0)
        if output:
            message += ": %s" % output
        return check(check_name, CRITICAL, message, value=value)
    return check(check_name, WARNING, "health status %s" % status, value=value)


def restarts_check(name: str, attrs: Mapping[str, Any], now: float, warning: Optional[float],
                   critical: Optional[float], loop_seconds: float = 300.0, loop_restarts: int = 2) -> Dict[str, Any]:
    """``container.<name>.restarts``: the restart count against thresholds (at or above), and
    restart loops: critical while the engine is restarting the container, or when it has
    restarted at least ``loop_restarts`` times and the current run began less than
    ``loop_seconds`` ago.
    """
    state = attrs.get("State") or {}
    restarts = int(attrs.get("RestartCount") or 0)
    policy = ((attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"
    started = parse_docker_time(state.get("StartedAt"))
    up_for = (now - started) if started is not None else None
    check_name = "container.%s.restarts" % name
    value = {"restart_count": restarts, "restart_policy": policy,
             "seconds_since_start": round(up_for, 1) if up_for is not None else None}
    threshold = {"warning": warning, "critical": critical, "loop_seconds": loop_seconds,
                 "loop_restarts": loop_restarts}
    looping = restarts >= max(loop_restarts, 1) and (
        state.get("Restarting") or state.get("Status") == "restarting"
        or (up_for is not None and up_for < loop_seconds))
    if looping:
        since = " (last start %s ago)" % _duration(up_for) if up_for is not None and up_for >= 0 else ""
        return check(check_name, CRITICAL,
                     "restart loop: %d restarts, exit code %s%s" % (restarts, state.get("ExitCode"), since),
                     value=value, threshold=threshold)
    status = level_high(restarts, warning, critical)
    message = "%d restart%s (policy %s)" % (restarts, "" if restarts == 1 else "s", policy)
    if status == CRITICAL:
        message += " (critical >= %g)" % critical
    elif status == WARNING:
        message += " (warning >= %g)" % warning
    return check(check_name, status, message, value=value, threshold=threshold)


def count_matching(lines: List[str], pattern: Pattern[str], sample_lines: int = 5) -> Tuple[int, List[str]]:
    """How many lines match, and the last ``sample_lines`` of them (each cut to 500 characters)."""
    matched = [line for line in lines if pattern.search(line)]
    return len(matched), [line[:500] for line in matched[-sample_lines:]] if sample_lines > 0 else []


def log_errors_check(name: str, lines: Optional[List[str]], pattern: Pattern[str], since_hours: float,
                     warning: Optional[float], critical: Optional[float], max_lines: int, sample_lines: int = 5,
                     error: str = "") -> Dict[str, Any]:
    """``container.<name>.log_errors``: lines matching ``pattern`` in the window, more than a threshold.

    ``lines`` is None when the logs could not be read (``error`` says why): a warning.
    """
    check_name = "container.%s.log_errors" % name
    threshold = {"warning": warning, "critical": critical}
    hours = ("%g" % since_hours) + "h"
    if lines is None:
        return check(check_name, WARNING, "cannot read logs: %s" % error, value={"count": None},
                     threshold=threshold)
    count, sample = count_matching(lines, pattern, sample_lines)
    capped = len(lines) >= max_lines
    value = {"count": count, "pattern": pattern.pattern, "since_hours": since_hours, "lines_read": len(lines),
             "capped": capped, "sample": sample}
    message = "%d log line%s match%s %r in the last %s" % (
        count, "" if count == 1 else "s", "es" if count == 1 else "", pattern.pattern, hours)
    if critical is not None and count > critical:
        status, message = CRITICAL, message + " (critical above %g)" % critical
    elif warning is not None and count > warning:
        status, message = WARNING, message + " (warning above %g)" % warning
    else:
        status = OK
    if capped:
        message += " (read only the last %d lines)" % max_lines
    return check(check_name, status, message, value=value, threshold=threshold)


def container_metrics(name: str, attrs: Mapping[str, Any], log_count: Optional[int]) -> Dict[str, float]:
    state = attrs.get("State") or {}
    running = bool(state.get("Running")) and not state.get("Restarting")
    metrics = {
        metric_key("container_up", container=name): 1.0 if running else 0.0,
        metric_key("container_restarts", container=name): float(attrs.get("RestartCount") or 0),
    }
    health = (state.get("Health") or {}).get("Status")
    if health and running:
        metrics[metric_key("container_healthy", container=name)] = 1.0 if health == "healthy" else 0.0
    if log_count is not None:
        metrics[metric_key("container_log_errors", container=name)] = float(log_count)
    return metrics


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dm" % (seconds // 60)
    if seconds < 172800:
        return "%.1fh" % (seconds / 3600.0)
    return "%.1fd" % (seconds / 86400.0)


# --------------------------------------------------------------------------- #
# Container checks against the engine
# --------------------------------------------------------------------------- #

def normalize_container_params(params: Mapping[str, Any]) -> Dict[str, Any]:
    """Validated selection and thresholds; DockerClientError on bad input."""
    names = [n.strip().lstrip("/") for n in params.get("names") or [] if n and n.strip()]
    labels = label_filters(params.get("labels") or [])
    if not names and not labels:
        raise DockerClientError("give names and/or labels to select containers")
    try:
        pattern = re.compile(params.get("log_pattern") or "ERROR", re.IGNORECASE if params.get("log_ignore_case") else 0)
    except re.error as exc:
        raise DockerClientError("invalid log_pattern %r: %s" % (params.get("log_pattern"), exc))
    for key in ("log_since_hours", "log_max_lines"):
        if params.get(key) is not None and params[key] <= 0:
            raise DockerClientError("%s must be positive" % key)
    for prefix in ("restarts", "log_errors"):
        warn, crit = params.get(prefix + "_warning"), params.get(prefix + "_critical")
        if warn is not None and crit is not None and warn > crit:
            raise DockerClientError("%s_warning (%s) is above %s_critical (%s)" % (prefix, warn, prefix, crit))
    client_kwargs(params)
    return {"names": names, "labels": labels, "pattern": pattern}


def _read_logs(container: Any, since: Optional[float], tail: int) -> List[str]:
    kwargs: Dict[str, Any] = {"stdout": True, "stderr": True, "stream": False, "tail": tail}
    if since is not None:
        kwargs["since"] = int(since)
    data = container.logs(**kwargs)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def evaluate_container(container: Any, params: Mapping[str, Any], pattern: Pattern[str], now: float
                       ) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """All checks and metrics for one container object of the SDK."""
    attrs = container.attrs
    name = container_name(attrs)
    state = attrs.get("State") or {}
    running = bool(state.get("Running")) and not state.get("Restarting")
    last_logs = None
    if not running:
        try:
            last_logs = _read_logs(container, None, 5)
        except (DockerException, RequestException, OSError):
            last_logs = None
    checks = [state_check(name, attrs, now, last_logs)]
    health = health_check(name, attrs)
    if health is not None:
        checks.append(health)
    checks.append(restarts_check(name, attrs, now, params.get("restarts_warning"), params.get("restarts_critical"),
                                 params.get("restart_loop_seconds") or 300.0))
    log_count = None
    if params.get("check_logs", True):
        since_hours = float(params.get("log_since_hours") or 24)
        max_lines = int(params.get("log_max_lines") or 10000)
        try:
            lines: Optional[List[str]] = _read_logs(container, now - since_hours * 3600.0, max_lines)
            error = ""
        except (DockerException, RequestException, OSError) as exc:
            lines, error = None, api_error_message(exc)
        log_check = log_errors_check(name, lines, pattern, since_hours, params.get("log_errors_warning"),
                                     params.get("log_errors_critical"), max_lines,
                                     params.get("sample_lines", 5), error)
        checks.append(log_check)
        log_count = log_check["value"]["count"]
    return checks, container_metrics(name, attrs, log_count)


def check_containers(params: Mapping[str, Any], now: Optional[float] = None, connector: Any = None
                     ) -> Dict[str, Any]:
    """Select containers by name and labels and check each; an unreachable engine is a P0 check."""
    now = time.time() if now is None else now
    selection = normalize_container_params(params)
    try:
        client = (connector or connect)(params)
    except EngineUnreachable as exc:
        return build([engine_down_check(str(exc))], {"docker_up": 0.0}, subject="containers")
    checks: List[Dict[str, Any]] = []
    metrics: Dict[str, float] = {"docker_up": 1.0}
    try:
        containers: Dict[str, Any] = {}
        for wanted in selection["names"]:
            try:
                found = client.containers.get(wanted)
            except docker.errors.NotFound:
                checks.append(down("container.%s.state" % wanted, "container %s not found" % wanted,
                                   value={"status": "missing"}))
                metrics[metric_key("container_up", container=wanted)] = 0.0
                continue
            containers.setdefault(found.id, found)
        if selection["labels"]:
            listed = client.containers.list(all=params.get("include_stopped", True),
                                            filters={"label": selection["labels"]})
            if not listed:
                checks.append(down("containers.selected", "no container has labels %s" % ", ".join(selection["labels"]),
                                   value={"labels": selection["labels"], "count": 0}))
            for found in listed:
                containers.setdefault(found.id, found)
        for found in sorted(containers.values(), key=lambda c: container_name(c.attrs)):
            try:
                container_checks, container_metrics_ = evaluate_container(found, params, selection["pattern"], now)
            except docker.errors.NotFound:
                # Removed between listing and inspecting.
                name = container_name(found.attrs)
                container_checks = [down("container.%s.state" % name, "container %s disappeared" % name)]
                container_metrics_ = {metric_key("container_up", container=name): 0.0}
            checks.extend(container_checks)
            metrics.update(container_metrics_)
    except docker.errors.APIError as exc:
        # The engine answered, with an error (500, bad filter): critical, but not "down".
        checks.append(check(ENGINE_CHECK, CRITICAL, "docker engine error: %s" % api_error_message(exc)))
    except (DockerException, RequestException, OSError) as exc:
        checks.append(engine_down_check(describe_error(exc, params.get("docker_host") or DEFAULT_DOCKER_HOST,
                                                       params.get("timeout"))))
        metrics["docker_up"] = 0.0
    finally:
        try:
            client.close()
        except Exception:  # pylint: disable=broad-except
            pass
    return build(checks, metrics, subject="containers")
