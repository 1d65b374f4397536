"""Real services on loopback ports, started from Debian packages and PyPI.

Used by the demo sandbox (``python -m sandbox up``) and by the test fixtures.
Every service runs as a daemon with its files under one base directory, so a
sandbox can be stopped by a later process that only knows that directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

PG_BIN = Path(os.environ.get("RUNBOOK_OPS_PG_BIN", "/usr/lib/postgresql/15/bin"))
REPO = Path(__file__).resolve().parents[1]


class ServiceError(RuntimeError):
    """A service could not be started or stopped; the message says why."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    """Wait until something accepts TCP connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with socket.create_connection((host, port), timeout=0.5):
                return
        time.sleep(0.05)
    raise ServiceError("nothing listens on %s:%d after %.0fs" % (host, port, timeout))


def _kill_pidfile(pidfile: Path, sig: int = signal.SIGTERM, timeout: float = 10.0) -> bool:
    """Stop the process named in ``pidfile``; True when one was running."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def _spawn(argv: List[str], log: Path, pidfile: Path, env: Optional[Dict[str, str]] = None) -> int:
    """Start ``argv`` detached from us (its own session), logging to ``log``."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    pidfile.write_text(str(proc.pid))
    return proc.pid


class Postgres:
    """A PostgreSQL 15 cluster made with initdb, listening on 127.0.0.1:port."""

    superuser = "runbook"
    password = "sandbox-secret"  # a sandbox-only password; never a real one
    monitor_user = "monitor"
    monitor_password = "monitor-secret"

    def __init__(self, base: Path, port: Optional[int] = None, database: str = "app"):
        self.base = Path(base)
        self.data = self.base / "pgdata"
        self.sock = self.base / "pgsock"
        self.port = port or free_port()
        self.database = database
        self._as_postgres = os.geteuid() == 0

    def _run(self, argv: List[str], **kwargs) -> subprocess.CompletedProcess:
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # noqa: S603

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> "Postgres":
        if not (PG_BIN / "initdb").exists():
            raise ServiceError("PostgreSQL 15 is not installed (%s): run scripts/setup" % PG_BIN)
        self._own(self.base)
        if self._as_postgres:
            os.chmod(self.base, 0o755)
            if self._run(["test", "-x", str(self.base)]).returncode:
                raise ServiceError("the postgres user cannot reach %s: choose a base directory whose "
                                   "parents are world-traversable" % self.base)
        self._own(self.sock)
        if not (self.data / "PG_VERSION").exists():
            self._own(self.data)
            pwfile = self.sock / "pw"
            pwfile.write_text(self.password)
            if self._as_postgres:
                entry = pwd.getpwnam("postgres")
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            done = self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.superuser,
                              "--pwfile", str(pwfile), "-A", "scram-sha-256", "--auth-local=trust",
                              "-E", "UTF8", "--locale=C.UTF-8"])
            pwfile.unlink()
            if done.returncode:
                raise ServiceError("initdb failed: %s" % done.stderr.strip())
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write("\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                           "shared_preload_libraries = 'pg_stat_statements'\n"
                           "max_connections = 100\n")
        done = self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                          "-l", str(self.base / "postgres.log"),
                          "-o", "-p %d -k %s -c listen_addresses=127.0.0.1" % (self.port, self.sock),
                          "start"])
        if done.returncode:
            log = (self.base / "postgres.log")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise ServiceError("PostgreSQL did not start: %s %s" % (done.stderr.strip(), tail))
        self._bootstrap()
        return self

    def psql(self, sql: str, database: Optional[str] = None) -> str:
        """Run ``sql`` as the superuser over the Unix socket; return stdout."""
        done = self._run([str(PG_BIN.parent / "bin" / "psql"), "-h", str(self.sock), "-p", str(self.port),
                          "-U", self.superuser, "-d", database or "postgres", "-v", "ON_ERROR_STOP=1",
                          "-qAt", "-c", sql])
        if done.returncode:
            raise ServiceError("psql failed: %s" % done.stderr.strip())
        return done.stdout

    def _bootstrap(self) -> None:
        exists = self.psql("SELECT 1 FROM pg_database WHERE datname = '%s'" % self.database).strip()
        if not exists:
            self.psql('CREATE DATABASE "%s"' % self.database)
        self.psql(
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN "
            "CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE pg_monitor; END IF; END$$"
            % (self.monitor_user, self.monitor_user, self.monitor_password)
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def is_running(self) -> bool:
        done = self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"])
        return done.returncode == 0

    def dsn(self, user: Optional[str] = None, database: Optional[str] = None) -> Dict[str, object]:
        """Connection settings as runbook.ops module parameters."""
        user = user or self.superuser
        password = self.monitor_password if user == self.monitor_user else self.password
        return {"login_host": "127.0.0.1", "port": self.port, "login_user": user,
                "login_password": password, "database": database or self.database}


class Redis:
    """redis-server from Debian's package on 127.0.0.1:port, no persistence."""

    def __init__(self, base: Path, port: Optional[int] = None, password: Optional[str] = None):
        self.base = Path(base)
        self.port = port or free_port()
        self.password = password
        self.pidfile = self.base / "redis.pid"

    def start(self) -> "Redis":
        binary = shutil.which("redis-server")
        if not binary:
            raise ServiceError("redis-server is not installed: run scripts/setup")
        self.base.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "yes", "--pidfile", str(self.pidfile),
                "--dir", str(self.base), "--logfile", str(self.base / "redis.log"),
                "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]
        if self.password:
            argv += ["--requirepass", self.password]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode:
            raise ServiceError("redis-server did not start: %s" % (done.stderr or done.stdout).strip())
        wait_port(self.port)
        return self

    def stop(self) -> None:
        _kill_pidfile(self.pidfile)

    def is_running(self) -> bool:
        try:
            wait_port(self.port, timeout=0.3)
        except ServiceError:
            return False
        return True


class Moto:
    """moto's S3-compatible server (PyPI moto[server]) on 127.0.0.1:port."""

    access_key = "sandbox"
    secret_key = "sandbox-secret"

    def __init__(self, base: Path, port: Optional[int] = None):
        self.base = Path(base)
        self.port = port or free_port()
        self.pidfile = self.base / "moto.pid"

    @property
    def endpoint_url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def start(self) -> "Moto":
        self.base.mkdir(parents=True, exist_ok=True)
        binary = Path(sys.executable).with_name("moto_server")
        if not binary.exists():
            raise ServiceError("moto_server is not installed: run scripts/setup")
        _spawn([str(binary), "-H", "127.0.0.1", "-p", str(self.port)], self.base / "moto.log", self.pidfile)
        wait_port(self.port, timeout=30)
        return self

    def stop(self) -> None:
        _kill_pidfile(self.pidfile)


class DemoApp:
    """The demo web app (sandbox/demo_app.py) standing in for the seeds' API and web app."""

    def __init__(self, base: Path, name: str, port: Optional[int] = None,
                 postgres: Optional[Postgres] = None, redis: Optional[Redis] = None,
                 metrics_prefix: str = "finchat_"):
        self.base = Path(base)
        self.name = name
        self.port = port or free_port()
        self.postgres = postgres
        self.redis = redis
        self.metrics_prefix = metrics_prefix
        self.pidfile = self.base / ("%s.pid" % name)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def start(self) -> "DemoApp":
        self.base.mkdir(parents=True, exist_ok=True)
        config = {"name": self.name, "port": self.port, "metrics_prefix": self.metrics_prefix,
                  "log_file": str(self.base / ("%s.log" % self.name))}
        if self.postgres:
            config["postgres"] = self.postgres.dsn()
        if self.redis:
            config["redis"] = {"host": "127.0.0.1", "port": self.redis.port, "password": self.redis.password}
        cfg = self.base / ("%s.json" % self.name)
        cfg.write_text(json.dumps(config))
        _spawn([sys.executable, str(REPO / "sandbox" / "demo_app.py"), str(cfg)],
               self.base / ("%s.out" % self.name), self.pidfile)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        _kill_pidfile(self.pidfile)
