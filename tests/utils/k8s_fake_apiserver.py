"""A small stateful fake of the Kubernetes API server (apps/v1 Deployments and ReplicaSets) on loopback.

No API server can run on these machines, so the k8s_rollout tests drive the real ``kubernetes``
Python client over HTTP against this one. Its JSON is MODELLED on the apiserver's API reference
(apps/v1 Deployment, ReplicaSet, DeploymentStatus and DeploymentCondition, meta/v1 Status) and
on the shapes of ``kubectl get deployment -o yaml`` output published in public repositories;
it was NOT recorded from a live cluster. What it models:

- the defaults the apiserver fills in (progressDeadlineSeconds 600, revisionHistoryLimit 10,
  RollingUpdate 25%/25%, container and pod defaults), ``metadata.generation`` bumped on spec
  changes only, ``resourceVersion`` on every write, ``uid``;
- PATCH with ``application/json-patch+json`` (RFC 6902: add, replace, remove, test) and
  ``application/merge-patch+json``, ``?dryRun=All`` (the answer without storing), 415 for
  strategic merge, 422 ``Invalid`` for an empty image or negative replicas or a failed ``test``;
- the deployment controller, one step per GET of the Deployment: first it observes the new
  generation (finds the ReplicaSet whose template matches, bumping its revision, or creates one
  named ``<deployment>-<hash>`` with the next revision), then it surges one new pod per GET and
  marks the previous GET's new pods ready while scaling old ReplicaSets down; the Progressing
  condition goes NewReplicaSetCreated -> ReplicaSetUpdated -> NewReplicaSetAvailable;
- a full cluster: with ``capacity`` set, pods beyond it stay Pending (never ready), and a scale-up
  that cannot finish hits the same deadline;
- a broken version: a pod template whose image contains ``broken_marker`` never gets ready;
  after ``deadline_gets`` GETs the Progressing condition turns False with reason
  ProgressDeadlineExceeded (standing in for progressDeadlineSeconds passing);
- bearer-token authentication (401 Unauthorized), a read-only token (403 Forbidden on PATCH)
  and a denied token (403 on everything), with ``Status`` bodies like the apiserver's.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from sandbox.services import free_port

REVISION = "deployment.kubernetes.io/revision"
HASH = "pod-template-hash"
CREATED = "2025-01-15T09:30:00Z"


def status_body(code: int, reason: str, message: str, details: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class PatchError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def json_patch(doc: Any, ops: List[Dict[str, Any]]) -> Any:
    """RFC 6902 add/replace/remove/test (the subset the apiserver's json-patch library applies)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        path = op.get("path", "")
        tokens = [_unescape(t) for t in path.split("/")[1:]]
        if not tokens:
            raise PatchError(422, "Invalid", "replacing the whole object is not supported")
        parent = doc
        try:
            for token in tokens[:-1]:
                parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise PatchError(422, "Invalid", "doc is missing path: %s" % path)
        last = tokens[-1]
        kind = op.get("op")
        try:
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, copy.deepcopy(op["value"]))
                elif kind == "replace":
                    parent[index] = copy.deepcopy(op["value"])
                elif kind == "remove":
                    del parent[index]
                elif kind == "test":
                    if parent[index] != op["value"]:
                        raise PatchError(422, "Invalid", "testing value %s failed" % path)
            else:
                if kind == "add":
                    parent[last] = copy.deepcopy(op["value"])
                elif kind == "replace":
                    if last not in parent:
                        raise PatchError(422, "Invalid", "replace operation does not apply: doc is missing key: %s" % path)
                    parent[last] = copy.deepcopy(op["value"])
                elif kind == "remove":
                    del parent[last]
                elif kind == "test":
                    if parent.get(last) != op["value"]:
                        raise PatchError(422, "Invalid", "testing value %s failed" % path)
                else:
                    raise PatchError(422, "Invalid", "unexpected kind of operation %r" % kind)
        except (KeyError, IndexError, ValueError, TypeError):
            raise PatchError(422, "Invalid", "doc is missing path: %s" % path)
    return doc


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _canon_template(template: Dict[str, Any]) -> str:
    template = copy.deepcopy(template)
    (template.get("metadata") or {}).get("labels", {}).pop(HASH, None)
    return json.dumps(template, sort_keys=True)


def _template_hash(template: Dict[str, Any]) -> str:
    return hashlib.sha1(_canon_template(template).encode()).hexdigest()[:10]


def default_container(name: str, image: str, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    container: Dict[str, Any] = {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8000, "protocol": "TCP"}],
        "resources": {}, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return container


class FakeApiServer:
    """``with FakeApiServer() as api: api.add_deployment("prod", "api", {"api": "img:1"})``."""

    def __init__(self, token: str = "test-token", readonly_token: str = "viewer-token",
                 denied_token: str = "nobody-token", broken_marker: str = "broken", deadline_gets: int = 4,
                 dry_run_supported: bool = True):
        self.token, self.readonly_token, self.denied_token = token, readonly_token, denied_token
        self.broken_marker = broken_marker
        self.deadline_gets = deadline_gets
        self.dry_run_supported = dry_run_supported
        self.lock = threading.RLock()
        self.deployments: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.replicasets: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.controller: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.requests: List[Dict[str, Any]] = []
        self.resource_version = 1000
        self.frozen = False  # when True the controller makes no progress (a rollout that never ends)
        # An injected fault: once a (non dry-run) PATCH was accepted, every later request gets this
        # HTTP status (an apiserver that starts failing half-way through a rollout), e.g. 503.
        self.fail_after_patch: Optional[int] = None
        self.capacity: Optional[int] = None  # pods the cluster can run per Deployment; the rest stay Pending
        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle ----------------------------------------------------------
    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def start(self) -> "FakeApiServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FakeApiServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def kubeconfig(self, path: str, context: str = "fake", namespace: str = "default") -> str:
        """Write a kubeconfig (YAML is a superset of JSON) with a context for this server."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "other",
            "clusters": [{"name": "fake-cluster", "cluster": {"server": self.url}},
                         {"name": "other-cluster", "cluster": {"server": "http://127.0.0.1:9"}}],
            "users": [{"name": "deployer", "user": {"token": self.token}},
                      {"name": "nobody", "user": {"token": "wrong"}}],
            "contexts": [{"name": context, "context": {"cluster": "fake-cluster", "user": "deployer", "namespace": namespace}},
                         {"name": "other", "context": {"cluster": "other-cluster", "user": "nobody"}}],
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(config, handle)
        return path

    # -- objects ------------------------------------------------------------
    def _rv(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)

    def add_deployment(self, namespace: str, name: str, images: Dict[str, str], replicas: int = 3,
                       env: Optional[Dict[str, str]] = None, history: Optional[List[Dict[str, str]]] = None,
                       revision_history_limit: int = 10) -> Dict[str, Any]:
        """A Deployment whose rollout of ``images`` is complete; ``history`` adds older revisions first."""
        labels = {"app": name}
        deployment = {
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "resourceVersion": self._rv(),
                         "generation": 1, "creationTimestamp": CREATED, "labels": dict(labels), "annotations": {}},
            "spec": {
                "replicas": replicas, "selector": {"matchLabels": dict(labels)},
                "template": {"metadata": {"creationTimestamp": None, "labels": dict(labels)},
                             "spec": {"containers": [], "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                                      "dnsPolicy": "ClusterFirst", "securityContext": {}, "schedulerName": "default-scheduler"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": revision_history_limit, "progressDeadlineSeconds": 600,
            },
            "status": {},
        }
        key = (namespace, name)
        with self.lock:
            self.deployments[key] = deployment
            self.controller[key] = {"stuck": 0}
            for older in list(history or []) + [images]:
                deployment["spec"]["template"]["spec"]["containers"] = [
                    default_container(c, i, env) for c, i in older.items()]
                deployment["metadata"]["generation"] += 1
                self._observe(key)
            deployment["metadata"]["generation"] -= 1
            # Settle: the newest ReplicaSet runs all replicas, ready.
            new = self._current_rs(key)
            for rs in self._owned(key):
                count = replicas if rs is new else 0
                rs["spec"]["replicas"] = count
                rs["status"] = {"replicas": count, "fullyLabeledReplicas": count, "readyReplicas": count,
                                "availableReplicas": count, "observedGeneration": rs["metadata"]["generation"]}
                if not count:
                    rs["status"] = {"replicas": 0, "observedGeneration": rs["metadata"]["generation"]}
            deployment["status"]["observedGeneration"] = deployment["metadata"]["generation"]
            self._write_status(key, done_message=True)
        return copy.deepcopy(deployment)

    def deployment(self, namespace: str, name: str) -> Dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.deployments[(namespace, name)])

    def replicaset_list(self, namespace: str, name: str) -> List[Dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self._owned((namespace, name)))

    def patches(self) -> List[Dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "PATCH"]

    # -- the deployment controller -----------------------------------------
    def _owned(self, key: Tuple[str, str]) -> List[Dict[str, Any]]:
        uid = self.deployments[key]["metadata"]["uid"]
        return [rs for (ns, _n), rs in sorted(self.replicasets.items()) if ns == key[0]
                and any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences", []))]

    def _current_rs(self, key: Tuple[str, str]) -> Dict[str, Any]:
        return max(self._owned(key), key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))

    def _broken(self, template: Dict[str, Any]) -> bool:
        return any(self.broken_marker in str(c.get("image")) for c in template["spec"].get("containers", []))

    def _observe(self, key: Tuple[str, str]) -> None:
        """The controller sees a new generation: find or create the ReplicaSet of the template."""
        deployment = self.deployments[key]
        template = deployment["spec"]["template"]
        owned = self._owned(key)
        newest = max([int(rs["metadata"]["annotations"][REVISION]) for rs in owned] or [0])
        match = next((rs for rs in owned if _canon_template(rs["spec"]["template"]) == _canon_template(template)), None)
        state = self.controller[key]
        if match is None:
            digest = _template_hash(template)
            rs_template = copy.deepcopy(template)
            rs_template["metadata"].setdefault("labels", {})[HASH] = digest
            rs_name = "%s-%s" % (key[1], digest)
            match = {
                "kind": "ReplicaSet", "apiVersion": "apps/v1",
                "metadata": {"name": rs_name, "namespace": key[0], "uid": str(uuid.uuid4()),
                             "resourceVersion": self._rv(), "generation": 1, "creationTimestamp": CREATED,
                             "labels": dict(rs_template["metadata"]["labels"]),
                             "annotations": {REVISION: str(newest + 1),
                                             "deployment.kubernetes.io/desired-replicas": str(deployment["spec"]["replicas"]),
                                             "deployment.kubernetes.io/max-replicas": str(deployment["spec"]["replicas"] + 1)},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": key[1],
                                                  "uid": deployment["metadata"]["uid"], "controller": True,
                                                  "blockOwnerDeletion": True}]},
                "spec": {"replicas": 0, "selector": {"matchLabels": dict(rs_template["metadata"]["labels"])},
                         "template": rs_template},
                "status": {"replicas": 0, "observedGeneration": 1},
            }
            self.replicasets[(key[0], rs_name)] = match
            reason, message = "NewReplicaSetCreated", 'Created new replica set "%s"' % rs_name
        else:
            old = int(match["metadata"]["annotations"][REVISION])
            if old != newest:
                history = match["metadata"]["annotations"].get("deployment.kubernetes.io/revision-history")
                match["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = (
                    "%s,%d" % (history, old) if history else str(old))
                match["metadata"]["annotations"][REVISION] = str(newest + 1)
            reason, message = "FoundNewReplicaSet", 'Found new replica set "%s"' % match["metadata"]["name"]
        deployment["metadata"]["annotations"][REVISION] = match["metadata"]["annotations"][REVISION]
        deployment["status"]["observedGeneration"] = deployment["metadata"]["generation"]
        state["stuck"] = 0
        state["progress"] = (reason, message)
        self._prune(key)

    def _prune(self, key: Tuple[str, str]) -> None:
        limit = self.deployments[key]["spec"].get("revisionHistoryLimit", 10)
        current = self._current_rs(key)
        idle = [rs for rs in self._owned(key) if rs is not current and not rs["spec"]["replicas"]]
        idle.sort(key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))
        for rs in idle[:max(0, len(idle) - limit)]:
            del self.replicasets[(key[0], rs["metadata"]["name"])]

    def _step(self, key: Tuple[str, str]) -> None:
        """One controller step (one GET of the Deployment)."""
        deployment = self.deployments[key]
        if self.frozen:
            return
        if deployment["status"].get("observedGeneration", 0) < deployment["metadata"]["generation"]:
            self._observe(key)
            self._write_status(key)
            return
        if deployment["spec"].get("paused"):
            return
        desired = deployment["spec"]["replicas"]
        new = self._current_rs(key)
        olds = [rs for rs in self._owned(key) if rs is not new and rs["spec"]["replicas"]]
        status = new["status"]
        if self._broken(new["spec"]["template"]):
            if desired and new["spec"]["replicas"] < 1:
                new["spec"]["replicas"] = 1
            status.update(replicas=new["spec"]["replicas"], readyReplicas=0, availableReplicas=0)
            self.controller[key]["stuck"] += 1
        else:
            ready = min(new["spec"]["replicas"], desired)
            if self.capacity is not None:
                ready = max(0, min(ready, self.capacity - sum(rs["status"].get("readyReplicas", 0) for rs in olds)))
                if new["spec"]["replicas"] >= desired and ready < desired:
                    self.controller[key]["stuck"] += 1
            if new["spec"]["replicas"] < desired:
                new["spec"]["replicas"] += 1
            elif new["spec"]["replicas"] > desired:
                new["spec"]["replicas"] = desired
            status.update(replicas=new["spec"]["replicas"], readyReplicas=ready, availableReplicas=ready)
            excess = sum(rs["spec"]["replicas"] for rs in olds) + ready - desired
            for rs in olds:
                take = min(rs["spec"]["replicas"], max(0, excess))
                rs["spec"]["replicas"] -= take
                excess -= take
                rs["status"]["replicas"] = rs["spec"]["replicas"]
                rs["status"]["readyReplicas"] = min(rs["status"].get("readyReplicas", 0), rs["spec"]["replicas"])
                rs["status"]["availableReplicas"] = rs["status"]["readyReplicas"]
        for rs in self._owned(key):
            rs["metadata"]["resourceVersion"] = self._rv()
        self._write_status(key)

    def _write_status(self, key: Tuple[str, str], done_message: bool = False) -> None:
        deployment = self.deployments[key]
        desired = deployment["spec"]["replicas"]
        owned = self._owned(key)
        new = self._current_rs(key)
        total = sum(rs["status"].get("replicas", 0) for rs in owned)
        ready = sum(rs["status"].get("readyReplicas", 0) for rs in owned)
        updated = new["status"].get("replicas", 0)
        status = deployment["status"]
        status.update(replicas=total, updatedReplicas=updated, readyReplicas=ready, availableReplicas=ready)
        status["unavailableReplicas"] = max(0, total - ready)
        for field in ("readyReplicas", "availableReplicas", "updatedReplicas", "unavailableReplicas"):
            if not status[field]:
                del status[field]  # omitempty, as the apiserver serializes zero counts
        name = new["metadata"]["name"]
        complete = updated == desired and total == updated and ready >= updated
        state = self.controller[key]
        if complete or done_message:
            progressing = ("True", "NewReplicaSetAvailable", 'ReplicaSet "%s" has successfully progressed.' % name)
        elif state["stuck"] >= self.deadline_gets:
            progressing = ("False", "ProgressDeadlineExceeded", 'ReplicaSet "%s" has timed out progressing.' % name)
        elif state.get("progress") and state["progress"][0] in ("NewReplicaSetCreated", "FoundNewReplicaSet") \
                and not updated:
            progressing = ("True",) + tuple(state["progress"])
        else:
            progressing = ("True", "ReplicaSetUpdated", 'ReplicaSet "%s" is progressing.' % name)
        max_unavailable = desired // 4
        available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.") \
            if ready >= desired - max_unavailable else \
            ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        stamp = "2025-01-15T09:3%d:00Z" % min(9, self.resource_version % 10)
        status["conditions"] = [
            {"type": "Available", "status": available[0], "lastUpdateTime": stamp, "lastTransitionTime": stamp,
             "reason": available[1], "message": available[2]},
            {"type": "Progressing", "status": progressing[0], "lastUpdateTime": stamp, "lastTransitionTime": stamp,
             "reason": progressing[1], "message": progressing[2]},
        ]
        deployment["metadata"]["resourceVersion"] = self._rv()

    # -- requests -----------------------------------------------------------
    def handle(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> Tuple[int, Any]:
        url = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = [p for p in url.path.split("/") if p]
        with self.lock:
            self.requests.append({"method": method, "path": path, "content_type": headers.get("content-type"),
                                  "body": body.decode("utf-8", "replace")})
            auth = headers.get("authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
            if token not in (self.token, self.readonly_token, self.denied_token):
                return 401, status_body(401, "Unauthorized", "Unauthorized")
            if self.fail_after_patch and any(r["method"] == "PATCH" and "dryRun" not in r["path"]
                                             for r in self.requests[:-1]):
                code = int(self.fail_after_patch)
                return code, status_body(code, "ServiceUnavailable", "injected fault: the apiserver answers %s" % code)
            if url.path == "/version":
                return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake", "platform": "linux/amd64"}
            if len(parts) < 6 or parts[:3] != ["apis", "apps", "v1"] or parts[3] != "namespaces":
                return 404, status_body(404, "NotFound", "the server could not find the requested resource")
            namespace, resource = parts[4], parts[5]
            name = parts[6] if len(parts) > 6 else None
            verb = {"GET": "get" if name else "list", "PATCH": "patch"}.get(method, method.lower())
            if token == self.denied_token or (token == self.readonly_token and verb == "patch"):
                return 403, status_body(403, "Forbidden", '%s.apps %sis forbidden: User "system:serviceaccount:ci:%s" '
                                        'cannot %s resource "%s" in API group "apps" in the namespace "%s"' % (
                                            resource, '"%s" ' % name if name else "",
                                            "viewer" if token == self.readonly_token else "nobody",
                                            verb, resource, namespace),
                                        {"name": name, "group": "apps", "kind": resource} if name else None)
            if resource == "replicasets" and name is None and method == "GET":
                return 200, self._list_replicasets(namespace, query.get("labelSelector", ""))
            if resource != "deployments" or name is None:
                return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            key = (namespace, name)
            if key not in self.deployments:
                return 404, status_body(404, "NotFound", 'deployments.apps "%s" not found' % name,
                                        {"name": name, "group": "apps", "kind": "deployments"})
            if method == "GET":
                self._step(key)
                return 200, copy.deepcopy(self.deployments[key])
            if method == "PATCH":
                return self._patch(key, headers.get("content-type", ""), body, query.get("dryRun"))
            return 405, status_body(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _list_replicasets(self, namespace: str, selector: str) -> Dict[str, Any]:
        wanted = dict(item.split("=", 1) for item in selector.split(",") if "=" in item)
        items = []
        for (ns, _name), rs in sorted(self.replicasets.items()):
            labels = rs["metadata"].get("labels", {})
            if ns == namespace and all(labels.get(k) == v for k, v in wanted.items()):
                item = copy.deepcopy(rs)
                item.pop("kind", None)
                item.pop("apiVersion", None)
                items.append(item)
        return {"kind": "ReplicaSetList", "apiVersion": "apps/v1",
                "metadata": {"resourceVersion": str(self.resource_version)}, "items": items}

    def _patch(self, key: Tuple[str, str], content_type: str, body: bytes, dry_run: Optional[str]) -> Tuple[int, Any]:
        if dry_run is not None and dry_run != "All":
            return 400, status_body(400, "BadRequest", 'Invalid dry run value "%s"; only "All" is supported' % dry_run)
        if dry_run is not None and not self.dry_run_supported:
            return 415, status_body(415, "UnsupportedMediaType", "dryRun is not supported by this fake server")
        current = self.deployments[key]
        try:
            patch = json.loads(body or b"null")
        except ValueError as exc:
            return 400, status_body(400, "BadRequest", "error decoding patch: %s" % exc)
        media = content_type.split(";")[0].strip()
        try:
            if media == "application/json-patch+json":
                if not isinstance(patch, list):
                    raise PatchError(400, "BadRequest", "json patch must be a list of operations")
                result = json_patch(current, patch)
            elif media == "application/merge-patch+json":
                result = merge_patch(current, patch)
            else:
                return 415, status_body(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - '
                                        'accepted media types include: application/json-patch+json, application/merge-patch+json')
        except PatchError as exc:
            return exc.code, status_body(exc.code, exc.reason, exc.message)
        problem = self._invalid(result)
        if problem:
            return 422, status_body(422, "Invalid", 'Deployment.apps "%s" is invalid: %s' % (key[1], problem),
                                    {"name": key[1], "group": "apps", "kind": "Deployment"})
        result["metadata"] = copy.deepcopy(current["metadata"])
        result["status"] = copy.deepcopy(current["status"])
        if json.dumps(result["spec"], sort_keys=True) != json.dumps(current["spec"], sort_keys=True):
            result["metadata"]["generation"] += 1
        if dry_run:
            return 200, result
        result["metadata"]["resourceVersion"] = self._rv()
        self.deployments[key] = result
        return 200, copy.deepcopy(result)

    @staticmethod
    def _invalid(deployment: Dict[str, Any]) -> Optional[str]:
        spec = deployment.get("spec") or {}
        if int(spec.get("replicas", 1)) < 0:
            return "spec.replicas: Invalid value: %s: must be greater than or equal to 0" % spec.get("replicas")
        for index, container in enumerate(((spec.get("template") or {}).get("spec") or {}).get("containers") or []):
            image = str(container.get("image") or "")
            if not image.strip():
                return "spec.template.spec.containers[%d].image: Required value" % index
            if image != image.strip() or " " in image:
                return "spec.template.spec.containers[%d].image: Invalid value: %r: must not have leading or trailing whitespace" % (index, image)
        return None


class _Handler(BaseHTTPRequestHandler):
    server_version = "fake-kube-apiserver/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - silence the access log
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        code, payload = self.server.fake.handle(self.command, self.path, headers, body)  # type: ignore[attr-defined]
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_PATCH = _serve
    do_POST = _serve
    do_PUT = _serve
    do_DELETE = _serve
