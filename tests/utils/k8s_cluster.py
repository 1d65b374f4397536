"""The real Kubernetes control plane of the ``k8s_cluster`` fixture, and what the tests do with it.

``sandbox.k8s.ControlPlane`` starts etcd, the real kube-apiserver, controller-manager and scheduler
and a fake kubelet (pods Running and Ready by image name: ``never-ready`` never gets Ready,
``pull-fail`` / ``does-not-exist`` stay Pending in ImagePullBackOff). ``Cluster`` adds the
``kubernetes`` client and the objects the tests create, each test in a namespace of its own.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Dict, Iterable, List, Mapping, Optional

from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

NEVER_READY = "reg/app:never-ready"
PULL_FAIL = "registry.invalid/pull-fail:0"


class Cluster:
    """One control plane: its kubeconfig, token, URL and the client APIs (core, apps, rbac, ...)."""

    def __init__(self, plane: Any):
        self.plane = plane
        self.kubeconfig = plane.kubeconfig
        self.token = plane.token
        self.url = plane.url
        self.ca_cert = plane.ca_cert
        self.api_client = kube_config.new_client_from_config(config_file=self.kubeconfig)
        self.core = kube_client.CoreV1Api(self.api_client)
        self.apps = kube_client.AppsV1Api(self.api_client)
        self.rbac = kube_client.RbacAuthorizationV1Api(self.api_client)
        self.ext = kube_client.ApiextensionsV1Api(self.api_client)
        self.custom = kube_client.CustomObjectsApi(self.api_client)

    def close(self) -> None:
        self.api_client.close()

    # -- connection options of the modules ------------------------------------ #
    def auth(self, **extra: Any) -> Dict[str, Any]:
        """The modules' connection options through the kubeconfig."""
        return dict({"kubeconfig": self.kubeconfig}, **extra)

    def host_auth(self, token: Optional[str] = None) -> Dict[str, Any]:
        """The modules' connection options as host + api_key (+ the CA)."""
        return {"host": self.url, "api_key": token or self.token, "ca_cert": self.ca_cert}

    # -- namespaces ------------------------------------------------------------ #
    def new_namespace(self, prefix: str = "rbk8s") -> str:
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
        self.core.create_namespace({"metadata": {"name": name}})
        return name

    def delete_namespace(self, name: str) -> None:
        try:
            self.core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise

    # -- workloads ---------------------------------------------------------------- #
    def create_deployment(self, namespace: str, name: str, images: Mapping[str, str], replicas: int = 3,
                          progress_deadline: int = 600, env: Optional[Mapping[str, str]] = None,
                          pod_spec: Optional[Mapping[str, Any]] = None, wait: bool = True) -> Dict[str, Any]:
        containers = [{"name": cname, "image": image,
                       "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
                      for cname, image in images.items()]
        spec = dict({"containers": containers, "terminationGracePeriodSeconds": 0}, **(pod_spec or {}))
        body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
                "spec": {"replicas": replicas, "progressDeadlineSeconds": progress_deadline,
                         "selector": {"matchLabels": {"app": name}},
                         "strategy": {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                         "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}
        self.apps.create_namespaced_deployment(namespace, body)
        if wait:
            self.wait_rollout(namespace, name)
        return self.deployment(namespace, name)

    def deployment(self, namespace: str, name: str) -> Dict[str, Any]:
        return self.api_client.sanitize_for_serialization(self.apps.read_namespaced_deployment(name, namespace))

    def image(self, namespace: str, name: str, container: int = 0) -> str:
        return self.deployment(namespace, name)["spec"]["template"]["spec"]["containers"][container]["image"]

    def revision(self, namespace: str, name: str) -> int:
        return int(self.deployment(namespace, name)["metadata"]["annotations"]["deployment.kubernetes.io/revision"])

    def set_image(self, namespace: str, name: str, images: Mapping[str, str], wait: bool = True,
                  observed: bool = False) -> None:
        """``kubectl set image`` by hand (a strategic merge patch), to build a rollout history; ``wait``
        for the rollout, or only until the controller ``observed`` it (its ReplicaSet and revision exist)."""
        patch = {"spec": {"template": {"spec": {"containers": [{"name": k, "image": v} for k, v in images.items()]}}}}
        generation = self.apps.patch_namespaced_deployment(name, namespace, patch).metadata.generation
        if wait and not observed:
            self.wait_rollout(namespace, name)
        elif observed:
            deadline = time.monotonic() + 60
            while (self.apps.read_namespaced_deployment(name, namespace).status.observed_generation or 0) < generation:
                if time.monotonic() > deadline:
                    raise AssertionError("deployment %s/%s: generation %s never observed" % (namespace, name, generation))
                time.sleep(0.05)

    def wait_rollout(self, namespace: str, name: str, timeout: float = 60) -> Dict[str, Any]:
        """Until the Deployment's rollout is complete (what ``kubectl rollout status`` waits for)."""
        deadline = time.monotonic() + timeout
        while True:
            dep = self.deployment(namespace, name)
            spec, status = dep["spec"], dep.get("status") or {}
            if (status.get("observedGeneration", 0) >= dep["metadata"]["generation"]
                    and status.get("updatedReplicas", 0) == spec["replicas"]
                    and status.get("replicas", 0) == spec["replicas"]
                    and status.get("availableReplicas", 0) == spec["replicas"]):
                return dep
            if time.monotonic() > deadline:
                raise AssertionError("deployment %s/%s not rolled out after %ss: %s" % (namespace, name, timeout, status))
            time.sleep(0.1)

    def pods(self, namespace: str, selector: str = "") -> List[Dict[str, Any]]:
        found = self.core.list_namespaced_pod(namespace, label_selector=selector)
        return [self.api_client.sanitize_for_serialization(p) for p in found.items]

    def wait_pods(self, namespace: str, selector: str, predicate: Any, timeout: float = 30) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            pods = self.pods(namespace, selector)
            if pods and predicate(pods):
                return pods
            if time.monotonic() > deadline:
                raise AssertionError("pods %s in %s not as expected after %ss: %s" % (
                    selector, namespace, timeout, [p.get("status") for p in pods]))
            time.sleep(0.1)

    # -- RBAC ---------------------------------------------------------------------- #
    def service_account_token(self, namespace: str, name: str, verbs: Iterable[str],
                              resources: Iterable[str] = ("deployments", "replicasets"),
                              api_groups: Iterable[str] = ("apps",), timeout: float = 30) -> str:
        """A ServiceAccount allowed only ``verbs`` on ``resources`` in the namespace; its token."""
        self.core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        verbs = list(verbs)
        if verbs:
            self.rbac.create_namespaced_role(namespace, {
                "metadata": {"name": name},
                "rules": [{"apiGroups": list(api_groups), "resources": list(resources), "verbs": verbs}]})
            self.rbac.create_namespaced_role_binding(namespace, {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]})
        deadline = time.monotonic() + timeout
        while True:  # the token controller of kube-controller-manager makes the Secret
            account = self.core.read_namespaced_service_account(name, namespace)
            if account.secrets:
                secret = self.core.read_namespaced_secret(account.secrets[0].name, namespace)
                if secret.data and secret.data.get("token"):
                    import base64  # noqa: PLC0415 - only here

                    return base64.b64decode(secret.data["token"]).decode()
            if time.monotonic() > deadline:
                raise AssertionError("no token for service account %s/%s" % (namespace, name))
            time.sleep(0.1)


class ReplicaRecorder:
    """Watches one Deployment and records every new ``spec.replicas`` the apiserver stored, in order.

    A server-side dry run stores nothing, so it never shows here; ``changes`` is what a play did.
    """

    def __init__(self, cluster: Cluster, namespace: str, name: str):
        from kubernetes import watch  # noqa: PLC0415 - only the recorder needs it
        import threading  # noqa: PLC0415

        self.cluster, self.namespace, self.name = cluster, namespace, name
        listed = cluster.apps.list_namespaced_deployment(namespace, field_selector="metadata.name=%s" % name)
        self.last = listed.items[0].spec.replicas if listed.items else None
        self.changes: List[int] = []
        self._watch = watch.Watch()
        self._version = listed.metadata.resource_version
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._watch.stream(self.cluster.apps.list_namespaced_deployment, self.namespace,
                                            field_selector="metadata.name=%s" % self.name,
                                            resource_version=self._version, timeout_seconds=600):
                replicas = event["object"].spec.replicas
                if event["type"] == "MODIFIED" and replicas != self.last:
                    self.changes.append(replicas)
                    self.last = replicas
        except Exception:  # noqa: BLE001 - the watch ends with the test
            pass

    def settle(self, seconds: float = 0.5) -> List[int]:
        """The changes, once the watch had time to deliver the last events."""
        time.sleep(seconds)
        return list(self.changes)

    def stop(self) -> None:
        self._watch.stop()
