"""Pure parts of maintenance mode: the page, the plan, the diff, the verification verdict."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.host import maintenance_page_runner as M


def test_page_escapes_message_and_title_and_carries_the_marker():
    page = M.render_page('Back at 3 <b>AM</b> & "soon"', title="Emergency <maintenance>")
    assert "Back at 3 &lt;b&gt;AM&lt;/b&gt; &amp; &quot;soon&quot;" in page
    assert "<title>Emergency &lt;maintenance&gt;</title>" in page
    assert M.MARKER in page
    assert "<b>" not in page


def test_page_content_is_used_verbatim_with_a_final_newline():
    assert M.render_page("ignored", content="<p>custom</p>") == "<p>custom</p>\n"
    assert M.render_page("ignored", content="<p>x</p>\n") == "<p>x</p>\n"


def test_empty_message_falls_back_to_the_default():
    assert M.DEFAULT_MESSAGE in M.render_page("")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", ".hidden"])
def test_file_names_must_be_plain(name):
    with pytest.raises(M.MaintenanceError):
        M.validate_name(name, "page_name")


def test_plan_on_writes_the_page_then_the_flag_and_is_idempotent():
    page = M.render_page("m")
    expected = {"write_page": True, "create_flag": True, "remove_flag": False, "changed": True}
    assert M.plan("on", page, None, False) == expected
    assert M.plan("on", page, page, True)["changed"] is False
    changed_message = M.plan("on", page, M.render_page("other"), True)
    assert changed_message["write_page"] and not changed_message["create_flag"]


def test_plan_off_removes_only_the_flag():
    page = M.render_page("m")
    expected = {"write_page": False, "create_flag": False, "remove_flag": True, "changed": True}
    assert M.plan("off", page, page, True) == expected
    assert M.plan("off", page, page, False)["changed"] is False
    with pytest.raises(M.MaintenanceError):
        M.plan("maybe", page, page, False)


def test_diff_shows_the_page_and_the_flag():
    page = M.render_page("m")
    steps = M.plan("on", page, None, False)
    entries = M.diff(steps, "/d/maintenance.html", "/d/maintenance.on", page, None, False)
    assert entries[0]["before"] == "" and entries[0]["after"] == page
    assert entries[0]["before_header"].endswith("(absent)")
    assert entries[1] == {"before_header": "/d/maintenance.on", "after_header": "/d/maintenance.on",
                          "before": "state: absent\n", "after": "state: present\n"}
    off = M.diff(M.plan("off", page, page, True), "/d/p", "/d/f", page, page, True)
    assert off == [{"before_header": "/d/f", "after_header": "/d/f", "before": "state: present\n",
                    "after": "state: absent\n"}]
    assert M.diff(M.plan("off", page, page, False), "/d/p", "/d/f", page, page, False) == []


def test_apply_plan_writes_atomically_and_removes(tmp_path):
    directory = tmp_path / "maint"
    page_path, flag_path = str(directory / "p.html"), str(directory / "f.on")
    page = M.render_page("m")
    M.apply_plan(M.plan("on", page, None, False), str(directory), page_path, flag_path, page)
    assert M.read_text(page_path) == page and os.path.exists(flag_path)
    assert stat.S_IMODE(os.stat(page_path).st_mode) == 0o644
    assert sorted(os.listdir(directory)) == ["f.on", "p.html"]       # no temporary file left
    assert M.since(flag_path).endswith("Z")
    M.apply_plan(M.plan("off", page, page, True), str(directory), page_path, flag_path, page)
    assert not os.path.exists(flag_path) and os.path.exists(page_path)
    assert M.since(flag_path) is None and M.read_text(flag_path) is None


def test_verify_verdict():
    page = M.render_page("m")
    assert M.verify_verdict("on", {"status_code": 503, "body": page + "\n"}, page)["passed"]
    assert not M.verify_verdict("on", {"status_code": 200, "body": "demo v1"}, page)["passed"]
    assert not M.verify_verdict("on", {"status_code": 503, "body": "upstream down"}, page)["passed"]
    assert M.verify_verdict("off", {"status_code": 200, "body": "demo v1"}, page)["passed"]
    assert M.verify_verdict("off", {"status_code": 503, "body": "app's own 503"}, page)["passed"]
    still = M.verify_verdict("off", {"status_code": 503, "body": page}, page)
    assert not still["passed"] and "still" in still["message"]
    down = M.verify_verdict("on", {"error_kind": "refused", "error": "connection refused"}, page)
    assert not down["passed"] and "connection refused" in down["message"]
