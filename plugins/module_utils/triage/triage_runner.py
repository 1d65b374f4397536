# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``runbook.ops.incident_triage``: collect, redact, classify, build the timeline, write the
report and the bundle. ``run(module)`` is the entry point.

The order matters: everything collected stays in memory, is redacted, and only then is any
of it written (the bundle, the Markdown and JSON reports) or returned. In check mode the same
collection, classification and report are made and nothing is written: the result says where
the bundle would go.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import importlib.util
import json
import os
import re
import time
from typing import Any, Dict, List, Mapping, Optional

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.common import fileio, result, validation
from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as pg_client
from ansible_collections.runbook.ops.plugins.module_utils.triage import argspec, bundle_runner, classify_plan, collect_runner
from ansible_collections.runbook.ops.plugins.module_utils.triage import redact_plan, report_plan, systems_runner, timeline_plan


def option_problem(params: Mapping[str, Any]) -> Optional[str]:
    """What the argument spec cannot say: the regular expressions compile."""
    redact = params.get("redact") or {}
    try:
        redact_plan.Redactor(redact.get("rules"), defaults=False)
    except redact_plan.RedactionRuleError as exc:
        return "redact.rules: %s" % exc
    for key in ("security_patterns", "data_loss_patterns"):
        for index, pattern in enumerate((params.get("rules") or {}).get(key) or []):
            try:
                re.compile(pattern)
            except re.error as exc:
                return "rules.%s[%d]: invalid regex %r: %s" % (key, index, pattern, exc)
    if params.get("docker") is not None and importlib.util.find_spec("docker") is None:
        return missing_required_lib("docker")
    if params.get("postgres") is not None and not pg_client.HAS_PSYCOPG2:
        return missing_required_lib("psycopg2")
    if params.get("kubernetes") is not None and importlib.util.find_spec("kubernetes") is None:
        return missing_required_lib("kubernetes")
    return None


def known_secrets(params: Mapping[str, Any]) -> List[str]:
    """The secrets the triage was given: masked wherever they appear."""
    found = list((params.get("redact") or {}).get("literals") or [])
    for system, keys in (("postgres", ("login_password",)), ("redis", ("login_password",)),
                         ("kubernetes", ("api_key",)), ("upload", ("access_key", "secret_key", "session_token"))):
        for key in keys:
            value = (params.get(system) or {}).get(key)
            if value:
                found.append(str(value))
    return found


def collectors(params: Mapping[str, Any], now: float) -> List[collect_runner.Collector]:
    """The collectors the options ask for, in the order they are reported."""
    rules = params.get("rules") or {}
    env_keep = (params.get("redact") or {}).get("env_keep") or redact_plan.DEFAULT_ENV_KEEP
    out: List[collect_runner.Collector] = []
    if params.get("docker") is not None:
        out.append(("docker", systems_runner.docker_collector(params["docker"], now, params["since_hours"],
                                                              params["log_lines"], env_keep)))
    if params.get("postgres") is not None:
        out.append(("postgres", systems_runner.postgres_collector(params["postgres"])))
    if params.get("redis") is not None:
        out.append(("redis", systems_runner.redis_collector(params["redis"])))
    if params.get("kubernetes") is not None:
        out.append(("kubernetes", systems_runner.kubernetes_collector(params["kubernetes"])))
    if (params.get("host") or {}).get("enabled", True):
        out.append(("host", collect_runner.host_collector(params.get("host") or {})))
    if params.get("logs"):
        out.append(("logs", collect_runner.log_collector(params["logs"], params["log_lines"], now,
                                                         rules.get("security_patterns") or [], rules.get("data_loss_patterns") or [])))
    if params.get("reports_dir"):
        out.append(("reports", collect_runner.reports_collector(params["reports_dir"], params["reports_count"])))
    return out


def health_of(given: Mapping[str, Any]) -> Dict[str, Any]:
    """The registered health check results that carry the result schema, by label."""
    return {str(label): value for label, value in (given or {}).items() if result.is_result(value)}


def triage(params: Mapping[str, Any], check_mode: bool, now: Optional[float] = None) -> Dict[str, Any]:
    """Collect, classify, report and (unless ``check_mode``) write; the module's result."""
    now = time.time() if now is None else now
    started = time.monotonic()
    outcomes = collect_runner.run_collectors(collectors(params, now), params["collector_timeout"], params["workers"],
                                             params["collector_max_bytes"])
    health = health_of(params.get("health_results") or {})
    findings: Dict[str, Any] = {"health": health}
    events: List[Any] = timeline_plan.alert_events(params.get("alerts") or [])
    files: Dict[str, str] = {}
    for outcome in outcomes:
        box = outcome.pop("box")
        if box is None:
            continue
        findings.update(box.findings)
        events.extend(box.events)
        files.update(box.files)
    redactor = redact_plan.Redactor((params.get("redact") or {}).get("rules"), known_secrets(params),
                                    defaults=(params.get("redact") or {}).get("defaults", True))
    for outcome in outcomes:
        if outcome.get("error"):
            outcome["error"] = redactor.redact(outcome["error"])
    classification = classify_plan.classify(findings, params.get("rules"))
    timeline = timeline_plan.build(events)
    date = time.strftime("%Y-%m-%d", time.gmtime(now))
    compression = params["compression"]
    if check_mode:
        incident = params.get("incident_id") or report_plan.incident_id(date, bundle_runner.taken_ids(params["output_dir"]))
        path = bundle_runner.plan_path(params["output_dir"], incident, compression)
    else:
        incident, path = bundle_runner.reserve(params["output_dir"], date, params.get("incident_id"), compression)
    base = path[: -len(bundle_runner.SUFFIX[compression])]
    report = report_plan.build(incident, now, params.get("platform") or "", classification, timeline, outcomes,
                               bundle={"path": path}, reporter=params.get("reporter") or "")
    files.update({
        "incident.md": report_plan.to_markdown(report),
        "incident.json": report_plan.to_json(report),
        "timeline.json": collect_runner.to_json(timeline),
        "collectors.json": collect_runner.to_json(outcomes),
        "health/results.json": collect_runner.to_json(health),
        "findings.json": collect_runner.to_json(findings),
    })
    clean = {name: redactor.redact(text).encode("utf-8") for name, text in files.items()}
    report = json.loads(clean["incident.json"].decode("utf-8"))
    bundle: Dict[str, Any] = {"path": path, "files": len(clean) + 1, "written": False}
    extras = {"markdown": base + ".md", "json": base + ".json"}
    if not check_mode:
        manifest = bundle_runner.manifest(incident, timeline_plan.iso(now), clean,
                                          {"redactions": dict(redactor.counts), "severity": classification["severity"]})
        try:
            bundle.update(bundle_runner.write_bundle(path, os.path.basename(base), clean, manifest, compression, now))
        except bundle_runner.BundleError:
            if os.path.exists(path) and os.path.getsize(path) == 0:
                os.unlink(path)
            raise
        problems = bundle_runner.verify_bundle(path)
        bundle.update(written=True, verified=not problems, problems=problems)
        fileio.atomic_write(extras["markdown"], clean["incident.md"].decode("utf-8"), mode=0o600)
        fileio.atomic_write(extras["json"], clean["incident.json"].decode("utf-8"), mode=0o600)
        if params.get("upload"):
            bundle["uploaded"] = bundle_runner.upload(params["upload"], [path, extras["markdown"], extras["json"]])
    return assemble(classification, outcomes, report, bundle, extras, dict(redactor.counts), time.monotonic() - started,
                    clean["incident.md"].decode("utf-8"), check_mode)


def assemble(classification: Mapping[str, Any], outcomes: List[Dict[str, Any]], report: Mapping[str, Any],
             bundle: Mapping[str, Any], extras: Mapping[str, str], redactions: Mapping[str, int], seconds: float,
             markdown: str, check_mode: bool) -> Dict[str, Any]:
    """The result schema: a check per collector, one for the bundle, one for the proposed severity."""
    checks = []
    metrics: Dict[str, Any] = {result.metric_key("triage_duration_seconds"): round(seconds, 3)}
    for item in outcomes:
        status = result.OK if item["status"] == "ok" and not item["truncated"] else result.WARNING
        message = item["error"] or ("%d bytes in %.2f s" % (item["bytes"], item["seconds"]))
        if item["truncated"]:
            message += " (cut at the byte limit: %s)" % ", ".join(item["truncated"][:5])
        checks.append(result.check("triage.collector.%s" % item["name"], status, message, value=item["status"]))
        metrics[result.metric_key("triage_collector_seconds", collector=item["name"])] = item["seconds"]
    if bundle.get("written"):
        ok = bundle.get("verified")
        checks.append(result.check("triage.bundle", result.OK if ok else result.CRITICAL,
                                   "%s (%d bytes) verifies against its manifest" % (bundle["path"], bundle["size"]) if ok
                                   else "%s does not verify: %s" % (bundle["path"], "; ".join(bundle.get("problems") or []))))
        metrics[result.metric_key("triage_bundle_bytes")] = bundle["size"]
    else:
        checks.append(result.check("triage.bundle", result.OK, "check mode: would write %s" % bundle["path"]))
    severity = classification["severity"]
    status = {"P0": result.CRITICAL, "P1": result.CRITICAL, "P2": result.WARNING}.get(severity, result.OK)
    checks.append(result.check("incident.severity", status, classification["summary"], value=severity, severity=severity))
    res = result.build(checks, metrics, subject="triage %s" % report["id"])
    res["summary"] = "triage %s: %s" % (report["id"], report["summary"])
    keys = ("id", "severity", "severity_name", "response_time", "evidence", "started", "triaged", "platform")
    res.update(incident={k: report[k] for k in keys},
               timeline=report["timeline"], report=report, report_markdown=markdown, bundle=dict(bundle),
               report_paths=dict(extras) if bundle.get("written") else {}, collectors=outcomes, redactions=dict(redactions),
               check_mode=check_mode)
    return res


def run(module: Any) -> None:
    """Validate, triage, exit; a bundle that cannot be written fails the task (the result kept)."""
    validation.validate(module, argspec.RULES)
    problem = option_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    try:
        res = triage(module.params, module.check_mode)
    except bundle_runner.BundleError as exc:
        module.fail_json(msg=str(exc), changed=False)
    if res["bundle"].get("written") and not res["bundle"].get("verified"):
        module.fail_json(msg=res["checks"][-2]["message"], changed=True, **res)
    module.exit_json(changed=True, **res)
