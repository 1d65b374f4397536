"""runbook.ops.postgres_check's runner without a server: an unreachable server is P0 and nothing else."""

from __future__ import annotations

import json

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.postgres import check_plan, check_runner
from ansible_collections.runbook.ops.plugins.module_utils.postgres.client import PgConnectError

PARAMS = {
    "login_host": "127.0.0.1", "port": 5432, "login_user": "monitor", "login_password": "pg-secret-pw",
    "database": "app", "login_unix_socket": None, "ssl_mode": "prefer", "ca_cert": None, "connect_timeout": 5,
    "checks": list(check_plan.CHECKS), "query_timeout": 10.0, "connections_warning": 80.0, "connections_critical": 95.0,
    "long_query_seconds": 300.0, "long_queries_warning": 1, "long_queries_critical": None,
    "idle_in_transaction_seconds": 60.0, "idle_in_transaction_warning": 1, "idle_in_transaction_critical": None,
    "replication_lag_warning": 1.0, "replication_lag_critical": 30.0, "min_replicas": 0,
    "xid_age_warning": 500000000, "xid_age_critical": 1500000000, "database_size_warning_bytes": None,
    "database_size_critical_bytes": None, "cache_hit_ratio_warning": 0.9, "cache_hit_ratio_critical": None,
    "cache_hit_min_blocks": 10000, "show_queries": False,
}


@pytest.mark.parametrize("kind, message", [
    ("refused", "connection refused by 127.0.0.1:5432"),
    ("auth", "authentication failed for user monitor"),
    ("dns", "unknown host db.invalid"),
    ("timeout", "connection timed out after 5s to 10.0.0.9:5432"),
])
def test_unreachable_is_down_p0_and_nothing_else(kind, message):
    def connector(params, **kwargs):
        raise PgConnectError(kind, message)

    result = check_runner.run_checks(PARAMS, connector=connector)
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert result["checks"] == [{"name": "postgres.ping", "status": "critical", "value": None, "threshold": None,
                                 "message": message, "severity": "P0"}]
    assert result["metrics"] == {"postgres_up": 0}
    assert "pg-secret-pw" not in json.dumps(result)
