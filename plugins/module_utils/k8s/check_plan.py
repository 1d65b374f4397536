# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of the Kubernetes health check (``runbook.ops.k8s_check``): which objects are unhealthy.

Nothing here talks to the API server or reads the clock: the functions take the apiserver's JSON
(plain dicts, camelCase keys) and ``now`` (seconds since the epoch), and return checks of the
result schema (``common/result.py``) and metrics. The checks, per namespace ``<ns>``:

- ``k8s.<ns>.deployment.<name>`` / ``k8s.<ns>.statefulset.<name>``: available (ready) replicas against
  desired; none available is critical P0, fewer a warning; a rollout past its progress deadline is
  critical; a paused, unfinished rollout a warning;
- ``k8s.<ns>.pods``: pods not ready (for longer than ``not_ready_minutes``), Pending for longer than
  ``pending_minutes``, waiting in CrashLoopBackOff or an image pull error (critical), restarted more
  than ``restart_threshold`` times with a restart in the last ``window_hours`` (warning);
- ``k8s.<ns>.events``: Warning events seen in the last ``window_hours``, grouped by reason;
  a warning from ``events_warning`` of them;
- ``k8s.<ns>.certificates``: cert-manager Certificates not Ready (critical) or expiring (by days left),
  or "not installed" (ok) when the cluster has no cert-manager CRD;
- ``k8s.<ns>.pvcs``: PersistentVolumeClaims not Bound (Lost is critical, Pending a warning);

and cluster-wide ``k8s.nodes`` (none Ready is P0) with ``k8s.node.<name>`` for each node NotReady
(critical), under memory, disk or PID pressure, or cordoned (warning).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common.result import (
    CRITICAL,
    OK,
    WARNING,
    check,
    metric_key,
    worst,
)
from ansible_collections.runbook.ops.plugins.module_utils.host import log_plan

PULL_ERRORS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
CRASH_LOOP = "CrashLoopBackOff"
DEADLINE_REASON = "ProgressDeadlineExceeded"
PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure")
LISTED = 5  # names shown in a message before "and N more"


def parse_time(stamp: Any) -> Optional[float]:
    """An RFC 3339 time of the apiserver (``2026-12-02T08:00:00Z``, maybe with fractions or an
    offset) as whole epoch seconds: the collection's one ISO 8601 parser, fractions dropped."""
    if not stamp:
        return None
    found = log_plan.parse_iso(str(stamp).strip())
    return None if found is None else float(math.floor(found))


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "?")


def _condition(obj: Mapping[str, Any], kind: str) -> Optional[Mapping[str, Any]]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def _names(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:LISTED])
    return shown + (" and %d more" % (len(items) - LISTED) if len(items) > LISTED else "")


# --------------------------------------------------------------------------- #
# Workloads
# --------------------------------------------------------------------------- #

def workload_check(namespace: str, kind: str, obj: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, float]]:
    """One Deployment or StatefulSet: available (ready for a StatefulSet) against desired, stuck rollouts."""
    name = _name(obj)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    field = "availableReplicas" if kind == "deployment" else "readyReplicas"
    available = int(status.get(field) or 0)
    updated = int(status.get("updatedReplicas") or 0)
    label = "%s %s/%s" % (kind, namespace, name)
    value = {"desired": desired, "available": available, "updated": updated}
    metrics = {metric_key("k8s_workload_desired_replicas", namespace=namespace, kind=kind, workload=name): float(desired),
               metric_key("k8s_workload_available_replicas", namespace=namespace, kind=kind, workload=name): float(available)}
    check_name = "k8s.%s.%s.%s" % (namespace, kind, name)
    progressing = _condition(obj, "Progressing")
    if kind == "deployment" and progressing and progressing.get("reason") == DEADLINE_REASON \
            and progressing.get("status") == "False":
        stuck = "rollout stuck: %s" % (progressing.get("message") or DEADLINE_REASON)
        if desired and not available:
            return check(check_name, CRITICAL, "%s has no available replica of %d; %s" % (label, desired, stuck),
                         value=value, severity="P0"), metrics
        return check(check_name, CRITICAL, "%s %s (%d/%d available)" % (label, stuck, available, desired),
                     value=value), metrics
    if desired and not available:
        return check(check_name, CRITICAL, "%s has no available replica of %d" % (label, desired),
                     value=value, severity="P0"), metrics
    if available < desired:
        return check(check_name, WARNING, "%s has %d of %d replicas available" % (label, available, desired),
                     value=value, threshold=desired), metrics
    if spec.get("paused") and updated < desired:
        return check(check_name, WARNING, "%s is paused with its rollout unfinished (%d/%d updated)"
                     % (label, updated, desired), value=value), metrics
    return check(check_name, OK, "%s %d/%d available" % (label, available, desired), value=value), metrics


# --------------------------------------------------------------------------- #
# Pods
# --------------------------------------------------------------------------- #

def _finished(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_problems(pod: Mapping[str, Any], now: float, params: Mapping[str, Any]) -> List[Tuple[str, str, str]]:
    """(status, kind, text) for each problem of one pod; kinds: crashloop, image, pending, not_ready, restarts."""
    if _finished(pod) or _meta(pod).get("deletionTimestamp"):
        return []
    name = _name(pod)
    status = pod.get("status") or {}
    problems: List[Tuple[str, str, str]] = []
    statuses = list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])
    window = float(params.get("window_hours", 24)) * 3600
    for cstat in statuses:
        waiting = (cstat.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason == CRASH_LOOP:
            problems.append((CRITICAL, "crashloop", "%s (%s: CrashLoopBackOff, %d restarts)"
                             % (name, cstat.get("name"), int(cstat.get("restartCount") or 0))))
        elif reason in PULL_ERRORS:
            problems.append((CRITICAL, "image", "%s (%s: %s %s)" % (name, cstat.get("name"), reason, cstat.get("image"))))
        restarts = int(cstat.get("restartCount") or 0)
        last = parse_time((((cstat.get("lastState") or {}).get("terminated")) or {}).get("finishedAt"))
        if restarts > int(params.get("restart_threshold", 5)) and last is not None and now - last <= window:
            problems.append((WARNING, "restarts", "%s (%s: %d restarts, the last %s ago)"
                             % (name, cstat.get("name"), restarts, _ago(now - last))))
    if problems and any(p[1] in ("crashloop", "image") for p in problems):
        return problems
    phase = status.get("phase")
    created = parse_time(_meta(pod).get("creationTimestamp"))
    if phase == "Pending":
        if created is not None and now - created >= float(params.get("pending_minutes", 10)) * 60:
            scheduled = _condition(pod, "PodScheduled")
            why = ""
            if scheduled and scheduled.get("status") == "False":
                why = ": %s" % " ".join(str(scheduled.get("message") or scheduled.get("reason") or "unschedulable").split())
            problems.append((CRITICAL, "pending", "%s (Pending for %s%s)" % (name, _ago(now - created), why)))
        return problems
    ready = _condition(pod, "Ready")
    if ready is not None and ready.get("status") != "True":
        since = parse_time(ready.get("lastTransitionTime")) or created
        if since is None or now - since >= float(params.get("not_ready_minutes", 5)) * 60:
            problems.append((WARNING, "not_ready", "%s (not ready for %s)" % (name, _ago(now - since) if since else "?")))
    return problems


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dm" % (seconds // 60)
    return "%dh" % (seconds // 3600)


POD_KINDS = (("crashloop", "in CrashLoopBackOff"), ("image", "cannot pull their image"), ("pending", "Pending too long"),
             ("not_ready", "not ready"), ("restarts", "restarting"))


def pods_check(namespace: str, pods: List[Mapping[str, Any]], now: float,
               params: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, float]]:
    """``k8s.<ns>.pods``: every problem pod, by kind; critical for crash loops, pull errors and long Pending."""
    found: Dict[str, List[str]] = {kind: [] for kind, _other in POD_KINDS}
    statuses = []
    for pod in pods:
        for status, kind, text in pod_problems(pod, now, params):
            found[kind].append(text)
            statuses.append(status)
    running = [p for p in pods if not _finished(p)]
    value = {kind: items for kind, items in found.items() if items}
    metrics = {metric_key("k8s_pods", namespace=namespace): float(len(running))}
    for kind, _other in POD_KINDS:
        metrics[metric_key("k8s_pods_unhealthy", namespace=namespace, problem=kind)] = float(len(found[kind]))
    name = "k8s.%s.pods" % namespace
    if not statuses:
        return check(name, OK, "%d pods in %s, none unhealthy" % (len(running), namespace), value=value), metrics
    parts = ["%d %s: %s" % (len(found[kind]), what, _names(found[kind])) for kind, what in POD_KINDS if found[kind]]
    return check(name, worst(statuses), "; ".join(parts), value=value,
                 threshold={"restart_threshold": params.get("restart_threshold"),
                            "pending_minutes": params.get("pending_minutes"),
                            "not_ready_minutes": params.get("not_ready_minutes")}), metrics


# --------------------------------------------------------------------------- #
# Nodes
# --------------------------------------------------------------------------- #

def node_checks(nodes: List[Mapping[str, Any]]) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """``k8s.nodes`` (how many are Ready; none is P0) and ``k8s.node.<name>`` for each node with a problem."""
    checks: List[Dict[str, Any]] = []
    ready_count = 0
    for node in nodes:
        name = _name(node)
        ready = _condition(node, "Ready")
        problems: List[Tuple[str, str]] = []
        if ready is None or ready.get("status") != "True":
            why = (ready or {}).get("reason") or (ready or {}).get("message") or "no Ready condition"
            problems.append((CRITICAL, "NotReady (%s)" % why))
        else:
            ready_count += 1
        for pressure in PRESSURES:
            cond = _condition(node, pressure)
            if cond and cond.get("status") == "True":
                problems.append((WARNING, "under %s" % pressure))
        if (node.get("spec") or {}).get("unschedulable"):
            problems.append((WARNING, "cordoned (SchedulingDisabled)"))
        if problems:
            checks.append(check("k8s.node.%s" % name, worst(s for s, _other in problems),
                                "node %s: %s" % (name, ", ".join(t for _level, t in problems)),
                                value=[t for _level, t in problems]))
    total = len(nodes)
    metrics = {"k8s_nodes": float(total), "k8s_nodes_ready": float(ready_count)}
    if total and not ready_count:
        summary = check("k8s.nodes", CRITICAL, "no node of %d is Ready" % total,
                        value={"ready": 0, "total": total}, severity="P0")
    elif not total:
        summary = check("k8s.nodes", CRITICAL, "the cluster has no node", value={"ready": 0, "total": 0}, severity="P0")
    else:
        summary = check("k8s.nodes", OK if ready_count == total else CRITICAL, "%d of %d nodes Ready"
                        % (ready_count, total), value={"ready": ready_count, "total": total})
    return [summary] + checks, metrics


# --------------------------------------------------------------------------- #
# Events, certificates, PVCs
# --------------------------------------------------------------------------- #

def event_time(event: Mapping[str, Any]) -> Optional[float]:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        found = parse_time(event.get(key))
        if found is not None:
            return found
    series = event.get("series") or {}
    return parse_time(series.get("lastObservedTime")) or parse_time(_meta(event).get("creationTimestamp"))


def events_check(namespace: str, events: List[Mapping[str, Any]], now: float,
                 params: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, float]]:
    """``k8s.<ns>.events``: Warning events of the last ``window_hours`` by reason (counts include repeats)."""
    window = float(params.get("window_hours", 24)) * 3600
    reasons: Dict[str, int] = {}
    examples: Dict[str, str] = {}
    for event in events:
        if event.get("type") != "Warning":
            continue
        when = event_time(event)
        if when is None or now - when > window:
            continue
        reason = str(event.get("reason") or "Unknown")
        reasons[reason] = reasons.get(reason, 0) + int(event.get("count") or 1)
        involved = event.get("involvedObject") or {}
        text = " ".join(str(event.get("message") or "").split())[:160]
        examples.setdefault(reason, "%s/%s: %s" % (involved.get("kind"), involved.get("name"), text))
    total = sum(reasons.values())
    metrics = {metric_key("k8s_warning_events", namespace=namespace, reason=reason): float(count)
               for reason, count in reasons.items()}
    metrics[metric_key("k8s_warning_events", namespace=namespace, reason="all")] = float(total)
    name = "k8s.%s.events" % namespace
    hours = params.get("window_hours", 24)
    if not total:
        return check(name, OK, "no Warning event in %s in the last %sh" % (namespace, hours), value={}), metrics
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    text = "%d Warning events in %s in the last %sh: %s" % (total, namespace, hours, ", ".join(
        "%s %d (%s)" % (reason, count, examples[reason]) for reason, count in ranked[:LISTED]))
    warn_at = int(params.get("events_warning", 1))
    return check(name, WARNING if total >= warn_at else OK, text, value=dict(ranked),
                 threshold=warn_at), metrics


def certificates_check(namespace: str, certificates: Optional[List[Mapping[str, Any]]], now: float,
                       params: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, float]]:
    """``k8s.<ns>.certificates``: cert-manager Certificates; ``None`` means the CRD is not installed."""
    name = "k8s.%s.certificates" % namespace
    if certificates is None:
        return check(name, OK, "cert-manager is not installed (no certificates.cert-manager.io resource): "
                     "nothing to check", value=None), {}
    warn_days = float(params.get("cert_warning_days", 14))
    crit_days = float(params.get("cert_critical_days", 7))
    problems: List[Tuple[str, str]] = []
    metrics: Dict[str, float] = {}
    for cert in certificates:
        cname = _name(cert)
        ready = _condition(cert, "Ready")
        if ready is None or ready.get("status") != "True":
            problems.append((CRITICAL, "%s not Ready (%s)" % (cname, " ".join(str(
                (ready or {}).get("message") or (ready or {}).get("reason") or "no Ready condition").split()))))
        not_after = parse_time((cert.get("status") or {}).get("notAfter"))
        if not_after is not None:
            days = (not_after - now) / 86400.0
            metrics[metric_key("k8s_certificate_expiry_seconds", namespace=namespace, certificate=cname)] = float(round(not_after - now))
            if days < crit_days:
                problems.append((CRITICAL, "%s expires in %.1f days" % (cname, days) if days >= 0
                                 else "%s expired %.1f days ago" % (cname, -days)))
            elif days < warn_days:
                problems.append((WARNING, "%s expires in %.1f days" % (cname, days)))
    threshold = {"warning_days": warn_days, "critical_days": crit_days}
    if not problems:
        return check(name, OK, "%d certificates in %s Ready and valid" % (len(certificates), namespace),
                     value=[], threshold=threshold), metrics
    return check(name, worst(s for s, _other in problems), "; ".join(t for _level, t in problems),
                 value=[t for _level, t in problems], threshold=threshold), metrics


def pvcs_check(namespace: str, claims: List[Mapping[str, Any]]) -> Tuple[Dict[str, Any], Dict[str, float]]:
    """``k8s.<ns>.pvcs``: claims not Bound; Lost is critical, Pending a warning."""
    problems: List[Tuple[str, str]] = []
    for claim in claims:
        phase = (claim.get("status") or {}).get("phase") or "Pending"
        if phase == "Bound":
            continue
        problems.append((CRITICAL if phase == "Lost" else WARNING, "%s %s" % (_name(claim), phase)))
    name = "k8s.%s.pvcs" % namespace
    metrics = {metric_key("k8s_pvcs_unbound", namespace=namespace): float(len(problems))}
    if not problems:
        return check(name, OK, "%d claims in %s, all Bound" % (len(claims), namespace), value=[]), metrics
    return check(name, worst(s for s, _other in problems), "claims not Bound: %s" % _names(t for _level, t in problems),
                 value=[t for _level, t in problems]), metrics


def namespace_checks(namespace: str, data: Mapping[str, Any], now: float,
                     params: Mapping[str, Any]) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """Every check of one namespace from what was read (keys: deployments, statefulsets, pods, events,
    certificates, pvcs; a missing key is a category not read)."""
    checks: List[Dict[str, Any]] = []
    metrics: Dict[str, float] = {}

    def add(made: Tuple[Dict[str, Any], Dict[str, float]]) -> None:
        checks.append(made[0])
        metrics.update(made[1])

    for kind, key in (("deployment", "deployments"), ("statefulset", "statefulsets")):
        for obj in data.get(key) or []:
            add(workload_check(namespace, kind, obj))
    if "pods" in data:
        add(pods_check(namespace, data["pods"], now, params))
    if "events" in data:
        add(events_check(namespace, data["events"], now, params))
    if "certificates" in data:
        add(certificates_check(namespace, data["certificates"], now, params))
    if "pvcs" in data:
        add(pvcs_check(namespace, data["pvcs"]))
    return checks, metrics


def validate(params: Mapping[str, Any]) -> Optional[str]:
    """What the argument spec cannot say: namespaces listed twice or empty."""
    namespaces = [str(n) for n in params.get("namespaces") or []]
    if any(not n.strip() for n in namespaces):
        return "namespaces must not contain an empty name"
    twice = sorted({n for n in namespaces if namespaces.count(n) > 1})
    if twice:
        return "namespaces lists %s more than once" % ", ".join(twice)
    return None
