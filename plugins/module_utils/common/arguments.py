# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module's AnsibleModule is built here: an option of the wrong shape fails naming it.

ansible-core, given a value it cannot turn into a dict or a list of dicts (a string where a
list of dicts is expected, a number among the dicts), fails while it collects the ``no_log``
values, before it has them: its message need not name the option, and a password or token
given beside it can appear in the ``invocation`` of the failed result. So the raw parameters
are checked first, with ansible-core's own conversions (``check_type_dict``,
``check_type_list``: a ``key=value`` string is still a dict, as ansible-core allows). An
option of the wrong shape is handed to AnsibleModule as ``raw``, so that ansible-core
validates everything else and collects every secret; the secrets of the options inside it
are collected here; then the task fails with one message per wrong value, the option first::

    endpoints must be a list of dicts, got str
    logs[0].patterns[1] must be a dict, got int

A module's ``main()``::

    module = arguments.new_module(AnsibleModule, supports_check_mode=True, **argspec.redis_check_argspec())
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import copy
from typing import Any, Dict, Iterable, List, Mapping, Set, Tuple

from ansible.module_utils import basic
from ansible.module_utils.common.validation import check_type_dict, check_type_list

# What a relaxed option keeps of its spec: how it is named and whether it is a secret.
KEPT_KEYS = ("aliases", "no_log", "required", "fallback")
MAX_MESSAGES = 5


def type_name(value: Any) -> str:
    """The user's word for a value's type (YAML's ``null`` for None)."""
    return "null" if value is None else type(value).__name__


def lookup(params: Mapping[str, Any], name: str, spec: Mapping[str, Any]) -> Tuple[bool, Any]:
    """``(given, value)`` of option ``name`` in ``params``, under its name or an alias."""
    for key in (name,) + tuple(spec.get("aliases") or ()):
        if key in params:
            return True, params[key]
    return False, None


def as_dict(value: Any) -> Any:
    """``value`` as ansible-core would turn it into a dict, or None when it cannot."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        return None
    try:
        return check_type_dict(value)
    except (TypeError, ValueError):
        return None


def shape_problems(argument_spec: Mapping[str, Any], params: Mapping[str, Any],
                   prefix: str = "") -> List[Tuple[str, str]]:
    """``[(top-level option, message)]`` for every value that is not the dict or list its spec
    declares, nested options included (``prefix`` is the path of the dict being walked)."""
    found: List[Tuple[str, str]] = []
    for name, spec in argument_spec.items():
        given, value = lookup(params, name, spec)
        if not given or value is None:
            continue
        found.extend((name, message) for message in option_problems(prefix + name, spec, value))
    return found


def option_problems(label: str, spec: Mapping[str, Any], value: Any) -> List[str]:
    """The messages for one option's value (empty when ansible-core can take it)."""
    kind = spec.get("type")
    suboptions = spec.get("options")
    if kind == "dict":
        converted = as_dict(value)
        if converted is None:
            return ["%s must be a dict, got %s" % (label, type_name(value))]
        return [m for _top, m in shape_problems(suboptions, converted, label + ".")] if suboptions else []
    if kind != "list":
        return []
    try:
        items = check_type_list(value)
    except (TypeError, ValueError):
        items = None
    if items is None:
        what = "a list of dicts" if spec.get("elements") == "dict" else "a list"
        return ["%s must be %s, got %s" % (label, what, type_name(value))]
    if spec.get("elements") != "dict":
        return []
    messages: List[str] = []
    for index, item in enumerate(items):
        converted = as_dict(item)
        if converted is None:
            if not isinstance(value, list):
                # A string or a number made into a list: the option itself has the wrong type.
                return ["%s must be a list of dicts, got %s" % (label, type_name(value))]
            messages.append("%s[%d] must be a dict, got %s" % (label, index, type_name(item)))
        elif suboptions:
            messages.extend(m for _top, m in shape_problems(suboptions, converted, "%s[%d]." % (label, index)))
    return messages


def relaxed(argument_spec: Mapping[str, Any], names: Iterable[str]) -> Dict[str, Any]:
    """A copy of ``argument_spec`` with the options ``names`` taking any value (``raw``)."""
    spec = dict(argument_spec)
    for name in names:
        spec[name] = dict({key: copy.deepcopy(argument_spec[name][key])
                           for key in KEPT_KEYS if key in argument_spec[name]}, type="raw")
    return spec


def leaves(value: Any) -> Iterable[str]:
    """The strings and numbers in ``value`` (as ansible-core hides a no_log value)."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (str, int, float)):
        if value != "":
            yield str(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from leaves(item)


def secrets(spec: Mapping[str, Any], value: Any) -> Set[str]:
    """The no_log values inside ``value`` of an option with ``spec``, in whatever shape it came."""
    found: Set[str] = set()
    if value is None:
        return found
    if spec.get("no_log"):
        found.update(leaves(value))
    suboptions = spec.get("options")
    if not suboptions:
        return found
    for item in value if isinstance(value, list) else [value]:
        converted = as_dict(item)
        if converted is None:
            continue
        for name, sub in suboptions.items():
            given, inner = lookup(converted, name, sub)
            if given:
                found |= secrets(sub, inner)
    return found


def new_module(module_class, argument_spec: Dict[str, Any], **kwargs: Any):
    """``module_class(argument_spec=..., **kwargs)`` (AnsibleModule); a value of the wrong shape
    fails the task naming its option, with every secret hidden from the failed result."""
    # basic._load_params() is how ansible-core lets a module read its raw parameters (ansible-test's
    # argument spec introspection replaces it with a function that returns nothing).
    params = basic._load_params()  # pylint: disable=protected-access
    if not isinstance(params, Mapping):
        params = {}
    problems = shape_problems(argument_spec, params)
    if not problems:
        return module_class(argument_spec=argument_spec, **kwargs)
    names = sorted({name for name, _message in problems})
    hidden: Set[str] = set()
    for name in names:
        hidden |= secrets(argument_spec[name], lookup(params, name, argument_spec[name])[1])

    messages = [message for _name, message in problems]
    more = len(messages) - MAX_MESSAGES
    shape_message = "; ".join(messages[:MAX_MESSAGES]) + (" (and %d more)" % more if more > 0 else "")

    class ShapeCheckedModule(module_class):  # pylint: disable=too-few-public-methods
        """Hides the secrets of the relaxed options from every failure, ansible-core's too, and
        names the options of the wrong shape first, even when ansible-core fails on another rule."""

        def fail_json(self, msg, **fail_kwargs):  # pylint: disable=arguments-differ
            self.no_log_values.update(hidden)
            if not msg.startswith(shape_message):
                msg = "%s; %s" % (shape_message, msg)
            super().fail_json(msg, **fail_kwargs)

    module = ShapeCheckedModule(argument_spec=relaxed(argument_spec, names), **kwargs)
    module.fail_json(msg=shape_message)
    return module
