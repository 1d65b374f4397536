# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes API client for runbook.ops modules.

``connect(params)`` turns the options of the ``runbook.ops.k8s`` doc fragment (declared in
``k8s/argspec.py``) into a ``K8sApi`` that speaks apps/v1 with plain JSON dicts (the
apiserver's own shapes, not the client's model classes), so that the pure functions in
``rollout_plan`` read exactly what the server sent.

Errors: bad options raise ``K8sConfigError`` (fail_json); an API server that does not answer
raises ``K8sUnreachable``; an HTTP error answer raises ``K8sApiError`` with the status code
and the message of the apiserver's ``Status`` object.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import json
import math
import os
import traceback
from typing import Any, Dict, List, Mapping, Optional, Sequence

try:
    from kubernetes import client as kube_client
    from kubernetes import config as kube_config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised where the client is absent
    kube_client = None
    kube_config = None
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

    class ApiException(Exception):  # type: ignore[no-redef]
        """Stand-in so that ``except ApiException`` works without the client."""

    class ConfigException(Exception):  # type: ignore[no-redef]
        """Stand-in so that ``except ConfigException`` works without the client."""

try:
    import urllib3
    from urllib3.exceptions import HTTPError as Urllib3Error
except ImportError:  # pragma: no cover
    urllib3 = None

    class Urllib3Error(Exception):  # type: ignore[no-redef]
        """Stand-in when urllib3 is absent."""

JSON_PATCH = "application/json-patch+json"


class K8sConfigError(ValueError):
    """Invalid connection options: no kubeconfig, an unknown context, a missing file."""


class K8sUnreachable(Exception):
    """The API server did not answer; ``str()`` is a short reason without a traceback."""


class K8sApiError(Exception):
    """The API server answered with an error status (401, 403, 404, 409, 422, 5xx)."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__("%s %s: %s" % (status, reason, message))
        self.status = status
        self.reason = reason
        self.message = message


# --------------------------------------------------------------------------- #
# Options
# --------------------------------------------------------------------------- #

def connection_mode(params: Mapping[str, Any], environ: Optional[Mapping[str, str]] = None,
                    home: Optional[str] = None) -> str:
    """How to connect: ``host`` (explicit host), ``kubeconfig`` or ``incluster``.

    Explicit ``host`` without a kubeconfig talks to that host; otherwise a kubeconfig (the
    option, E(KUBECONFIG) or ~/.kube/config) is read; inside a pod without one, the pod's
    service account is used. Raises K8sConfigError when none applies.
    """
    environ = os.environ if environ is None else environ
    if params.get("kubeconfig"):
        if not os.path.isfile(str(params["kubeconfig"])):
            raise K8sConfigError("kubeconfig %s is not a readable file" % params["kubeconfig"])
        return "kubeconfig"
    if params.get("host") and not params.get("context"):
        return "host"
    default = os.path.join(home or os.path.expanduser("~"), ".kube", "config")
    if environ.get("KUBECONFIG") or os.path.isfile(default):
        return "kubeconfig"
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return "incluster"
    if params.get("context"):
        raise K8sConfigError("context %s given but no kubeconfig found (kubeconfig option, KUBECONFIG, %s)"
                             % (params["context"], default))
    raise K8sConfigError("no Kubernetes connection: give host (and api_key), kubeconfig, or set KUBECONFIG")


def _check_files(params: Mapping[str, Any]) -> None:
    for option in ("ca_cert", "client_cert", "client_key"):
        path = params.get(option)
        if path and not os.path.isfile(str(path)):
            raise K8sConfigError("%s %s is not a readable file" % (option, path))
    if bool(params.get("client_cert")) != bool(params.get("client_key")):
        raise K8sConfigError("client_cert and client_key must be given together")
    host = params.get("host")
    if host and not str(host).lower().startswith(("http://", "https://")):
        raise K8sConfigError("host must be an http:// or https:// URL, got %r" % host)
    timeout = params.get("request_timeout")
    if timeout is not None and float(timeout) <= 0:
        raise K8sConfigError("request_timeout must be positive, got %s" % timeout)


def configuration(params: Mapping[str, Any]) -> Any:
    """A ``kubernetes.client.Configuration`` for the options (no request is made)."""
    if not HAS_KUBERNETES:
        raise RuntimeError("the kubernetes Python client is not installed")
    _check_files(params)
    mode = connection_mode(params)
    conf = kube_client.Configuration()
    try:
        if mode == "kubeconfig":
            kube_config.load_kube_config(config_file=params.get("kubeconfig"), context=params.get("context"),
                                         client_configuration=conf, persist_config=False)
        elif mode == "incluster":
            kube_config.load_incluster_config(client_configuration=conf)
    except ConfigException as exc:
        raise K8sConfigError("cannot load the Kubernetes configuration: %s" % " ".join(str(exc).split()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise K8sConfigError("cannot read the kubeconfig: %s: %s" % (type(exc).__name__, exc))
    # Explicit options win over the kubeconfig, as in kubernetes.core.
    if params.get("host"):
        conf.host = str(params["host"]).rstrip("/")
    if params.get("api_key"):
        # The kubeconfig loader's token refresh hook would put its own token back.
        conf.refresh_api_key_hook = None
        conf.api_key = {"BearerToken": "Bearer %s" % params["api_key"]}
    if params.get("validate_certs") is not None:
        conf.verify_ssl = bool(params["validate_certs"])
    if params.get("ca_cert"):
        conf.ssl_ca_cert = params["ca_cert"]
    if params.get("client_cert"):
        conf.cert_file = params["client_cert"]
        conf.key_file = params["client_key"]
    if urllib3 is not None:
        # Refused connections fail fast: one retry, not urllib3's default three.
        conf.retries = urllib3.Retry(total=1, connect=1, read=0, redirect=0, status=0, backoff_factor=0.2)
    return conf


def connect(params: Mapping[str, Any]) -> "K8sApi":
    """A ``K8sApi`` for the options; raises K8sConfigError for bad options."""
    conf = configuration(params)
    return K8sApi(kube_client.ApiClient(configuration=conf), conf.host,
                  float(params.get("request_timeout") or 30))


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #

def _short(text: str, size: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= size else text[: size - 3] + "..."


def status_message(body: Any) -> str:
    """The ``message`` of an apiserver ``Status`` body (JSON text), else the text itself."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return _short(body or "")
    if isinstance(data, dict) and data.get("message"):
        return _short(data["message"])
    return _short(body or "")


def describe_transport_error(exc: BaseException, host: str, timeout: Optional[float] = None) -> str:
    """A short reason for a request that got no HTTP answer."""
    text = str(exc)
    lowered = text.lower()
    if "connection refused" in lowered or "errno 111" in lowered:
        return "connection refused by the Kubernetes API server at %s" % host
    if "timed out" in lowered or "timeout" in lowered:
        return "no answer from the Kubernetes API server at %s%s" % (host, " within %ss" % timeout if timeout else "")
    if "certificate" in lowered or "ssl" in lowered:
        return "TLS error talking to %s: %s" % (host, _short(text, 200))
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "resolution" in lowered:
        return "cannot resolve the host of %s" % host
    return "cannot reach the Kubernetes API server at %s: %s" % (host, _short(text, 200))


def api_error(exc: BaseException) -> K8sApiError:
    status = int(getattr(exc, "status", 0) or 0)
    reason = str(getattr(exc, "reason", "") or "")
    message = status_message(getattr(exc, "body", None)) or reason
    if status == 401:
        message = "unauthorized (check api_key or the kubeconfig's credentials): %s" % message
    elif status == 403:
        message = "forbidden (RBAC): %s" % message
    return K8sApiError(status, reason, message)


# --------------------------------------------------------------------------- #
# API calls
# --------------------------------------------------------------------------- #

class K8sApi:
    """The few apps/v1 calls a rollout needs, returning the server's JSON as dicts."""

    def __init__(self, api_client: Any, host: str, timeout: float = 30.0):
        self.api_client = api_client
        self.apps = kube_client.AppsV1Api(api_client)
        self.core = kube_client.CoreV1Api(api_client)
        self.custom = kube_client.CustomObjectsApi(api_client)
        self.host = host
        self.timeout = timeout

    def close(self) -> None:
        try:
            self.api_client.close()
        except Exception:  # pylint: disable=broad-exception-caught
            pass

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        try:
            response = method(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
            data = response.data
        except ApiException as exc:
            if not getattr(exc, "status", None):
                raise K8sUnreachable(describe_transport_error(exc, self.host, self.timeout))
            raise api_error(exc)
        except (Urllib3Error, OSError) as exc:
            raise K8sUnreachable(describe_transport_error(exc, self.host, self.timeout))
        try:
            return json.loads(data)
        except (TypeError, ValueError):
            raise K8sApiError(0, "bad response", "the API server at %s sent no JSON: %s" % (self.host, _short(repr(data), 200)))

    def get_deployment(self, namespace: str, name: str) -> Dict[str, Any]:
        return self._call(self.apps.read_namespaced_deployment, name, namespace)

    def watch_deployment(self, namespace: str, name: str, resource_version: Optional[str], seconds: float) -> bool:
        """Block until the Deployment changes after ``resource_version`` or ``seconds`` pass; True on a change.

        One watch request (``?watch=1``, the server closing it after ``seconds`` rounded up, the
        client's read timeout ``seconds``): the wait of a rollout wakes when the controller writes
        the status, as ``kubectl rollout status`` does, instead of at the next poll. Errors raise
        like the other calls (a server without watch answers 404 or 405)."""
        kwargs: Dict[str, Any] = {"field_selector": "metadata.name=%s" % name, "watch": True,
                                  "timeout_seconds": max(1, int(math.ceil(seconds)))}
        if resource_version:
            kwargs["resource_version"] = resource_version
        try:
            response = self.apps.list_namespaced_deployment(
                namespace, _preload_content=False, _request_timeout=(self.timeout, max(0.05, seconds)), **kwargs)
        except ApiException as exc:
            if not getattr(exc, "status", None):
                raise K8sUnreachable(describe_transport_error(exc, self.host, self.timeout))
            raise api_error(exc)
        except (Urllib3Error, OSError) as exc:
            if "timed out" in str(exc).lower():
                return False
            raise K8sUnreachable(describe_transport_error(exc, self.host, self.timeout))
        try:
            for chunk in response.stream(4096):
                if chunk.strip():
                    return True
            return False
        except (Urllib3Error, OSError):  # the read timeout: nothing changed within ``seconds``
            return False
        finally:
            response.release_conn()

    def list_replicasets(self, namespace: str, selector: str) -> List[Dict[str, Any]]:
        kwargs = {"label_selector": selector} if selector else {}
        return list(self._call(self.apps.list_namespaced_replica_set, namespace, **kwargs).get("items") or [])

    def patch_deployment(self, namespace: str, name: str, ops: Sequence[Mapping[str, Any]],
                         dry_run: bool = False) -> Dict[str, Any]:
        kwargs: Dict[str, Any] = {"_content_type": JSON_PATCH}
        if dry_run:
            kwargs["dry_run"] = "All"
        return self._call(self.apps.patch_namespaced_deployment, name, namespace, [dict(op) for op in ops],
                          field_manager="runbook.ops", **kwargs)

    # -- reads of the health check (k8s_check) ----------------------------- #
    def read_namespace(self, name: str) -> Dict[str, Any]:
        return self._call(self.core.read_namespace, name)

    def list_in_namespace(self, kind: str, namespace: str) -> List[Dict[str, Any]]:
        """The items of one kind in a namespace: deployments, statefulsets, pods, events, pvcs."""
        method = {
            "deployments": self.apps.list_namespaced_deployment,
            "statefulsets": self.apps.list_namespaced_stateful_set,
            "pods": self.core.list_namespaced_pod,
            "events": self.core.list_namespaced_event,
            "pvcs": self.core.list_namespaced_persistent_volume_claim,
        }[kind]
        return list(self._call(method, namespace).get("items") or [])

    def list_nodes(self) -> List[Dict[str, Any]]:
        return list(self._call(self.core.list_node).get("items") or [])

    def list_custom(self, group: str, version: str, namespace: str, plural: str) -> Optional[List[Dict[str, Any]]]:
        """Namespaced custom resources; None when the API server does not know the resource (no CRD)."""
        try:
            found = self._call(self.custom.list_namespaced_custom_object, group, version, namespace, plural)
        except K8sApiError as exc:
            if exc.status == 404:
                return None
            raise
        return list(found.get("items") or [])

    # -- Secrets and StatefulSets (k8s_secret_rotate) --------------------- #
    def get_secret(self, namespace: str, name: str) -> Dict[str, Any]:
        return self._call(self.core.read_namespaced_secret, name, namespace)

    def patch_secret(self, namespace: str, name: str, ops: Sequence[Mapping[str, Any]],
                     dry_run: bool = False) -> Dict[str, Any]:
        kwargs: Dict[str, Any] = {"_content_type": JSON_PATCH}
        if dry_run:
            kwargs["dry_run"] = "All"
        return self._call(self.core.patch_namespaced_secret, name, namespace, [dict(op) for op in ops],
                          field_manager="runbook.ops", **kwargs)

    def get_statefulset(self, namespace: str, name: str) -> Dict[str, Any]:
        return self._call(self.apps.read_namespaced_stateful_set, name, namespace)

    def patch_statefulset(self, namespace: str, name: str, ops: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        return self._call(self.apps.patch_namespaced_stateful_set, name, namespace, [dict(op) for op in ops],
                          field_manager="runbook.ops", _content_type=JSON_PATCH)
