"""The roles' meta/argument_specs.yml against the modules they feed.

A role variable that holds one module's options (health_postgres: runbook.ops.postgres_check's,
backup_s3: runbook.ops.s3_backup's, ...) reaches the module through module_defaults as it is,
so its spec must list exactly the module's options (or the declared subset) with the module's
types, choices and required flags: a key the module does not know is refused before any task
runs, and every key the module knows is accepted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from utils.role_specs import module_docs, module_suboptions

ROOT = Path(__file__).resolve().parents[3]
POSTGRES_CONNECTION = ["login_host", "port", "login_user", "login_password", "login_unix_socket", "ssl_mode",
                       "ca_cert"]
S3_CONNECTION = ["bucket", "prefix", "endpoint_url", "region", "access_key", "secret_key", "session_token",
                 "validate_certs", "retries", "s3_connect_timeout", "s3_read_timeout"]
PG_MAINTENANCE_KIND = ["operations", "autovacuum_rule", "dead_tuple_ratio", "min_dead_tuples",
                       "vacuum_max_age_hours", "analyze_max_age_hours", "index_bloat_ratio", "min_index_size",
                       "table_bloat_ratio", "min_table_size", "reindex_database", "tables", "indexes"]
FILE_ARCHIVE = ["name", "paths", "exclude", "sqlite_databases", "detect_sqlite", "sqlite_timeout", "ignore_missing",
                "compression", "work_dir"]
# (role, path of the variable in the role's options, module, only these options, minus these);
# a variable may declare keys of its own besides (EXTRA_KEYS), which the role takes out.
PASS_THROUGH = [
    ("health_check", ["health_tls"], "tls_check", None, ()),
    ("health_check", ["health_postgres"], "postgres_check", None, ()),
    ("health_check", ["health_redis"], "redis_check", None, ()),
    ("health_check", ["health_containers"], "container_check", None, ()),
    ("health_check", ["health_logs"], "log_check", None, ()),
    ("health_check", ["health_host"], "host_check", None, ()),
    ("health_check", ["health_backup"], "backup_verify", None, ()),
    ("health_check", ["health_k8s"], "k8s_check", None, ()),
    ("db_maintenance", ["db_maintenance", "postgres"], "pg_maintenance", POSTGRES_CONNECTION, ()),
    ("db_maintenance", ["db_maintenance", "weekly"], "pg_maintenance", PG_MAINTENANCE_KIND, ()),
    ("db_maintenance", ["db_maintenance", "monthly"], "pg_maintenance", PG_MAINTENANCE_KIND, ()),
    ("db_performance", ["db_maintenance", "postgres"], "pg_diagnostics", POSTGRES_CONNECTION, ()),
    ("backup", ["backup_postgres"], "pg_backup", POSTGRES_CONNECTION, ()),
    ("backup", ["backup_s3"], "s3_backup", None, ("mode", "backup", "name", "backup_dir", "overwrite")),
    ("backup", ["backup_files"], "file_archive", FILE_ARCHIVE, ()),
    ("backup_verify", ["backup_postgres"], "backup_verify", POSTGRES_CONNECTION, ()),
]
EXTRA_KEYS = {("backup", "backup_files"): {"kinds"}}
# List variables whose elements are one option's elements.
ELEMENTS = [
    ("health_check", ["health_http_endpoints"], "http_check", "endpoints"),
]
ROLES = sorted({entry[0] for entry in PASS_THROUGH})
ALL_ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


def role_options(role):
    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def lookup(options, path):
    spec = options[path[0]]
    for name in path[1:]:
        spec = spec["options"][name]
    return spec


def strip_docs(spec):
    """A role spec without its descriptions, for comparison."""
    out = {k: v for k, v in spec.items() if k not in ("description", "options")}
    if "options" in spec:
        out["options"] = {name: strip_docs(sub) for name, sub in spec["options"].items()}
    return out


@pytest.mark.parametrize("role, path, module, only, exclude", PASS_THROUGH,
                         ids=["%s:%s" % (e[0], ".".join(e[1])) for e in PASS_THROUGH])
def test_a_pass_through_variable_declares_the_module_options(role, path, module, only, exclude):
    docs = module_docs(*sorted({e[2] for e in PASS_THROUGH} | {e[2] for e in ELEMENTS}))
    spec = lookup(role_options(role), path)
    assert spec["type"] == "dict"
    extra = EXTRA_KEYS.get((role, ".".join(path)), set())
    declared = {name: strip_docs(sub) for name, sub in spec["options"].items() if name not in extra}
    assert declared == module_suboptions(docs[module], only, exclude)


@pytest.mark.parametrize("role, path, module, option", ELEMENTS)
def test_a_list_variable_declares_the_module_option_elements(role, path, module, option):
    docs = module_docs(*sorted({e[2] for e in PASS_THROUGH} | {e[2] for e in ELEMENTS}))
    spec = lookup(role_options(role), path)
    assert spec["type"] == "list" and spec["elements"] == "dict"
    declared = {name: strip_docs(sub) for name, sub in spec["options"].items()}
    expected = module_suboptions({"options": docs[module]["options"][option]["suboptions"]})
    assert declared == expected


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_declared(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    assert set(defaults) <= set(role_options(role)), set(defaults) - set(role_options(role))


@pytest.mark.parametrize("role", ALL_ROLES)
def test_ansible_doc_shows_the_role(role):
    """Every option has a description: ansible-doc -t role refuses a spec without one."""
    ansible_doc = Path(sys.executable).with_name("ansible-doc")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collection"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    done = subprocess.run([str(ansible_doc), "-t", "role", "runbook.ops." + role], cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "runbook.ops." + role in done.stdout
