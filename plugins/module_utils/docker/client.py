# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transport to the Docker engine: the SDK client, its options and its errors.

``connect(params)`` turns the options of the ``runbook.ops.docker`` doc fragment (declared in
``docker/argspec.py``) into a ``docker.DockerClient`` that has answered a ping, or raises
``EngineUnreachable`` with a one-line reason (``no Docker socket at /var/run/docker.sock``).
Bad options raise ``DockerClientError`` (the modules turn it into fail_json).
An engine call may raise ``DockerException``, ``RequestException`` or ``OSError``;
``api_error_message()`` and ``describe_error()`` make one line of them. Nothing here knows about runbooks or checks.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import traceback
from typing import Any, Dict, Mapping, Optional

try:
    import docker
    from docker.errors import APIError, DockerException, NotFound

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised where the SDK is absent
    docker = None
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):  # type: ignore[no-redef]
        """Stand-in so that ``except DockerException`` works without the SDK."""

    class APIError(DockerException):  # type: ignore[no-redef]
        """Stand-in: the engine answered with an error."""

    class NotFound(APIError):  # type: ignore[no-redef]
        """Stand-in: no such container or image."""

try:
    from requests.exceptions import RequestException
except ImportError:  # pragma: no cover
    class RequestException(Exception):  # type: ignore[no-redef]
        """Stand-in when requests is absent."""

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


class DockerClientError(ValueError):
    """Invalid connection options (bad URL scheme, a client cert without key, a missing file)."""


class EngineUnreachable(Exception):
    """The engine did not answer; ``str()`` is a short reason without a traceback."""


# --------------------------------------------------------------------------- #
# Options and client
# --------------------------------------------------------------------------- #

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


def api_error_message(exc: BaseException) -> str:
    """The engine's own explanation of an APIError, else the exception text."""
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return _short(str(explanation or exc))


def not_found(exc: BaseException) -> bool:
    """Whether an engine error is a 404 (no such container or image)."""
    return isinstance(exc, NotFound) or getattr(getattr(exc, "response", None), "status_code", None) == 404


def conflict(exc: BaseException) -> bool:
    """Whether an engine error is a 409 (a container name already in use)."""
    return isinstance(exc, APIError) and getattr(getattr(exc, "response", None), "status_code", None) == 409


def inspect_image(client: Any, ref: str) -> Optional[Dict[str, Any]]:
    """The image's inspect attributes, or None when the engine does not have it."""
    try:
        return client.api.inspect_image(ref)
    except (DockerException, RequestException, OSError) as exc:
        if not_found(exc):
            return None
        raise


def close_quietly(client: Any) -> None:
    """Close the client's connections; a client that is already broken is not an error."""
    try:
        client.close()
    except Exception:  # pylint: disable=broad-exception-caught
        pass
