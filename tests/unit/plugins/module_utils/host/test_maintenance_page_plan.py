"""Pure parts of maintenance mode: the page, the plan, the diff, the verification verdict."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.host import maintenance_page_plan


def test_page_escapes_message_and_title_and_carries_the_marker():
    page = maintenance_page_plan.render_page('Back at 3 <b>AM</b> & "soon"', title="Emergency <maintenance>")
    assert "Back at 3 &lt;b&gt;AM&lt;/b&gt; &amp; &quot;soon&quot;" in page
    assert "<title>Emergency &lt;maintenance&gt;</title>" in page
    assert maintenance_page_plan.MARKER in page
    assert "<b>" not in page


def test_page_content_is_used_verbatim_with_a_final_newline():
    assert maintenance_page_plan.render_page("ignored", content="<p>custom</p>") == "<p>custom</p>\n"
    assert maintenance_page_plan.render_page("ignored", content="<p>x</p>\n") == "<p>x</p>\n"


def test_empty_message_falls_back_to_the_default():
    assert maintenance_page_plan.DEFAULT_MESSAGE in maintenance_page_plan.render_page("")


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", ".hidden"])
def test_file_names_must_be_plain(name):
    with pytest.raises(maintenance_page_plan.MaintenanceError):
        maintenance_page_plan.validate_name(name, "page_name")


def test_plan_on_writes_the_page_then_the_flag_and_is_idempotent():
    page = maintenance_page_plan.render_page("m")
    expected = {"write_page": True, "create_flag": True, "remove_flag": False, "changed": True}
    assert maintenance_page_plan.plan("on", page, None, False) == expected
    assert maintenance_page_plan.plan("on", page, page, True)["changed"] is False
    changed_message = maintenance_page_plan.plan("on", page, maintenance_page_plan.render_page("other"), True)
    assert changed_message["write_page"] and not changed_message["create_flag"]


def test_plan_off_removes_only_the_flag():
    page = maintenance_page_plan.render_page("m")
    expected = {"write_page": False, "create_flag": False, "remove_flag": True, "changed": True}
    assert maintenance_page_plan.plan("off", page, page, True) == expected
    assert maintenance_page_plan.plan("off", page, page, False)["changed"] is False
    with pytest.raises(maintenance_page_plan.MaintenanceError):
        maintenance_page_plan.plan("maybe", page, page, False)


def test_diff_shows_the_page_and_the_flag():
    page = maintenance_page_plan.render_page("m")
    steps = maintenance_page_plan.plan("on", page, None, False)
    entries = maintenance_page_plan.diff(steps, "/d/maintenance.html", "/d/maintenance.on", page, None, False)
    assert entries[0]["before"] == "" and entries[0]["after"] == page
    assert entries[0]["before_header"].endswith("(absent)")
    assert entries[1] == {"before_header": "/d/maintenance.on", "after_header": "/d/maintenance.on",
                          "before": "state: absent\n", "after": "state: present\n"}
    off = maintenance_page_plan.diff(maintenance_page_plan.plan("off", page, page, True), "/d/p", "/d/f", page, page, True)
    assert off == [{"before_header": "/d/f", "after_header": "/d/f", "before": "state: present\n",
                    "after": "state: absent\n"}]
    assert maintenance_page_plan.diff(maintenance_page_plan.plan("off", page, page, False), "/d/p", "/d/f", page, page, False) == []


def test_verify_verdict():
    page = maintenance_page_plan.render_page("m")
    assert maintenance_page_plan.verify_verdict("on", {"status_code": 503, "body": page + "\n"}, page)["passed"]
    assert not maintenance_page_plan.verify_verdict("on", {"status_code": 200, "body": "demo v1"}, page)["passed"]
    assert not maintenance_page_plan.verify_verdict("on", {"status_code": 503, "body": "upstream down"}, page)["passed"]
    assert maintenance_page_plan.verify_verdict("off", {"status_code": 200, "body": "demo v1"}, page)["passed"]
    assert maintenance_page_plan.verify_verdict("off", {"status_code": 503, "body": "app's own 503"}, page)["passed"]
    still = maintenance_page_plan.verify_verdict("off", {"status_code": 503, "body": page}, page)
    assert not still["passed"] and "still" in still["message"]
    down = maintenance_page_plan.verify_verdict("on", {"error_kind": "refused", "error": "connection refused"}, page)
    assert not down["passed"] and "connection refused" in down["message"]


def test_option_problem_and_state_message():
    params = {"page_name": "maintenance.html", "flag_name": "maintenance.on", "verify_timeout": 10,
              "reload_command": None}
    assert maintenance_page_plan.option_problem(params) is None
    assert "flag_name must be a plain file name" in maintenance_page_plan.option_problem(dict(params, flag_name="a/b"))
    assert maintenance_page_plan.option_problem(dict(params, verify_timeout=0)) == \
        "verify_timeout must be more than 0 and at most 3600 seconds, got 0"
    # every wait is bounded: a huge, infinite or NaN timeout is refused, naming the option
    for huge in (3600.5, 1e308, float("inf"), float("nan")):
        assert maintenance_page_plan.option_problem(dict(params, verify_timeout=huge)).startswith(
            "verify_timeout must be more than 0 and at most 3600 seconds")
    assert maintenance_page_plan.option_problem(dict(params, verify_timeout=3600)) is None
    assert maintenance_page_plan.option_problem(dict(params, reload_command=[""])) == "reload_command must name a command"
    steps = maintenance_page_plan.plan("on", "page", None, False)
    actions = ["write_page", "create_flag"]
    assert maintenance_page_plan.state_message("on", steps, actions, check_mode=True) == \
        "would turn maintenance on (write page, create flag)"
    assert maintenance_page_plan.state_message("on", steps, actions, check_mode=False) == \
        "maintenance turned on (write page, create flag)"
    idle = maintenance_page_plan.plan("off", "page", "page", False)
    assert maintenance_page_plan.state_message("off", idle, [], check_mode=True) == "maintenance already off"


def test_the_verify_bound_is_the_lifeline_bound():
    from ansible_collections.runbook.ops.plugins.module_utils.common import lifeline
    assert maintenance_page_plan.MAX_VERIFY_TIMEOUT == lifeline.MAX_WAIT_SECONDS
