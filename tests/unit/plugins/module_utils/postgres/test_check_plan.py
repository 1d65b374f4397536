"""Pure decisions of runbook.ops.postgres_check (module_utils/postgres/check_plan.py; no server)."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.postgres import check_plan, client

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


@pytest.mark.parametrize("total, status", [(10, "ok"), (79, "ok"), (80, "warning"), (94, "warning"),
                                           (95, "critical"), (100, "critical")])
def test_connections_against_max_connections(total, status):
    by_state = {"active": 1, "idle": total - 1}
    result, metrics = check_plan.connections_check(by_state, 100, 80, 95)
    assert result["name"] == "postgres.connections" and result["status"] == status
    assert result["value"] == pytest.approx(total)
    assert "(%d of max_connections 100)" % total in result["message"]
    assert metrics['postgres_connections{state="active"}'] == 1
    assert metrics['postgres_connections{state="idle"}'] == total - 1
    assert metrics["postgres_connections_used"] == total and metrics["postgres_max_connections"] == 100
    assert metrics["postgres_connections_used_ratio"] == pytest.approx(total / 100.0)


def test_connection_states_with_spaces_are_labels():
    _first, metrics = check_plan.connections_check({"idle in transaction (aborted)": 2}, 100, 80, 95)
    assert metrics['postgres_connections{state="idle in transaction (aborted)"}'] == 2


ROW = {"pid": 4242, "user": "app", "database": "finchat", "application": "api", "seconds": 912.4,
       "wait_event_type": "Lock", "query": "SELECT * FROM big"}


def test_long_queries_warn_on_count_and_hide_query_text_by_default():
    result, metrics = check_plan.long_queries_check([ROW, dict(ROW, pid=4243, seconds=400.0)], 300, 1, None)
    assert result["status"] == "warning" and result["severity"] == "P2"
    assert result["message"] == ("2 queries active longer than 300s (longest 912s: pid 4242, user app, "
                                 "database finchat), warning at 1")
    assert result["value"]["count"] == 2
    assert result["value"]["sessions"][0] == {"pid": 4242, "user": "app", "database": "finchat",
                                              "application": "api", "seconds": 912.4, "wait_event_type": "Lock"}
    assert metrics == {"postgres_long_queries": 2, "postgres_longest_query_seconds": 912.4}


def test_long_queries_show_text_when_asked_and_critical_by_count():
    result, _rest = check_plan.long_queries_check([ROW, ROW, ROW], 300, 1, 3, show_query=True)
    assert result["status"] == "critical" and result["value"]["sessions"][0]["query"] == "SELECT * FROM big"


def test_no_long_queries_is_ok():
    result, metrics = check_plan.long_queries_check([], 300, 1, None)
    assert result["status"] == "ok" and result["message"] == "no queries active longer than 300s"
    assert metrics == {"postgres_long_queries": 0, "postgres_longest_query_seconds": 0.0}


def test_idle_in_transaction():
    row = {"pid": 7, "user": "app", "database": "app", "application": "", "state": "idle in transaction",
           "seconds": 75.0, "transaction_seconds": 80.0}
    result, metrics = check_plan.idle_in_transaction_check([row], 60, 1, None)
    assert result["name"] == "postgres.idle_in_transaction" and result["status"] == "warning"
    assert "1 sessions idle in transaction longer than 60s" in result["message"]
    assert result["value"]["sessions"][0]["state"] == "idle in transaction"
    assert metrics["postgres_oldest_idle_in_transaction_seconds"] == 75.0
    assert check_plan.idle_in_transaction_check([row], 60, 2, None)[0]["status"] == "ok"


def _replica(name="replica1", addr="10.0.0.2", lag=0.2, state="streaming", lag_bytes=0.0):
    return {"application_name": name, "client_addr": addr, "state": state, "sync_state": "async",
            "replay_lag": lag, "replay_lag_bytes": lag_bytes}


def test_replication_lag_per_replica():
    rows = [_replica("a", lag=0.2), _replica("b", lag=1.5, lag_bytes=8192.0), _replica("c", lag=45.0),
            _replica("d", lag=None)]
    checks, metrics = check_plan.replication_checks(rows, False, 1.0, 30.0)
    by_name = {c["name"]: c for c in checks}
    assert by_name["postgres.replication"]["status"] == "ok"
    assert by_name["postgres.replication"]["message"] == "4 replicas connected"
    assert by_name["postgres.replication.a"]["status"] == "ok"
    assert by_name["postgres.replication.b"]["status"] == "warning"
    assert by_name["postgres.replication.b"]["message"] == "replay lag of b at 1.5s (warning >= 1s)"
    assert by_name["postgres.replication.c"]["status"] == "critical"
    assert by_name["postgres.replication.d"]["status"] == "ok"  # idle, caught-up replica: replay_lag NULL
    assert metrics['postgres_replication_lag_seconds{replica="b"}'] == 1.5
    assert metrics['postgres_replication_lag_bytes{replica="b"}'] == 8192.0
    assert metrics["postgres_replicas"] == 4 and metrics["postgres_in_recovery"] == 0


def test_replica_not_streaming_is_a_warning_and_missing_replicas_critical():
    checks, _rest = check_plan.replication_checks([_replica(state="catchup")], False, 1.0, 30.0, min_replicas=2)
    assert checks[0]["status"] == "critical" and checks[0]["message"] == "1 replica connected, expected at least 2"
    assert checks[1]["status"] == "warning" and "is catchup, not streaming" in checks[1]["message"]


def test_no_replicas_and_standby():
    checks, metrics = check_plan.replication_checks([], False, 1.0, 30.0)
    assert [c["status"] for c in checks] == ["ok"] and checks[0]["message"] == "0 replicas connected"
    checks, metrics = check_plan.replication_checks([], True, 1.0, 30.0)
    assert "standby" in checks[0]["message"] and metrics["postgres_in_recovery"] == 1


def test_replica_names_are_unique():
    rows = [_replica("walreceiver", "10.0.0.2"), _replica("walreceiver", "10.0.0.3"), _replica("", "10.0.0.4"),
            _replica("x", None), _replica("x", None)]
    assert check_plan.replica_names(rows) == ["walreceiver@10.0.0.2", "walreceiver@10.0.0.3", "10.0.0.4",
                                              "x@local", "x@local#2"]


@pytest.mark.parametrize("age, status", [(1000, "ok"), (500000000, "warning"), (1500000000, "critical")])
def test_xid_age(age, status):
    rows = [{"database": "app", "xid_age": 10}, {"database": 'we"ird db', "xid_age": age}]
    result, metrics = check_plan.xid_age_check(rows, 500000000, 1500000000)
    assert result["status"] == status and result["value"] == age
    assert 'database we"ird db' in result["message"]
    assert metrics['postgres_xid_age{database="we\\"ird db"}'] == age


def test_database_size_metrics_and_optional_thresholds():
    rows = [{"database": "app", "size_bytes": 3 * 1024 ** 3}, {"database": "small", "size_bytes": 1024},
            {"database": "hidden", "size_bytes": None}]
    result, metrics = check_plan.database_size_check(rows, None, None)
    assert result["status"] == "ok" and result["message"] == "largest database app is 3.0 GiB"
    assert metrics == {'postgres_database_size_bytes{database="app"}': 3 * 1024 ** 3,
                       'postgres_database_size_bytes{database="small"}': 1024}
    result, _rest = check_plan.database_size_check(rows, 2 * 1024 ** 3, 10 * 1024 ** 3)
    assert result["status"] == "warning" and result["message"] == "largest database app is 3.0 GiB (warning at 2.0 GiB)"


@pytest.mark.parametrize("hit, read, status, judged", [
    (0, 0, "ok", False), (50, 50, "ok", False), (8000, 2000, "warning", True), (9900, 100, "ok", True),
])
def test_cache_hit_ratio(hit, read, status, judged):
    result, metrics = check_plan.cache_hit_check(hit, read, 0.9, None, 10000)
    assert result["status"] == status
    assert metrics["postgres_blocks_hit_total"] == hit and metrics["postgres_blocks_read_total"] == read
    if judged:
        assert metrics["postgres_cache_hit_ratio"] == pytest.approx(hit / (hit + read))
        assert "not judged" not in result["message"]
    elif hit + read:
        assert "not judged below 10000" in result["message"]


@pytest.mark.parametrize("change, needle", [
    ({"connections_warning": 0}, "connections_warning is a percentage"),
    ({"cache_hit_ratio_warning": 90}, "cache_hit_ratio_warning is a ratio between 0 and 1"),
    ({"query_timeout": 0}, "query_timeout must be more than 0"),
    ({"long_query_seconds": -1}, "long_query_seconds must not be negative"),
    ({"port": 0}, "port must be between 1 and 65535"),
])
def test_validate_params(change, needle):
    problem = client.validate_params(dict(PARAMS, **change)) or check_plan.validate_params(dict(PARAMS, **change))
    assert needle in problem


def test_validate_params_accepts_defaults():
    assert client.validate_params(PARAMS) is None and check_plan.validate_params(PARAMS) is None
