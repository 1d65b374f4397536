"""The maintenance executor against a fake connection: lock timeouts, retries, skips."""

from __future__ import annotations

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from ansible_collections.runbook.ops.plugins.module_utils.postgres import maintenance_runner


class FakeCursor:
    def __init__(self, conn):
        self.conn = conn
        self.connection = conn

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, statement, args=None):
        if isinstance(statement, sql.Composable):
            self.conn.tries += 1
            if self.conn.tries <= self.conn.locked_for:
                raise psycopg2.errors.LockNotAvailable("canceling statement due to lock timeout")
        self.conn.log.append(statement)

    def fetchone(self):
        return (1000,)


class FakeConn:
    closed = False

    def __init__(self, locked_for):
        self.locked_for = locked_for
        self.tries = 0
        self.log = []

    def cursor(self):
        return FakeCursor(self)


def test_execute_retries_lock_timeouts_with_backoff_then_skips():
    action = {"kind": "table", "action": "vacuum", "schema": "public", "name": "t", "table": "t", "reason": "r",
              "sql": 'VACUUM "public"."t"'}
    sleeps = []
    done = maintenance_runner.execute_action(FakeConn(locked_for=2), action, attempts=3, backoff=0.5, sleep=sleeps.append)
    assert done["status"] == "done" and done["attempts"] == 3 and sleeps == [0.5, 1.0]
    sleeps = []
    skipped = maintenance_runner.execute_action(FakeConn(locked_for=10), action, attempts=3, backoff=0.5, sleep=sleeps.append)
    assert skipped["status"] == "skipped" and skipped["attempts"] == 3 and sleeps == [0.5, 1.0]
    assert "lock timeout" in skipped["error"]
