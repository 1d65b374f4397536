# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of a Kubernetes Deployment rollout: what to patch, which revision, is it done.

Nothing here talks to the API server: the functions take the apiserver's JSON (apps/v1
Deployment and ReplicaSet objects as plain dicts, camelCase keys) and return plain data,
so that unit tests replay such objects and ``k8s_client`` only does the I/O.

Changes are JSON patches (RFC 6902), one operation per field that differs, each container
addressed by index and guarded by a ``test`` of its name, so that a concurrent edit of the
container list makes the patch fail instead of changing the wrong container.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import copy
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.lifeline import MAX_WAIT_SECONDS

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
DEADLINE_REASON = "ProgressDeadlineExceeded"

COMPLETE = "complete"
PROGRESSING = "progressing"
FAILED = "failed"

STATES = ("present", "rolled_back")


class K8sRolloutError(ValueError):
    """Bad input for a rollout: an unknown container, a revision that does not exist, ..."""


# --------------------------------------------------------------------------- #
# Reading objects
# --------------------------------------------------------------------------- #

def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("status") or {}


def revision_of(obj: Mapping[str, Any]) -> Optional[int]:
    """The ``deployment.kubernetes.io/revision`` annotation as a number, or None."""
    value = (_meta(obj).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def owned_by(replicaset: Mapping[str, Any], deployment: Mapping[str, Any]) -> bool:
    """True when the Deployment controls the ReplicaSet (controller owner reference by UID)."""
    uid = _meta(deployment).get("uid")
    for ref in _meta(replicaset).get("ownerReferences") or []:
        if ref.get("kind") == "Deployment" and ref.get("controller") and (
                (uid and ref.get("uid") == uid) or (not uid and ref.get("name") == _meta(deployment).get("name"))):
            return True
    return False


def label_selector(selector: Optional[Mapping[str, Any]]) -> str:
    """A Deployment's ``spec.selector`` (matchLabels and matchExpressions) as a selector string."""
    selector = selector or {}
    parts = ["%s=%s" % (key, value) for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr.get("key"), expr.get("operator"), list(expr.get("values") or [])
        if operator == "In":
            parts.append("%s in (%s)" % (key, ",".join(values)))
        elif operator == "NotIn":
            parts.append("%s notin (%s)" % (key, ",".join(values)))
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append("!%s" % key)
    return ",".join(parts)


def pod_containers(template: Mapping[str, Any], init: bool = False) -> List[Mapping[str, Any]]:
    return list(((template.get("spec") or {}).get("initContainers" if init else "containers")) or [])


def env_map(container: Mapping[str, Any]) -> Dict[str, str]:
    """A container's environment for people: plain values, or ``<from secretKeyRef x/y>``."""
    out: Dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item or "valueFrom" not in item:
            out[str(item.get("name"))] = str(item.get("value", ""))
        else:
            source = item.get("valueFrom") or {}
            kind = next(iter(source), "valueFrom")
            ref = source.get(kind) or {}
            where = "/".join(str(ref[k]) for k in ("name", "key", "fieldPath", "resource") if ref.get(k))
            out[str(item.get("name"))] = "<from %s %s>" % (kind, where) if where else "<from %s>" % kind
    return out


def summarize(deployment: Mapping[str, Any]) -> Dict[str, Any]:
    """What a person compares before and after a change: replicas, images, env, restartedAt, revision."""
    template = _spec(deployment).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    containers = {}
    for init in (False, True):
        for container in pod_containers(template, init):
            containers[str(container.get("name"))] = {
                "image": container.get("image"),
                "env": env_map(container),
                "init": init,
            }
    return {
        "replicas": _spec(deployment).get("replicas", 1),
        "containers": containers,
        "restarted_at": annotations.get(RESTARTED_AT_ANNOTATION),
        "revision": revision_of(deployment),
        "paused": bool(_spec(deployment).get("paused")),
    }


def status_summary(deployment: Mapping[str, Any]) -> Dict[str, Any]:
    status = _status(deployment)
    return {
        "generation": _meta(deployment).get("generation"),
        "observed_generation": status.get("observedGeneration"),
        "replicas": _spec(deployment).get("replicas", 1),
        "updated_replicas": status.get("updatedReplicas", 0),
        "ready_replicas": status.get("readyReplicas", 0),
        "available_replicas": status.get("availableReplicas", 0),
        "unavailable_replicas": status.get("unavailableReplicas", 0),
    }


# --------------------------------------------------------------------------- #
# Rollout status (what `kubectl rollout status` waits for)
# --------------------------------------------------------------------------- #

def condition(deployment: Mapping[str, Any], kind: str) -> Optional[Mapping[str, Any]]:
    for item in _status(deployment).get("conditions") or []:
        if item.get("type") == kind:
            return item
    return None


def rollout_state(deployment: Mapping[str, Any]) -> Tuple[str, str]:
    """``(COMPLETE | PROGRESSING | FAILED, message)`` from a Deployment's spec, generation and status.

    Complete means: the controller observed the latest generation, every desired replica runs
    the new template, no old replica is left and every updated replica is available. The
    Progressing condition with reason ProgressDeadlineExceeded is a failure; so is a paused
    Deployment that has not finished (nothing would ever progress).
    """
    generation = int(_meta(deployment).get("generation") or 0)
    status = _status(deployment)
    observed = int(status.get("observedGeneration") or 0)
    if observed < generation:
        return PROGRESSING, "waiting for the controller to observe generation %d (observed %d)" % (generation, observed)
    progressing = condition(deployment, "Progressing")
    if progressing and progressing.get("reason") == DEADLINE_REASON:
        deadline = _spec(deployment).get("progressDeadlineSeconds")
        return FAILED, "progress deadline%s exceeded (%s): %s" % (
            " of %ss" % deadline if deadline is not None else "", DEADLINE_REASON,
            progressing.get("message") or "no message")
    desired = int(_spec(deployment).get("replicas", 1) if _spec(deployment).get("replicas") is not None else 1)
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    waiting = None
    if updated < desired:
        waiting = "%d of %d new replicas updated" % (updated, desired)
    elif total > updated:
        waiting = "%d old replica%s pending termination" % (total - updated, "" if total - updated == 1 else "s")
    elif available < updated:
        waiting = "%d of %d updated replicas available" % (available, updated)
    if waiting is None:
        return COMPLETE, "successfully rolled out: %d of %d replicas updated and available" % (available, desired)
    failure = condition(deployment, "ReplicaFailure")
    if failure and str(failure.get("status")) == "True":
        waiting += " (ReplicaFailure %s: %s)" % (failure.get("reason"), failure.get("message"))
    if _spec(deployment).get("paused"):
        return FAILED, "paused with the rollout unfinished (%s): resume it first" % waiting
    return PROGRESSING, waiting


# --------------------------------------------------------------------------- #
# Revisions (what `kubectl rollout history` / `rollout undo` read)
# --------------------------------------------------------------------------- #

def revision_history(deployment: Mapping[str, Any], replicasets: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The Deployment's revisions, oldest first, from the ReplicaSets it owns."""
    out = []
    for rs in replicasets:
        if not owned_by(rs, deployment):
            continue
        number = revision_of(rs)
        if number is None:
            continue
        template = _spec(rs).get("template") or {}
        out.append({
            "revision": number,
            "replicaset": _meta(rs).get("name"),
            "images": {str(c.get("name")): c.get("image") for c in pod_containers(template)},
            "change_cause": (_meta(rs).get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION),
            "replicas": _status(rs).get("replicas", 0),
            "created": _meta(rs).get("creationTimestamp"),
        })
    return sorted(out, key=lambda item: item["revision"])


def select_revision(history: Sequence[Mapping[str, Any]], current: Optional[int],
                    target: Optional[int] = None) -> Dict[str, Any]:
    """The revision to undo to: ``target`` when given, else the newest one older than ``current``.

    Raises K8sRolloutError when it does not exist.
    """
    known = sorted(int(item["revision"]) for item in history)
    if target is not None:
        for item in history:
            if int(item["revision"]) == int(target):
                return dict(item)
        raise K8sRolloutError("revision %s not found; the deployment has revision%s %s" % (
            target, "" if len(known) == 1 else "s", ", ".join(str(n) for n in known) or "none"))
    if current is None and known:
        current = known[-1]
    older = [item for item in history if current is not None and int(item["revision"]) < int(current)]
    if not older:
        raise K8sRolloutError("no previous revision to undo to (revision%s kept: %s)" % (
            "" if len(known) == 1 else "s", ", ".join(str(n) for n in known) or "none"))
    return dict(max(older, key=lambda item: int(item["revision"])))


def replicaset_for(replicasets: Sequence[Mapping[str, Any]], deployment: Mapping[str, Any],
                   revision: int) -> Optional[Mapping[str, Any]]:
    for rs in replicasets:
        if owned_by(rs, deployment) and revision_of(rs) == int(revision):
            return rs
    return None


def undo_template(replicaset: Mapping[str, Any]) -> Dict[str, Any]:
    """The pod template to copy into the Deployment: the ReplicaSet's, without its pod-template-hash label."""
    template = copy.deepcopy(_spec(replicaset).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return template


def same_template(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    """Pod templates equal apart from the pod-template-hash label (the way the controller compares)."""
    def canon(template: Mapping[str, Any]) -> str:
        template = copy.deepcopy(dict(template))
        labels = (template.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop(POD_TEMPLATE_HASH_LABEL, None)
        (template.get("metadata") or {}).pop("creationTimestamp", None)
        return json.dumps(template, sort_keys=True)
    return canon(left) == canon(right)


# --------------------------------------------------------------------------- #
# Planning changes as JSON patch operations
# --------------------------------------------------------------------------- #

def pointer(*parts: Any) -> str:
    """A JSON pointer (RFC 6901) from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _container_index(template: Mapping[str, Any], name: str) -> Optional[Tuple[str, int]]:
    for init in (False, True):
        for index, container in enumerate(pod_containers(template, init)):
            if container.get("name") == name:
                return ("initContainers" if init else "containers"), index
    return None


def _all_names(template: Mapping[str, Any]) -> List[str]:
    return [str(c.get("name")) for init in (False, True) for c in pod_containers(template, init)]


def image_ops(template: Mapping[str, Any], images: Mapping[str, str]) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Operations and descriptions that set ``{container: image}``; only differing containers."""
    ops: List[Dict[str, Any]] = []
    notes: List[str] = []
    for name in sorted(images):
        where = _container_index(template, name)
        if where is None:
            raise K8sRolloutError("container %r not found in the pod template; it has: %s"
                                  % (name, ", ".join(_all_names(template)) or "none"))
        field, index = where
        current = pod_containers(template, field == "initContainers")[index].get("image")
        if current == images[name]:
            continue
        ops.append({"op": "test", "path": pointer("spec", "template", "spec", field, index, "name"), "value": name})
        ops.append({"op": "replace", "path": pointer("spec", "template", "spec", field, index, "image"),
                    "value": images[name]})
        notes.append("image %s: %s -> %s" % (name, current, images[name]))
    return ops, notes


def new_env(current: Sequence[Mapping[str, Any]], env: Mapping[str, str],
            remove: Sequence[str]) -> List[Dict[str, Any]]:
    """The env list after setting ``env`` (in place, else appended in name order) and removing ``remove``."""
    out: List[Dict[str, Any]] = []
    seen = set()
    for item in current:
        name = item.get("name")
        if name in remove:
            continue
        if name in env:
            out.append({"name": name, "value": str(env[name])})
            seen.add(name)
        else:
            out.append(dict(item))
    for name in sorted(env):
        if name not in seen and name not in remove:
            out.append({"name": name, "value": str(env[name])})
    return out


def env_ops(template: Mapping[str, Any], env: Mapping[str, str], remove: Sequence[str],
            container: Optional[str] = None) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Set/remove environment variables in every container (or only ``container``)."""
    ops: List[Dict[str, Any]] = []
    notes: List[str] = []
    if not env and not remove:
        return ops, notes
    if container is not None and container not in [c.get("name") for c in pod_containers(template)]:
        raise K8sRolloutError("container %r not found in the pod template; it has: %s"
                              % (container, ", ".join(str(c.get("name")) for c in pod_containers(template)) or "none"))
    for index, item in enumerate(pod_containers(template)):
        name = item.get("name")
        if container is not None and name != container:
            continue
        before = list(item.get("env") or [])
        after = new_env(before, env, remove)
        if after == before:
            continue
        base = pointer("spec", "template", "spec", "containers", index)
        ops.append({"op": "test", "path": base + "/name", "value": name})
        ops.append({"op": "add" if "env" not in item else "replace", "path": base + "/env", "value": after})
        old, new = env_map({"env": before}), env_map({"env": after})
        changes = ["%s=%s" % (k, new[k]) for k in sorted(new) if old.get(k) != new[k]]
        changes += ["%s-" % k for k in sorted(old) if k not in new]
        notes.append("env %s: %s" % (name, " ".join(changes)))
    return ops, notes


def restart_ops(template: Mapping[str, Any], now: str) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Set the ``kubectl.kubernetes.io/restartedAt`` pod-template annotation (always a change)."""
    metadata = template.get("metadata")
    if metadata is None:
        op = {"op": "add", "path": "/spec/template/metadata", "value": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}
    elif metadata.get("annotations") is None:
        op = {"op": "add", "path": "/spec/template/metadata/annotations", "value": {RESTARTED_AT_ANNOTATION: now}}
    else:
        op = {"op": "add", "path": pointer("spec", "template", "metadata", "annotations", RESTARTED_AT_ANNOTATION),
              "value": now}
    return [op], ["restart (%s=%s)" % (RESTARTED_AT_ANNOTATION, now)]


def scale_ops(deployment: Mapping[str, Any], replicas: int) -> Tuple[List[Dict[str, Any]], List[str]]:
    current = _spec(deployment).get("replicas")
    if current == replicas:
        return [], []
    return ([{"op": "replace" if current is not None else "add", "path": "/spec/replicas", "value": int(replicas)}],
            ["replicas: %s -> %d" % (current if current is not None else 1, replicas)])


def plan_present(deployment: Mapping[str, Any], params: Mapping[str, Any],
                 now: str) -> Tuple[List[Dict[str, Any]], List[str]]:
    """All operations of ``state=present`` in one patch (one new revision at most)."""
    template = _spec(deployment).get("template") or {}
    ops: List[Dict[str, Any]] = []
    notes: List[str] = []
    parts = [image_ops(template, params.get("images") or {}),
             env_ops(template, params.get("env") or {}, params.get("env_remove") or [], params.get("container"))]
    if params.get("restart"):
        parts.append(restart_ops(template, now))
    if params.get("replicas") is not None:
        parts.append(scale_ops(deployment, int(params["replicas"])))
    for part_ops, part_notes in parts:
        ops.extend(part_ops)
        notes.extend(part_notes)
    return ops, notes


def undo_ops(template: Mapping[str, Any]) -> List[Dict[str, Any]]:
    return [{"op": "replace", "path": "/spec/template", "value": copy.deepcopy(dict(template))}]


def changes_template(ops: Sequence[Mapping[str, Any]]) -> bool:
    """True when the patch touches the pod template, i.e. starts a new revision."""
    return any(op["op"] != "test" and op["path"].startswith("/spec/template") for op in ops)


def effective(ops: Sequence[Mapping[str, Any]]) -> bool:
    return any(op["op"] != "test" for op in ops)


# --------------------------------------------------------------------------- #
# Applying a patch locally (check mode without server-side dry run)
# --------------------------------------------------------------------------- #

def _unpointer(path: str) -> List[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def apply_patch(obj: Mapping[str, Any], ops: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Apply the add/replace/remove/test operations this module generates to a copy of ``obj``."""
    doc: Any = copy.deepcopy(dict(obj))
    for op in ops:
        parts = _unpointer(op["path"])
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        key: Any = int(last) if isinstance(parent, list) else last
        if op["op"] == "test":
            if parent[key] != op["value"]:
                raise K8sRolloutError("patch test failed at %s: %r != %r" % (op["path"], parent[key], op["value"]))
        elif op["op"] in ("add", "replace"):
            parent[key] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del parent[key]
    return doc


# --------------------------------------------------------------------------- #
# Plan and diff
# --------------------------------------------------------------------------- #

def diff_summaries(before: Mapping[str, Any], after: Mapping[str, Any]) -> List[str]:
    """One line per difference between two summaries: images, env, replicas, restartedAt."""
    lines = []
    if before.get("replicas") != after.get("replicas"):
        lines.append("replicas: %s -> %s" % (before.get("replicas"), after.get("replicas")))
    for name in sorted(set(before.get("containers", {})) | set(after.get("containers", {}))):
        old = before.get("containers", {}).get(name) or {}
        new = after.get("containers", {}).get(name) or {}
        if old.get("image") != new.get("image"):
            lines.append("image %s: %s -> %s" % (name, old.get("image"), new.get("image")))
        old_env, new_env_ = old.get("env") or {}, new.get("env") or {}
        for key in sorted(set(old_env) | set(new_env_)):
            if old_env.get(key) != new_env_.get(key):
                lines.append("env %s %s: %s -> %s" % (name, key, old_env.get(key, "(unset)"), new_env_.get(key, "(unset)")))
    if before.get("restarted_at") != after.get("restarted_at"):
        lines.append("restartedAt: %s -> %s" % (before.get("restarted_at"), after.get("restarted_at")))
    return lines


def spec_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    return json.dumps(_spec(before), sort_keys=True) != json.dumps(_spec(after), sort_keys=True)


def validate(params: Mapping[str, Any]) -> Optional[str]:
    """Bad input as one clear message, or None."""
    if params.get("state") not in STATES:
        return "state must be one of %s" % ", ".join(STATES)
    replicas = params.get("replicas")
    if replicas is not None and int(replicas) < 0:
        return "replicas must not be negative, got %s" % replicas
    revision = params.get("revision")
    if revision is not None and int(revision) < 1:
        return "revision must be at least 1, got %s" % revision
    if params.get("state") == "rolled_back":
        given = [k for k in ("images", "env", "env_remove", "replicas") if params.get(k)]
        if params.get("restart"):
            given.append("restart")
        if given:
            return "state=rolled_back takes no %s (it restores a revision's pod template)" % ", ".join(given)
    elif revision is not None:
        return "revision is only valid with state=rolled_back"
    for name, image in (params.get("images") or {}).items():
        if not str(name).strip() or not str(image or "").strip():
            return "images needs container: image pairs with both set, got %r: %r" % (name, image)
    for name in list((params.get("env") or {})) + list(params.get("env_remove") or []):
        if not str(name).strip() or "=" in str(name):
            return "invalid environment variable name %r" % name
    overlap = set(params.get("env") or {}) & set(params.get("env_remove") or [])
    if overlap:
        return "env and env_remove both name %s" % ", ".join(sorted(overlap))
    for key in ("wait_timeout", "wait_sleep"):
        if params.get(key) is not None and not 0 < float(params[key]) <= MAX_WAIT_SECONDS:
            return "%s must be more than 0 and at most %g seconds, got %s" % (key, MAX_WAIT_SECONDS, params[key])
    for key, value in sorted((params.get("http_gate") or {}).items()):
        if key in ("timeout", "interval") and value is not None and not 0 < float(value) <= MAX_WAIT_SECONDS:
            return "http_gate.%s must be more than 0 and at most %g seconds, got %s" % (key, MAX_WAIT_SECONDS, value)
    return None
