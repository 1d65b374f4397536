# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report callback's side of the notifications (controller only).

The callback calls :func:`after_report` once, after it wrote the run's report; this reads the
callback's ``notify_*`` options, calls the one entry point
(``module_utils.notify.notify_runner.notify_report``), prints the payloads in check mode and a
warning per failed send, and adds the outcome to the written ``report.json`` and ``report.md``.
It never raises and never changes the run's status or exit code.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
from typing import Any, Dict, Mapping, Sequence

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.common.fileio import atomic_write
from ansible_collections.runbook.ops.plugins.module_utils.notify import (
    argspec, notify_runner, payload_plan, routing_plan, state_runner)
from ansible_collections.runbook.ops.plugins.plugin_utils import report as rpt

PREFIX = "notify_"


def options_of(callback: Any) -> Dict[str, Any]:
    """The callback's ``notify_*`` options, named as the module's options."""
    out: Dict[str, Any] = {}
    for name in list(argspec.OPTIONS) + ["state_file"]:
        try:
            out[name] = callback.get_option(PREFIX + name)
        except KeyError:
            out[name] = None
    return out


def groups_of_play(callback: Any, play: Any) -> Dict[str, Sequence[str]]:
    """The inventory's groups (group -> host names) as the play sees them, for the platforms.

    Empty when no channel is configured (nothing is asked of the inventory then) or when unknown.
    """
    try:
        if not notify_runner.channels_of(notify_runner.settings_from(options_of(callback))):
            return {}
        manager = play.get_variable_manager()
        groups = manager.get_vars(play=play, include_hostvars=False).get("groups") or {}
        return {str(g): [str(h) for h in hosts] for g, hosts in groups.items()}
    except Exception:  # pylint: disable=broad-except  # the notifications must never break a run
        return {}


def after_report(callback: Any, display: Any, report: Dict[str, Any], paths: Mapping[str, str], check_mode: bool,
                 groups: Mapping[str, Sequence[str]]) -> None:
    """Send the run's notifications and add their outcome to the written report (``display``: the callback's)."""
    options = options_of(callback)
    settings = notify_runner.settings_from(options)
    secrets = notify_runner.secrets_of(settings)
    try:
        if not notify_runner.channels_of(settings):
            return
        problem = validation.check(settings, argspec.RULES)
        if problem:
            display.warning("runbook.ops.report: notifications not sent: notify_%s" % problem)
            return
        settings["platforms"] = routing_plan.platforms_from_groups(groups, settings.get("platform_groups") or [])
        directory = paths.get("directory")
        # Beside the run directories, wherever the callback put them (report_dir, the runner's artifacts).
        base = os.path.dirname(directory) if directory else callback.get_option("report_dir")
        state_file = options.get("state_file") or state_runner.default_path(base)
        link = payload_plan.link_for(settings.get("report_url"), os.path.basename(directory) if directory else None,
                                     paths.get("markdown"))
        outcome = notify_runner.notify_report(report, settings, state_file, link=link, check_mode=check_mode)
        if check_mode:
            display.banner("RUNBOOK.OPS NOTIFICATIONS (check mode: nothing sent)")
            if not outcome["requests"]:
                display.display("no notification would be sent")
            for text in payload_plan.printable(outcome["requests"]):
                display.display(text)
        for item in outcome["checks"]:
            if item["status"] != "ok":
                display.warning("runbook.ops.report: %s: %s" % (item["name"], item["message"]))
        notify_runner.annotate(report, outcome)
        for kind, render in (("json", rpt.to_json), ("markdown", rpt.to_markdown)):
            if kind in paths:
                atomic_write(paths[kind], render(report))
    except Exception as exc:  # pylint: disable=broad-except  # the notifications must never break a run
        display.warning("runbook.ops.report: notifications failed: %s"
                        % payload_plan.mask_text("%s: %s" % (type(exc).__name__, exc), secrets))
