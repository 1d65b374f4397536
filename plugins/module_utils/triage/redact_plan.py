# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redaction of secrets in the text a triage collects, before anything is written.

Pure: ``Redactor(rules, literals)`` holds compiled rules; ``redact(text)`` returns the text with
every secret replaced by ``[REDACTED]`` (the key or scheme that names it is kept, so a reader
still sees *that* a password was there) and counts the replacements per rule. Nothing here
reads a file or a clock.

The default rules (``DEFAULT_RULES``) cover:

- private key blocks (``-----BEGIN ... PRIVATE KEY-----`` to its ``END`` line);
- ``Authorization:`` / ``Proxy-Authorization:`` header values, and ``Bearer``/``Basic`` credentials;
- connection strings with credentials (``scheme://user:password@host``: the password);
- AWS access key IDs (``AKIA...``, ``ASIA...``) and secret keys given as ``aws_secret_access_key``;
- well-known token shapes: JSON Web Tokens, GitHub (``ghp_``...), Slack (``xox?-``), OpenAI style
  ``sk-`` keys, Stripe live keys;
- ``key=value``, ``key: value`` and ``"key": "value"`` where the key names a secret (password,
  passwd, pwd, secret, token, api key, access key, private key, credentials, auth, session id,
  cookie), in any case and with any prefix (``DB_PASSWORD=``, ``"apiKey":``, ``x-api-key:``);
- SQL ``PASSWORD '...'`` (``CREATE ROLE ... PASSWORD 'x'``).

A rule is ``{"name": ..., "regex": ..., "group": n}``: the ``group`` of each match (0, the whole
match, by default) is replaced. Extra rules and literal strings (the connection passwords the
triage was given) are added by the caller; ``redact_env`` keeps the values of a container's
environment only for names on an allow list.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import fnmatch
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

MASK = "[REDACTED]"

# Words that make a key a secret. Matched at the END of the key (DB_PASSWORD, apiKey,
# x-api-key, client_secret), so that max_tokens, password_reset_url or tokenizer stay.
_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|secret|token|apikey|"
    r"(?:api|access|private|secret|signing|encryption|master|license)[_-]?key(?:[_-]?(?:id|base))?|"
    r"credentials?|auth|session[_-]?id|cookie|signature|dsn"
)
_KEY = r"(?:[A-Za-z0-9_.-]*?[_.-])?(?:" + _SECRET_WORDS + r")"
# A value: quoted ('...' or "..."), else a run of characters up to a separator.
_VALUE = r"(?:\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|[^\s\"',;&}\])]+)"

DEFAULT_RULES: List[Dict[str, Any]] = [
    {"name": "private_key",
     "regex": r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
              r"(?:[\s\S]{0,65536}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[^\"\n]*)"},
    {"name": "authorization_header", "triggers": ["authorization"],
     "regex": r"(?i)\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?((?:(?:bearer|basic|token|digest|negotiate|aws4-hmac-sha256)\s+)?"
              r"[^\s\"',;]+(?:[ \t]+[^\s\"',;]+)*)", "group": 1},
    {"name": "bearer", "triggers": ["bearer", "basic"], "regex": r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/=-]{8,})", "group": 1},
    {"name": "connection_string", "triggers": ["://"],
     "regex": r"(?i)\b[a-z][a-z0-9+.-]{1,30}://[^\s:/@\"']*:([^\s@/\"']+)@", "group": 1},
    {"name": "aws_access_key_id", "triggers": ["akia", "asia", "aida", "aroa", "anpa", "anva", "agpa"],
     "regex": r"\b(?:AKIA|ASIA|AIDA|AROA|ANPA|ANVA|AGPA)[A-Z0-9]{16}\b"},
    {"name": "aws_secret_access_key", "triggers": ["secret"],
     "regex": r"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{20,})", "group": 1},
    {"name": "jwt", "triggers": ["eyj"], "regex": r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"},
    {"name": "github_token", "triggers": ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
     "regex": r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b"},
    {"name": "slack_token", "triggers": ["xox"], "regex": r"\bxox[abposr]-[A-Za-z0-9-]{10,}"},
    {"name": "api_key_prefixed", "triggers": ["sk_", "rk_", "pk_", "sk-"],
     "regex": r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}|\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}"},
    {"name": "sql_password", "triggers": ["password"], "regex": r"(?i)\bpassword\s+('(?:[^']|'')*')", "group": 1},
    {"name": "secret_key_value", "triggers": ["pass", "pwd", "secret", "token", "key", "credential", "auth", "session", "cookie", "signature", "dsn"],
     "regex": r"(?i)(?<![A-Za-z0-9])[\"']?" + _KEY + r"[\"']?(?![A-Za-z0-9])\s*(?:=>|=|:)\s*(" + _VALUE + ")", "group": 1},
]

# Container environment variables whose values are kept; every other value is masked.
DEFAULT_ENV_KEEP = ["PATH", "HOME", "HOSTNAME", "LANG", "LC_*", "TZ", "TERM", "PYTHON*", "DEBUG",
                    "*_MODE", "*_LEVEL", "*_ENV", "*_VERSION", "*_PORT", "*_HOST", "*_THRESHOLD",
                    "*_LIMIT", "*_TIMEOUT", "*_WORKERS", "ENABLE_*", "CACHE_ONLY*", "FALLBACK*"]


class RedactionRuleError(ValueError):
    """A rule that does not compile, or whose group does not exist; the message names it."""


def _compile(rule: Mapping[str, Any]) -> Tuple[str, Any, int, Tuple[str, ...]]:
    name = str(rule.get("name") or "custom")
    try:
        pattern = re.compile(str(rule["regex"]))
    except (KeyError, re.error) as exc:
        raise RedactionRuleError("redaction rule %s: invalid regex: %s" % (name, exc))
    group = int(rule.get("group") or 0)
    if group > pattern.groups:
        raise RedactionRuleError("redaction rule %s: group %d but the regex has %d" % (name, group, pattern.groups))
    return name, pattern, group, tuple(str(t).lower() for t in rule.get("triggers") or ())


def line_spans(text: str, lowered: str, triggers: Iterable[str]) -> List[Tuple[int, int]]:
    """The ``(start, end)`` of the runs of lines of ``text`` where a trigger word occurs
    (found in ``lowered``, the text in lower case, of the same length), merged when adjacent."""
    spans = []
    for word in triggers:
        pos = lowered.find(word)
        while pos >= 0:
            start = text.rfind("\n", 0, pos) + 1
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            spans.append((start, end))
            pos = lowered.find(word, end)
    merged: List[Tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class Redactor:
    """Compiled rules plus literal secrets; ``redact(text)`` masks, ``counts`` tells how often.

    A rule with ``triggers`` (lower-case words, one of which any match contains) runs only on the
    lines holding one of them, found with plain substring search: a log of a million harmless
    lines costs one pass per trigger word, not one regular expression pass per rule.
    """

    def __init__(self, rules: Optional[Sequence[Mapping[str, Any]]] = None, literals: Iterable[Optional[str]] = (),
                 defaults: bool = True):
        chosen = list(DEFAULT_RULES if defaults else []) + list(rules or [])
        self.rules = [_compile(rule) for rule in chosen]
        # Longest first, so that a secret containing another is masked whole.
        self.literals = sorted({str(x) for x in literals if x and len(str(x)) >= 4}, key=len, reverse=True)
        self.counts: Dict[str, int] = {}

    def _count(self, name: str, number: int) -> None:
        if number:
            self.counts[name] = self.counts.get(name, 0) + number

    def redact(self, text: str) -> str:
        """``text`` with every secret masked."""
        for literal in self.literals:
            if literal in text:
                self._count("literal", text.count(literal))
                text = text.replace(literal, MASK)
        index = 0
        while index < len(self.rules):
            if not self.rules[index][3]:
                name, pattern, group, _triggers = self.rules[index]
                text = self._apply(name, pattern, group, text)
                index += 1
                continue
            batch = []
            while index < len(self.rules) and self.rules[index][3]:
                batch.append(self.rules[index])
                index += 1
            text = self._apply_triggered(batch, text)
        return text

    def _apply_triggered(self, batch: Sequence[Tuple[str, Any, int, Tuple[str, ...]]], text: str) -> str:
        lowered = text.lower()
        if len(lowered) != len(text):  # a character whose lower case is longer: no shortcut
            spans = [(0, len(text))]
        else:
            spans = line_spans(text, lowered, {t for rule in batch for t in rule[3]})
        parts = []
        last = 0
        for start, end in spans:
            chunk = text[start:end]
            low = chunk.lower()
            for name, pattern, group, triggers in batch:
                if any(t in low for t in triggers):
                    chunk = self._apply(name, pattern, group, chunk)
                    low = chunk.lower()
            parts.append(text[last:start])
            parts.append(chunk)
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def _apply(self, name: str, pattern: Any, group: int, text: str) -> str:
        number = 0

        def mask(match: Any) -> str:
            nonlocal number
            start, end = match.span(group)
            if start < 0 or MASK[:-1] in match.group(group):
                return match.group(0)
            number += 1
            value = match.group(group)
            quote = value[0] if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) > 1 else ""
            base = match.start(0)
            whole = match.group(0)
            return whole[: start - base] + quote + MASK + quote + whole[end - base:]

        out = pattern.sub(mask, text)
        self._count(name, number)
        return out

    def redact_bytes(self, data: bytes) -> bytes:
        """The same for bytes, decoded as UTF-8 (invalid bytes replaced)."""
        return self.redact(data.decode("utf-8", "replace")).encode("utf-8")


def keep_env(name: str, keep: Sequence[str]) -> bool:
    """Whether a container variable's value is kept (its name matches an allow-list pattern)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in keep)


def redact_env(env: Optional[Sequence[str]], keep: Sequence[str] = tuple(DEFAULT_ENV_KEEP)) -> List[str]:
    """``NAME=value`` entries with every value masked unless ``NAME`` is on the allow list."""
    out = []
    for entry in env or []:
        name, sep, _value = str(entry).partition("=")
        out.append(entry if not sep or keep_env(name, keep) else "%s=%s" % (name, MASK))
    return out
