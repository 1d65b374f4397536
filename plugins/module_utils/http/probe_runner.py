# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP endpoint checks, the I/O half: probe endpoints (with retries) concurrently.

``run(module)`` is what ``http_check`` calls. The decisions are in ``probe_plan``,
the request itself in ``http_client``. The names other runbook.ops code imports from here
(``normalize_endpoint(s)``, ``EndpointError``, ``evaluate``, ``fetch``, ``classify_error``)
stay importable from this file.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Mapping, Tuple

from ansible_collections.runbook.ops.plugins.module_utils.common import validation
from ansible_collections.runbook.ops.plugins.module_utils.http import argspec
from ansible_collections.runbook.ops.plugins.module_utils.common.result import build
from ansible_collections.runbook.ops.plugins.module_utils.common.retry import retry_call
from ansible_collections.runbook.ops.plugins.module_utils.http.errors_plan import classify_error
from ansible_collections.runbook.ops.plugins.module_utils.http.http_client import fetch
from ansible_collections.runbook.ops.plugins.module_utils.http.probe_plan import (
    EndpointError,
    endpoint_metrics,
    evaluate,
    normalize_endpoint,
    normalize_endpoints,
    retryable,
    secret_values,
)

__all__ = [
    "EndpointError", "classify_error", "evaluate", "fetch", "normalize_endpoint", "normalize_endpoints",
    "probe", "probe_all", "run",
]


class _Unhealthy(Exception):
    def __init__(self, outcome: Dict[str, Any]):
        super().__init__("unhealthy")
        self.outcome = outcome


def probe(endpoint: Mapping[str, Any], sleep: Callable[[float], None] = time.sleep,
          fetcher: Callable[[Mapping[str, Any]], Dict[str, Any]] = fetch) -> Tuple[Dict[str, Any], Dict[str, float]]:
    """Probe one endpoint with retries; returns ``(check, metrics)``."""
    attempts = [0]

    def once() -> Dict[str, Any]:
        attempts[0] += 1
        outcome = fetcher(endpoint)
        if retryable(endpoint, outcome):
            raise _Unhealthy(outcome)
        return outcome

    try:
        outcome = retry_call(once, attempts=endpoint["retries"] + 1, backoff=endpoint["retry_backoff"],
                             retry_on=(_Unhealthy,), sleep=sleep)
    except _Unhealthy as last:
        outcome = last.outcome
    outcome = dict(outcome, attempts=attempts[0])
    result_check = evaluate(endpoint, outcome)
    return result_check, endpoint_metrics(endpoint, outcome, result_check)


def probe_all(endpoints: List[Mapping[str, Any]], max_workers: int = 32) -> Dict[str, Any]:
    """Probe all endpoints concurrently; the checks keep the order of ``endpoints``."""
    workers = max(1, min(int(max_workers), len(endpoints)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(probe, endpoints))
    checks = [r[0] for r in results]
    metrics: Dict[str, float] = {}
    for _check, item in results:
        metrics.update(item)
    return build(checks, metrics, subject="http")


def run(module: Any) -> None:
    """``http_check``: validate the endpoints, probe them, exit with the result."""
    params = module.params
    validation.validate(module, argspec.RULES)
    defaults = {k: v for k, v in params.items() if k not in ("endpoints", "max_workers")}
    # Header values that carry credentials are masked everywhere in the output,
    # including the echoed module arguments.
    for item in [defaults] + list(params["endpoints"] or []):
        for secret in secret_values(item or {}):
            module.no_log_values.add(secret)
    try:
        endpoints = normalize_endpoints(params["endpoints"], defaults)
    except EndpointError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **probe_all(endpoints, max_workers=params["max_workers"]))
