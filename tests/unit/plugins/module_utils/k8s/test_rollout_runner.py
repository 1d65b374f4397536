"""k8s rollout_runner: the rollout wait and the HTTP gate, on a fake API and a fake clock."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.module_utils.k8s import rollout_plan, rollout_runner


class FakeTime:
    def __init__(self):
        self.t = 0.0
        self.sleeps = []

    def now(self):
        return self.t

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


def deployment(updated, replicas=3):
    return {"metadata": {"name": "api", "generation": 2}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": updated,
                       "availableReplicas": updated}}


class FakeApi:
    """Each read returns the next Deployment of ``states`` (the last one again and again)."""

    def __init__(self, states):
        self.states = list(states)
        self.reads = 0

    def get_deployment(self, namespace, name):
        self.reads += 1
        return self.states[min(self.reads, len(self.states)) - 1]


def rollout(api, fake, **params):
    base = {"name": "api", "namespace": "default", "wait_sleep": 2}
    base.update(params)
    return rollout_runner.Rollout(api, base, clock=fake.now, sleep=fake.sleep)


def test_wait_reads_until_complete():
    fake = FakeTime()
    api = FakeApi([deployment(1), deployment(2), deployment(3)])
    state, message, observed, seconds = rollout(api, fake).wait(60)
    assert state == rollout_plan.COMPLETE and "3 of 3 replicas" in message
    assert observed["status"]["updatedReplicas"] == 3
    assert api.reads == 3 and fake.sleeps == [2, 2] and seconds == 4


def test_wait_is_bounded_and_says_what_it_waited_for():
    fake = FakeTime()
    api = FakeApi([deployment(1)])
    state, message, _observed, seconds = rollout(api, fake, wait_sleep=4).wait(10)
    assert state == rollout_plan.FAILED
    assert message == "timed out after 10s waiting for the rollout: 1 of 3 new replicas updated"
    assert seconds == 10 and fake.sleeps == [4, 4, 2]


class WatchingApi(FakeApi):
    """A Deployment that can be watched: each watch wakes after ``wake`` seconds (a write of the controller)."""

    def __init__(self, states, fake, wake=0.25, fail=None):
        super().__init__(states)
        self.fake, self.wake, self.fail = fake, wake, fail
        self.watches = []

    def get_deployment(self, namespace, name):
        found = dict(super().get_deployment(namespace, name))
        found["metadata"] = dict(found["metadata"], resourceVersion=str(100 + self.reads))
        return found

    def watch_deployment(self, namespace, name, version, seconds):
        self.watches.append((version, seconds))
        if self.fail:
            raise self.fail
        self.fake.t += min(seconds, self.wake)
        return self.wake < seconds


def test_the_pause_is_a_watch_that_wakes_when_the_deployment_changes():
    fake = FakeTime()
    api = WatchingApi([deployment(1), deployment(2), deployment(3)], fake)
    state, _message, _observed, seconds = rollout(api, fake).wait(60)
    assert state == rollout_plan.COMPLETE
    assert api.watches == [("101", 2), ("102", 2)]  # from the version last read
    assert seconds == 0.5  # woken twice after 0.25 s, not after two pauses of 2 s
    assert fake.sleeps == [0, 0, 0, 0]  # the lifeline's checks around each watch


def test_a_server_without_watch_falls_back_to_polling():
    from ansible_collections.runbook.ops.plugins.module_utils.k8s.client import K8sApiError

    fake = FakeTime()
    api = WatchingApi([deployment(1), deployment(2), deployment(3)], fake,
                      fail=K8sApiError(405, "MethodNotAllowed", "no watch"))
    state, _message, _observed, seconds = rollout(api, fake).wait(60)
    assert state == rollout_plan.COMPLETE and len(api.watches) == 1  # tried once, then polled
    assert seconds == 4 and fake.sleeps == [0, 2, 0, 2]


def test_predicates():
    assert rollout_runner.rollout_finished(deployment(3)) is True
    assert rollout_runner.rollout_finished(deployment(1)) is False
    assert rollout_runner.gate_passed({"status": "warning"}) is True
    assert rollout_runner.gate_passed({"status": "critical"}) is False


def test_gate_probes_until_no_endpoint_is_critical(monkeypatch):
    fake = FakeTime()
    answers = iter([{"status": "critical"}, {"status": "critical"}, {"status": "ok"}])
    monkeypatch.setattr(rollout_runner, "probe_all", lambda endpoints: next(answers))
    passed, result, seconds = rollout(FakeApi([]), fake, http_gate={"timeout": 30, "interval": 5}).gate([{}])
    assert passed is True and result == {"status": "ok"} and seconds == 10


def test_gate_gives_up_at_its_timeout(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(rollout_runner, "probe_all", lambda endpoints: {"status": "critical"})
    passed, result, seconds = rollout(FakeApi([]), fake, http_gate={"timeout": 3, "interval": 2}).gate([{}])
    assert passed is False and result["status"] == "critical" and seconds == 3


class ReadOnlyApi(FakeApi):
    """Reads only: a patch would be a bug of the test's subject."""

    def list_replicasets(self, namespace, selector):
        return []

    def patch_deployment(self, namespace, name, ops, dry_run=False):
        raise AssertionError("a paused Deployment must not be patched")


def test_a_paused_deployment_is_a_rollout_not_carried_out():
    paused = deployment(3)
    paused["spec"].update(paused=True, selector={"matchLabels": {"app": "api"}},
                          template={"metadata": {"labels": {"app": "api"}},
                                    "spec": {"containers": [{"name": "api", "image": "reg/api:1"}]}})
    params = {"name": "api", "namespace": "default", "state": "present", "images": {"api": "reg/api:2"},
              "wait_sleep": 2, "wait": True, "rollback": True}
    fake = FakeTime()
    result = rollout_runner.run_rollout(ReadOnlyApi([paused]), params, clock=fake.now, sleep=fake.sleep)
    assert result["failed"] is True and result["changed"] is False and result["status"] == "critical"
    assert "is paused: nothing would roll out" in result["summary"]
