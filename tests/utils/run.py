"""Run runbook.ops modules in-process, the way Ansible would, and return their JSON."""

from __future__ import annotations

import importlib
import io
import json
from contextlib import redirect_stdout
from typing import Any, Dict

from ansible.module_utils.testing import patch_module_args


class ModuleFailed(Exception):
    """The module called fail_json; ``result`` holds what it returned."""

    def __init__(self, result: Dict[str, Any]):
        super().__init__(result.get("msg"))
        self.result = result


def run_module(name: str, args: Dict[str, Any], check_mode: bool = False) -> Dict[str, Any]:
    """Run ``runbook.ops.<name>`` with ``args``; return its result or raise ModuleFailed."""
    module = importlib.import_module("ansible_collections.runbook.ops.plugins.modules." + name)
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    out = io.StringIO()
    with patch_module_args(args), redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    text = out.getvalue()
    try:
        result = json.loads(text)
    except ValueError as exc:
        raise AssertionError("module %s printed no JSON: %r" % (name, text[:2000])) from exc
    if result.get("failed"):
        raise ModuleFailed(result)
    return result
