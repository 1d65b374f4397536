"""Unit tests for plugins/module_utils/backup/argspec.py: shared options and rules, extended by modules."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.backup import argspec
from ansible_collections.runbook.ops.plugins.module_utils.s3 import argspec as s3_argspec


def test_extend_adds_options_and_appends_rules():
    base = s3_argspec.s3_argspec()
    spec = argspec.extend(base, dict(mode=dict(type="str")), required_if=[("mode", "upload", ["backup"])])
    assert "mode" in spec["argument_spec"] and "bucket" in spec["argument_spec"]
    assert spec["required_together"] == [["access_key", "secret_key"]]
    assert spec["required_if"] == [("mode", "upload", ["backup"])]
    assert "mode" not in base["argument_spec"]


def test_postgres_argspec_keeps_the_password_secret():
    spec = argspec.postgres_argspec(backup_dir=dict(type="path", required=True), **argspec.restore_options())
    options = spec["argument_spec"]
    assert options["login_password"]["no_log"] and options["backup_dir"]["required"]
    assert options["jobs"]["default"] == 2
    assert argspec.S3_BACKUP_OPTIONS["options"]["prefix"]["default"] == ""
    assert argspec.S3_BACKUP_OPTIONS["options"]["secret_key"]["no_log"]
