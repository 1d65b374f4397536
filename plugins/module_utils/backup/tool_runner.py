# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running the command-line tools a backup needs (pg_dump, pg_restore, compressors): argv lists
only, no shell; the stderr tail of a failed tool in the message, secrets scrubbed."""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from typing import Any, Iterable, List, Mapping, Optional

from ansible_collections.runbook.ops.plugins.module_utils.backup import catalog_plan
from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as postgres_client


def find_pg_binary(name: str, explicit: Optional[str] = None) -> str:
    """The path of ``pg_dump`` / ``pg_restore``: explicit, else PATH, else the newest PostgreSQL."""
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise catalog_plan.BackupError("%s %s does not exist or is not executable" % (name, explicit))
        return explicit
    found = shutil.which(name)
    if found:
        return found
    base = "/usr/lib/postgresql"
    versions = []
    if os.path.isdir(base):
        for entry in os.listdir(base):
            if entry.isdigit() and os.access(os.path.join(base, entry, "bin", name), os.X_OK):
                versions.append(int(entry))
    if versions:
        return os.path.join(base, str(max(versions)), "bin", name)
    raise catalog_plan.BackupError("%s was not found on PATH nor under /usr/lib/postgresql/*/bin" % name)


def tool_version(binary: str) -> str:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, timeout=30, check=False,  # noqa: S603
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise catalog_plan.BackupError("cannot run %s --version: %s" % (binary, exc))
    return (done.stdout or done.stderr).decode("utf-8", "replace").strip().splitlines()[0][:200] \
        if (done.stdout or done.stderr).strip() else ""


def stderr_tail(handle, limit: int = 2000) -> str:
    try:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - limit))
        return handle.read().decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        return ""


def describe_rc(name: str, code: int) -> str:
    if code < 0:
        try:
            return "%s was killed by signal %s" % (name, signal.Signals(-code).name)
        except ValueError:
            return "%s was killed by signal %d" % (name, -code)
    return "%s exited with status %d" % (name, code)


def stop_process(proc: Optional[subprocess.Popen]) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except OSError:
        pass


def run_tool(argv: List[str], env: Mapping[str, str], name: str, secrets: Iterable[Optional[str]] = (),
             timeout: Optional[float] = None) -> None:
    """Run a tool whose output goes to files; BackupError with its stderr tail on failure."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,  # noqa: S603
                                    stdin=subprocess.DEVNULL, env=dict(env))
        except OSError as exc:
            raise catalog_plan.BackupError("cannot start %s: %s" % (name, exc.strerror or exc))
        try:
            code = proc.wait(timeout=timeout)
        except BaseException:
            stop_process(proc)
            raise
        if code != 0:
            raise catalog_plan.BackupError("%s: %s" % (describe_rc(name, code), postgres_client.scrub(stderr_tail(err), list(secrets)) or "no error output"))


class Background:
    """Run ``fn(*args)`` in a thread; ``result()`` joins and returns it or re-raises its exception."""

    def __init__(self, fn, *args):
        self._value: Any = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(fn,) + args, name=fn.__name__, daemon=True)
        self._thread.start()

    def _run(self, fn, *args) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # pylint: disable=broad-except  # handed to result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self, conn) -> None:
        """Stop a running count (the backup failed) and wait for the thread."""
        if self._thread.is_alive():
            try:
                conn.cancel()
            except Exception:  # pylint: disable=broad-except
                pass
        self._thread.join()
