"""docker/lock_plan.py: the per-service deploy lock's name, labels, staleness and messages."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.docker import lock_plan

SELECTOR = lock_plan.selector_key(["com.docker.compose.service=api", "com.docker.compose.project=shop"])


def test_the_selector_key_and_name_do_not_depend_on_the_filters_order():
    other = lock_plan.selector_key(["com.docker.compose.project=shop", "com.docker.compose.service=api"])
    assert other == SELECTOR
    name = lock_plan.lock_name("api", SELECTOR)
    assert name.startswith("runbook-ops-lock-api-") and len(name) == len("runbook-ops-lock-api-") + 12
    assert lock_plan.lock_name("api", SELECTOR + ",x=1") != name
    assert lock_plan.lock_name("we/ird name", SELECTOR).startswith("runbook-ops-lock-we-ird-name-")


def test_stale_after_its_own_timeout_only():
    labels = lock_plan.lock_labels(SELECTOR, "api", "ops@ctl pid 7", 1000.0, 60)
    assert not lock_plan.is_stale(labels, 1059.0)
    assert lock_plan.is_stale(labels, 1061.0)
    # Unreadable times: never stale (removed by hand once its owner is known to be gone).
    assert not lock_plan.is_stale(dict(labels, **{lock_plan.SINCE_LABEL: "yesterday"}), 10 ** 10)


def test_the_refusal_names_the_service_the_time_and_the_owner():
    labels = lock_plan.lock_labels(SELECTOR, "api", "ops@awx-job-17 pid 42", 0.0, 3600)
    message = lock_plan.refusal("api", labels, "runbook-ops-lock-api-x")
    assert message.startswith("deploy of api in progress since 1970-01-01 00:00:00 UTC, by ops@awx-job-17 pid 42")
    assert "stale after 3600s" in message and "runbook-ops-lock-api-x" in message
    assert "ops@awx-job-17" in lock_plan.takeover_note(labels)
    assert lock_plan.default_owner("deploy", "ctl-1", 99) == "deploy@ctl-1 pid 99"
