"""The RESP2 wire format, INFO parsing and error mapping of module_utils/redis/client.py."""

from __future__ import annotations

import socket
import ssl

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.redis.client import (
    Incomplete,
    RespAuthError,
    RespClient,
    RespConnectionError,
    RespProtocolError,
    RespReplyError,
    classify_socket_error,
    encode_command,
    keyspace,
    parse_info,
    parse_reply,
)


# --------------------------------------------------------------------------- #
# encode_command
# --------------------------------------------------------------------------- #

def test_encode_command_is_an_array_of_bulk_strings():
    assert encode_command("LLEN", "celery") == b"*2\r\n$4\r\nLLEN\r\n$6\r\ncelery\r\n"


def test_encode_command_counts_bytes_not_characters_and_takes_numbers():
    assert encode_command("SELECT", 3) == b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
    assert encode_command("GET", "k\u00e9") == b"*2\r\n$3\r\nGET\r\n$3\r\nk\xc3\xa9\r\n"
    assert encode_command(b"ECHO", b"a\r\nb") == b"*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n"


def test_encode_command_rejects_empty_and_odd_arguments():
    with pytest.raises(ValueError):
        encode_command()
    with pytest.raises(TypeError):
        encode_command("SET", True)
    with pytest.raises(TypeError):
        encode_command("SET", None)


# --------------------------------------------------------------------------- #
# parse_reply: every RESP2 type
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("data, expected", [
    (b"+OK\r\n", "OK"),
    (b"+PONG\r\n", "PONG"),
    (b":0\r\n", 0),
    (b":1500\r\n", 1500),
    (b":-3\r\n", -3),
    (b"$6\r\ncelery\r\n", b"celery"),
    (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"*0\r\n", []),
    (b"*2\r\n$9\r\nmaxmemory\r\n$8\r\n67108864\r\n", [b"maxmemory", b"67108864"]),
    (b"*3\r\n:1\r\n*2\r\n+a\r\n$-1\r\n$1\r\nz\r\n", [1, ["a", None], b"z"]),
])
def test_parse_reply_types(data, expected):
    value, used = parse_reply(data)
    assert value == expected
    assert used == len(data)


def test_bulk_strings_may_hold_crlf_and_binary():
    value, used = parse_reply(b"$5\r\na\r\n\x00\xff\r\n")
    assert value == b"a\r\n\x00\xff" and used == 11


def test_error_replies_are_returned_with_their_code():
    value, used = parse_reply(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
    assert isinstance(value, RespReplyError)
    assert value.code == "WRONGTYPE"
    assert value.message == "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert used == 68
    plain, _rest = parse_reply(b"-something odd\r\n")
    assert plain.code == "ERR" and plain.message == "something odd"


def test_errors_inside_arrays_stay_in_place():
    value, _rest = parse_reply(b"*2\r\n+OK\r\n-ERR no such key\r\n")
    assert value[0] == "OK"
    assert isinstance(value[1], RespReplyError) and value[1].message == "ERR no such key"


def test_replies_are_parsed_one_after_another():
    data = b"+OK\r\n:7\r\n$2\r\nhi\r\n"
    first, pos = parse_reply(data)
    second, pos = parse_reply(data, pos)
    third, pos = parse_reply(data, pos)
    assert (first, second, third, pos) == ("OK", 7, b"hi", len(data))


@pytest.mark.parametrize("data", [
    b"+OK\r\n",
    b"$6\r\ncelery\r\n",
    b"*3\r\n:1\r\n*2\r\n+a\r\n$-1\r\n$1\r\nz\r\n",
    b"-ERR x\r\n",
])
def test_every_truncation_is_incomplete(data):
    for cut in range(len(data)):
        with pytest.raises(Incomplete):
            parse_reply(data[:cut])


@pytest.mark.parametrize("data, needle", [
    (b"!5\r\nhello\r\n", "unexpected reply type"),
    (b":12a\r\n", "invalid integer"),
    (b"$abc\r\n", "invalid bulk length"),
    (b"$-5\r\n", "invalid bulk length"),
    (b"$2\r\nabcd\r\n", "not terminated by CRLF"),
    (b"*-2\r\n", "invalid array length"),
    (b"+" + b"x" * 70000, "longer than 64 KiB"),
])
def test_protocol_errors(data, needle):
    with pytest.raises(RespProtocolError, match=needle):
        parse_reply(data)


# --------------------------------------------------------------------------- #
# INFO
# --------------------------------------------------------------------------- #

INFO = (
    "# Server\r\n"
    "redis_version:7.0.15\r\n"
    "redis_mode:standalone\r\n"
    "uptime_in_seconds:3600\r\n"
    "\r\n"
    "# Clients\r\n"
    "connected_clients:12\r\n"
    "maxclients:10000\r\n"
    "\r\n"
    "# Memory\r\n"
    "used_memory:1048576\r\n"
    "used_memory_human:1.00M\r\n"
    "maxmemory:67108864\r\n"
    "maxmemory_policy:allkeys-lru\r\n"
    "mem_fragmentation_ratio:1.25\r\n"
    "\r\n"
    "# Stats\r\n"
    "keyspace_hits:700\r\n"
    "keyspace_misses:300\r\n"
    "evicted_keys:5\r\n"
    "\r\n"
    "# Commandstats\r\n"
    "cmdstat_get:calls=1000,usec=2000,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n"
    "\r\n"
    "# Keyspace\r\n"
    "db0:keys=3,expires=1,avg_ttl=5000\r\n"
    "db2:keys=10,expires=0,avg_ttl=0\r\n"
)


def test_parse_info_types_numbers_and_skips_headers():
    info = parse_info(INFO)
    assert info["redis_version"] == "7.0.15"
    assert info["uptime_in_seconds"] == 3600
    assert info["used_memory"] == 1048576 and isinstance(info["used_memory"], int)
    assert info["used_memory_human"] == "1.00M"
    assert info["mem_fragmentation_ratio"] == 1.25
    assert info["maxmemory_policy"] == "allkeys-lru"
    assert "# Server" not in info and "" not in info


def test_parse_info_splits_key_value_lists():
    info = parse_info(INFO.encode())
    assert info["cmdstat_get"] == {"calls": 1000, "usec": 2000, "usec_per_call": 2.0, "rejected_calls": 0,
                                   "failed_calls": 0}
    assert keyspace(info) == {"db0": {"keys": 3, "expires": 1, "avg_ttl": 5000},
                              "db2": {"keys": 10, "expires": 0, "avg_ttl": 0}}


def test_parse_info_keeps_values_with_colons():
    info = parse_info("executable:/usr/bin/redis-server\nconfig_file:\nrdb_last_bgsave_status:ok\nmaster_host:10.0.0.1\n"
                      "slave0:ip=10.0.0.2,port=6379,state=online,offset=1,lag=0\n")
    assert info["executable"] == "/usr/bin/redis-server"
    assert info["config_file"] == ""
    assert info["slave0"]["ip"] == "10.0.0.2" and info["slave0"]["lag"] == 0
    assert keyspace(info) == {}


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("exc, kind, text", [
    (ConnectionRefusedError(111, "Connection refused"), "refused", "connection refused by redis.local:6379"),
    (socket.gaierror(-2, "Name or service not known"), "dns", "unknown host redis.local: Name or service not known"),
    (socket.timeout("timed out"), "timeout", "timed out after 2.5s talking to redis.local:6379"),
    (ConnectionResetError(104, "Connection reset by peer"), "connection", "connection reset by redis.local:6379"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls", "TLS error with redis.local:6379"),
    (OSError(113, "No route to host"), "connection", "connection to redis.local:6379 failed: No route to host"),
])
def test_classify_socket_error(exc, kind, text):
    error = classify_socket_error(exc, "redis.local", 6379, 2.5)
    assert isinstance(error, RespConnectionError)
    assert error.kind == kind
    assert str(error).startswith(text)


def test_error_hierarchy_lets_callers_catch_one_base():
    from ansible_collections.runbook.ops.plugins.module_utils.redis.client import RespError

    for cls in (RespConnectionError, RespAuthError, RespProtocolError, RespReplyError):
        assert issubclass(cls, RespError)


def test_client_refuses_commands_before_connect():
    client = RespClient("127.0.0.1", 6379)
    with pytest.raises(RespConnectionError, match="not connected"):
        client.ping()


class _FakeSocket:
    """A socket stand-in that replays canned server bytes and records what was sent."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.sent = []

    def sendall(self, data):
        self.sent.append(data)

    def recv(self, size):
        return self.replies.pop(0) if self.replies else b""

    def close(self):
        pass


def _client_with(replies, password="s3cret-pw"):
    client = RespClient("127.0.0.1", 6379, password=password)
    client._sock = _FakeSocket(replies)  # pylint: disable=protected-access
    return client


def test_replies_split_across_reads_are_reassembled():
    client = _client_with([b"$11\r\nhel", b"lo wor", b"ld\r\n", b":4", b"2\r\n"])
    assert client.execute("GET", "k") == b"hello world"
    assert client.llen("q") == 42
    assert client._sock.sent[1] == encode_command("LLEN", "q")  # pylint: disable=protected-access


@pytest.mark.parametrize("reply, needle", [
    (b"-WRONGPASS invalid username-password pair or user is disabled.\r\n", "authentication failed: wrong password"),
    (b"-ERR invalid password\r\n", "authentication failed: wrong password"),
    (b"-ERR AUTH <password> called without any password configured for the default user.\r\n",
     "the server has no password configured"),
])
def test_auth_errors_are_clear_and_never_echo_the_password(reply, needle):
    client = _client_with([reply])
    with pytest.raises(RespAuthError) as info:
        client.auth("s3cret-pw")
    assert needle in str(info.value)
    assert "s3cret-pw" not in str(info.value)
    assert client._sock.sent == [encode_command("AUTH", "s3cret-pw")]  # pylint: disable=protected-access


def test_auth_with_acl_user_sends_both_and_names_the_user_part():
    client = _client_with([b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"])
    with pytest.raises(RespAuthError, match="wrong password or user"):
        client.auth("s3cret-pw", "monitor")
    assert client._sock.sent == [encode_command("AUTH", "monitor", "s3cret-pw")]  # pylint: disable=protected-access


def test_noauth_is_an_auth_error_and_other_errors_are_reply_errors():
    client = _client_with([b"-NOAUTH Authentication required.\r\n"])
    with pytest.raises(RespAuthError, match="authentication required"):
        client.ping()
    client = _client_with([b"-ERR unknown command 'CONFIG', with args beginning with: 'GET'\r\n"])
    with pytest.raises(RespReplyError) as info:
        client.config_get("maxmemory")
    assert info.value.code == "ERR"


def test_config_get_and_info_decode_replies():
    body = b"# Memory\r\nused_memory:1024\r\n"
    client = _client_with([b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n", b"$%d\r\n%s\r\n" % (len(body), body)])
    assert client.config_get("maxmemory") == {"maxmemory": "0"}
    assert client.info("memory") == {"used_memory": 1024}


def test_closed_connection_is_a_connection_error():
    client = _client_with([b"+PO"])
    with pytest.raises(RespConnectionError, match="closed the connection"):
        client.ping()
