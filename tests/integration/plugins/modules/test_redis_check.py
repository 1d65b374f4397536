"""runbook.ops.redis_check against real redis-server processes."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.redis.client import RespAuthError, RespClient
from sandbox.services import Redis, free_port, wait_port
from utils.run import run_module
from utils.http_servers import make_ca, make_cert

PASSWORD = "redis-test-secret"


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


def args_for(server, **extra):
    args = {"login_host": "127.0.0.1", "port": server.port}
    if server.password:
        args["login_password"] = server.password
    args.update(extra)
    return args


@contextlib.contextmanager
def client_for(server, db=0):
    with RespClient("127.0.0.1", server.port, password=server.password, db=db) as client:
        yield client


@pytest.fixture()
def celery_queue(redis_server):
    """Fill the list ``celery`` with a given number of (fake) task messages; removed afterwards."""

    def fill(count, key="celery", db=0):
        with client_for(redis_server, db) as client:
            client.execute("DEL", key)
            for start in range(0, count, 500):
                batch = ["task-%d" % i for i in range(start, min(count, start + 500))]
                client.execute("RPUSH", key, *batch)
            assert client.llen(key) == count

    yield fill
    with client_for(redis_server) as client:
        client.execute("DEL", "celery", "not-a-list")
    with client_for(redis_server, 3) as client:
        client.execute("DEL", "celery")


@pytest.fixture()
def own_redis(tmp_path):
    """A second redis-server (no password) the test may stop; always stopped afterwards."""
    servers = []

    def start(password=None):
        server = Redis(tmp_path / ("redis%d" % len(servers)), password=password).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_healthy_redis_is_ok(redis_server):
    result = run_module("redis_check", args_for(redis_server, queues=[{"name": "celery"}]))
    assert result["status"] == "ok", result["summary"]
    assert result["severity"] == "P3" and result["changed"] is False
    assert [c["name"] for c in result["checks"]] == ["redis.ping", "redis.memory", "redis.evictions",
                                                     "redis.hit_rate", "redis.clients", "redis.queue.celery"]
    checks = by_name(result)
    assert checks["redis.ping"]["message"].startswith("PONG in ")
    assert "of maxmemory 64.0 MiB" in checks["redis.memory"]["message"]
    assert "policy allkeys-lru" in checks["redis.evictions"]["message"]
    metrics = result["metrics"]
    assert metrics["redis_up"] == 1
    assert metrics["redis_maxmemory_bytes"] == 64 * 1024 * 1024
    assert 0 < metrics["redis_used_memory_bytes"] < metrics["redis_maxmemory_bytes"]
    assert metrics["redis_maxclients"] == 10000 and metrics["redis_connected_clients"] >= 1
    assert metrics['redis_queue_length{queue="celery"}'] == 0
    assert PASSWORD not in json.dumps(result)


@pytest.mark.parametrize("depth, status, severity", [(150, "warning", "P2"), (1500, "critical", "P1")])
def test_celery_queue_depth(redis_server, celery_queue, depth, status, severity):
    celery_queue(depth)
    result = run_module("redis_check", args_for(redis_server, checks=["queues"],
                                                queues=[{"name": "celery", "warning": 100, "critical": 1000}]))
    check = by_name(result)["redis.queue.celery"]
    assert check["status"] == status and check["value"] == depth
    assert check["message"] == "queue celery at %d (%s >= %d)" % (depth, status, 100 if status == "warning" else 1000)
    assert result["status"] == status and result["severity"] == severity
    assert result["metrics"]['redis_queue_length{queue="celery"}'] == depth
    assert result["summary"] == "redis: redis.queue.celery " + check["message"]


def test_check_mode_gives_the_same_result_and_changes_nothing(redis_server, celery_queue):
    celery_queue(150)
    args = args_for(redis_server, checks=["queues", "memory"], queues=[{"name": "celery"}])
    normal = run_module("redis_check", args)
    checked = run_module("redis_check", args, check_mode=True)
    assert checked["changed"] is False and normal["changed"] is False
    assert [(c["name"], c["status"], c["value"]) for c in checked["checks"] if c["name"] != "redis.ping"] == \
        [(c["name"], c["status"], c["value"]) for c in normal["checks"] if c["name"] != "redis.ping"]
    assert checked["status"] == normal["status"] == "warning"
    with client_for(redis_server) as client:
        assert client.llen("celery") == 150


def test_queue_in_another_db_and_a_key_that_is_not_a_list(redis_server, celery_queue):
    celery_queue(7, db=3)
    with client_for(redis_server) as client:
        client.execute("SET", "not-a-list", "x")
    in_db3 = run_module("redis_check", args_for(redis_server, db=3, checks=["queues"], queues=[{"name": "celery"}]))
    assert by_name(in_db3)["redis.queue.celery"]["value"] == 7
    wrong = run_module("redis_check", args_for(redis_server, checks=["queues"], queues=[{"name": "not-a-list"}]))
    check = by_name(wrong)["redis.queue.not-a-list"]
    assert check["status"] == "warning" and "not a list" in check["message"]


def test_stopped_redis_is_down_with_connection_refused(own_redis):
    server = own_redis()
    assert run_module("redis_check", args_for(server))["status"] == "ok"
    server.stop()
    assert not server.is_running()
    result = run_module("redis_check", args_for(server, queues=[{"name": "celery"}]))
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert result["checks"] == [{"name": "redis.ping", "status": "critical", "value": None, "threshold": None,
                                 "message": "connection refused by 127.0.0.1:%d" % server.port, "severity": "P0"}]
    assert result["metrics"] == {"redis_up": 0}
    assert result["summary"] == "redis: redis.ping connection refused by 127.0.0.1:%d" % server.port


def test_wrong_password_is_down_with_auth_failure_and_no_password(redis_server):
    wrong = "not-the-Redis-pa55word"
    result = run_module("redis_check", args_for(redis_server, login_password=wrong))
    assert result["status"] == "critical" and result["severity"] == "P0"
    assert by_name(result)["redis.ping"]["message"] == "authentication failed: wrong password"
    text = json.dumps(result)
    assert wrong not in text and PASSWORD not in text


def test_missing_password_is_down_with_auth_required(redis_server):
    args = args_for(redis_server)
    del args["login_password"]
    result = run_module("redis_check", args)
    assert result["severity"] == "P0"
    assert by_name(result)["redis.ping"]["message"] == "authentication required: the server wants a password"


def test_acl_user_login(own_redis):
    server = own_redis()
    with RespClient("127.0.0.1", server.port) as client:
        client.execute("ACL", "SETUSER", "monitor", "on", ">monitor-pw", "+@connection", "+info", "+llen",
                       "+config|get", "~*")
    result = run_module("redis_check", args_for(server, login_user="monitor", login_password="monitor-pw",
                                                queues=[{"name": "celery"}]))
    assert result["status"] == "ok", result["summary"]
    bad = run_module("redis_check", args_for(server, login_user="monitor", login_password="nope-pw"))
    assert by_name(bad)["redis.ping"]["message"] == "authentication failed: wrong password or user"
    assert "nope-pw" not in json.dumps(bad)
    with pytest.raises(RespAuthError):
        RespClient("127.0.0.1", server.port, username="ghost", password="x").connect()


def test_server_that_never_answers_times_out():
    with contextlib.closing(socket.socket()) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = run_module("redis_check", {"login_host": "127.0.0.1", "port": port, "connect_timeout": 0.5})
        assert time.monotonic() - started < 5
    check = by_name(result)["redis.ping"]
    assert check["status"] == "critical" and check["severity"] == "P0"
    assert check["message"] == "timed out after 0.5s talking to 127.0.0.1:%d" % port


def test_unknown_host_is_down():
    result = run_module("redis_check", {"login_host": "redis.runbook-ops.invalid", "port": free_port()})
    check = by_name(result)["redis.ping"]
    assert check["severity"] == "P0" and check["message"].startswith("unknown host redis.runbook-ops.invalid")


def test_memory_threshold_and_limit_option(own_redis, redis_server):
    result = run_module("redis_check", args_for(redis_server, checks=["memory"], memory_warning=0.5,
                                                memory_critical=50))
    check = by_name(result)["redis.memory"]
    assert check["status"] == "warning" and check["threshold"] == {"warning": 0.5, "critical": 50.0}
    server = own_redis()
    with RespClient("127.0.0.1", server.port) as client:
        client.execute("CONFIG", "SET", "maxmemory", "0")
    unlimited = run_module("redis_check", args_for(server, checks=["memory"]))
    assert by_name(unlimited)["redis.memory"]["status"] == "ok"
    assert "no maxmemory set" in by_name(unlimited)["redis.memory"]["message"]
    limited = run_module("redis_check", args_for(server, checks=["memory"], memory_limit_bytes=1024 * 1024))
    check = by_name(limited)["redis.memory"]
    assert check["status"] == "critical" and "of memory_limit_bytes 1.0 MiB" in check["message"]


def test_low_hit_rate_and_evictions(own_redis):
    server = own_redis()
    with RespClient("127.0.0.1", server.port) as client:
        client.execute("SET", "present", "1")
        for _i in range(3):
            client.execute("GET", "present")
        for i in range(7):
            client.execute("GET", "missing-%d" % i)
    result = run_module("redis_check", args_for(server, checks=["hit_rate", "evictions"], hit_rate_min_lookups=10,
                                                evicted_keys_warning=0))
    check = by_name(result)["redis.hit_rate"]
    assert check["status"] == "warning" and check["value"] == 0.3
    assert check["message"] == "keyspace hit rate at 0.3 (warning < 0.7) (3 hits, 7 misses)"
    assert by_name(result)["redis.evictions"]["status"] == "ok"
    assert result["metrics"]["redis_keyspace_hit_ratio"] == 0.3
    not_judged = run_module("redis_check", args_for(server, checks=["hit_rate"]))
    assert by_name(not_judged)["redis.hit_rate"]["status"] == "ok"


def test_evictions_above_the_option_warn(own_redis):
    server = own_redis()
    with RespClient("127.0.0.1", server.port) as client:
        client.execute("CONFIG", "SET", "maxmemory", str(2 * 1024 * 1024))
        blob = "x" * 10000
        for i in range(600):  # about 6 MB into a 2 MB cache with allkeys-lru
            client.execute("SET", "cache:%d" % i, blob)
        evicted = client.info("stats")["evicted_keys"]
    assert evicted > 0
    result = run_module("redis_check", args_for(server, checks=["evictions"], evicted_keys_warning=0))
    check = by_name(result)["redis.evictions"]
    assert check["status"] == "warning" and check["value"] >= evicted
    assert "keys evicted since start, more than 0 (policy allkeys-lru)" in check["message"]
    assert result["metrics"]["redis_evicted_keys_total"] == check["value"]


@pytest.fixture()
def tls_redis(tmp_path):
    """redis-server listening with TLS only, with a certificate from a test CA."""
    ca = make_ca(tmp_path)
    leaf = make_cert(tmp_path, "redis", "redis.runbook.test", days=30, ca=ca, sans=["localhost", "127.0.0.1"])
    port = free_port()
    server = Redis(tmp_path, port=port)  # only to stop it by its pid file
    subprocess.run([shutil.which("redis-server"), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                    "--tls-cert-file", str(leaf.cert), "--tls-key-file", str(leaf.key),
                    "--tls-ca-cert-file", str(ca.cert), "--tls-auth-clients", "no", "--requirepass", "tls-secret",
                    "--save", "", "--appendonly", "no", "--daemonize", "yes", "--pidfile", str(server.pidfile),
                    "--dir", str(tmp_path), "--logfile", str(tmp_path / "redis-tls.log")], check=True)
    try:
        wait_port(port)
        yield {"port": port, "ca": str(ca.cert)}
    finally:
        server.stop()


def test_tls_with_ca_verification(tls_redis):
    base = {"login_host": "127.0.0.1", "port": tls_redis["port"], "login_password": "tls-secret", "tls": True}
    good = run_module("redis_check", dict(base, ca_path=tls_redis["ca"]))
    assert good["status"] == "ok", good["summary"]
    untrusted = run_module("redis_check", base)
    check = by_name(untrusted)["redis.ping"]
    assert check["severity"] == "P0" and check["message"].startswith("TLS certificate verification failed")
    unverified = run_module("redis_check", dict(base, validate_certs=False))
    assert unverified["status"] == "ok"
    plain = run_module("redis_check", dict(base, tls=False, connect_timeout=2))
    assert by_name(plain)["redis.ping"]["severity"] == "P0"
    assert by_name(plain)["redis.ping"]["message"] in (
        "127.0.0.1:%d closed the connection" % tls_redis["port"], "connection reset by 127.0.0.1:%d" % tls_redis["port"])
    assert "tls-secret" not in json.dumps([good, untrusted, unverified, plain])
