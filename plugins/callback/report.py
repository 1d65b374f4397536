# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
name: report
type: aggregate
short_description: Write one health report per run (JSON, Markdown, JUnit XML, Prometheus textfile)
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - Collects every task result of the run that carries the C(runbook.ops/result/v1) schema
    (including the items of loops) and, when the playbook ends, writes one report in four forms
    into a per-run directory under O(report_dir) named by the start time (UTC), and points the
    symlink C(<report_dir>/latest) at it.
  - C(report.json) is the whole report (schema C(runbook.ops/report/v1)); C(report.md) a summary
    for people with the incident level and what it means; C(junit.xml) one testsuite per host and
    one testcase per check; C(runbook_ops.prom) the node_exporter textfile collector format, with
    HELP and TYPE lines for every family (a metric whose name ends in C(_total) is a counter, any
    other a gauge), as C(promtool check metrics) wants it.
    Every file is written to a temporary file and renamed into place.
  - Unreachable hosts become a critical C(host.reachable) check (P0); failed tasks (module errors)
    a critical C(task.<task name>) check, so nothing silently disappears from the report.
  - Prints the verdict, one line per critical or warning check, and the file paths at the end.
  - Uses task results as Ansible already censored them, so results of C(no_log) tasks show no
    content. Writes nothing when the run produced no results at all.
  - Needs enabling, for example C(callbacks_enabled = runbook.ops.report) in C(ansible.cfg).
  - "Publishes the run's verdict as custom stats of the run (what C(ansible.builtin.set_stats) sets):
    C(runbook_ops_status), C(runbook_ops_severity), C(runbook_ops_summary), C(runbook_ops_report_dir)
    and C(runbook_ops_report) (the path of C(report.json)). Under ansible-runner they are the
    C(artifact_data) of the C(playbook_on_stats) event; in AWX the job's artifacts, which a workflow
    passes to its next nodes as extra variables."
requirements:
  - enable in configuration
options:
  report_dir:
    description:
      - Directory for the reports; each run writes into its own subdirectory of it.
      - A relative path is relative to the current working directory.
      - When not set, and ansible-runner runs the playbook (AWX, or C(ansible_runner.run) in CI), the
        reports go to C(runbook_ops_report/) in the job's artifact directory (ansible-runner exports
        it as E(AWX_ISOLATED_DATA_DIR)); otherwise to C(./reports).
    type: path
    env:
      - name: RUNBOOK_OPS_REPORT_DIR
    ini:
      - section: callback_report
        key: report_dir
  warning_as_failure:
    description:
      - Also make warning checks C(<failure>) elements in C(junit.xml) (critical checks always are).
    type: bool
    default: false
    env:
      - name: RUNBOOK_OPS_REPORT_WARNING_AS_FAILURE
    ini:
      - section: callback_report
        key: warning_as_failure
  print_summary:
    description:
      - Print the verdict, the failure lines and the report paths at the end of the run.
    type: bool
    default: true
    env:
      - name: RUNBOOK_OPS_REPORT_PRINT
    ini:
      - section: callback_report
        key: print_summary
"""

import os
import sys
import time

from ansible import constants as C
from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_version

from ansible_collections.runbook.ops.plugins.plugin_utils import report as rpt
from ansible_collections.runbook.ops.plugins.plugin_utils import run_stats


def _result_of(task_result):
    """The censored result dict of a callback task result (ansible-core 2.16 .. 2.19+)."""
    data = getattr(task_result, "result", None)
    if data is None:
        data = getattr(task_result, "_result", None)
    return data if isinstance(data, dict) or hasattr(data, "get") else {}


class CallbackModule(CallbackBase):
    """Aggregate runbook.ops results into one report per run."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "runbook.ops.report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self._started = time.time()
        self._playbook = ""
        self._hosts = {}
        self._task_start = {}
        self._items = {}
        self.paths = {}
        self.report = None
        self._tally = run_stats.Tally()
        self._stats = None

    # -- bookkeeping ---------------------------------------------------------
    def _add(self, host, entry):
        if entry is not None:
            self._hosts.setdefault(host, []).append(entry)
            self._tally.add(host, entry)
            self._publish(self._tally.status, self._tally.severity, self._tally.summary())

    def _report_dir(self):
        return run_stats.report_base(self.get_option("report_dir"), os.environ)

    def _publish(self, status, severity, summary, stats=None, directory=""):
        """The verdict so far as the run's custom stats (read by the stdout callback before our on_stats)."""
        stats = stats or self._stats
        if stats is not None:
            if directory == "":
                directory = run_stats.run_directory(self._report_dir(), self._started)
            for key, value in run_stats.stats_data(status, severity, summary, directory).items():
                stats.set_custom_stats(key, value)

    def _duration(self, host, task):
        start = self._task_start.get((host, task._uuid))
        return None if start is None else time.time() - start

    @staticmethod
    def _task_name(task):
        return task.get_name().strip() if task is not None else ""

    def _record(self, task_result, failed=False, unreachable=False):
        host = task_result._host.get_name()
        task = task_result._task
        data = _result_of(task_result)
        name = self._task_name(task)
        action = getattr(task, "resolved_action", None) or getattr(task, "action", None)
        duration = self._duration(host, task)
        key = (host, task._uuid)
        items = self._items.pop(key, None)
        loop_results = data.get("results") if isinstance(data.get("results"), list) else None
        if not unreachable and (items is not None or loop_results is not None):
            if items is None:
                items = [(item, bool(item.get("failed"))) for item in loop_results if hasattr(item, "get")]
            share = None if duration is None or not items else duration / len(items)
            for item, item_failed in items:
                label = item.get("_ansible_item_label", item.get("item"))
                item_name = name if label is None else "%s (%s)" % (name, label)
                self._add(host, rpt.task_entry(item_name, action, item, failed=item_failed, duration=share))
            if failed and not any(f for _i, f in items):
                self._add(host, rpt.task_entry(name, action, data, failed=True, duration=duration))
            return
        self._add(host, rpt.task_entry(name, action, data, failed=failed, unreachable=unreachable,
                                       duration=duration))

    # -- events ----------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self._started = time.time()
        self._playbook = os.path.basename(getattr(playbook, "_file_name", "") or "")
        # The run's AggregateStats: the TaskQueueManager that calls us holds it (send_callback's self).
        frame = sys._getframe(1)  # pylint: disable=protected-access
        while frame is not None and self._stats is None:
            holder = frame.f_locals.get("self")
            if hasattr(getattr(holder, "_stats", None), "set_custom_stats"):
                self._stats = holder._stats  # pylint: disable=protected-access
            frame = frame.f_back

    def v2_runner_on_start(self, host, task):
        self._task_start[(host.get_name(), task._uuid)] = time.time()

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def _item(self, result, failed):
        key = (result._host.get_name(), result._task._uuid)
        self._items.setdefault(key, []).append((_result_of(result), failed))

    def v2_runner_item_on_ok(self, result):
        self._item(result, False)

    def v2_runner_item_on_failed(self, result):
        self._item(result, True)

    def v2_playbook_on_stats(self, stats):
        finished = time.time()
        if not self._hosts:
            return
        check_mode = bool(context.CLIARGS.get("check", False))
        self.report = rpt.build_report(self._hosts, playbook=self._playbook, started=self._started,
                                       finished=finished, ansible_version=ansible_version,
                                       check_mode=check_mode)
        report_dir = self._report_dir()
        try:
            self.paths = rpt.write_report(self.report, report_dir, self._started,
                                          warning_as_failure=bool(self.get_option("warning_as_failure")))
        except OSError as exc:
            self._display.warning("runbook.ops.report: could not write the report into %s: %s" % (report_dir, exc))
            self.paths = {}
        self._publish(self.report["status"], self.report["severity"], self.report["summary"], stats,
                      directory=self.paths.get("directory"))
        if not self.get_option("print_summary"):
            return
        color = {"ok": C.COLOR_OK, "warning": C.COLOR_WARN, "critical": C.COLOR_ERROR}.get(self.report["status"])
        self._display.banner("RUNBOOK.OPS REPORT")
        self._display.display("%s: %s" % (self.report["severity"], rpt.SEVERITY_MEANING[self.report["severity"]]),
                              color=color)
        self._display.display(self.report["summary"], color=color)
        for line in self.report["failures"]:
            self._display.display("  " + line, color=color)
        for kind in ("markdown", "json", "junit", "prometheus"):
            if kind in self.paths:
                self._display.display("report %-10s %s" % (kind, self.paths[kind]))
        if "latest" in self.paths:
            self._display.display("report %-10s %s" % ("latest", self.paths["latest"]))
