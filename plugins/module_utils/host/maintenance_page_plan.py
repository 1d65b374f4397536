# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of maintenance mode for web servers that check a flag file (nginx ``if (-f ...)``).

While maintenance is on, a directory holds two files: the page people see and a flag file
whose mere existence tells the web server to answer 503 with that page. This file holds the
page, the plan (which files to write or remove), the ``--diff`` and the verdict on one
verification request; ``maintenance_page_runner`` does the file and network I/O.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import html
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.common.lifeline import MAX_WAIT_SECONDS

ON = "on"
OFF = "off"
FLAG_TEXT = "maintenance mode is on: remove this file (or run playbooks/maintenance.yml -e maintenance_state=off) to end it\n"
MARKER = '<meta name="runbook-ops-maintenance" content="on">'

# The longest verification an option may ask for: every wait is bounded.
MAX_VERIFY_TIMEOUT = MAX_WAIT_SECONDS

DEFAULT_TITLE = "Down for maintenance"
DEFAULT_MESSAGE = "We are performing scheduled maintenance. Please try again in a few minutes."

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
%(marker)s
<title>%(title)s</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; padding: 12vh 1.5rem; color: #222; background: #f6f6f4; }
main { max-width: 36rem; margin: 0 auto; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
p { font-size: 1.05rem; line-height: 1.5; }
</style>
</head>
<body>
<main>
<h1>%(title)s</h1>
<p>%(message)s</p>
</main>
</body>
</html>
"""


class MaintenanceError(ValueError):
    """Bad input, with a message for the user."""


def render_page(message: str, title: str = DEFAULT_TITLE, content: Optional[str] = None) -> str:
    """The maintenance page: ``content`` verbatim when given, else the built-in page with the
    message and title HTML-escaped."""
    if content is not None:
        return content if content.endswith("\n") else content + "\n"
    return _PAGE % {"marker": MARKER, "title": html.escape(title or DEFAULT_TITLE),
                    "message": html.escape(message or DEFAULT_MESSAGE)}


def validate_name(name: str, what: str) -> str:
    """A plain file name inside the maintenance directory (no path separators, not hidden)."""
    if not name or name in (".", "..") or "/" in name or "\0" in name or name.startswith("."):
        raise MaintenanceError("%s must be a plain file name without '/', got %r" % (what, name))
    return name


def plan(state: str, page_text: str, current_page: Optional[str], flag_exists: bool) -> Dict[str, Any]:
    """What to do: ``write_page`` / ``create_flag`` / ``remove_flag`` (booleans) and ``changed``.

    On: the page is written when it differs, then the flag is created when missing (page
    first, so that the flag never points at an old or missing page). Off: the flag goes;
    the page stays (it is served only while the flag exists), ready for the next time.
    """
    if state not in (ON, OFF):
        raise MaintenanceError("state must be on or off, got %r" % (state,))
    steps = {"write_page": False, "create_flag": False, "remove_flag": False}
    if state == ON:
        steps["write_page"] = current_page != page_text
        steps["create_flag"] = not flag_exists
    else:
        steps["remove_flag"] = flag_exists
    steps["changed"] = any(steps.values())
    return steps


def diff(steps: Mapping[str, Any], page_path: str, flag_path: str, page_text: str,
         current_page: Optional[str], flag_exists: bool) -> List[Dict[str, str]]:
    """Ansible's ``--diff`` entries: the page's text and the flag's presence."""
    entries = []
    if steps.get("write_page"):
        entries.append({"before_header": page_path if current_page is not None else "%s (absent)" % page_path,
                        "after_header": page_path, "before": current_page or "", "after": page_text})
    if steps.get("create_flag") or steps.get("remove_flag"):
        entries.append({"before_header": flag_path, "after_header": flag_path,
                        "before": "state: %s\n" % ("present" if flag_exists else "absent"),
                        "after": "state: %s\n" % ("absent" if steps.get("remove_flag") else "present")})
    return entries


def serves_page(status_code: Optional[int], body: str, page_text: str) -> bool:
    """Whether an HTTP answer is the maintenance page: 503 with the page's text."""
    return status_code == 503 and body.strip() == page_text.strip()


def verify_verdict(state: str, outcome: Mapping[str, Any], page_text: str) -> Dict[str, Any]:
    """Judge one verification request: ``{"passed", "message"}``.

    On: the URL must answer 503 with the page. Off: it must answer, and not with the page
    (the application's own status, whatever it is, is for the health checks to judge).
    """
    if outcome.get("error_kind"):
        return {"passed": False, "message": "no answer: %s" % (outcome.get("error") or outcome["error_kind"])}
    code = outcome.get("status_code")
    page = serves_page(code, outcome.get("body") or "", page_text)
    if state == ON:
        if page:
            return {"passed": True, "message": "answers 503 with the maintenance page"}
        return {"passed": False, "message": "answers HTTP %s, not 503 with the maintenance page" % code}
    if page:
        return {"passed": False, "message": "still answers 503 with the maintenance page"}
    return {"passed": True, "message": "answers HTTP %s, not the maintenance page" % code}


def option_problem(params: Mapping[str, Any]) -> Optional[str]:
    """What is wrong with maintenance_mode's options beyond its argument spec, or None."""
    try:
        validate_name(params["page_name"], "page_name")
        validate_name(params["flag_name"], "flag_name")
    except MaintenanceError as exc:
        return str(exc)
    if not 0 < params["verify_timeout"] <= MAX_VERIFY_TIMEOUT:
        return "verify_timeout must be more than 0 and at most %g seconds, got %s" % (
            MAX_VERIFY_TIMEOUT, params["verify_timeout"])
    if params["reload_command"] is not None and not [a for a in params["reload_command"] if a]:
        return "reload_command must name a command"
    return None


def state_message(state: str, steps: Mapping[str, Any], actions: List[str], check_mode: bool) -> str:
    """The message of the ``maintenance.state`` check: what changed, or would change."""
    done = ", ".join(a.replace("_", " ") for a in actions)
    if check_mode:
        word = "would turn maintenance %s" % state if steps["changed"] else "maintenance already %s" % state
        return word + (" (%s)" % done if actions else "")
    if steps["changed"]:
        return "maintenance turned %s (%s)" % (state, done)
    return "maintenance already %s" % state
