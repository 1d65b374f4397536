# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of a Secret rotation (``runbook.ops.k8s_secret_rotate``): who uses the Secret, what changes.

Nothing here reads the clock, a file, the environment or a random source: the runner resolves
every new value first and passes them in. No function returns a value of the Secret: only key
names, workload names and where they reference the Secret.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import base64
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.runbook.ops.plugins.module_utils.k8s import rollout_plan

SOURCES = ("value", "file", "env", "generate")
KINDS = ("deployment", "statefulset")


class SecretRotationError(ValueError):
    """Bad input for a rotation; the message never holds a value."""


def references(template: Mapping[str, Any], secret: str) -> List[str]:
    """Where a pod template references the Secret: ``env <container>/<VAR>``, ``envFrom <container>``,
    ``volume <name>`` (a secret volume or a projected one)."""
    found: List[str] = []
    for init in (False, True):
        for container in rollout_plan.pod_containers(template, init):
            cname = str(container.get("name"))
            for item in container.get("env") or []:
                ref = ((item.get("valueFrom") or {}).get("secretKeyRef")) or {}
                if ref.get("name") == secret:
                    found.append("env %s/%s" % (cname, item.get("name")))
            for item in container.get("envFrom") or []:
                if ((item.get("secretRef") or {}).get("name")) == secret:
                    found.append("envFrom %s" % cname)
    for volume in ((template.get("spec") or {}).get("volumes")) or []:
        if ((volume.get("secret") or {}).get("secretName")) == secret:
            found.append("volume %s" % volume.get("name"))
        for source in ((volume.get("projected") or {}).get("sources")) or []:
            if ((source.get("secret") or {}).get("name")) == secret:
                found.append("volume %s (projected)" % volume.get("name"))
    return found


def users(workloads: Mapping[str, Sequence[Mapping[str, Any]]], secret: str) -> List[Dict[str, Any]]:
    """The Deployments and StatefulSets whose pod template references the Secret, in name order
    (Deployments first): ``kind``, ``name``, ``references``."""
    found: List[Dict[str, Any]] = []
    for kind in KINDS:
        for obj in sorted(workloads.get(kind) or [], key=lambda o: str((o.get("metadata") or {}).get("name"))):
            where = references(((obj.get("spec") or {}).get("template")) or {}, secret)
            if where:
                found.append({"kind": kind, "name": str((obj.get("metadata") or {}).get("name")), "references": where})
    return found


def encode(value: str) -> str:
    return base64.b64encode(value.encode("utf-8")).decode("ascii")


def new_data(old: Mapping[str, str], resolved: Mapping[str, str]) -> Dict[str, str]:
    """The Secret's ``data`` after the rotation: the old keys, those in ``resolved`` (plain text) replaced."""
    data = dict(old or {})
    for key, value in resolved.items():
        data[key] = encode(value)
    return data


def changed_keys(old: Mapping[str, str], new: Mapping[str, str]) -> List[str]:
    """Keys whose (encoded) value differs or that are new; names only."""
    return sorted(key for key in new if (old or {}).get(key) != new[key])


def check_items(items: Sequence[Mapping[str, Any]]) -> Optional[str]:
    """What the argument spec cannot say about ``data``: a key twice, a key Kubernetes refuses."""
    seen: List[str] = []
    for index, item in enumerate(items):
        key = str(item.get("key") or "")
        if not key or len(key) > 253 or any(not (ch.isalnum() or ch in "-._") for ch in key):
            return "data[%d].key must be a Secret key (letters, digits, '-', '_', '.'), got %r" % (index, key)
        if key in seen:
            return "data lists key %s more than once" % key
        seen.append(key)
        given = [source for source in SOURCES if item.get(source) is not None]
        if len(given) != 1:
            return "data[%d] (key %s) needs exactly one of %s" % (index, key, ", ".join(SOURCES))
        if item.get("generate") is not None and not 8 <= int(item["generate"]) <= 4096:
            return "data[%d].generate must be between 8 and 4096 characters, got %s" % (index, item["generate"])
    return None


def data_ops(old: Optional[Mapping[str, str]], new: Mapping[str, str], version: Optional[str]) -> List[Dict[str, Any]]:
    """The JSON patch that sets the Secret's whole ``data``, guarded by its resourceVersion (a
    concurrent writer makes it fail rather than be overwritten)."""
    ops: List[Dict[str, Any]] = []
    if version:
        ops.append({"op": "test", "path": "/metadata/resourceVersion", "value": version})
    ops.append({"op": "replace" if old is not None else "add", "path": "/data", "value": dict(new)})
    return ops


def statefulset_state(sts: Mapping[str, Any]) -> Any:
    """``(complete | progressing, message)`` of a StatefulSet's rolling update (``kubectl rollout status``)."""
    meta, spec, status = sts.get("metadata") or {}, sts.get("spec") or {}, sts.get("status") or {}
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return rollout_plan.PROGRESSING, "waiting for the controller to observe the new generation"
    updated, ready = int(status.get("updatedReplicas") or 0), int(status.get("readyReplicas") or 0)
    if updated < desired:
        return rollout_plan.PROGRESSING, "%d of %d pods updated" % (updated, desired)
    if ready < desired:
        return rollout_plan.PROGRESSING, "%d of %d pods ready" % (ready, desired)
    if status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision"):
        return rollout_plan.PROGRESSING, "waiting for the update revision to become current"
    return rollout_plan.COMPLETE, "restarted: %d of %d pods updated and ready" % (ready, desired)
