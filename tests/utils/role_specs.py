"""The argument spec a role declares for a variable that is passed to a module as it is.

Several role variables are one module's options in a dict (health_postgres is
runbook.ops.postgres_check's options, backup_s3 is runbook.ops.s3_backup's, ...): the role
hands them to the module through module_defaults. Their meta/argument_specs.yml entries repeat
the module's option names, types, choices and required flags so that a wrong key or value in an
inventory is refused before any task runs. ``module_suboptions`` derives that spec from the
module's documentation (ansible-doc), which ansible-test keeps equal to the module's argument
spec; tests/unit/roles/test_argument_specs.py compares the roles' files with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Options whose value is a secret: the role's spec marks them no_log as the module does.
SECRET_WORDS = ("password", "secret", "token", "api_key")
# (aliases are left out: a role argument spec has none.)
KEYS = ("type", "elements", "choices", "required")


@lru_cache(maxsize=None)
def module_docs(*modules):
    """ansible-doc --json of runbook.ops modules, from the working tree."""
    ansible_doc = Path(sys.executable).with_name("ansible-doc")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collection"))
    env.pop("ANSIBLE_CONFIG", None)
    out = subprocess.run([str(ansible_doc), "--json"] + ["runbook.ops." + m for m in modules],
                         cwd=str(ROOT), env=env, capture_output=True, text=True, check=True, timeout=120)
    docs = json.loads(out.stdout)
    return {name.split(".")[-1]: entry["doc"] for name, entry in docs.items()}


def option_spec(name, doc):
    """The role spec of one documented option (recursively for suboptions), without defaults:
    the module applies its own defaults to what the role leaves out."""
    spec = {key: doc[key] for key in KEYS if doc.get(key) not in (None, False, [])}
    spec.setdefault("type", "str")
    if any(word in name for word in SECRET_WORDS) and spec["type"] == "str":
        spec["no_log"] = True
    if doc.get("suboptions"):
        spec["options"] = {sub: option_spec(sub, subdoc) for sub, subdoc in sorted(doc["suboptions"].items())}
    return spec


def module_suboptions(doc, only=None, exclude=()):
    """The role spec of a dict variable that holds a module's options (some or all of them).

    The module's top-level required flags are left to the module: an empty dict (health_backup: {},
    backup_s3: {}) means "this step is off", and a spec that required backup_dir or bucket would
    refuse it. Required flags inside list elements (a queue's name, a log's path) stay."""
    options = doc["options"]
    names = [n for n in sorted(options) if (only is None or n in only) and n not in exclude]
    specs = {n: option_spec(n, options[n]) for n in names}
    for spec in specs.values():
        spec.pop("required", None)
    return specs
