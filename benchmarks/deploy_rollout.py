"""Deploy a new version to 4 replicas behind a load balancer, with a load generator running:
runbook.ops.docker_rollout (playbooks/deploy.yml through ansible-playbook) against the seeds'
approach (`docker-compose up -d` of the service, then a fixed `sleep 30`, then a health check)
and against the lower bound (the sum of the replicas' readiness times).

Each approach gets the same fresh stack: the demo app v1 (tests/integration/assets/demo_image,
HEALTHCHECK every second) started as 4 replicas by Docker Compose v1 (`docker-compose -p <project>
up -d --scale api=4`, local images only), the nginx load balancer from Debian's packages in front
(Docker's DNS and the replicas' shared alias), and a load generator thread sending GET / to the
load balancer throughout. Each deploys v2.

How the figures are measured:
- ours: the "Roll out api" task of deploy.yml, from the ansible.posix.json callback's per-task
  timestamps (module transfer and execution included, playbook start-up excluded); the whole
  playbook (pre-check, rollout, post-check) is printed too.
- seeds: `docker-compose up -d` + 30 s + one health check through the load balancer.
- lower bound: after our deploy, on the same stack with the load still running, N replicas of v2
  (same network, no alias: no traffic) are created and started one at a time, each removed once
  healthy; a replica's readiness is the time from the create request to the engine's first
  `health_status: healthy` event for it (the engine creating and starting the container, the app
  booting, its first passing HEALTHCHECK: what any deploy pays per replica). A one-at-a-time
  rollout cannot be faster than their sum. For comparison, the same figure for the containers our
  rollout made, measured from their `create` events, is printed too.
- failed requests: answers other than 200 (or no answer) seen by the load generator.
- the module's own time (its rollout_duration_seconds metric, engine calls only) is printed next to
  the task's, with its ratio to the lower bound: the difference is Ansible starting the module.

Surge (issue 12): on another fresh stack per round, the same deploy.yml with `deploy_max_surge` equal
to the replicas (every new replica started at once beside the old ones, each joining the alias after
its gate, the old ones stopped `deploy_drain_seconds` after the first new one joined), measured the
same way (task and module time, failed requests), against ONE replica's readiness: the median of the
replicas' readiness times measured one at a time afterwards on the same stack, as for the lower bound.
Target: within 1.3x, no failed request. `--surge-rounds` rounds; min and median are printed.

The last line printed is the ratio surge / one replica's readiness (min of the rounds); the line
before it the rolling deploy's ratio ours / lower bound.

    .venv/bin/python benchmarks/deploy_rollout.py [--replicas 4] [--sleep 30] [--surge-rounds 3]
                                                  [--only all|rolling|surge] [--drain 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT / "collection", ROOT / "tests"):
    sys.path.insert(0, str(entry))

import docker  # noqa: E402

from utils.demo_stack import (  # noqa: E402
    APP_IMAGE,
    LoadGenerator,
    Service,
    build_demo_images,
    build_lb_image,
    get,
)

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"
ROLLOUT_TASK = "Roll out api"
PREFIX = "rbdepbench"

COMPOSE_FILE = """\
# The seeds' service, as docker-compose v1 runs it: one service scaled to N replicas that
# share the network alias the load balancer follows.
version: "2.4"
services:
  api:
    image: "%(image)s:${APP_TAG}"
    restart: unless-stopped
    networks:
      default:
        aliases: [demo, api]
networks:
  default:
    name: %(network)s
"""


def _stamp(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


class Events(threading.Thread):
    """Docker events of one Compose project: start and health_status per container (engine clock)."""

    def __init__(self, client, project: str):
        super().__init__(daemon=True)
        self.stream = client.events(decode=True, filters={"type": "container",
                                                          "label": "com.docker.compose.project=%s" % project})
        self.seen: List[Dict[str, Any]] = []

    def run(self):
        try:
            for event in self.stream:
                self.seen.append({"id": event.get("id"), "status": event.get("status") or event.get("Action"),
                                  "at": event.get("timeNano", 0) / 1e9})
        except Exception:  # pylint: disable=broad-exception-caught  # the stream is closed on stop
            pass

    def stop(self):
        self.stream.close()
        self.join(5)

    def readiness(self, since: float, origin: str = "create") -> Dict[str, float]:
        """Container ID -> seconds from its ``origin`` event (create or start) to its first healthy
        event, for the containers created after ``since``."""
        began: Dict[str, float] = {}
        ready: Dict[str, float] = {}
        for event in self.seen:
            if event["at"] < since:
                continue
            if event["status"] == origin:
                began[event["id"]] = event["at"]
            elif event["status"] == "health_status: healthy" and event["id"] in began and event["id"] not in ready:
                ready[event["id"]] = event["at"] - began[event["id"]]
        return ready


class Stack:
    """N replicas of the demo app made by docker-compose, the load balancer, the load generator."""

    def __init__(self, client, lb_image: str, replicas: int, workdir: Path):
        self.client = client
        self.project = "%s%s" % (PREFIX, uuid.uuid4().hex[:6])
        self.network_name = "%s_default" % self.project
        self.replicas = replicas
        self.dir = workdir / self.project
        self.dir.mkdir()
        (self.dir / "docker-compose.yml").write_text(COMPOSE_FILE % {"image": APP_IMAGE, "network": self.network_name})
        self.lb_image = lb_image
        self.service = None
        self.lb = None
        self.load = None
        self.events = None

    def compose(self, tag: str, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, APP_TAG=tag)
        return subprocess.run([COMPOSE, "-p", self.project, *args], cwd=str(self.dir), env=env,
                              capture_output=True, text=True, timeout=300, check=True)

    def up(self):
        self.compose("v1", "up", "-d", "--scale", "api=%d" % self.replicas)
        network = self.client.networks.get(self.network_name)
        self.service = Service(self.client, self.project, network, self.dir)
        self.service.wait_healthy(self.replicas, timeout=60)
        self.lb = self.service.start_lb(self.lb_image)
        self.events = Events(self.client, self.project)
        self.events.start()
        self.load = LoadGenerator(self.lb, pause=0.005)
        self.load.start()
        time.sleep(1.0)

    def finish(self) -> Tuple[int, int, Dict[str, int]]:
        time.sleep(1.0)
        self.load.stop()
        self.events.stop()
        outcomes = self.load.outcomes
        failed = self.load.failed
        versions: Dict[str, int] = {}
        for item in outcomes:
            if item["ok"]:
                word = item["body"].split()[1] if len(item["body"].split()) > 1 else "?"
                versions[word] = versions.get(word, 0) + 1
        return len(outcomes), len(failed), versions

    def images(self) -> List[str]:
        return sorted(c.attrs["Image"] for c in self.service.replicas())

    def down(self):
        if self.load and self.load.is_alive():
            self.load.stop()
        if self.service is not None:
            self.service.remove_all()
        try:
            self.compose("v1", "down", "--remove-orphans", "--timeout", "2")
        except (subprocess.SubprocessError, OSError):
            pass


def ours(stack: Stack, workdir: Path, **more: Any) -> Dict[str, Any]:
    gate = {"url": "http://{ip}:8000/health", "network": stack.network_name}
    lb = "http://%s" % stack.lb
    extra = workdir / ("%s-vars.json" % stack.project)
    extra.write_text(json.dumps(dict({
        "deploy_project": stack.project,
        "deploy_version": "v2",
        "deploy_services": {"api": {"service": "api", "repository": APP_IMAGE, "http_gate": gate}},
        "deploy_gate_timeout": 60,
        "deploy_monitor_seconds": 0,
        "deploy_pre_checks": [{"name": "api_health", "url": lb + "/health"}],
        "deploy_post_checks": [{"name": "api_health", "url": lb + "/health", "body_regex": '"version": "v2"'}],
    }, **more)))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               RUNBOOK_OPS_REPORT_DIR=str(workdir / "reports"),
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    since = time.time()
    start = time.monotonic()
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "playbooks/deploy.yml",
                           "-e", "@%s" % extra], cwd=str(ROOT), env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    playbook = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit("deploy.yml failed with exit code %d" % proc.returncode)
    out = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("{"))[0]
    durations = {t["task"]["name"]: (_stamp(t["task"]["duration"]["end"]) - _stamp(t["task"]["duration"]["start"]))
                 .total_seconds() for t in out["plays"][0]["tasks"]}
    if os.environ.get("RBO_BENCH_VERBOSE"):
        print("    task durations: %s" % ", ".join("%s %.2f s" % kv for kv in durations.items()))
    task = next(t for t in out["plays"][0]["tasks"] if t["task"]["name"].split(" : ")[-1] == ROLLOUT_TASK)
    seconds = (_stamp(task["task"]["duration"]["end"]) - _stamp(task["task"]["duration"]["start"])).total_seconds()
    result = task["hosts"]["localhost"]
    if result.get("status") != "ok" or len(result.get("replaced", [])) != stack.replicas:
        raise SystemExit("the rollout did not replace %d replicas: %s" % (stack.replicas, result.get("summary")))
    gates = {k: v for k, v in result["metrics"].items() if k.startswith("rollout_gate_seconds")}
    return {"seconds": seconds, "playbook": playbook, "since": since, "gates": gates,
            "module_seconds": result["metrics"].get('rollout_duration_seconds{service="api"}')}


def lower_bound(stack: Stack, image: str) -> List[float]:
    """Readiness of N fresh replicas started one at a time (create request -> healthy event)."""
    times = []
    for index in range(stack.replicas):
        name = "%s-ready-%d" % (stack.project, index)
        began = time.time()
        container = stack.client.containers.create(
            image, name=name, detach=True, network=stack.network_name,
            labels={"com.docker.compose.project": stack.project, "runbook.ops.test": "1"})
        try:
            container.start()
            end = time.monotonic() + 60
            healthy = None
            while healthy is None and time.monotonic() < end:
                healthy = next((e["at"] for e in stack.events.seen
                                if e["id"] == container.id and e["status"] == "health_status: healthy"), None)
                time.sleep(0.02)
            if healthy is None:
                raise SystemExit("%s never became healthy" % name)
            times.append(healthy - began)
        finally:
            container.remove(force=True)
    return times


def seeds(stack: Stack, pause: float) -> Dict[str, Any]:
    since = time.time()
    start = time.monotonic()
    stack.compose("v2", "up", "-d", "--scale", "api=%d" % stack.replicas)
    up = time.monotonic() - start
    time.sleep(pause)
    try:
        status, body = get(stack.lb, "/health")
    except OSError as exc:
        status, body = None, repr(exc)
    seconds = time.monotonic() - start
    return {"seconds": seconds, "up": up, "since": since, "health": status, "body": body.strip()}


def surge_round(client, lb_image: str, args: argparse.Namespace, workdir: Path, ids: Dict[str, str]) -> Dict[str, Any]:
    """One surge deploy on a fresh stack, then one replica's readiness measured there."""
    stack = Stack(client, lb_image, args.replicas, workdir)
    try:
        stack.up()
        mine = ours(stack, workdir, deploy_max_surge=args.replicas, deploy_drain_seconds=args.drain)
        assert stack.images() == [ids["v2"]] * args.replicas, "the surge did not end on v2"
        ready = lower_bound(stack, "%s:v2" % APP_IMAGE)
        total, failed, versions = stack.finish()
    finally:
        stack.down()
    one = sorted(ready)[len(ready) // 2]
    mine.update(one=one, ready=ready, total=total, failed=failed, versions=versions)
    return mine


def median(values: List[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def report_surge(rounds: List[Dict[str, Any]]) -> str:
    for number, item in enumerate(rounds, 1):
        print("(d) surge round %d, deploy.yml with deploy_max_surge: rollout task %.2f s (module %.2f s); one replica's "
              "readiness %.2f s (%s); task %.2fx, module %.2fx; %d of %d requests failed; served %s"
              % (number, item["seconds"], item["module_seconds"] or 0.0, item["one"],
                 ", ".join("%.2f" % v for v in item["ready"]), item["seconds"] / item["one"],
                 (item["module_seconds"] or 0.0) / item["one"], item["failed"], item["total"], item["versions"]))
    task = [r["seconds"] / r["one"] for r in rounds]
    module = [(r["module_seconds"] or 0.0) / r["one"] for r in rounds]
    failed = sum(r["failed"] for r in rounds)
    print("    surge over %d rounds: task / one readiness min %.2fx median %.2fx; module min %.2fx median %.2fx"
          % (len(rounds), min(task), median(task), min(module), median(module)))
    return ("surge / one replica's readiness: %.2fx (median %.2fx; module %.2fx, median %.2fx; target 1.3x; "
            "failed requests %d)" % (min(task), median(task), min(module), median(module), failed))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--sleep", type=float, default=30.0, help="the seeds' fixed wait after compose up")
    parser.add_argument("--surge-rounds", type=int, default=3, help="rounds of the surge deploy (fresh stack each)")
    parser.add_argument("--drain", type=float, default=2.0, help="deploy_drain_seconds of the surge deploy")
    parser.add_argument("--only", choices=["all", "rolling", "surge"], default="all",
                        help="run the rolling comparison, the surge one, or both")
    args = parser.parse_args()

    client = docker.from_env(timeout=120)
    ids = build_demo_images(client)
    lb_image = build_lb_image(client)
    workdir = Path(tempfile.mkdtemp(prefix="%s-" % PREFIX))
    try:
        print("deploy v1 -> v2, %d replicas behind nginx, load generator on the load balancer" % args.replicas)
        if args.only == "surge":
            print(report_surge([surge_round(client, lb_image, args, workdir, ids) for _round in range(args.surge_rounds)]))
            return 0

        stack = Stack(client, lb_image, args.replicas, workdir)
        try:
            stack.up()
            mine = ours(stack, workdir)
            in_run = stack.events.readiness(mine["since"])
            assert stack.images() == [ids["v2"]] * args.replicas, "ours did not end on v2"
            ready = lower_bound(stack, "%s:v2" % APP_IMAGE)
            total, failed, versions = stack.finish()
        finally:
            stack.down()
        if len(in_run) != args.replicas:
            raise SystemExit("readiness measured for %d containers, expected %d" % (len(in_run), args.replicas))
        lower = sum(ready)
        print("(a) ours, docker_rollout via deploy.yml: rollout task %.2f s (module %.2f s, whole playbook %.2f s); "
              "%d of %d requests failed; served %s"
              % (mine["seconds"], mine["module_seconds"] or 0.0, mine["playbook"], failed, total, versions))

        stack = Stack(client, lb_image, args.replicas, workdir)
        try:
            stack.up()
            peer = seeds(stack, args.sleep)
            p_total, p_failed, p_versions = stack.finish()
            p_ready = stack.events.readiness(peer["since"])
            assert stack.images() == [ids["v2"]] * args.replicas, "compose did not end on v2"
        finally:
            stack.down()
        print("(b) seeds, docker-compose up -d + sleep %gs + health check: %.2f s (compose up %.2f s, health %s); "
              "%d of %d requests failed; served %s"
              % (args.sleep, peer["seconds"], peer["up"], peer["health"], p_failed, p_total, p_versions))
        if p_ready:
            print("    compose's replicas became ready in parallel: slowest %.2f s" % max(p_ready.values()))
        print("(c) lower bound, sum of %d replicas' readiness started one at a time (create -> healthy): %.2f s (%s); "
              "the replicas of our rollout: %.2f s"
              % (len(ready), lower, ", ".join("%.2f" % v for v in ready), sum(in_run.values())))
        if mine["module_seconds"]:
            print("    of our task, %.2f s is Ansible running the module (AnsiballZ, Python, imports, result); "
                  "the module's own %.2f s is %.2fx the lower bound"
                  % (mine["seconds"] - mine["module_seconds"], mine["module_seconds"], mine["module_seconds"] / lower))
        print("seeds / ours: %.1fx" % (peer["seconds"] / mine["seconds"]))
        rolling = "ours / lower bound: %.2fx (failed requests: ours %d, seeds %d)" % (mine["seconds"] / lower, failed, p_failed)
        if args.only == "rolling":
            print(rolling)
            return 0
        summary = report_surge([surge_round(client, lb_image, args, workdir, ids) for _round in range(args.surge_rounds)])
        print(rolling)
        print(summary)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
