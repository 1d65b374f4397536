"""Every module against bad option values: no traceback, a message naming the option, no secret.

The modules and their argument specs are discovered (every ``plugins/modules/*.py`` with a
``main()``), so a new module is swept without being listed here. Each module runs in-process
from a base of valid arguments that point at a closed loopback port (``BASE``; a module not
listed there gets required options made up from its spec), then one option at a time is
replaced by a bad value of its family:

- numbers: negative, infinite, not a number, too large for a float, beyond time_t;
- wrong types: a dict where a number or string is expected, a string where a list of dicts is;
- orderings: a ``*warning*`` option beyond its ``*critical*`` twin, both ways (one must fail);
- ranges: a percentage of 150, an HTTP status of 999, a required list given empty;
- hostile strings: format strings, NUL bytes, a very long and a non-ASCII value, a 64-character
  DNS label (these may succeed, but never with a traceback);
- missing libraries: every ``HAS_*`` flag of module_utils turned off.
"""

from __future__ import annotations

import atexit
import copy
import importlib
import io
import json
import math
import os
import shutil
import socket
import sys
import tempfile
from contextlib import redirect_stdout
from typing import Any, Dict, Iterator, List, Optional, Tuple
from unittest import mock

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

MODULES_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "modules")
PACKAGE = "ansible_collections.runbook.ops.plugins.modules."
SECRET = "Sweep-S3cret-d0-not-print"


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CLOSED = closed_port()
# Every path the modules get lives in a scratch tree, and they run with its deepest folder as
# their working directory, so that relative and ``../..`` values stay inside it too.
ROOT = tempfile.mkdtemp(prefix="runbook-sweep-")
atexit.register(shutil.rmtree, ROOT, True)  # also when every test here is deselected
WORK = os.path.join(ROOT, "a", "b", "c", "d", "e")
ABSENT = os.path.join(ROOT, "absent")
OUT = os.path.join(ROOT, "out")
PG = dict(login_host="127.0.0.1", port=CLOSED, connect_timeout=1)
DOCKER = dict(docker_host="tcp://127.0.0.1:%d" % CLOSED, timeout=1)
S3 = dict(bucket="sweep", endpoint_url="http://127.0.0.1:%d" % CLOSED, retries=1,
          s3_connect_timeout=0.5, s3_read_timeout=0.5, access_key="sweep", secret_key=SECRET)

# Valid arguments for each module; bad values replace one option at a time.
BASE: Dict[str, Dict[str, Any]] = {
    "backup_retention": dict(backup_dir=ABSENT),
    "backup_verify": dict(PG, backup_dir=ABSENT, login_password=SECRET),
    "container_check": dict(DOCKER, names=["sweep"]),
    "docker_rollout": dict(DOCKER, service="sweep", image="sweep:1", state="present"),
    "file_archive": dict(state="archived", paths=[ABSENT], backup_dir=OUT),
    "host_check": dict(),
    "http_check": dict(endpoints=[dict(name="api", url="http://127.0.0.1:%d/health" % CLOSED)], timeout=1,
                       bearer_token=SECRET),
    "k8s_check": dict(host="http://127.0.0.1:%d" % CLOSED, request_timeout=1, api_key=SECRET),
    "k8s_secret_rotate": dict(name="sweep", data=[dict(key="A", value=SECRET)], host="http://127.0.0.1:%d" % CLOSED,
                              request_timeout=1, api_key=SECRET),
    "k8s_rollout": dict(name="sweep", host="http://127.0.0.1:%d" % CLOSED, request_timeout=1, api_key=SECRET),
    "log_check": dict(logs=[dict(path=ABSENT + ".log")], patterns=[dict(name="err", regex="ERROR")]),
    "maintenance_mode": dict(state="on", path=os.path.join(ROOT, "www")),
    "pg_backup": dict(PG, backup_dir=ABSENT, login_password=SECRET),
    "pg_diagnostics": dict(PG, login_password=SECRET),
    "pg_maintenance": dict(PG, login_password=SECRET),
    "pg_restore": dict(PG, backup=ABSENT + ".dump", target="sweep", login_password=SECRET,
                       download_dir=os.path.join(ROOT, "download")),
    "pg_terminate": dict(PG, login_password=SECRET),
    "postgres_check": dict(PG, login_password=SECRET),
    "redis_check": dict(login_host="127.0.0.1", port=CLOSED, connect_timeout=1, login_password=SECRET),
    "s3_backup": dict(S3, mode="upload", backup=ABSENT + ".dump"),
    "tls_check": dict(endpoints=[dict(name="api", host="127.0.0.1", port=CLOSED)], timeout=1),
}

# Options whose negative or zero value means something documented.
SIGNED: Dict[str, Tuple[str, ...]] = {}


@pytest.fixture(autouse=True, scope="module")
def scratch_tree() -> Iterator[None]:
    """The scratch tree as the working directory; removed at the end."""
    os.makedirs(WORK)
    before = os.getcwd()
    os.chdir(WORK)
    try:
        yield
    finally:
        os.chdir(before)
        shutil.rmtree(ROOT, ignore_errors=True)


class Stop(Exception):
    """Raised by the fake AnsibleModule to capture the spec ``main()`` builds."""


def module_names() -> List[str]:
    names = []
    for entry in sorted(os.listdir(MODULES_DIR)):
        if entry.endswith(".py") and not entry.startswith("_"):
            module = importlib.import_module(PACKAGE + entry[:-3])
            if hasattr(module, "main"):
                names.append(entry[:-3])
    return names


def module_spec(name: str) -> Dict[str, Any]:
    """The keyword arguments ``main()`` gives AnsibleModule."""
    module = importlib.import_module(PACKAGE + name)

    def capture(*_args: Any, **kwargs: Any) -> None:
        raise Stop(kwargs)

    # (No arguments: main() reads the raw ones before it builds the module.)
    with mock.patch.object(module, "AnsibleModule", side_effect=capture), patch_module_args({}):
        try:
            module.main()
        except Stop as stop:
            return stop.args[0]
    raise AssertionError("%s: main() built no AnsibleModule" % name)


def made_up(spec: Dict[str, Any]) -> Any:
    """A plausible value for a required option nobody listed in BASE."""
    if spec.get("choices"):
        return spec["choices"][0]
    kind = spec.get("type", "str")
    if kind == "list":
        if spec.get("elements") == "dict":
            return [{k: made_up(v) for k, v in (spec.get("options") or {}).items() if v.get("required")}]
        return ["sweep"]
    return {"int": 1, "float": 1.0, "bool": False, "dict": {}, "path": ABSENT}.get(kind, "sweep")


def base_args(name: str, spec: Dict[str, Any]) -> Dict[str, Any]:
    if name in BASE:
        return copy.deepcopy(BASE[name])
    return {k: made_up(v) for k, v in spec["argument_spec"].items() if v.get("required")}


def options(argument_spec: Dict[str, Any], prefix: Tuple[str, ...] = ()) -> Iterator[Tuple[Tuple[str, ...], Dict[str, Any]]]:
    """Every option, nested ones as a path of names."""
    for key, spec in argument_spec.items():
        yield prefix + (key,), spec
        if spec.get("options"):
            yield from options(spec["options"], prefix + (key,))


def with_value(args: Dict[str, Any], spec: Dict[str, Any], path: Tuple[str, ...], value: Any) -> Optional[Dict[str, Any]]:
    """``args`` with the option at ``path`` set to ``value`` (in the first element of a list of dicts)."""
    args = copy.deepcopy(args)
    holder = args
    specs = spec["argument_spec"]
    for key in path[:-1]:
        outer = specs[key]
        specs = outer["options"]
        if outer.get("type") == "list":
            if not holder.get(key):
                holder[key] = [made_up(dict(outer, required=True))[0] if outer.get("elements") == "dict" else {}]
            holder = holder[key][0]
        else:
            if key not in holder:
                holder[key] = {k: made_up(v) for k, v in specs.items() if v.get("required")}
            holder = holder[key]
        if not isinstance(holder, dict):
            return None
    holder[path[-1]] = value
    return args


def run(name: str, args: Dict[str, Any]) -> Tuple[Dict[str, Any], str]:
    """The module's JSON result and its output; an exception escaping ``main()`` fails the test."""
    module = importlib.import_module(PACKAGE + name)
    out = io.StringIO()
    with patch_module_args(dict(args)), redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
        except Exception as exc:  # pylint: disable=broad-except
            raise AssertionError("%s raised %s: %s with %r" % (name, type(exc).__name__, exc, args)) from exc
    text = out.getvalue()
    try:
        return json.loads(text), text
    except ValueError as exc:
        raise AssertionError("%s printed no JSON: %r" % (name, text[:500])) from exc


def assert_clean(name: str, result: Dict[str, Any], text: str) -> None:
    assert "Traceback" not in text, "%s: %s" % (name, text[:2000])
    assert "exception" not in result, "%s: %s" % (name, result.get("exception"))
    assert SECRET not in text, "%s printed a secret" % name


def assert_rejected(name: str, label: str, result: Dict[str, Any], text: str, value: Any) -> None:
    assert_clean(name, result, text)
    assert result.get("failed"), "%s accepted %s=%r: %s" % (name, label, value, text[:600])
    assert label.split(".")[-1] in result.get("msg", ""), "%s: the message does not name %s: %s" % (
        name, label, result.get("msg"))


NAMES = module_names()
SPECS = {name: module_spec(name) for name in NAMES}
TIME_WORDS = ("timeout", "seconds", "interval", "backoff", "sleep")


def numeric_cases() -> Iterator[Any]:
    for name in NAMES:
        for path, spec in options(SPECS[name]["argument_spec"]):
            if spec.get("type") not in ("int", "float"):
                continue
            bad: List[Any] = [-1, {"a": 1}]
            if spec["type"] == "float":
                # (ansible-core's own float conversion raises OverflowError on an int beyond
                # a float before any module code runs: 1e300 is the huge value here.)
                bad += [1e300, math.inf, -math.inf, math.nan]
            else:
                bad.append(10 ** 400)
            if any(word in path[-1] for word in TIME_WORDS):
                bad.append(2 ** 64)
            for value in bad:
                yield pytest.param(name, path, value, id="%s-%s-%r" % (name, ".".join(path), value)[:120])


@pytest.mark.parametrize("name, path, value", list(numeric_cases()))
def test_bad_number_is_rejected_naming_the_option(name: str, path: Tuple[str, ...], value: Any) -> None:
    spec = SPECS[name]
    args = with_value(base_args(name, spec), spec, path, value)
    if args is None:
        pytest.skip("option not reachable from the base arguments")
    result, text = run(name, args)
    assert_rejected(name, ".".join(path), result, text, value)


def wrong_shapes(spec: Dict[str, Any]) -> List[Any]:
    """Values of the wrong type for a list of dicts or a dict (none for other options)."""
    kind = spec.get("type", "str")
    if kind == "list" and spec.get("elements") == "dict":
        return ["not-a-list-of-dicts", ["a", "b"], [1]]
    if kind == "dict" and spec.get("options"):
        return ["not-a-dict", ["a", "b"]]
    if kind == "dict":
        return [["a", "b"]]
    return []


def type_cases() -> Iterator[Any]:
    for name in NAMES:
        for path, spec in options(SPECS[name]["argument_spec"]):
            for value in wrong_shapes(spec):
                yield pytest.param(name, path, value, id="%s-%s-%r" % (name, ".".join(path), value)[:120])


@pytest.mark.parametrize("name, path, value", list(type_cases()))
def test_wrong_type_is_rejected_naming_the_option(name: str, path: Tuple[str, ...], value: Any) -> None:
    spec = SPECS[name]
    args = with_value(base_args(name, spec), spec, path, value)
    if args is None:
        pytest.skip("option not reachable from the base arguments")
    result, text = run(name, args)
    assert_rejected(name, ".".join(path), result, text, value)


def value_at(args: Dict[str, Any], path: Tuple[str, ...]) -> Any:
    """The value at ``path`` in ``args`` (in the first element of a list of dicts)."""
    value: Any = args
    for key in path:
        if isinstance(value, list):
            value = value[0] if value else {}
        value = value.get(key) if isinstance(value, dict) else None
    return value


def seeded(name: str) -> Dict[str, Any]:
    """The base arguments with the secret in every no_log option, nested ones included."""
    spec = SPECS[name]
    args = base_args(name, spec)
    for path, option in options(spec["argument_spec"]):
        if option.get("no_log"):
            args = with_value(args, spec, path, SECRET) or args
    return args


def secret_cases() -> Iterator[Any]:
    """Every wrong shape, and for a list of dicts a good element (its secrets set) followed by
    a bad one, in a module with its secrets set."""
    for name in NAMES:
        for path, spec in options(SPECS[name]["argument_spec"]):
            values = wrong_shapes(spec)
            if spec.get("type") == "list" and spec.get("elements") == "dict":
                values.append("good-then-bad")
            for value in values:
                yield pytest.param(name, path, value, id="%s-%s-%r" % (name, ".".join(path), value)[:120])


@pytest.mark.parametrize("name, path, value", list(secret_cases()))
def test_wrong_type_hides_every_secret(name: str, path: Tuple[str, ...], value: Any) -> None:
    """The secret seeded in every no_log option (top-level and nested, in the dict holding the
    bad value too) appears nowhere in the failed result: not in ``invocation``, not in ``msg``."""
    spec = SPECS[name]
    args = seeded(name)
    if value == "good-then-bad":
        good = value_at(args, path) or [made_up(dict(dict(options(spec["argument_spec"]))[path], required=True))[0]]
        value = copy.deepcopy(good[:1]) + [1]
    args = with_value(args, spec, path, value)
    if args is None:
        pytest.skip("option not reachable from the base arguments")
    result, text = run(name, args)
    assert_rejected(name, ".".join(path), result, text, value)
    assert SECRET not in json.dumps(result), "%s: the secret is in the failed result: %s" % (name, text[:2000])
    assert result.get("invocation"), "%s: no invocation to hunt the secret in" % name


def ordering_cases() -> Iterator[Any]:
    for name in NAMES:
        spec = SPECS[name]
        for path, option in options(spec["argument_spec"]):
            leaf = path[-1]
            if "warning" not in leaf or option.get("type") not in ("int", "float"):
                continue
            twin = path[:-1] + (leaf.replace("warning", "critical"),)
            if dict(options(spec["argument_spec"])).get(twin) is None:
                continue
            yield pytest.param(name, path, twin, id="%s-%s" % (name, ".".join(path)))


@pytest.mark.parametrize("name, warning, critical", list(ordering_cases()))
def test_warning_beyond_critical_is_rejected(name: str, warning: Tuple[str, ...], critical: Tuple[str, ...]) -> None:
    """One of the two orders is nonsense (warning above critical, or below it for a low-is-bad
    value such as days left or a hit rate): exactly that one fails, naming the warning option."""
    spec = SPECS[name]
    outcomes = []
    pairs = ((0.5, 0.25), (0.25, 0.5)) if "rat" in warning[-1] else ((5, 2), (2, 5))
    for low, high in pairs:
        args = with_value(base_args(name, spec), spec, warning, low)
        args = args and with_value(args, spec, critical, high)
        if args is None:
            pytest.skip("option not reachable from the base arguments")
        result, text = run(name, args)
        assert_clean(name, result, text)
        outcomes.append(bool(result.get("failed")) and warning[-1] in result.get("msg", ""))
    assert sorted(outcomes) == [False, True], "%s: %s/%s ordering not checked: %s" % (
        name, warning[-1], critical[-1], outcomes)


def documented_percentages(name: str) -> List[Tuple[str, ...]]:
    """Numeric options whose documentation calls them a percentage."""
    docs = yaml.safe_load(importlib.import_module(PACKAGE + name).DOCUMENTATION)
    found = []
    for path, spec in options(SPECS[name]["argument_spec"]):
        if spec.get("type") not in ("int", "float") or len(path) > 1:
            continue
        description = " ".join(docs.get("options", {}).get(path[0], {}).get("description", []) or [])
        if "percent" in description.lower() or "%" in description:
            found.append(path)
    return found


def percent_status_port_empty_cases() -> Iterator[Any]:
    for name in NAMES:
        for path in documented_percentages(name):
            yield pytest.param(name, path, 150, id="%s-%s-percent" % (name, ".".join(path)))
        for path, spec in options(SPECS[name]["argument_spec"]):
            if path[-1] == "status_codes":
                yield pytest.param(name, path, [999], id="%s-%s-999" % (name, ".".join(path)))
            if path[-1] == "port":
                yield pytest.param(name, path, 70000, id="%s-%s-70000" % (name, ".".join(path)))
            if spec.get("type") == "list" and (spec.get("required") or path[-1] in ("resources", "paths")):
                yield pytest.param(name, path, [], id="%s-%s-empty" % (name, ".".join(path)))
            if spec.get("type") == "path" and (spec.get("required") or path[-1].endswith("_dir")):
                yield pytest.param(name, path, "", id="%s-%s-empty" % (name, ".".join(path)))


# Options where 0 means nothing sensible (a wait of no time, no worker), by name at any module.
ZERO_INVALID = ("max_workers", "batch_size", "concurrency", "jobs", "failure_threshold", "part_size_mb",
                "s3_connect_timeout", "s3_read_timeout", "request_timeout", "wait_sleep", "timeout",
                "connect_timeout", "query_timeout")


def zero_cases() -> Iterator[Any]:
    for name in NAMES:
        for path, spec in options(SPECS[name]["argument_spec"]):
            if path[-1] in ZERO_INVALID and spec.get("type") in ("int", "float") and \
                    (len(path) == 1 or path[0] in ("endpoints", "s3")):
                yield pytest.param(name, path, 0, id="%s-%s-zero" % (name, ".".join(path)))


def range_cases() -> Iterator[Any]:
    yield from zero_cases()
    yield from percent_status_port_empty_cases()


@pytest.mark.parametrize("name, path, value", list(range_cases()))
def test_out_of_range_is_rejected_naming_the_option(name: str, path: Tuple[str, ...], value: Any) -> None:
    spec = SPECS[name]
    args = with_value(base_args(name, spec), spec, path, value)
    if args is None:
        pytest.skip("option not reachable from the base arguments")
    result, text = run(name, args)
    assert_rejected(name, ".".join(path), result, text, value)


HOSTILE = ["{0.__class__}", "{ip.nonexistent_attribute}", "%s%n%x", "nul\x00byte", "x" * 5000,
           "\u00e9\u4e2d\U0001F600", "a" * 64 + ".example.com", "../../etc/passwd"]


def string_cases() -> Iterator[Any]:
    for name in NAMES:
        for path, spec in options(SPECS[name]["argument_spec"]):
            if spec.get("type", "str") not in ("str", "path") or spec.get("choices") or spec.get("no_log"):
                continue
            for index, value in enumerate(HOSTILE):
                yield pytest.param(name, path, value, id="%s-%s-%d" % (name, ".".join(path), index))


@pytest.mark.parametrize("name, path, value", list(string_cases()))
def test_hostile_string_gives_no_traceback(name: str, path: Tuple[str, ...], value: Any) -> None:
    spec = SPECS[name]
    args = with_value(base_args(name, spec), spec, path, value)
    if args is None:
        pytest.skip("option not reachable from the base arguments")
    result, text = run(name, args)
    assert_clean(name, result, text)
    if result.get("failed"):
        assert result.get("msg"), "%s failed without a message" % name


@pytest.mark.parametrize("name", NAMES)
def test_unreachable_target_gives_no_traceback(name: str) -> None:
    result, text = run(name, base_args(name, SPECS[name]))
    assert_clean(name, result, text)
    assert result.get("msg") or "checks" in result or not result.get("failed"), text[:600]


def library_flags() -> List[Tuple[Any, str]]:
    """Every ``HAS_*`` flag of the collection's module_utils, after importing every module."""
    flags = []
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("ansible_collections.runbook.ops.plugins.module_utils."):
            flags.extend((module, attr) for attr in vars(module) if attr.startswith("HAS_"))
    return flags


@pytest.mark.parametrize("name", NAMES)
def test_missing_libraries_give_a_message(name: str) -> None:
    patches = [mock.patch.object(module, attr, False) for module, attr in library_flags()]
    for patch in patches:
        patch.start()
    try:
        result, text = run(name, base_args(name, SPECS[name]))
    finally:
        for patch in patches:
            patch.stop()
    assert "Traceback" not in text and SECRET not in text
    if result.get("failed"):
        assert result.get("msg"), text[:600]


# health_gate is an action plugin (its module file is documentation): its option is
# ``results``, registered results that a task or a user may have bent out of shape.
GATE_SCHEMA = "runbook.ops/result/v1"
GATE_RESULTS = [
    {"schema": GATE_SCHEMA, "checks": [{"name": "x", "status": "bogus", "message": "m"}]},
    {"schema": GATE_SCHEMA, "checks": "not-a-list"},
    {"schema": GATE_SCHEMA, "checks": ["a", "b"]},
    {"schema": GATE_SCHEMA, "checks": [{"status": "critical"}]},
    {"schema": GATE_SCHEMA, "checks": [{"name": "x", "status": "critical", "severity": {"a": 1}}]},
    "a string",
    ["a", "b"],
    12,
]


def run_gate(args: Dict[str, Any]) -> Dict[str, Any]:
    from types import SimpleNamespace  # pylint: disable=import-outside-toplevel
    from ansible_collections.runbook.ops.plugins.action import health_gate  # pylint: disable=import-outside-toplevel
    task = SimpleNamespace(args=args, async_val=0, check_mode=False, action="runbook.ops.health_gate")
    connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/nonexistent"))
    action = health_gate.ActionModule(task, connection, SimpleNamespace(check_mode=False), None, None)
    try:
        return action.run(task_vars={})
    except Exception as exc:  # pylint: disable=broad-except
        raise AssertionError("health_gate raised %s: %s with %r" % (type(exc).__name__, exc, args)) from exc


@pytest.mark.parametrize("value", GATE_RESULTS + [[item] for item in GATE_RESULTS if isinstance(item, dict)],
                         ids=lambda value: repr(value)[:60])
def test_health_gate_rejects_malformed_results_naming_them(value: Any) -> None:
    result = run_gate({"results": value})
    assert result.get("failed"), result
    assert "results" in result.get("msg", ""), result
    assert "exception" not in result
