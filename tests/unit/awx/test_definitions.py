"""collection/awx/: the credential types, the job templates with their surveys, the schedules,
and the awx.awx playbook that applies them. No AWX server runs here: these tests check what
AWX would check (its survey and RRULE rules) and what our playbooks need (every survey
variable is a variable of the role, with a compatible type; every injected variable is one
the modules read), and tests/integration/awx runs every job template's playbook through
ansible-runner with the survey's answers and the injected environment.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as dateutil_rrule

from utils import awx

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
# The environment contract of the credential types: what each type injects.
CONTRACT = {
    "postgres": {"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE"},
    "s3": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"},
    "redis": {"REDISCLI_AUTH"},
    "notify": {"RUNBOOK_OPS_PAGERDUTY_ROUTING_KEY", "RUNBOOK_OPS_SLACK_TOKEN"},
}
SECRETS = {("postgres", "password"), ("s3", "secret_key"), ("redis", "password"),
           ("notify", "pagerduty_routing_key"), ("notify", "slack_token")}
# The seeds' schedules: (schedule name, hour, minute, weekday (Monday 0) or None, time zone,
# only in the first week of the month).
SEED_TIMES = {
    "runbook.ops health check, daily 09:00": (9, 0, None, "America/New_York", False),
    "runbook.ops VACUUM ANALYZE, Sundays 02:00 UTC": (2, 0, 6, "UTC", False),
    "runbook.ops maintenance window, first Saturday 02:00-04:00": (2, 0, 5, "America/New_York", True),
    "runbook.ops backup, daily 02:00 UTC": (2, 0, None, "UTC", False),
    "runbook.ops backup, weekly Sunday 01:00 UTC": (1, 0, 6, "UTC", False),
    "runbook.ops backup verification, daily 04:00 UTC": (4, 0, None, "UTC", False),
}
TEMPLATES = awx.job_templates()
SCHEDULES = [(t, s) for t in TEMPLATES for s in t["schedules"]]


def test_every_runbook_has_one_job_template():
    playbooks = sorted("playbooks/" + p.name for p in (ROOT / "playbooks").glob("*.yml"))
    assert sorted(t["playbook"] for t in TEMPLATES) == playbooks
    assert len({t["name"] for t in TEMPLATES}) == len(TEMPLATES)


def test_credential_types_inject_the_contract_and_hide_the_secrets():
    types = awx.credential_types()
    assert set(types) == set(CONTRACT)
    for key, ctype in types.items():
        assert set(ctype["injectors"]["env"]) == CONTRACT[key], key
        assert set(ctype["injectors"]) == {"env"}, key
        ids = [field["id"] for field in ctype["inputs"]["fields"]]
        assert len(ids) == len(set(ids))
        assert set(ctype["inputs"].get("required", [])) <= set(ids)
        for field in ctype["inputs"]["fields"]:
            assert field["type"] in ("string", "boolean"), field
            assert bool(field.get("secret")) == ((key, field["id"]) in SECRETS), (key, field["id"])
            if "choices" in field:
                assert field.get("default") in field["choices"]


def test_injector_renders_inputs_and_defaults():
    env = awx.inject("postgres", {"host": "db.internal", "username": "monitor", "password": "p{{w}}'\"$x"})
    assert env == {"PGHOST": "db.internal", "PGPORT": "5432", "PGUSER": "monitor", "PGPASSWORD": "p{{w}}'\"$x",
                   "PGDATABASE": "postgres", "PGSSLMODE": "prefer"}
    # A template in an input is data, never evaluated again.
    env = awx.inject("s3", {"access_key": "AKIA", "secret_key": "{{ 7 * 7 }}"})
    assert env["AWS_SECRET_ACCESS_KEY"] == "{{ 7 * 7 }}"
    assert env["AWS_ENDPOINT_URL_S3"] == ""
    with pytest.raises(ValueError, match="needs"):
        awx.inject("postgres", {"host": "db"})
    with pytest.raises(ValueError, match="not inputs"):
        awx.inject("redis", {"password": "x", "host": "y"})


def test_injected_names_are_the_ones_the_modules_read():
    """The PostgreSQL, S3 and Redis options fall back to the variables the types inject."""
    from ansible_collections.runbook.ops.plugins.module_utils.postgres import argspec as pg_argspec
    from ansible_collections.runbook.ops.plugins.module_utils.redis import argspec as redis_argspec
    from ansible_collections.runbook.ops.plugins.module_utils.s3 import argspec as s3_argspec

    def fallbacks(spec):
        return {name for option in spec.values() if option.get("fallback") for name in option["fallback"][1]}

    assert CONTRACT["postgres"] <= fallbacks(pg_argspec.postgres_argspec_ex()["argument_spec"])
    assert CONTRACT["redis"] <= fallbacks(redis_argspec.redis_check_argspec()["argument_spec"])
    assert CONTRACT["s3"] <= fallbacks(s3_argspec.s3_argspec()["argument_spec"])


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["playbook"] for t in TEMPLATES])
def test_survey_questions_are_valid_awx_questions(template):
    assert template["credential_types"] and set(template["credential_types"]) <= set(CONTRACT)
    assert isinstance(template["timeout"], int) and 0 < template["timeout"] <= 4 * 3600
    names = [q["variable"] for q in template["survey"]]
    assert len(names) == len(set(names))
    for question in template["survey"]:
        assert question["question_name"] and question["type"] in awx.SURVEY_TYPES, question
        assert isinstance(question["required"], bool)
        if question["type"] in ("multiplechoice", "multiselect"):
            assert all(isinstance(c, str) for c in question["choices"]), question
            assert question["default"] in question["choices"], question
        if question["type"] in ("text", "textarea", "password"):
            assert 0 <= question["min"] <= question["max"]
            default = question.get("default", "")
            assert len(default) <= question["max"]
            if question["required"]:
                assert default == "" or len(default) >= question["min"]


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["playbook"] for t in TEMPLATES])
def test_every_survey_variable_is_a_role_variable_of_a_compatible_type(template):
    roles = awx.playbook_roles(template["playbook"])
    assert roles
    for question in template["survey"]:
        for role in roles:
            options = awx.role_options(role)
            assert question["variable"] in options, "%s is not a variable of role %s" % (question["variable"], role)
            spec = options[question["variable"]]
            kind = spec.get("type", "str")
            assert kind in awx.COMPATIBLE[question["type"]], (question["variable"], kind, question["type"])
            if question["type"] == "multiplechoice":
                if kind == "bool":
                    # Answered "true"/"false"; the role reads it with `| bool`.
                    assert set(question["choices"]) <= {"true", "false"}, question
                elif spec.get("choices"):
                    assert set(question["choices"]) <= {str(c) for c in spec["choices"]}, question


def test_restore_asks_for_the_backup_twice():
    restore = next(t for t in TEMPLATES if t["playbook"] == "playbooks/restore.yml")
    questions = {q["variable"]: q for q in restore["survey"]}
    assert questions["restore_backup"]["required"] and questions["restore_confirm"]["required"]
    assert questions["restore_confirm"]["default"] == ""


def test_surveys_ask_what_the_runbooks_need():
    asked = {t["playbook"]: {q["variable"] for q in t["survey"]} for t in TEMPLATES}
    assert "deploy_version" in asked["playbooks/deploy.yml"]
    assert "maintenance_message" in asked["playbooks/maintenance.yml"]
    assert "maintenance_kind" in asked["playbooks/db_maintenance.yml"]
    assert {"restore_backup", "restore_confirm"} <= asked["playbooks/restore.yml"]


@pytest.mark.parametrize("template,schedule", SCHEDULES, ids=[s["name"] for _template, s in SCHEDULES])
def test_schedule_is_accepted_by_awx_and_answers_the_survey(template, schedule):
    assert awx.rrule_problems(schedule["rrule"]) == []
    questions = {q["variable"]: q for q in template["survey"]}
    for name, value in schedule["extra_data"].items():
        assert name in questions, name
        if "choices" in questions[name]:
            assert value in questions[name]["choices"], (name, value)


@pytest.mark.parametrize("template,schedule", SCHEDULES, ids=[s["name"] for _template, s in SCHEDULES])
def test_schedule_fires_at_the_seeds_time(template, schedule):
    hour, minute, weekday, tz, first_week = SEED_TIMES[schedule["name"]]
    rule = dateutil_rrule.rrulestr(schedule["rrule"].replace(" RRULE:", "\nRRULE:"), forceset=True)
    # A whole year: both changes of daylight saving time (02:00 on the Sunday it starts does not
    # exist in New York, 01:00 on the Sunday it ends happens twice).
    fired = rule.between(datetime.datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC")),
                         datetime.datetime(2028, 1, 1, tzinfo=ZoneInfo("UTC")))
    assert len(fired) == {None: 365}.get(weekday, 12 if first_week else 52)
    for when in fired:
        local = when.astimezone(ZoneInfo(tz))
        assert (local.hour, local.minute) == (hour, minute), local
        if weekday is not None:
            assert local.weekday() == weekday, local
        if first_week:
            assert local.day <= 7, local
    gaps = {(b - a).days for a, b in zip(fired, fired[1:])}
    if weekday is None:
        assert gaps == {1}
    elif not first_week:
        assert gaps == {7}
    else:
        assert gaps <= {28, 35}


def test_monthly_window_is_the_first_saturday_of_each_month():
    schedule = next(s for _template, s in SCHEDULES if "first Saturday" in s["name"])
    rule = dateutil_rrule.rrulestr(schedule["rrule"].replace(" RRULE:", "\nRRULE:"), forceset=True)
    days = [d.date() for d in rule.between(datetime.datetime(2027, 1, 1, tzinfo=ZoneInfo("UTC")),
                                           datetime.datetime(2028, 1, 1, tzinfo=ZoneInfo("UTC")))]
    assert len(days) == 12
    assert days[:3] == [datetime.date(2027, 1, 2), datetime.date(2027, 2, 6), datetime.date(2027, 3, 6)]


@pytest.mark.parametrize("rule,problem", [
    ("DTSTART:20261201T020000 RRULE:FREQ=DAILY;INTERVAL=1", "naive"),
    ("DTSTART:20261201T020000Z RRULE:FREQ=DAILY", "INTERVAL"),
    ("DTSTART:20261201T020000Z RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=1SA", "numeric prefix"),
    ("DTSTART:20261201T020000Z RRULE:FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY=1,2", "BYMONTHDAY"),
    ("DTSTART:20261201T020000Z RRULE:FREQ=DAILY;INTERVAL=1;COUNT=2000", "COUNT"),
])
def test_awx_rrule_rules_refuse_what_awx_refuses(rule, problem):
    assert any(problem in message for message in awx.rrule_problems(rule))


def lint_env():
    bundled = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH="%s:%s" % (ROOT / "collection", bundled),
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH="%s:%s" % (VENV_BIN, os.environ.get("PATH", "")),
               NO_COLOR="1")
    return env


def test_apply_playbook_passes_syntax_check_and_ansible_lint():
    env = lint_env()
    done = subprocess.run([str(VENV_BIN / "ansible-playbook"), "--syntax-check", "collection/awx/apply.yml"],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([str(VENV_BIN / "ansible-lint"), "--offline", "--config-file", str(ROOT / ".ansible-lint"),
                           "collection/awx/"], cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_apply_playbook_uses_every_definition():
    """The job templates, schedules and credential types of the playbook's loops are the
    definitions' (a check mode run stops at the first awx.awx task: no controller here, and
    the loops' items are what it would have sent)."""
    env = lint_env()
    done = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "collection/awx/apply.yml", "--list-tasks"],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("Credential types", "Job templates", "Schedules", "Execution environment", "Project"):
        assert name in done.stdout
