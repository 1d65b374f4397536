#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

DOCUMENTATION = r"""
---
module: log_check
short_description: Count log lines matching patterns within the last hours
version_added: 0.1.0
author: runbook.ops contributors (@runbook-ops)
description:
  - For each log (a path or a glob), counts the lines that match each pattern (a Python regex) within the last
    O(since_hours) hours, like C(grep -c ERROR) on today's part of a log, and compares the count with the
    pattern's thresholds. One check C(log.<name>.<pattern>) per log and pattern; its value holds the count,
    the count per file and the last O(sample_lines) matching lines.
  - "Line timestamps are read from: ISO 8601 at the start of the line (C(2026-11-22T08:12:01.5Z)), Python logging
    (C(2026-11-22 08:12:01,123)), syslog (C(Nov 22 08:12:01)), the nginx/Apache common log format
    (C([22/Nov/2026:08:12:01 +0000])), logfmt (C(level=error ts=2026-11-22T08:12:01Z)) and JSON lines with a time
    field (O(time_fields)). Timestamps without a time
    zone are local time of the managed host. A line without a timestamp (a stack trace) belongs to the entry
    above it."
  - Plain files are read backwards from the end in blocks, and reading stops at the first entry more than five
    minutes older than the window (that slack allows for lines written slightly out of order), so a large log
    costs only its recent part.
  - A file without any parseable timestamp falls back to its modification time; all its lines count when it was
    modified within the window, none otherwise. The check message says so.
  - With O(rotated=true), C(<file>.1), C(<file>.1.gz), C(<file>.2.gz) ... modified within the window are read too
    and counted under C(<file>). Compressed files are streamed from the start.
  - A log with no file is a check with the status O(missing). An invalid regex or a file that exists but cannot be
    read fails the task.
  - Uses only the Python standard library.
extends_documentation_fragment:
  - runbook.ops.attributes
options:
  logs:
    description:
      - The logs to scan.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name used in C(log.<name>.<pattern>). Defaults to the file name without C(.log) (for a glob, the
            directory name).
        type: str
      path:
        description:
          - Path of the log file, or a glob such as C(/var/log/finchat/*.log). Required.
        type: str
      patterns:
        description:
          - Patterns for this log. Defaults to O(patterns).
        type: list
        elements: dict
        suboptions:
          name:
            description:
              - Name used in the check name and the C(pattern) metric label. Defaults to the regex in lower case
                with non-word characters replaced by C(_).
            type: str
          regex:
            description:
              - Python regular expression searched in each line. Required.
            type: str
          ignore_case:
            description:
              - Match without regard to case.
            type: bool
            default: false
          warning:
            description:
              - Warning when more than this many lines match. No warning when not set.
            type: int
          critical:
            description:
              - Critical when more than this many lines match. Not critical when not set.
            type: int
      since_hours:
        description:
          - Window for this log. Defaults to O(since_hours).
        type: float
      missing:
        description:
          - Status when no file matches. Defaults to O(missing).
        type: str
        choices: [ok, warning, critical]
  patterns:
    description:
      - Default patterns for every log, with the same keys as O(logs[].patterns).
      - "When not set, one pattern C(error) with regex C(ERROR) and warning C(10): the seeds' rule, more than 10
        ERROR lines in 24 hours is a warning."
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Name used in the check name and the C(pattern) metric label.
        type: str
      regex:
        description:
          - Python regular expression searched in each line. Required.
        type: str
      ignore_case:
        description:
          - Match without regard to case.
        type: bool
        default: false
      warning:
        description:
          - Warning when more than this many lines match.
        type: int
      critical:
        description:
          - Critical when more than this many lines match.
        type: int
  since_hours:
    description:
      - Only lines from the last this many hours count.
    type: float
    default: 24
  missing:
    description:
      - Status of the checks of a log when no file matches its path or glob.
    type: str
    choices: [ok, warning, critical]
    default: warning
  sample_lines:
    description:
      - How many of the most recent matching lines each check returns in its value (each cut to 500 characters).
    type: int
    default: 5
  rotated:
    description:
      - Also read the rotated siblings (C(.1), C(.1.gz), C(.2.gz) ...) modified within the window.
    type: bool
    default: true
  compressed:
    description:
      - Read C(.gz) files (rotated ones and those matched by a glob). When false they are skipped.
    type: bool
    default: true
  max_scan_mb:
    description:
      - Read at most this many MiB from the end of each plain file. When the limit is hit before the window's start,
        the message says so and counts are a lower bound.
    type: float
    default: 256
  time_fields:
    description:
      - Keys tried, in order, for the time of a JSON line. Values may be ISO 8601 strings or epoch seconds
        (or milliseconds).
    type: list
    elements: str
    default: [timestamp, time, "@timestamp", ts, asctime, datetime, date, t]
attributes:
  check_mode:
    support: full
    details: Runs the same read-only scan as a normal run; C(changed) is always false.
  diff_mode:
    support: none
  action_group:
    support: full
    membership: [runbook.ops.health]
seealso:
  - module: runbook.ops.container_check
"""

EXAMPLES = r"""
- name: More than 10 ERROR lines in 24 hours is a warning (the default pattern)
  runbook.ops.log_check:
    logs:
      - path: /var/log/finchat/app.log

- name: Security events and errors across all service logs
  runbook.ops.log_check:
    since_hours: 1
    patterns:
      - name: security
        regex: security_event
        warning: 0
        critical: 20
      - name: error
        regex: '\b(ERROR|CRITICAL)\b'
        warning: 10
        critical: 100
    logs:
      - name: finchat
        path: /var/log/finchat/*.log
      - path: /var/log/nginx/error.log
        missing: ok
  register: logs
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: warning
severity:
  description: P1 for a critical check, P2 for a warning, P3 when all is ok.
  returned: always
  type: str
  sample: P2
summary:
  description: One line for people naming every failing check.
  returned: always
  type: str
  sample: "log: log.app.error 12 lines match 'ERROR' in the last 24h (warning above 10)"
schema:
  description: The result schema identifier.
  returned: always
  type: str
  sample: runbook.ops/result/v1
checks:
  description: C(log.<name>.<pattern>) per log and pattern.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: log.app.error
    status:
      description: C(ok), C(warning) or C(critical).
      type: str
    severity:
      description: P1 to P3.
      type: str
    message:
      description: The count, the window, the threshold crossed, and notes on files read by modification time.
      type: str
    value:
      description: >-
        C(count), C(pattern), C(since_hours), C(files) (count per file named by the path or glob),
        C(timestamps) (per file read: C(timestamps), C(mtime), C(mtime-old) or C(old) when last modified before
        the window), C(sample) (the most recent matching lines, oldest first). When no file matches:
        C(count) null, C(path), C(missing) true, C(pattern).
      type: dict
    threshold:
      description: C(warning) and C(critical) (more than this many lines).
      type: dict
metrics:
  description: C(log_matches{file="...",pattern="..."}) per file named by the path or glob and pattern.
  returned: always
  type: dict
  sample: {"log_matches{file=\"/var/log/finchat/app.log\",pattern=\"error\"}": 12.0}
changed:
  description: Always false.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.common import arguments
from ansible_collections.runbook.ops.plugins.module_utils.host import argspec, log_runner


def main() -> None:
    module = arguments.new_module(AnsibleModule, **argspec.log_check_argspec(), supports_check_mode=True)
    log_runner.run(module)


if __name__ == "__main__":
    main()
