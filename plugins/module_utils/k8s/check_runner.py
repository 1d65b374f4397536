# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes health check, the I/O half: read each namespace and the nodes; ``run(module)`` for k8s_check.

Only reads (GET and LIST) are sent: the namespaces, their Deployments, StatefulSets, pods, events,
PersistentVolumeClaims and cert-manager Certificates, and the nodes. Every decision is in
``check_plan``. An API server that does not answer is the P0 check ``k8s.api``; a 401 or 403 is a
critical ``k8s.api`` check naming what was refused; a namespace that does not exist is the P0 check
``k8s.<ns>.namespace``. None of these fails the task: a health condition is a check.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
import traceback
from typing import Any, Callable, Dict, List, Mapping

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.common.result import CRITICAL, build, check, down
from ansible_collections.runbook.ops.plugins.module_utils.k8s import argspec, check_plan
from ansible_collections.runbook.ops.plugins.module_utils.k8s.client import (
    HAS_KUBERNETES,
    KUBERNETES_IMPORT_ERROR,
    K8sApiError,
    K8sConfigError,
    K8sUnreachable,
    connect,
)

API_CHECK = "k8s.api"
CERT_MANAGER = ("cert-manager.io", "v1", "certificates")


class Refused(Exception):
    """An API call that failed: the check that says so, and whether the rest can go on."""

    def __init__(self, made: Dict[str, Any], fatal: bool):
        super().__init__(made["message"])
        self.check = made
        self.fatal = fatal


def _guard(call: Callable[[], Any], what: str) -> Any:
    try:
        return call()
    except K8sUnreachable as exc:
        raise Refused(down(API_CHECK, str(exc)), fatal=True)
    except K8sApiError as exc:
        fatal = exc.status == 401
        return_check = check(API_CHECK, CRITICAL, "cannot read %s: %s" % (what, exc.message),
                             value={"status": exc.status})
        raise Refused(return_check, fatal=fatal)


def read_namespace(api: Any, namespace: str, selected: List[str]) -> Dict[str, Any]:
    """What the plan needs of one namespace; a category that could not be read is left out."""
    data: Dict[str, Any] = {}
    if "workloads" in selected:
        data["deployments"] = _guard(lambda: api.list_in_namespace("deployments", namespace), "deployments in %s" % namespace)
        data["statefulsets"] = _guard(lambda: api.list_in_namespace("statefulsets", namespace),
                                      "statefulsets in %s" % namespace)
    for category, kind in (("pods", "pods"), ("events", "events"), ("pvcs", "pvcs")):
        if category in selected:
            data[category] = _guard(lambda kind=kind: api.list_in_namespace(kind, namespace), "%s in %s" % (kind, namespace))
    if "certificates" in selected:
        data["certificates"] = _guard(lambda: api.list_custom(CERT_MANAGER[0], CERT_MANAGER[1], namespace, CERT_MANAGER[2]),
                                      "certificates in %s" % namespace)
    return data


def run_check(api: Any, params: Mapping[str, Any], now: Callable[[], float] = time.time) -> Dict[str, Any]:
    """Every selected check of every namespace, then the nodes; the result of the schema."""
    selected = list(params.get("checks") or argspec.CHECK_CATEGORIES)
    checks: List[Dict[str, Any]] = []
    metrics: Dict[str, float] = {}
    refused: List[Dict[str, Any]] = []
    try:
        for namespace in params.get("namespaces") or ["default"]:
            try:
                _guard(lambda namespace=namespace: api.read_namespace(namespace), "namespace %s" % namespace)
            except Refused as exc:
                status = (exc.check.get("value") or {}).get("status")
                if exc.fatal or status not in (403, 404):
                    raise
                if status == 404:
                    checks.append(down("k8s.%s.namespace" % namespace, "namespace %s not found" % namespace))
                    continue
                # 403: an account bound to its namespace may not read Namespace objects; read on.
            try:
                data = read_namespace(api, namespace, selected)
            except Refused as exc:
                if exc.fatal:
                    raise
                refused.append(exc.check)
                continue
            made, found = check_plan.namespace_checks(namespace, data, now(), params)
            checks.extend(made)
            metrics.update(found)
        if "nodes" in selected:
            try:
                made, found = check_plan.node_checks(_guard(api.list_nodes, "nodes"))
                checks.extend(made)
                metrics.update(found)
            except Refused as exc:
                if exc.fatal:
                    raise
                refused.append(exc.check)
    except Refused as exc:
        checks = [exc.check]
        metrics = {"k8s_up": 0.0}
        return build(checks, metrics, subject="kubernetes")
    metrics["k8s_up"] = 1.0
    return build(refused + checks, metrics, subject="kubernetes")


def run(module: Any) -> None:
    """runbook.ops.k8s_check: check the options, connect, read, report (changed is always false)."""
    validation.validate(module, argspec.CHECK_RULES)
    if not HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    problem = check_plan.validate(module.params)
    if problem:
        module.fail_json(msg=problem)
    try:
        api = connect(module.params)
    except K8sConfigError as exc:
        module.fail_json(msg=str(exc))
    try:
        result = run_check(api, module.params)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # never a traceback for the user
        module.fail_json(msg="k8s_check failed unexpectedly: %s: %s" % (type(exc).__name__, exc),
                         exception=traceback.format_exc())
    finally:
        api.close()
    module.exit_json(changed=False, **result)
