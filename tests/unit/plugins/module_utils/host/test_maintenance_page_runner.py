"""maintenance_page_runner: the files written atomically, and the bounded verification."""

from __future__ import annotations

import os
import stat

from ansible_collections.runbook.ops.plugins.module_utils.host import maintenance_page_plan, maintenance_page_runner


def test_apply_plan_writes_atomically_and_removes(tmp_path):
    directory = tmp_path / "maint"
    page_path, flag_path = str(directory / "p.html"), str(directory / "f.on")
    page = maintenance_page_plan.render_page("m")
    maintenance_page_runner.apply_plan(maintenance_page_plan.plan("on", page, None, False), str(directory), page_path, flag_path, page)
    assert maintenance_page_runner.read_text(page_path) == page and os.path.exists(flag_path)
    assert stat.S_IMODE(os.stat(page_path).st_mode) == 0o644
    assert sorted(os.listdir(directory)) == ["f.on", "p.html"]       # no temporary file left
    assert maintenance_page_runner.since(flag_path).endswith("Z")
    maintenance_page_runner.apply_plan(maintenance_page_plan.plan("off", page, page, True), str(directory), page_path, flag_path, page)
    assert not os.path.exists(flag_path) and os.path.exists(page_path)
    assert maintenance_page_runner.since(flag_path) is None and maintenance_page_runner.read_text(flag_path) is None


class FakeTime:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.t += seconds


def test_verify_asks_until_the_page_is_served(monkeypatch):
    page = maintenance_page_plan.render_page("m")
    answers = iter([{"status_code": 200, "body": "app"}, {"status_code": 503, "body": page}])
    monkeypatch.setattr(maintenance_page_runner, "fetch", lambda endpoint: next(answers))
    fake = FakeTime()
    result = maintenance_page_runner.verify("http://lb/", "on", page, 10, True, now=fake.now, sleep=fake.sleep)
    assert result["status"] == "ok" and result["value"] == {"url": "http://lb/", "attempts": 2}
    assert result["message"] == "http://lb/ answers 503 with the maintenance page"


def test_verify_is_bounded_by_its_timeout(monkeypatch):
    page = maintenance_page_plan.render_page("m")
    monkeypatch.setattr(maintenance_page_runner, "fetch", lambda endpoint: {"status_code": 200, "body": "app"})
    fake = FakeTime()
    result = maintenance_page_runner.verify("http://lb/", "on", page, 1.0, True, now=fake.now, sleep=fake.sleep)
    assert result["status"] == "critical" and result["value"]["attempts"] == 5
    assert result["message"].endswith("not 503 with the maintenance page after 1s")
