"""Redaction against a corpus of lines that must be redacted (the secret gone, the key kept) and
lines that must stay exactly as they are."""

from __future__ import annotations

import json

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.triage import redact_plan
from ansible_collections.runbook.ops.plugins.module_utils.triage.redact_plan import MASK, Redactor

# (line, the secret that must disappear, what must remain)
MUST = [
    ("DB_PASSWORD=s3cr3t-value", "s3cr3t-value", "DB_PASSWORD="),
    ("password: \"abc def ghi\"", "abc def ghi", "password:"),
    ("{\"apiKey\": \"AIzaSyD-1234567890abc\"}", "AIzaSyD-1234567890abc", "\"apiKey\""),
    ("x-api-key: abcd1234efgh", "abcd1234efgh", "x-api-key:"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk", "eyJhbGciOiJIUzI1NiJ9", "Authorization:"),
    ("curl -H \"Authorization: Basic dXNlcjpwYXNzd29yZA==\" http://x", "dXNlcjpwYXNzd29yZA==", "http://x"),
    ("proxy-authorization: Negotiate YIIabcdefgh", "YIIabcdefgh", "proxy-authorization"),
    ("GET /x HTTP/1.1 authorization=Token 0123456789abcdef", "0123456789abcdef", "GET /x"),
    ("connecting with Bearer abcdefgh12345678 now", "abcdefgh12345678", "connecting with Bearer"),
    ("DATABASE_URL postgres://app:pa55word@db:5432/app", "pa55word", "postgres://app:"),
    ("redis://:redispw123@localhost:6379/0", "redispw123", "@localhost:6379/0"),
    ("amqp://guest:guest-secret@rabbit//", "guest-secret", "amqp://guest:"),
    ("key id AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE", "key id"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key"),
    ("\"AWS_SECRET_ACCESS_KEY\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"", "wJalrXUtnFEMI", "AWS_SECRET_ACCESS_KEY"),
    ("ALTER ROLE app PASSWORD 'top''secret'", "top''secret", "ALTER ROLE app PASSWORD"),
    ("CREATE USER x WITH password 'hunter2hunter2'", "hunter2hunter2", "CREATE USER x"),
    ("push with ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "push with"),
    ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij", "slack"),
    ("OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz123", "sk-abcdefghijklmnopqrstuvwxyz123", "OPENAI_API_KEY="),
    ("using sk_live_abcdefghijklmnop1234", "sk_live_abcdefghijklmnop1234", "using"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.dBjftJeZ4CVPmB92K27uhbUJU1p1r", "dBjftJeZ4CVPmB92K27uhbUJU1p1r", "jwt"),
    ("session_id=abc123def456", "abc123def456", "session_id="),
    ("secret_key_base: 1234abcd5678efgh", "1234abcd5678efgh", "secret_key_base:"),
    ("client_secret => 'xyzzy-plugh-secret'", "xyzzy-plugh-secret", "client_secret"),
    ("SIGNING_KEY=abcdef0123456789", "abcdef0123456789", "SIGNING_KEY="),
    ("token=abc.def.ghi&user=bob", "abc.def.ghi", "&user=bob"),
    ("Cookie: sessionid=Zm9vYmFyYmF6", "Zm9vYmFyYmF6", "Cookie:"),
    ("ERROR login failed for url=https://u:p4ssw0rd-x@api.example.com/v1", "p4ssw0rd-x", "ERROR login failed"),
]

MUST_NOT = [
    "max_tokens=100",
    "password_reset_url=/reset",
    "tokenizer: bpe",
    "GET /api/v1/health 200 12ms",
    "author: John Smith",
    "oauth flow completed for user 42",
    "key: value",
    "http://host:8080/path@x",
    "passes: 3 failed: 0",
    "ERROR celery task failed: connection refused by 127.0.0.1:6379",
    "2026-12-02T07:41:03Z INFO worker started pid=4242",
    "monkey=banana",
    "keyspace_hits:1234",
    "used_memory_human:1.02M",
    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'",
    "the token bucket refilled",
    "Authorization required",
    "https://example.com/docs/passwords.html",
    "LOG_LEVEL=info",
    "ENABLE_FALLBACK_MODE=true",
    "AKIA is a prefix used by AWS",
    "-----BEGIN CERTIFICATE-----",
]


@pytest.mark.parametrize("line,secret,kept", MUST, ids=[m[2][:30] for m in MUST])
def test_secrets_are_masked_and_their_key_kept(line, secret, kept):
    redactor = Redactor()
    out = redactor.redact(line)
    assert secret not in out
    assert kept in out
    assert MASK in out
    assert sum(redactor.counts.values()) >= 1


@pytest.mark.parametrize("line", MUST_NOT)
def test_harmless_lines_are_left_alone(line):
    redactor = Redactor()
    assert redactor.redact(line) == line
    assert redactor.counts == {}


def test_private_key_blocks_go_whole_even_across_lines():
    text = "before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQUJDREVGR0g=\n-----END OPENSSH PRIVATE KEY-----\nafter\n"
    out = Redactor().redact(text)
    assert out == "before\n%s\nafter\n" % MASK
    cut = Redactor().redact('{"k": "-----BEGIN RSA PRIVATE KEY-----\\nMIIEabc", "next": 1}')
    assert "MIIEabc" not in cut and json.loads(cut)["next"] == 1


def test_json_stays_json_after_redaction():
    data = {"password": "p1-secret", "nested": {"DB_PASSWORD": "p2-secret", "url": "postgres://a:p3-secret@h/db"},
            "env": ["API_TOKEN=p4-secret"], "header": "Authorization: Bearer p5-secret-value"}
    out = Redactor().redact(json.dumps(data, indent=2))
    parsed = json.loads(out)
    for n in range(1, 6):
        assert "p%d-secret" % n not in out
    assert parsed["nested"]["url"] == "postgres://a:%s@h/db" % MASK


def test_masking_twice_changes_nothing():
    once = Redactor().redact("token=abc123456 OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz123")
    assert Redactor().redact(once) == once
    assert "]]" not in once


def test_literals_and_custom_rules():
    redactor = Redactor(rules=[{"name": "ticket", "regex": r"TICKET-(\d+)", "group": 1}], literals=["hunter2-lit", None, "", "ab"])
    out = redactor.redact("user typed hunter2-lit in TICKET-4242; ab stays")
    assert out == "user typed %s in TICKET-%s; ab stays" % (MASK, MASK)
    assert redactor.counts == {"literal": 1, "ticket": 1}


def test_defaults_can_be_turned_off():
    assert Redactor(defaults=False).redact("password=abc") == "password=abc"


def test_bad_rules_are_refused_with_their_name():
    with pytest.raises(redact_plan.RedactionRuleError, match="rule broken"):
        Redactor(rules=[{"name": "broken", "regex": "("}])
    with pytest.raises(redact_plan.RedactionRuleError, match="group 2"):
        Redactor(rules=[{"name": "g", "regex": "(a)", "group": 2}])


def test_container_environment_values_masked_unless_allowed():
    env = ["PATH=/usr/bin", "API_TOKEN=abc", "WORKER_SETTING=opaque", "LOG_LEVEL=debug", "ENABLE_FALLBACK_MODE=true", "NOVALUE"]
    assert redact_plan.redact_env(env) == ["PATH=/usr/bin", "API_TOKEN=%s" % MASK, "WORKER_SETTING=%s" % MASK,
                                           "LOG_LEVEL=debug", "ENABLE_FALLBACK_MODE=true", "NOVALUE"]
    assert redact_plan.redact_env(env, ["*"]) == env
    assert redact_plan.redact_env(None) == []


def test_large_log_is_redacted_fast():
    import time
    line = "2026-12-02T07:41:03.123Z INFO request id=%d path=/api/v1/query status=200 took=12ms user=alice\n"
    text = "".join(line % i for i in range(100000)) + "password=late-secret\n"
    start = time.monotonic()
    out = Redactor().redact(text)
    assert time.monotonic() - start < 5
    assert "late-secret" not in out
