# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ranges and orderings of option values, declared once and checked in one message style.

An argument spec declares types and the rules between options; what it cannot declare
(a number's range, that warning comes before critical, a list given but empty) is
declared here, beside the spec, as a list of rules::

    RULES = [
        validation.at_least("connect_timeout", 0, inclusive=False),
        validation.percentage("memory_warning", "memory_critical"),
        validation.ordered("memory_warning", "memory_critical"),
        validation.http_status("endpoints.status_codes"),
    ]
    validation.validate(module, RULES)

A dotted name reaches into a list of dicts (``endpoints.timeout`` is every endpoint's
``timeout``) or a dict (``http_gate.timeout``); an option that is absent or ``None`` is
skipped. ``validate`` also applies, to every ``int`` and ``float`` option of the module's
argument spec, the rules no option of this collection may break: a finite number, not
negative, at most ``MAX_NUMBER``, and for a duration (a name with ``timeout``,
``seconds``, ``interval``, ``backoff`` or ``sleep``) at most ``MAX_SECONDS``; and to every
string option: no NUL character.

Every message starts with the option's name: ``<option> must be ..., got <value>``.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import math
import re
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence, Tuple

# The largest integer a float holds exactly: beyond it, sizes and counts lose meaning.
MAX_NUMBER = 2 ** 53
# One year: a longer wait is a mistake, and libraries reject waits beyond time_t.
MAX_SECONDS = 366 * 24 * 3600
DURATION_WORDS = ("timeout", "seconds", "interval", "backoff", "sleep")

Rule = Callable[[Mapping[str, Any]], Optional[str]]


def values(params: Mapping[str, Any], option: str) -> Iterator[Tuple[str, Any, Mapping[str, Any]]]:
    """Each ``(display name, value, the dict holding it)`` of a dotted option that is set."""
    head, _dot, rest = option.partition(".")
    value = params.get(head) if isinstance(params, Mapping) else None
    if value is None:
        return
    if not rest:
        yield head, value, params
        return
    if isinstance(value, Mapping):
        for name, inner, holder in values(value, rest):
            yield "%s.%s" % (head, name), inner, holder
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, Mapping):
                for name, inner, holder in values(item, rest):
                    yield "%s[%d].%s" % (head, index, name), inner, holder


def is_number(value: Any) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number_problem(name: str, value: Any) -> Optional[str]:
    """The message for a number that is not finite or is beyond ``MAX_NUMBER``."""
    if isinstance(value, float) and not math.isfinite(value):
        return "%s must be a finite number, got %s" % (name, value)
    if abs(value) > MAX_NUMBER:
        return "%s must be at most %d, got %s" % (name, MAX_NUMBER, shorten(value))
    return None


def shorten(value: Any) -> str:
    """A value for a message, cut short when huge."""
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number_rule(option: str, judge: Callable[[str, float], Optional[str]]) -> Rule:
    """The rule that applies ``judge(name, value)`` to every number of ``option``, after the finite
    and ``MAX_NUMBER`` check every number gets."""
    def rule(params: Mapping[str, Any]) -> Optional[str]:
        for name, value, _holder in values(params, option):
            if not is_number(value):
                continue
            problem = number_problem(name, value) or judge(name, value)
            if problem:
                return problem
        return None
    return rule


def bound(option: str, limit: float, above: bool, inclusive: bool = True) -> Rule:
    """The rule that every value of ``option`` is at least (``above``) or at most ``limit``."""
    if above:
        words = "at least" if inclusive else "more than"
    else:
        words = "at most" if inclusive else "less than"

    def judge(name: str, value: float) -> Optional[str]:
        if above:
            good = value >= limit if inclusive else value > limit
        else:
            good = value <= limit if inclusive else value < limit
        return None if good else "%s must be %s %s, got %s" % (name, words, limit, shorten(value))
    return number_rule(option, judge)


def at_least(option: str, limit: float, inclusive: bool = True) -> Rule:
    """``option`` >= ``limit`` (> when not ``inclusive``)."""
    return bound(option, limit, above=True, inclusive=inclusive)


def at_most(option: str, limit: float, inclusive: bool = True) -> Rule:
    """``option`` <= ``limit`` (< when not ``inclusive``)."""
    return bound(option, limit, above=False, inclusive=inclusive)


def between(option: str, low: float, high: float, what: str = "") -> Rule:
    """``low`` <= ``option`` <= ``high``; ``what`` names the kind of value in the message
    (``is a percentage between 0 and 100``)."""
    verb = "is %s" % what if what else "must be"

    def judge(name: str, value: float) -> Optional[str]:
        if low <= value <= high:
            return None
        return "%s %s between %s and %s, got %s" % (name, verb, low, high, shorten(value))
    return number_rule(option, judge)


def percentage(*options: str) -> List[Rule]:
    """Each of ``options`` is a percentage: 0 to 100."""
    return [between(option, 0, 100, "a percentage") for option in options]


def ratio(*options: str) -> List[Rule]:
    """Each of ``options`` is a ratio: 0 to 1."""
    return [between(option, 0, 1, "a ratio") for option in options]


def port(option: str) -> Rule:
    """A TCP port: 1 to 65535."""
    return between(option, 1, 65535)


def http_status(option: str) -> Rule:
    """Every element of the list ``option`` is an HTTP status code, 100 to 599."""
    def rule(params: Mapping[str, Any]) -> Optional[str]:
        for name, codes, _holder in values(params, option):
            for code in codes if isinstance(codes, list) else [codes]:
                if not is_number(code) or not 100 <= code <= 599:
                    return "%s must hold HTTP status codes between 100 and 599, got %s" % (name, shorten(code))
        return None
    return rule


def ordered(warning: str, critical: str, high_is_bad: bool = True) -> Rule:
    """``warning`` is reached before ``critical``: warning <= critical when a high value is
    bad (usage, latency), warning >= critical when a low value is bad (days left, hit rate).
    Both options sit in the same dict: ``endpoints.latency_warning`` and
    ``endpoints.latency_critical`` are compared endpoint by endpoint."""
    parent, _dot, warning_leaf = warning.rpartition(".")
    critical_leaf = critical.rpartition(".")[2]

    def rule(params: Mapping[str, Any]) -> Optional[str]:
        holders = [("", params)] if not parent else [
            (name.rpartition(".")[0] + "." if "." in name else "", holder)
            for name, _value, holder in values(params, parent + "." + warning_leaf)]
        for prefix, holder in holders:
            low, high = holder.get(warning_leaf), holder.get(critical_leaf)
            if not (is_number(low) and is_number(high)):
                continue
            if high_is_bad and low > high:
                return "%s%s must be at most %s%s (%s), got %s" % (
                    prefix, warning_leaf, prefix, critical_leaf, high, low)
            if not high_is_bad and low < high:
                return "%s%s must be at least %s%s (%s), got %s" % (
                    prefix, warning_leaf, prefix, critical_leaf, high, low)
        return None
    return rule


def not_empty(option: str) -> Rule:
    """``option``, when given, is not empty (a list, a string, a path)."""
    def rule(params: Mapping[str, Any]) -> Optional[str]:
        for name, value, _holder in values(params, option):
            if isinstance(value, str) and not value.strip() or isinstance(value, (list, dict)) and not value:
                return "%s must not be empty" % name
        return None
    return rule


def matches(option: str, pattern: str, what: str) -> Rule:
    """Every value of ``option`` matches the regular expression ``pattern`` (``what`` it is)."""
    compiled = re.compile(pattern)

    def rule(params: Mapping[str, Any]) -> Optional[str]:
        for name, value, _holder in values(params, option):
            if isinstance(value, str) and not compiled.fullmatch(value):
                return "%s must be %s, got %r" % (name, what, shorten(value))
        return None
    return rule


def hostname(option: str) -> Rule:
    """Every value of ``option`` is a host name whose labels are 1 to 63 characters (253 in
    all), or an IP address; what the IDNA codec would refuse is refused here with a message."""
    def rule(params: Mapping[str, Any]) -> Optional[str]:
        for name, value, _holder in values(params, option):
            if not isinstance(value, str) or ":" in value:
                continue
            labels = value[:-1].split(".") if value.endswith(".") else value.split(".")
            if len(value) > 253 or any(not 0 < len(label) <= 63 for label in labels):
                return "%s must be a host name of labels of 1 to 63 characters, got %r" % (name, shorten(value))
            if any(char in value for char in "/\\ \t@"):
                return "%s must be a host name, got %r" % (name, shorten(value))
        return None
    return rule


def no_nul(option: str) -> Rule:
    """No value of ``option`` (a string or a list of strings) holds a NUL character."""
    def rule(params: Mapping[str, Any]) -> Optional[str]:
        for name, value, _holder in values(params, option):
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and "\x00" in item:
                    return "%s must not contain a NUL character" % name
        return None
    return rule


def typed_options(argument_spec: Mapping[str, Any], kinds: Sequence[str], prefix: str = "") -> Iterator[str]:
    """The dotted names of every option of an argument spec whose type (or, for a list,
    whose elements' type) is one of ``kinds``."""
    for name, spec in argument_spec.items():
        kind = spec.get("type", "str")
        if kind in kinds or kind == "list" and spec.get("elements", "str") in kinds and not spec.get("options"):
            yield prefix + name
        if spec.get("options"):
            yield from typed_options(spec["options"], kinds, prefix + name + ".")


def numeric_options(argument_spec: Mapping[str, Any]) -> Iterator[str]:
    """The dotted names of every ``int`` and ``float`` option of an argument spec."""
    yield from typed_options(argument_spec, ("int", "float"))


def default_rules(argument_spec: Mapping[str, Any]) -> List[Rule]:
    """What no option of this collection may be: a number not finite, negative, beyond
    ``MAX_NUMBER``, or a duration beyond ``MAX_SECONDS``; a string with a NUL character."""
    rules: List[Rule] = [no_nul(option) for option in typed_options(argument_spec, ("str", "path", "raw"))]
    for option in numeric_options(argument_spec):
        rules.append(at_least(option, 0))
        leaf = option.rpartition(".")[2]
        if any(word in leaf for word in DURATION_WORDS):
            rules.append(at_most(option, MAX_SECONDS))
    return rules


def flatten(rules: Sequence[Any]) -> Iterator[Rule]:
    """Rules, with the lists some helpers return opened."""
    for rule in rules:
        if isinstance(rule, (list, tuple)):
            yield from flatten(rule)
        else:
            yield rule


def check(params: Mapping[str, Any], rules: Sequence[Any], argument_spec: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """The first problem: the declared ``rules`` first, then the defaults of ``argument_spec``."""
    declared = list(flatten(rules))
    defaults = default_rules(argument_spec) if argument_spec else []
    for rule in declared + defaults:
        problem = rule(params)
        if problem:
            return problem
    return None


def validate(module: Any, rules: Sequence[Any] = ()) -> None:
    """Fail the task with the first problem of ``module.params``, naming the option."""
    problem = check(module.params, rules, getattr(module, "argument_spec", None))
    if problem:
        module.fail_json(msg=problem)
