"""The AWX configuration of collection/awx/ as the tests read it: the definitions, the roles a
job template's playbook applies, AWX's rules for survey questions and schedules, and the
environment a credential type's injector sets (rendered the way AWX renders it: Jinja in a
sandbox, with every input of the credential and the defaults of the ones left out).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = Path(__file__).resolve().parents[2]
AWX_DIR = ROOT / "collection" / "awx"
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
# A survey answer's type -> the role argument spec types that accept it as it comes.
COMPATIBLE = {
    "text": {"str", "path", "raw"},
    "textarea": {"str", "raw"},
    "password": {"str", "raw"},
    "integer": {"int", "float", "raw"},
    "float": {"float", "raw"},
    "multiplechoice": {"str", "raw", "bool"},
    "multiselect": {"list"},
}


@lru_cache(maxsize=None)
def definitions() -> Dict[str, Any]:
    """credential_types.yml and job_templates.yml, merged."""
    data: Dict[str, Any] = {}
    for name in ("credential_types.yml", "job_templates.yml"):
        data.update(yaml.safe_load((AWX_DIR / name).read_text()))
    return data


def credential_types() -> Dict[str, Dict[str, Any]]:
    return {entry["key"]: entry for entry in definitions()["runbook_ops_awx_credential_types"]}


def job_templates() -> List[Dict[str, Any]]:
    return definitions()["runbook_ops_awx_job_templates"]


def playbook_roles(playbook: str) -> List[str]:
    """The runbook.ops roles a playbook applies (by their short names)."""
    roles = []
    for play in yaml.safe_load((ROOT / playbook).read_text()):
        for role in play.get("roles", []):
            name = role["role"] if isinstance(role, dict) else role
            roles.append(name.split(".")[-1])
    return sorted(set(roles))


def role_options(role: str) -> Dict[str, Dict[str, Any]]:
    """The options of a role's main entry point (meta/argument_specs.yml)."""
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


def survey_defaults(template: Mapping[str, Any], **answers: Any) -> Dict[str, Any]:
    """The extra vars AWX passes for a launch that keeps the survey's defaults (except ``answers``).
    AWX applies a default that passes the question's own validation: an empty default of a
    required question is not (its launch cannot start without an answer), one of an optional
    question is passed as an empty string."""
    extra = {}
    for question in template["survey"]:
        name = question["variable"]
        if name in answers:
            extra[name] = answers[name]
        elif question.get("default") not in (None, "") or not question.get("required"):
            if question.get("default") is not None:
                extra[name] = question["default"]
    missing = [q["variable"] for q in template["survey"] if q.get("required") and q["variable"] not in extra]
    if missing:
        raise ValueError("%s: the survey needs answers for %s" % (template["name"], missing))
    return extra


def inject(key: str, inputs: Mapping[str, Any]) -> Dict[str, str]:
    """The environment AWX's injector of credential type ``key`` sets for a credential with
    ``inputs``: the defaults of the fields left out, an empty string for the others."""
    ctype = credential_types()[key]
    fields = ctype["inputs"]["fields"]
    unknown = set(inputs) - {field["id"] for field in fields}
    if unknown:
        raise ValueError("not inputs of %s: %s" % (ctype["name"], sorted(unknown)))
    missing = [name for name in ctype["inputs"].get("required", []) if not inputs.get(name)]
    if missing:
        raise ValueError("%s needs %s" % (ctype["name"], missing))
    namespace = {field["id"]: inputs.get(field["id"], field.get("default", "")) for field in fields}
    env = ImmutableSandboxedEnvironment()
    return {name: env.from_string(template).render(**namespace)
            for name, template in ctype["injectors"].get("env", {}).items()}


# AWX's own checks of a schedule's rule (awx/api/serializers.py, SchedulePreviewSerializer),
# restated: what AWX would refuse with a 400 when the playbook applies the schedule.
AWX_RRULE_PROBLEMS = [
    (re.compile(r"^DTSTART(;TZID=[^:]+)?:\d{8}T\d{6}Z? RRULE:"), True,
     "must start with one DTSTART (with TZID= or a Z time) then RRULE:"),
    (re.compile(r"DTSTART:\d{8}T\d{6}(?!Z)\b"), False, "DTSTART cannot be a naive datetime"),
    (re.compile(r"INTERVAL=\d+"), True, "INTERVAL required in rrule"),
    (re.compile(r"SECONDLY"), False, "SECONDLY is not supported"),
    (re.compile(r"BYDAY[:=][-+]?\d+[A-Z]{2}"), False, "BYDAY with numeric prefix not supported"),
    (re.compile(r"BYMONTHDAY=\d+,"), False, "Multiple BYMONTHDAYs not supported"),
    (re.compile(r"BYMONTH=\d+,"), False, "Multiple BYMONTHs not supported"),
    (re.compile(r"BYYEARDAY"), False, "BYYEARDAY not supported"),
    (re.compile(r"BYWEEKNO"), False, "BYWEEKNO not supported"),
    (re.compile(r"EXDATE|RDATE"), False, "EXDATE and RDATE are not allowed"),
]


def rrule_problems(rule: str) -> List[str]:
    problems = [message for pattern, must, message in AWX_RRULE_PROBLEMS if bool(pattern.search(rule)) != must]
    if "COUNT" in rule and "UNTIL" in rule:
        problems.append("RRULE may not contain both COUNT and UNTIL")
    count = re.search(r"COUNT=(\d+)", rule)
    if count and int(count.group(1)) > 999:
        problems.append("COUNT > 999 is unsupported")
    return problems
