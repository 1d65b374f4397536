"""Every module builds its AnsibleModule through common/arguments.new_module, so a value of the
wrong shape fails naming its option and never shows a secret (issue 12): a new module that calls
AnsibleModule(...) directly would silently lose that."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MODULES = Path(__file__).resolve().parents[4] / "plugins" / "modules"
# The module file of an action plugin is documentation only.
DOCUMENTATION_ONLY = {"health_gate"}


def calls(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                yield func.id
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                yield "%s.%s" % (func.value.id, func.attr)


@pytest.mark.parametrize("path", sorted(p for p in MODULES.glob("*.py") if p.stem not in DOCUMENTATION_ONLY),
                         ids=lambda p: p.stem)
def test_module_is_built_through_new_module(path):
    made = list(calls(path))
    assert "arguments.new_module" in made, path.name
    assert "AnsibleModule" not in made, "%s calls AnsibleModule(...) directly" % path.name
