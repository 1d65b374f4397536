"""Unit tests for plugins/module_utils/s3/argspec.py: the S3 options and their declared rules."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.s3 import argspec as s3_argspec


def test_access_and_secret_key_are_declared_together():
    assert s3_argspec.s3_argspec()["required_together"] == [["access_key", "secret_key"]]
    sub = s3_argspec.s3_suboptions(prefix=dict(type="str", default=""))
    assert sub["required_together"] == [["access_key", "secret_key"]] and sub["options"]["secret_key"]["no_log"]
