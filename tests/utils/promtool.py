"""``promtool check metrics`` over a Prometheus text exposition (the report's textfile).

promtool comes from Debian's ``prometheus`` package, installed by ``scripts/setup``. Its absence
fails the test that asked for it: a lint that silently did not run is no lint.
"""

from __future__ import annotations

import shutil
import subprocess


def promtool_path() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise AssertionError("promtool not found on PATH: run scripts/setup (Debian's prometheus package)")
    return path


def promtool_problems(text: str) -> str:
    """What ``promtool check metrics`` says about ``text``: empty when it has nothing to say."""
    proc = subprocess.run([promtool_path(), "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60, check=False)
    said = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 and not said:
        said = "promtool exited %d" % proc.returncode
    return said
