"""The demo sandbox: real services on fixed loopback ports for inventories/local.

    python -m sandbox up       start what is not running yet (idempotent)
    python -m sandbox down     stop everything, even a half-started sandbox
    python -m sandbox status   print what runs (exit 0 when everything does, 3 otherwise)

State (data, logs, pid files) lives in .sandbox/ at the repository root
(RUNBOOK_OPS_SANDBOX_DIR overrides it). Ports:

    PostgreSQL 15432   user monitor / monitor-secret (pg_monitor), database app
    Redis      16379   password sandbox-redis-secret, Celery queue "celery"
    moto (S3)  15555
    API        18000   finchat-api: /health /ready /metrics (finchat_), uses Postgres + Redis
    web app    15000   finchat-webapp: / and /health, uses Redis

These are sandbox-only credentials; never real ones.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List

from sandbox.services import REPO, DemoApp, Moto, Postgres, Redis, ServiceError, wait_port

PORTS = {"postgres": 15432, "redis": 16379, "s3": 15555, "api": 18000, "web": 15000}
REDIS_PASSWORD = "sandbox-redis-secret"  # sandbox-only


def state_dir() -> Path:
    return Path(os.environ.get("RUNBOOK_OPS_SANDBOX_DIR", str(REPO / ".sandbox")))


class Sandbox:
    """The five services, built from the state directory alone (so `down` needs no memory)."""

    def __init__(self, base: Path):
        self.base = base
        self.postgres = Postgres(base / "postgres", port=PORTS["postgres"])
        self.redis = Redis(base / "redis", port=PORTS["redis"], password=REDIS_PASSWORD)
        self.moto = Moto(base / "moto", port=PORTS["s3"])
        self.api = DemoApp(base / "apps", "finchat-api", port=PORTS["api"], postgres=self.postgres, redis=self.redis)
        self.web = DemoApp(base / "apps", "finchat-webapp", port=PORTS["web"], redis=self.redis)

    # -- probes -------------------------------------------------------------
    @staticmethod
    def _pid_alive(pidfile: Path) -> bool:
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return False
        return True

    @staticmethod
    def _listening(port: int) -> bool:
        try:
            wait_port(port, timeout=0.3)
        except ServiceError:
            return False
        return True

    def running(self) -> Dict[str, bool]:
        return {
            "postgres": (self.postgres.data / "postmaster.pid").exists() and self.postgres.is_running(),
            "redis": self._pid_alive(self.redis.pidfile) and self._listening(self.redis.port),
            "s3": self._pid_alive(self.moto.pidfile) and self._listening(self.moto.port),
            "api": self._pid_alive(self.api.pidfile) and self._listening(self.api.port),
            "web": self._pid_alive(self.web.pidfile) and self._listening(self.web.port),
        }

    # -- commands -----------------------------------------------------------
    def up(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        state = self.running()
        order = [("postgres", self.postgres), ("redis", self.redis), ("s3", self.moto),
                 ("api", self.api), ("web", self.web)]
        for name, service in order:
            if state[name]:
                print("sandbox: %-8s already running on 127.0.0.1:%d" % (name, PORTS[name]))
                continue
            if self._listening(PORTS[name]):
                raise ServiceError("port %d (%s) is used by another process: free it or run "
                                   "`python -m sandbox down` first" % (PORTS[name], name))
            started = time.monotonic()
            service.start()
            print("sandbox: %-8s started on 127.0.0.1:%d (%.1fs)" % (name, PORTS[name], time.monotonic() - started))
        self._write_state()

    def down(self) -> None:
        # Reverse order; each stop is attempted even when an earlier one failed.
        errors: List[str] = []
        state = self.running() if self.base.exists() else {}
        for name, service in (("web", self.web), ("api", self.api), ("s3", self.moto),
                              ("redis", self.redis), ("postgres", self.postgres)):
            try:
                if name == "postgres" and not self.postgres.data.exists():
                    continue
                service.stop()
                print("sandbox: %-8s %s" % (name, "stopped" if state.get(name) else "not running"))
            except (ServiceError, OSError) as exc:
                errors.append("%s: %s" % (name, exc))
        if errors:
            raise ServiceError("; ".join(errors))

    def status(self) -> bool:
        state = self.running()
        for name, up in state.items():
            print("%-8s 127.0.0.1:%-5d %s" % (name, PORTS[name], "running" if up else "stopped"))
        print("state    %s" % self.base)
        return all(state.values())

    def _write_state(self) -> None:
        info = {
            "ports": PORTS,
            "postgres": {"user": Postgres.monitor_user, "database": self.postgres.database},
            "api_url": self.api.url,
            "web_url": self.web.url,
            "s3_endpoint_url": self.moto.endpoint_url,
            "api_log": str(self.api.base / ("%s.log" % self.api.name)),
        }
        (self.base / "state.json").write_text(json.dumps(info, indent=2) + "\n")


def main(argv: List[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("up", "down", "status"):
        print("usage: python -m sandbox up|down|status", file=sys.stderr)
        return 2
    sandbox = Sandbox(state_dir())
    try:
        if argv[0] == "up":
            sandbox.up()
            sandbox.status()
            return 0
        if argv[0] == "down":
            sandbox.down()
            return 0
        return 0 if sandbox.status() else 3
    except ServiceError as exc:
        print("sandbox: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
