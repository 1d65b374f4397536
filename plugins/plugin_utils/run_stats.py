# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the report goes, and the run's verdict as ``set_stats`` data (controller side).

* ``report_base(option, environ)``: the directory the report callback writes under, by a documented
  precedence: the ``report_dir`` option (``RUNBOOK_OPS_REPORT_DIR`` or ``ansible.cfg``), then the
  job's artifact directory when ansible-runner runs the playbook (it exports it to the playbook as
  ``AWX_ISOLATED_DATA_DIR``, in AWX and in CI alike) under ``runbook_ops_report/``, then ``./reports``.
* ``Tally``: the run's verdict kept up to date entry by entry (constant work per check), so that
  the ``set_stats`` data is right before the stdout callback reads it: ansible-core calls the stdout
  callback (ansible-runner's ``awx_display``, which copies the custom stats into the
  ``playbook_on_stats`` event as ``artifact_data``) before any other callback's
  ``v2_playbook_on_stats``.
* ``stats_data(...)``: the flat keys AWX passes to the next workflow node as extra variables.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
from typing import Any, Dict, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.common import result as schema
from ansible_collections.runbook.ops.plugins.plugin_utils import report as rpt

# ansible-runner sets this to the job's artifact directory (``artifacts/<ident>``; in a container
# ``/runner/artifacts/<ident>``) in the environment of ansible-playbook.
RUNNER_ARTIFACT_ENV = "AWX_ISOLATED_DATA_DIR"
RUNNER_SUBDIR = "runbook_ops_report"
DEFAULT_DIR = "./reports"


def report_base(option: Optional[str], environ: Mapping[str, str]) -> str:
    """The report directory: the option, else the runner's artifact directory, else ./reports."""
    if option:
        return option
    artifacts = environ.get(RUNNER_ARTIFACT_ENV)
    if artifacts:
        return os.path.join(artifacts, RUNNER_SUBDIR)
    return DEFAULT_DIR


def run_directory(base: str, started: float) -> str:
    """The absolute directory of this run's report files (as ``report.write_report`` names it)."""
    return os.path.join(os.path.abspath(base), rpt.run_directory_name(started))


def stats_data(status: str, severity: str, summary: str, directory: Optional[str]) -> Dict[str, Any]:
    """The ``set_stats`` data of a run: flat keys, so AWX workflows and ansible-runner read them as is."""
    return {
        "runbook_ops_status": status,
        "runbook_ops_severity": severity,
        "runbook_ops_summary": summary,
        "runbook_ops_report_dir": directory,
        "runbook_ops_report": os.path.join(directory, rpt.REPORT_FILES["json"]) if directory else None,
    }


class Tally:
    """The run's status, severity and summary, updated with each report entry."""

    def __init__(self) -> None:
        self.counts = {name: 0 for name in schema.STATUSES}
        self.hosts: set = set()
        self.status = schema.OK
        self.severity = "P3"

    def add(self, host: str, entry: Mapping[str, Any]) -> None:
        self.hosts.add(host)
        for check in entry.get("checks") or []:
            status = check.get("status", schema.OK)
            self.counts[status] = self.counts.get(status, 0) + 1
            if status != schema.OK:
                self.status = schema.worst([self.status, status])
                self.severity = schema.worst_severity([self.severity, check.get("severity")])

    def summary(self) -> str:
        return rpt.summary_line(self.status, self.severity, sum(self.counts.values()), len(self.hosts), self.counts)
