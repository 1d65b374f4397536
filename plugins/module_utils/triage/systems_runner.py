# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The triage's collectors that talk to Docker, PostgreSQL, Redis and Kubernetes, through the
collection's own clients (``docker/client.py``, ``postgres/client.py``, ``redis/client.py``,
``k8s/client.py``). Each returns a ``collect(box)`` for ``collect_runner.run_collectors``.

A service that does not answer is a finding (``reachable: false`` with the reason), not a
failed collector: that is the evidence a triage looks for.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

from typing import Any, Callable, Dict, List, Mapping, Sequence

from ansible_collections.runbook.ops.plugins.module_utils.postgres import client as pg_client
from ansible_collections.runbook.ops.plugins.module_utils.postgres import diagnostics_plan, diagnostics_runner
from ansible_collections.runbook.ops.plugins.module_utils.redis import client as redis_client
from ansible_collections.runbook.ops.plugins.module_utils.triage import redact_plan, timeline_plan
from ansible_collections.runbook.ops.plugins.module_utils.triage.collect_runner import Box, safe_name

# The Docker SDK and the kubernetes client (about a second of imports together) are imported by
# the collectors that use them, so that a triage without containers or Kubernetes does not wait
# for them.
MAX_EVENTS = 2000

ACTIVITY_SQL = """
SELECT pid, usename AS "user", application_name AS application, client_addr::text AS client_addr,
       backend_type, state, wait_event_type, wait_event, backend_start, xact_start, query_start, state_change,
       EXTRACT(EPOCH FROM now() - xact_start)::float8 AS xact_seconds,
       EXTRACT(EPOCH FROM now() - query_start)::float8 AS query_seconds,
       pg_catalog.pg_blocking_pids(pid) AS blocked_by, left(query, %s) AS query
FROM pg_catalog.pg_stat_activity WHERE pid <> pg_catalog.pg_backend_pid()
ORDER BY backend_start
"""


# --------------------------------------------------------------------------- #
# Docker
# --------------------------------------------------------------------------- #

def _select(client: Any, options: Mapping[str, Any], docker_client: Any) -> List[str]:
    """Container IDs: every container with ``all``, else the named ones and those with the labels."""
    ids: List[str] = []
    if options.get("all"):
        return [c["Id"] for c in client.api.containers(all=True)]
    for name in options.get("names") or []:
        try:
            ids.append(client.api.inspect_container(name)["Id"])
        except docker_client.DockerException as exc:
            if not docker_client.not_found(exc):
                raise
    if options.get("labels"):
        ids.extend(c["Id"] for c in client.api.containers(all=True, filters={"label": list(options["labels"])}))
    return list(dict.fromkeys(ids))


def _logs(client: Any, cid: str, **kwargs: Any) -> str:
    data = client.api.logs(cid, stdout=True, stderr=True, timestamps=True, **kwargs)
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def docker_collector(options: Mapping[str, Any], now: float, since_hours: float, log_lines: int,
                     env_keep: Sequence[str]) -> Callable[[Box], None]:
    """State and inspect (the environment's values masked but for ``env_keep``), the last
    ``log_lines`` lines of the last ``since_hours`` hours, the previous instance's last lines when
    the container restarted, the engine's events of the window, one stats sample, and the deploy
    records docker_rollout leaves in the labels."""
    since = int(now - since_hours * 3600)

    def collect(box: Box) -> None:
        from ansible_collections.runbook.ops.plugins.module_utils.docker import client as docker_client  # pylint: disable=import-outside-toplevel

        client = docker_client.connect(options)
        try:
            ids = _select(client, options, docker_client)
            try:
                stream = client.api.events(since=since, until=int(now) + 1, decode=True,
                                           filters={"type": "container", "container": ids})
                engine_events = [e for _i, e in zip(range(MAX_EVENTS * 10), stream)] if ids else []
            except docker_client.DockerException as exc:
                engine_events = []
                box.add("docker/events_error.txt", "cannot read the engine's events: %s\n" % exc)
            found = []
            for cid in ids:
                found.append(_container(client, box, cid, [e for e in engine_events if e.get("id") == cid],
                                        since, log_lines, env_keep, options.get("stats", True), docker_client))
            box.findings["containers"] = found
            box.add_json("docker/containers.json", found)
        finally:
            docker_client.close_quietly(client)
    return collect


def _container(client: Any, box: Box, cid: str, events: List[Dict[str, Any]], since: int, log_lines: int,
               env_keep: Sequence[str], stats: bool, docker_client: Any) -> Dict[str, Any]:
    attrs = client.api.inspect_container(cid)
    name = str(attrs.get("Name") or cid).lstrip("/")
    base = "docker/%s" % safe_name(name)
    config = attrs.get("Config") or {}
    config["Env"] = redact_plan.redact_env(config.get("Env"), env_keep)
    state = attrs.get("State") or {}
    box.add_json(base + "/inspect.json", attrs)
    box.add_json(base + "/events.json", events[-MAX_EVENTS:])
    current = _logs(client, cid, tail=log_lines, since=since)
    box.add(base + "/logs.txt", current, keep_end=True)
    lines = current.splitlines()
    restarts = int(attrs.get("RestartCount") or 0)
    started = timeline_plan.parse_time(state.get("StartedAt"))
    if (restarts or state.get("Status") != "running") and started:
        previous = _logs(client, cid, tail=log_lines, since=since, until=max(since + 1, int(started)))
        box.add(base + "/previous.logs.txt", previous, keep_end=True)
        lines = previous.splitlines() + lines
    if stats and state.get("Status") == "running":
        try:
            box.add_json(base + "/stats.json", client.api.stats(cid, stream=False, one_shot=True))
        except docker_client.DockerException as exc:
            box.add(base + "/stats.txt", "no stats: %s\n" % docker_client.api_error_message(exc))
    box.events.extend(timeline_plan.container_events(attrs, events))
    box.events.extend(timeline_plan.first_error_events("container " + name, lines, 0, docker_timestamps=True))
    health = (state.get("Health") or {}).get("Status")
    labels = config.get("Labels") or {}
    return {"name": name, "id": cid[:12], "image": config.get("Image"), "status": state.get("Status"),
            "restart_count": restarts, "restarts_in_window": sum(1 for e in events if e.get("Action") == "die"),
            "exit_code": _last_exit(state, events), "oom_killed": bool(state.get("OOMKilled")), "health": health,
            "started": state.get("StartedAt"), "finished": state.get("FinishedAt"),
            "previous_image": labels.get("runbook.ops.previous-image-ref") or labels.get("runbook.ops.previous-image")}


def _last_exit(state: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> Any:
    """The exit code of the last instance that ended: the state's while stopped, else the last
    ``die`` event's (a running container's state says 0)."""
    if state.get("Status") != "running":
        return state.get("ExitCode")
    dies = [e for e in events if e.get("Action") == "die"]
    if dies:
        code = ((dies[-1].get("Actor") or {}).get("Attributes") or {}).get("exitCode")
        return int(code) if str(code).lstrip("-").isdigit() else code
    return None


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #

def postgres_collector(options: Mapping[str, Any]) -> Callable[[Box], None]:
    """pg_stat_activity (every session), connection counts by state against max_connections,
    blocking chains (who blocks whom) and long transactions, in one read-only session."""
    def collect(box: Box) -> None:
        try:
            conn = pg_client.connect(options, statement_timeout_ms=int(float(options.get("statement_timeout") or 5) * 1000),
                                     read_only=True)
        except pg_client.PgConnectError as exc:
            box.findings["postgres"] = {"reachable": False, "error": exc.message, "kind": exc.kind}
            box.add_json("postgres/connection.json", box.findings["postgres"])
            return
        try:
            chars = int(options.get("query_chars") or 500)
            activity = pg_client.fetch_all(conn, ACTIVITY_SQL, (chars,))
            by_state: Dict[str, int] = {}
            for row in pg_client.fetch_all(conn, diagnostics_runner.CONNECTIONS_SQL):
                by_state[row["state"]] = int(row["count"])
            maximum = int(pg_client.fetch_all(conn, "SELECT current_setting('max_connections')::int AS m")[0]["m"])
        finally:
            conn.close()
        for row in activity:
            for key in ("backend_start", "xact_start", "query_start", "state_change"):
                when = timeline_plan.parse_time(row.get(key))
                row[key] = timeline_plan.iso(when) if when is not None else None
        blocked = [dict(r, wait_seconds=r.get("query_seconds") or r.get("xact_seconds") or 0)
                   for r in activity if r.get("blocked_by")]
        graph = diagnostics_plan.lock_chains(blocked)
        clients = [r for r in activity if r.get("backend_type") == "client backend"]
        total = sum(by_state.values())
        found = {"reachable": True, "connections": by_state, "max_connections": maximum,
                 "connections_pct": round(100.0 * total / maximum, 1) if maximum else None,
                 "blocked": [{"pid": r["pid"], "blocked_by": r["blocked_by"], "wait_seconds": r["wait_seconds"]} for r in blocked],
                 "chains": graph["chains"], "edges": graph["edges"],
                 "transactions": [{"pid": r["pid"], "xact_seconds": r["xact_seconds"], "state": r["state"]}
                                  for r in clients if r.get("xact_seconds") is not None]}
        box.findings["postgres"] = found
        box.add_json("postgres/activity.json", activity)
        box.add_json("postgres/summary.json", found)
        box.events.extend(timeline_plan.postgres_events(activity, blocked, graph["chains"]))
    return collect


# --------------------------------------------------------------------------- #
# Redis
# --------------------------------------------------------------------------- #

def redis_collector(options: Mapping[str, Any]) -> Callable[[Box], None]:
    """INFO (every section), the queue depths (LLEN) and the memory settings."""
    def collect(box: Box) -> None:
        queues = list(options.get("queues") or [])
        client = redis_client.RespClient(
            host=options.get("login_host") or "localhost", port=int(options.get("port") or 6379),
            timeout=float(options.get("connect_timeout") or 5), password=options.get("login_password"),
            username=options.get("login_user"), db=int(options.get("db") or 0), tls=bool(options.get("tls")),
            validate_certs=bool(options.get("validate_certs", True)), ca_path=options.get("ca_path"))
        try:
            with client:
                info = client.info("everything")
                depths = []
                for queue in queues:
                    depths.append({"name": queue["name"], "depth": client.llen(queue["name"]),
                                   "warning": queue.get("warning"), "critical": queue.get("critical")})
                try:
                    settings = client.config_get("maxmemory*")
                except redis_client.RespReplyError as exc:
                    settings = {"error": str(exc)}
        except redis_client.RespError as exc:
            # Refused, refused the password, or something other than Redis answered on its port
            # (a protocol or reply error on INFO): for the incident, Redis is not serving.
            box.findings["redis"] = {"reachable": False, "error": str(exc)}
            box.add_json("redis/connection.json", box.findings["redis"])
            return
        box.findings["redis"] = {"reachable": True, "queues": depths, "version": info.get("redis_version")}
        box.add_json("redis/info.json", info)
        box.add_json("redis/queues.json", depths)
        box.add_json("redis/config.json", settings)
    return collect


# --------------------------------------------------------------------------- #
# Kubernetes
# --------------------------------------------------------------------------- #

def kubernetes_collector(options: Mapping[str, Any]) -> Callable[[Box], None]:
    """Each Deployment's status and revision history (the ReplicaSets k8s_rollout reads)."""
    def collect(box: Box) -> None:
        from ansible_collections.runbook.ops.plugins.module_utils.k8s import client as k8s_client  # pylint: disable=import-outside-toplevel
        from ansible_collections.runbook.ops.plugins.module_utils.k8s import rollout_plan as k8s_plan  # pylint: disable=import-outside-toplevel

        api = k8s_client.connect(options)
        namespace = options.get("namespace") or "default"
        history: Dict[str, Any] = {}
        try:
            for name in options.get("deployments") or []:
                deployment = api.get_deployment(namespace, name)
                selector = k8s_plan.label_selector((deployment.get("spec") or {}).get("selector"))
                revisions = k8s_plan.revision_history(deployment, api.list_replicasets(namespace, selector))
                history[name] = {"status": k8s_plan.status_summary(deployment), "revisions": revisions}
                box.events.extend(timeline_plan.k8s_revision_events(name, revisions))
        finally:
            api.close()
        box.add_json("kubernetes/deployments.json", history)
    return collect
