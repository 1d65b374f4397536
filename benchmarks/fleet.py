"""Fleet benchmark: the health check over N container hosts against ansible.builtin.ping on the same hosts.

Starts the largest N of ``--sizes`` containers from the local base image
(runbook-ops/debian12-python:1, ``sleep infinity``, named i14-fleet-<run>-<i>), then, for each N,
runs through a real ``ansible-playbook`` with forks = N over the ``community.docker.docker``
connection (``docker exec``):

- ours: playbooks/health_check.yml with every check that applies to a plain host:
  runbook.ops.host_check (disk of /, memory, load), runbook.ops.log_check (/var/log/dpkg.log),
  runbook.ops.tls_check (a CA certificate file), the role's argument validation, the health gate,
  and the runbook.ops.report callback writing its four files;
- the floor: one ``ansible.builtin.ping`` task per host, the least Ansible itself costs for a host
  over that connection (same hosts, same forks, same connection).

Wall time is the whole ``ansible-playbook`` process (start-up included, the same for both). Each
size runs ``--repeat`` times per side, alternating, and the median is kept. At the largest N the
report callback is measured from inside the run: a callback plugin (written to a temporary
directory) subclasses runbook.ops.report and times every call into it; a second run of ours at
that N traces the memory allocated inside those calls (tracemalloc, on only while the callback
runs: the highest peak of one call, and the sum of what the calls still held when they returned).
--callback-only runs only that second run (and the timed one) at the largest N.

The last line is the ratio of our per-host time to the ping floor at the largest N (target <= 3x):

    ratio at N=50: 2.41x the ping floor

    .venv/bin/python benchmarks/fleet.py [--sizes 1,10,25,50] [--repeat 1] [--image IMAGE]

Needs Docker and the base image (scripts/build-image base); --help needs neither.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
LABEL = "runbook.ops.benchmark"

PING_PLAYBOOK = """\
---
- name: Ping floor
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""

# A callback that is runbook.ops.report, timed (and, with FLEET_PROBE_MEMORY=1, memory-traced).
PROBE = '''
import json, os, time, tracemalloc
from ansible_collections.runbook.ops.plugins.callback import report

class CallbackModule(report.CallbackModule):
    CALLBACK_NAME = "fleet_probe"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        self._probe = {"calls": 0, "seconds": 0.0, "stats_seconds": 0.0, "peak": 0, "held": 0, "tasks": []}
        self._memory = os.environ.get("FLEET_PROBE_MEMORY") == "1"
        super().__init__(*args, **kwargs)

    def _timed(self, name, *args, **kwargs):
        # Memory is traced only inside the callback's calls (tracing the whole run would be
        # inherited by every forked worker): what a call allocates and has not freed when it
        # returns is counted as held (an upper bound: a later free is not subtracted).
        if self._memory:
            tracemalloc.start()
        start = time.perf_counter()
        try:
            return getattr(super(), name)(*args, **kwargs)
        finally:
            spent = time.perf_counter() - start
            self._probe["calls"] += 1
            self._probe["seconds"] += spent
            if name == "v2_playbook_on_stats":
                self._probe["stats_seconds"] += spent
            if self._memory:
                current, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                self._probe["peak"] = max(self._probe["peak"], peak)
                self._probe["held"] += current

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._probe["tasks"].append([task.get_name(), time.time()])
        parent = getattr(super(), "v2_playbook_on_task_start", None)
        if parent:
            parent(task, is_conditional)

    def v2_playbook_on_start(self, playbook):
        return self._timed("v2_playbook_on_start", playbook)

    def v2_runner_on_start(self, host, task):
        return self._timed("v2_runner_on_start", host, task)

    def v2_runner_on_ok(self, result):
        return self._timed("v2_runner_on_ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        return self._timed("v2_runner_on_failed", result, ignore_errors)

    def v2_runner_on_unreachable(self, result):
        return self._timed("v2_runner_on_unreachable", result)

    def v2_playbook_on_stats(self, stats):
        self._timed("v2_playbook_on_stats", stats)
        self._probe["tasks"].append(["(end)", time.time()])
        with open(os.environ["FLEET_PROBE_OUT"], "w") as out:
            json.dump(self._probe, out)
'''


def probe_source() -> str:
    """The probe plugin: runbook.ops.report's DOCUMENTATION under the probe's name (Ansible reads a
    callback's options from the literal in its own file), then the subclass."""
    import ast

    tree = ast.parse((REPO / "plugins" / "callback" / "report.py").read_text())
    doc = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
               and getattr(node.targets[0], "id", "") == "DOCUMENTATION")
    doc = doc.replace("name: report", "name: fleet_probe", 1)
    return "DOCUMENTATION = %r\n" % doc + textwrap.dedent(PROBE)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Prints the wall time per N, the report callback's time and memory "
                                            "at the largest N, and last the ratio of our per-host time to the "
                                            "ping floor there.")
    parser.add_argument("--sizes", default="1,10,25,50", help="fleet sizes N, comma-separated (default 1,10,25,50)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size and side; the median is kept")
    parser.add_argument("--image", default="runbook-ops/debian12-python:1", help="the hosts' image")
    parser.add_argument("--callback-only", action="store_true",
                        help="only the report callback's time and memory at the largest N (no ping, no ratio)")
    args = parser.parse_args(argv)
    args.sizes = sorted({int(n) for n in args.sizes.split(",") if n.strip()})
    if not args.sizes or args.sizes[0] < 1:
        parser.error("--sizes must be positive integers")
    return args


def start_hosts(client, image: str, count: int, run_id: str) -> List[str]:
    names = ["i14-fleet-%s-%02d" % (run_id, i) for i in range(count)]

    def start(name):
        client.containers.run(image, ["sleep", "infinity"], name=name, detach=True, init=True,
                              labels={LABEL: run_id}, network_mode="none")
        return name

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(start, names))


def remove_hosts(client, run_id: str) -> None:
    for container in client.containers.list(all=True, filters={"label": "%s=%s" % (LABEL, run_id)}):
        container.remove(force=True)


def write_inventory(path: Path, hosts: List[str]) -> None:
    lines = ["[fleet]"] + hosts + [
        "", "[fleet:vars]",
        "ansible_connection=community.docker.docker",
        "ansible_python_interpreter=/usr/bin/python3",
    ]
    path.write_text("\n".join(lines) + "\n")


def health_vars(path: Path) -> None:
    """Every check of the health check that applies to a plain host."""
    path.write_text(json.dumps({
        "health_check_hosts": "fleet",
        "health_host": {"mounts": ["/"], "disk_warning": 97, "disk_critical": 99, "memory_warning": 97,
                        "memory_critical": 99, "load_warning": 100, "load_critical": 200},
        "health_logs": {"logs": [{"name": "dpkg", "path": "/var/log/dpkg.log",
                                  "patterns": [{"name": "error", "regex": "\\berror\\b", "warning": 1000,
                                                "critical": 10000}]}],
                        "since_hours": 24 * 365 * 10},
        "health_tls": {"files": [{"name": "isrg_root", "path": "/etc/ssl/certs/ISRG_Root_X1.pem"}]},
    }))


def run_playbook(work: Path, playbook: Path, forks: int, extra: List[str], env_extra: Dict[str, str]) -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="False", RUNBOOK_OPS_REPORT_DIR=str(work / "reports"),
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.update(env_extra)
    start = time.perf_counter()
    done = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(work / "hosts.ini"), "-f", str(forks), str(playbook),
                           *extra], cwd=str(REPO), env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit("fleet: %s failed with exit %d" % (playbook.name, done.returncode))
    return wall


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return "load %.2f (1 min), %.2f (5 min) on %d CPUs" % (one, five, os.cpu_count() or 1)


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="runbook-ops-fleet-"))
    try:
        return measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args, work: Path) -> int:
    import docker  # only needed for a real run

    client = docker.from_env(timeout=120)
    run_id = uuid.uuid4().hex[:6]
    (work / "ping.yml").write_text(PING_PLAYBOOK)
    health_vars(work / "vars.json")
    probe_dir = work / "callback_plugins"
    probe_dir.mkdir()
    (probe_dir / "fleet_probe.py").write_text(probe_source())
    ours_play = REPO / "playbooks" / "health_check.yml"
    ours_extra = ["-e", "@%s" % (work / "vars.json")]
    largest = args.sizes[-1]
    print("fleet: starting %d hosts from %s (%s)" % (largest, args.image, load()))
    started = time.perf_counter()
    hosts = start_hosts(client, args.image, largest, run_id)
    print("fleet: %d hosts up in %.1f s" % (len(hosts), time.perf_counter() - started))
    results = {}
    probe = {}
    try:
        for size in ([] if args.callback_only else args.sizes):
            write_inventory(work / "hosts.ini", hosts[:size])
            # A warm-up ping: the first docker exec into a fresh container is slower.
            run_playbook(work, work / "ping.yml", size, [], {})
            ours, floor = [], []
            for _round in range(args.repeat):
                floor.append(run_playbook(work, work / "ping.yml", size, [], {}))
                env = {}
                if size == largest:
                    env = {"ANSIBLE_CALLBACK_PLUGINS": str(probe_dir), "ANSIBLE_CALLBACKS_ENABLED": "fleet_probe",
                           "FLEET_PROBE_OUT": str(work / "probe.json")}
                ours.append(run_playbook(work, ours_play, size, ours_extra, env))
            results[size] = (statistics.median(ours), statistics.median(floor))
            print("N=%-3d ours %6.2f s (%.3f s/host)   ping %6.2f s (%.3f s/host)   %.2fx   [%s]"
                  % (size, results[size][0], results[size][0] / size, results[size][1], results[size][1] / size,
                     results[size][0] / results[size][1], load()))
        if args.callback_only:
            write_inventory(work / "hosts.ini", hosts)
            run_playbook(work, ours_play, largest, ours_extra,
                         {"ANSIBLE_CALLBACK_PLUGINS": str(probe_dir), "ANSIBLE_CALLBACKS_ENABLED": "fleet_probe",
                          "FLEET_PROBE_OUT": str(work / "probe.json")})
        probe = json.loads((work / "probe.json").read_text())
        run_playbook(work, ours_play, largest, ours_extra,
                     {"ANSIBLE_CALLBACK_PLUGINS": str(probe_dir), "ANSIBLE_CALLBACKS_ENABLED": "fleet_probe",
                      "FLEET_PROBE_OUT": str(work / "probe-memory.json"), "FLEET_PROBE_MEMORY": "1"})
        memory = json.loads((work / "probe-memory.json").read_text())
    finally:
        remove_hosts(client, run_id)
        client.close()
    report = json.loads((work / "reports" / "latest" / "report.json").read_text())
    nchecks = sum(len(r["checks"]) for h in report["hosts"].values() for r in h["results"])
    print("report callback at N=%d: %.3f s in %d calls (%.3f s writing the report at the end), "
          "%d hosts x %d checks; memory: %.2f MB at the peak of one call, at most %.2f MB held"
          % (largest, probe["seconds"], probe["calls"], probe["stats_seconds"], len(report["hosts"]),
             nchecks // max(1, len(report["hosts"])), memory["peak"] / 1e6, memory["held"] / 1e6))
    marks = probe["tasks"]
    spans = ["%s %.2f s" % (name, marks[i + 1][1] - at) for i, (name, at) in enumerate(marks[:-1])]
    print("where the time goes at N=%d (task starts, from the timed run): %s" % (largest, "; ".join(spans)))
    if args.callback_only:
        return 0
    ours, floor = results[largest]
    print("ratio at N=%d: %.2fx the ping floor" % (largest, (ours / largest) / (floor / largest)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
