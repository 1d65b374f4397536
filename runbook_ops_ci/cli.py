"""Run a runbook.ops playbook through ``ansible_runner.run`` and turn its verdict into an exit code.

    runbook-ops-run playbooks/health_check.yml -i inventories/staging -e health_fail_on=warning \
        --junit build/junit.xml --fail-on P2

Prints the run's summary and report path, copies the report's ``junit.xml`` to where CI collects it
(``--junit``, ``RUNBOOK_OPS_JUNIT``), and exits:

* 0 when the run's severity is below ``--fail-on`` (P3 always; P2 too with the default ``P1``);
* 1 when it is at or above (P0 and P1 always);
* 3 when the run gave no verdict (the playbook did not run, or ran no runbook.ops check).

The verdict is the report callback's ``set_stats`` data (``artifact_data`` of the runner's
``playbook_on_stats`` event). Runner artifacts go to ``--private-data-dir`` (a temporary
directory when not given), never into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence

SEVERITIES = ("P0", "P1", "P2", "P3")
EXIT_OK, EXIT_FAILED, EXIT_NO_VERDICT = 0, 1, 3


def parse_extra_vars(values: Sequence[str]) -> Dict[str, Any]:
    """``-e`` values as ansible-playbook takes them: ``key=value`` pairs, JSON/YAML, or ``@file``."""
    import yaml  # ansible-core's dependency  # pylint: disable=import-outside-toplevel

    out: Dict[str, Any] = {}
    for value in values:
        if value.startswith("@"):
            with open(value[1:], encoding="utf-8") as handle:
                loaded = yaml.safe_load(handle) or {}
        elif value.lstrip().startswith("{"):
            loaded = yaml.safe_load(value)
        else:
            loaded = {}
            for pair in value.split():
                if "=" not in pair:
                    raise ValueError("extra var %r is not key=value, JSON or @file" % pair)
                key, val = pair.split("=", 1)
                loaded[key] = val
        if not isinstance(loaded, dict):
            raise ValueError("extra vars %r are not a mapping" % value)
        out.update(loaded)
    return out


def exit_code(severity: Optional[str], fail_on: str) -> int:
    """0 below ``fail_on``, 1 at or above it, 3 without a verdict."""
    if severity not in SEVERITIES:
        return EXIT_NO_VERDICT
    return EXIT_FAILED if SEVERITIES.index(severity) <= SEVERITIES.index(fail_on) else EXIT_OK


def verdict_of(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The report callback's set_stats data from the runner's events ({} without one)."""
    for event in events:
        if event.get("event") == "playbook_on_stats":
            return dict((event.get("event_data") or {}).get("artifact_data") or {})
    return {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runbook-ops-run", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("playbook", help="playbook path, relative to --project-dir")
    parser.add_argument("-i", "--inventory", action="append", default=[], help="inventory path or host list")
    parser.add_argument("-e", "--extra-vars", action="append", default=[], help="key=value, JSON, or @file")
    parser.add_argument("-l", "--limit")
    parser.add_argument("--check", action="store_true", help="run in check mode")
    parser.add_argument("--project-dir", default=os.getcwd(),
                        help="where the playbook and ansible.cfg are (default: the current directory)")
    parser.add_argument("--private-data-dir", default=os.environ.get("RUNBOOK_OPS_PRIVATE_DATA_DIR"),
                        help="ansible-runner's private data dir; artifacts/ goes there "
                             "(env RUNBOOK_OPS_PRIVATE_DATA_DIR; default: a temporary directory, kept)")
    parser.add_argument("--junit", default=os.environ.get("RUNBOOK_OPS_JUNIT", "junit.xml"),
                        help="where to copy the report's junit.xml (env RUNBOOK_OPS_JUNIT; default ./junit.xml)")
    parser.add_argument("--fail-on", default=os.environ.get("RUNBOOK_OPS_FAIL_ON", "P1"), choices=["P1", "P2"],
                        help="lowest severity that fails the command (env RUNBOOK_OPS_FAIL_ON; default P1)")
    parser.add_argument("--ident", help="the runner job id (default: ansible-runner's)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    import ansible_runner  # pylint: disable=import-outside-toplevel

    try:
        extravars = parse_extra_vars(args.extra_vars)
    except (OSError, ValueError) as exc:
        print("runbook-ops-run: %s" % exc, file=sys.stderr)
        return 2
    project = os.path.abspath(args.project_dir)
    private = os.path.abspath(args.private_data_dir or tempfile.mkdtemp(prefix="runbook-ops-run-"))
    os.makedirs(private, exist_ok=True)
    playbook = args.playbook
    if os.path.exists(os.path.join(project, playbook)):
        playbook = os.path.abspath(os.path.join(project, playbook))
    cmdline = []
    for inventory in args.inventory:
        inv = os.path.join(project, inventory)
        cmdline += ["-i", os.path.abspath(inv) if os.path.exists(inv) else inventory]
    if args.check:
        cmdline.append("--check")
    envvars = {}
    if os.path.isfile(os.path.join(project, "ansible.cfg")) and "ANSIBLE_CONFIG" not in os.environ:
        envvars["ANSIBLE_CONFIG"] = os.path.join(project, "ansible.cfg")
    runner = ansible_runner.run(
        private_data_dir=private, project_dir=project, playbook=playbook, extravars=extravars or None,
        limit=args.limit, cmdline=shlex.join(cmdline) or None, envvars=envvars or None, ident=args.ident,
        quiet=True)
    verdict = verdict_of(list(runner.events))
    severity = verdict.get("runbook_ops_severity")
    code = exit_code(severity, args.fail_on)
    print("runbook.ops: %s" % (verdict.get("runbook_ops_summary") or "no verdict (ansible-runner status %s, rc %s)"
                               % (runner.status, runner.rc)))
    report = verdict.get("runbook_ops_report")
    if report:
        print("report: %s" % report)
        junit = os.path.join(os.path.dirname(report), "junit.xml")
        if os.path.isfile(junit) and args.junit:
            target = os.path.abspath(args.junit)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(junit, target)
            print("junit: %s" % target)
    print("artifacts: %s" % runner.config.artifact_dir)
    if code == EXIT_NO_VERDICT:
        sys.stdout.write(runner.stdout.read()[-4000:])
    print(json.dumps({"severity": severity, "status": verdict.get("runbook_ops_status"), "exit": code}))
    return code
