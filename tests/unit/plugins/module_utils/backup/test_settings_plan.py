"""settings_plan: a database's own settings, pure."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.backup import settings_plan

PROPS = {"owner": "app owner", "encoding": "UTF8", "collate": "C", "ctype": "C", "locale_provider": "libc",
         "icu_locale": None, "connection_limit": 40, "comment": "it's",
         "acl": [{"grantee": None, "privilege": "CONNECT", "grantable": False},
                 {"grantee": "reader.role", "privilege": "TEMPORARY", "grantable": True},
                 {"grantee": "gone", "privilege": "CONNECT", "grantable": False}],
         "settings": [{"role": None, "name": "search_path", "value": '"My Schema", public'},
                      {"role": "gone", "name": "work_mem", "value": "64MB"}]}


@pytest.mark.parametrize("value, items", [
    ('"$user", public', ["$user", "public"]),
    ('"My ""S"" x", "a,b" , c', ['My "S" x', "a,b", "c"]),
    ('""', [""]),
    ("", []),
    ("one", ["one"]),
])
def test_split_list(value, items):
    assert settings_plan.split_list(value) == items


def test_setting_values():
    assert settings_plan.split_setconfig("search_path=a, b=c") == ("search_path", "a, b=c")
    assert settings_plan.setting_values("search_path", '"A", b') == ["A", "b"]
    assert settings_plan.setting_values("DateStyle", "ISO, MDY") == ["ISO, MDY"]


def test_create_options():
    assert settings_plan.create_options(PROPS) == [("ENCODING", "UTF8"), ("LC_COLLATE", "C"), ("LC_CTYPE", "C")]
    icu = dict(PROPS, locale_provider="icu", icu_locale="de-DE")
    assert settings_plan.create_options(icu)[-2:] == [("LOCALE_PROVIDER", "icu"), ("ICU_LOCALE", "de-DE")]
    assert settings_plan.create_options(None) == []


def test_locale_differences():
    assert settings_plan.locale_differences(PROPS, dict(PROPS)) == []
    assert settings_plan.locale_differences(PROPS, dict(PROPS, collate="C.UTF-8")) == [
        "collate is C.UTF-8, the backup's was C"]


def test_apply_steps_orders_owner_acl_comment_settings_and_skips_missing_roles():
    plan = settings_plan.apply_steps(PROPS, ["old"], ["app owner", "reader.role"])
    assert plan["steps"] == [
        ("owner", "app owner"), ("revoke", None), ("revoke", "old"),
        ("grant", "CONNECT", None, False), ("grant", "TEMPORARY", "reader.role", True),
        ("comment", "it's"), ("connection_limit", 40), ("reset",),
        ("set", None, "search_path", ["My Schema", "public"]),
    ]
    assert plan["skipped"] == ["CONNECT to gone (no such role here)", "setting work_mem for role gone (no such role here)"]


def test_apply_steps_no_owner_and_default_acl():
    plan = settings_plan.apply_steps(dict(PROPS, acl=None, settings=[]), [], [], no_owner=True)
    assert plan == {"steps": [("comment", "it's"), ("connection_limit", 40), ("reset",)], "skipped": []}
    plan = settings_plan.apply_steps(dict(PROPS, acl=None), [], [])
    assert plan["skipped"][0] == "owner app owner (no such role here)"
    assert settings_plan.apply_steps(None, [], []) == {"steps": [], "skipped": []}
    bad = settings_plan.apply_steps(dict(PROPS, acl=[{"grantee": None, "privilege": "DROP; --"}]), [], ["app owner"])
    assert "privilege DROP; -- (not a database privilege)" in bad["skipped"]


def test_locale_text():
    props = {"encoding": "LATIN1", "collate": "C", "ctype": "C", "icu_locale": None, "owner": "x"}
    assert settings_plan.locale_text(props) == "encoding LATIN1, collation C, ctype C"
    assert settings_plan.locale_text(dict(props, icu_locale="de-DE")).endswith(", ICU locale de-DE")
    assert settings_plan.locale_text(None) == "no locale recorded"
