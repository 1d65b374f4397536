"""A real Kubernetes v1.20.2 control plane on loopback, for the tests, the benchmark and the sandbox.

    python -m sandbox.k8s start --base DIR [--nodes N]   start it; prints KUBECONFIG=...
    python -m sandbox.k8s stop --base DIR                 stop it (and drop its etcd data)
    python -m sandbox.k8s status --base DIR
    python -m sandbox.k8s binaries                        unpack (or build) the binaries; print their dir

(``scripts/k8s-control-plane`` runs this with the project's venv.)

What runs: Debian's etcd-server, the real kube-apiserver, kube-controller-manager and
kube-scheduler, and a fake kubelet (``fake_kubelet.py``) that registers Nodes and makes the pods
bound to them Running and Ready by image name: ``never-ready`` stays unready, ``pull-fail`` or
``does-not-exist`` stays Pending in ImagePullBackOff. No container runs: no logs, no exec, no probes.
All of it comes from the control-plane folder (README.md there):

- the folder: E(RUNBOOK_OPS_K8S_CP_DIR), else ``shared/k8s-control-plane`` beside the repository
  (``<repo>/../shared/k8s-control-plane``), else beside the checkout this one was cloned from
  (its ``origin`` remote when that is a local path, as in a fresh clone of /work/main at /tmp/fresh),
  else beside the main checkout of a git worktree;
- the binaries: ``k8s-cp-bin-v1.20.2.tar.zst`` there, its SHA-256 checked against the one pinned here
  (and the ``.sha256`` file beside it), unpacked once into the cache
  (E(RUNBOOK_OPS_K8S_CACHE), default ``~/.cache/runbook-ops/k8s``); where the archive is missing,
  built from Debian's ``kubernetes`` source package with the folder's ``build.sh`` (about 7 minutes
  of CPU, needs root for apt-get), into the same cache, once;
- ``cp.sh`` starts the processes, here on free loopback ports, with its state under ``--base``.

etcd comes from Debian's ``etcd-server`` package (scripts/setup installs it).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from sandbox.services import REPO, ServiceError, free_port

VERSION = "v1.20.2"
ARCHIVE = "k8s-cp-bin-%s.tar.zst" % VERSION
# The archive in the control-plane folder (a reproducible build: byte-identical on every rebuild).
ARCHIVE_SHA256 = "f6297a54d2e2a8bd1b0f69ee5543983bfa1500cbe6f970cb0f98f62a4ef841fe"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
FOLDER = Path("shared") / "k8s-control-plane"
START_TIMEOUT = 240  # cp.sh waits up to 90 s for the apiserver, 60 s for the token, 30 s for the node


def _git(args: List[str], cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def candidate_dirs(repo: Path = REPO, environ: Optional[Dict[str, str]] = None) -> List[Path]:
    """Where the control-plane folder may be, in order (see the module's docstring)."""
    environ = os.environ if environ is None else environ
    if environ.get("RUNBOOK_OPS_K8S_CP_DIR"):
        return [Path(environ["RUNBOOK_OPS_K8S_CP_DIR"]).expanduser()]
    found = [repo.parent / FOLDER]
    origin = _git(["config", "--get", "remote.origin.url"], repo)
    if origin.startswith("file://"):
        origin = origin[len("file://"):]
    if origin.startswith("/"):
        found.append(Path(origin).resolve().parent / FOLDER)
    common = _git(["rev-parse", "--path-format=absolute", "--git-common-dir"], repo)
    if common:
        found.append(Path(common).resolve().parent.parent / FOLDER)
    unique: List[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def find_folder(repo: Path = REPO, environ: Optional[Dict[str, str]] = None) -> Path:
    """The control-plane folder (it holds cp.sh); ServiceError naming the places looked at."""
    places = candidate_dirs(repo, environ)
    for path in places:
        if (path / "cp.sh").is_file() and (path / "fake_kubelet.py").is_file():
            return path
    raise ServiceError("the Kubernetes control-plane folder (cp.sh, fake_kubelet.py, %s) is not at %s: "
                       "set RUNBOOK_OPS_K8S_CP_DIR" % (ARCHIVE, ", ".join(str(p) for p in places)))


def cache_dir(environ: Optional[Dict[str, str]] = None) -> Path:
    environ = os.environ if environ is None else environ
    if environ.get("RUNBOOK_OPS_K8S_CACHE"):
        return Path(environ["RUNBOOK_OPS_K8S_CACHE"]).expanduser()
    return Path.home() / ".cache" / "runbook-ops" / "k8s"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_archive(archive: Path, expected: str = ARCHIVE_SHA256) -> None:
    """ServiceError unless the archive's SHA-256 is the pinned one (and the one in its .sha256 file)."""
    side = archive.with_name(archive.name + ".sha256")
    if side.is_file():
        listed = side.read_text().split()
        if listed and listed[0] != expected:
            raise ServiceError("%s says %s, but this project pins %s for %s" % (side, listed[0], expected, archive.name))
    actual = sha256_of(archive)
    if actual != expected:
        raise ServiceError("%s has SHA-256 %s, expected %s: a damaged or different archive" % (archive, actual, expected))


def _complete(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in BINARIES)


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One unpacker or builder at a time (pytest-xdist workers share the cache)."""
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def unpack(archive: Path, cache: Path) -> Path:
    """The binaries of the (verified) archive, unpacked once into ``cache/<version>-<sha>/bin``."""
    target = cache / ("%s-%s" % (VERSION, ARCHIVE_SHA256[:12])) / "bin"
    if _complete(target):
        return target
    with _locked(cache):
        if _complete(target):
            return target
        verify_archive(archive)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="bin-", dir=str(target.parent)))
        done = subprocess.run(["tar", "--zstd", "-xf", str(archive), "-C", str(scratch)],
                              capture_output=True, text=True, check=False)
        if done.returncode or not _complete(scratch):
            shutil.rmtree(scratch, ignore_errors=True)
            raise ServiceError("cannot unpack %s (needs zstd): %s" % (archive, done.stderr.strip()[-500:]))
        shutil.rmtree(target, ignore_errors=True)
        scratch.rename(target)
    return target


def build(folder: Path, cache: Path) -> Path:
    """The binaries built from Debian's source package with the folder's build.sh, once (cached)."""
    target = cache / ("%s-built" % VERSION) / "bin"
    if _complete(target):
        return target
    with _locked(cache):
        if _complete(target):
            return target
        work = cache / "build"
        work.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OUT=str(target), WORK=str(work / "src"), GOPATH=str(work / "gopath"),
                   GOCACHE=str(work / "gocache"), TOOLS=str(work / "tools"))
        target.mkdir(parents=True, exist_ok=True)
        with open(work / "build.log", "w") as log:
            done = subprocess.run(["bash", str(folder / "build.sh")], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, check=False)
        if done.returncode or not _complete(target):
            tail = (work / "build.log").read_text(errors="replace")[-1500:]
            raise ServiceError("building the Kubernetes binaries with %s failed (exit %s): %s"
                               % (folder / "build.sh", done.returncode, tail))
    return target


def binaries(folder: Optional[Path] = None, cache: Optional[Path] = None) -> Path:
    """The directory of kube-apiserver, kube-controller-manager and kube-scheduler."""
    folder = folder or find_folder()
    cache = cache or cache_dir()
    archive = folder / ARCHIVE
    if archive.is_file():
        return unpack(archive, cache)
    return build(folder, cache)


def etcd_binary() -> str:
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
    if not found:
        raise ServiceError("etcd is not installed (Debian package etcd-server): run scripts/setup")
    return found


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + fake kubelet, under ``base``."""

    def __init__(self, base: Path, nodes: int = 1, folder: Optional[Path] = None,
                 env: Optional[Dict[str, str]] = None):
        self.base = Path(base)
        self.run_dir = self.base / "run"
        self.nodes = nodes
        self.folder = folder
        self.extra_env = dict(env or {})
        self.port: Optional[int] = None

    @property
    def kubeconfig(self) -> str:
        return str(self.run_dir / "admin.kubeconfig")

    @property
    def token(self) -> str:
        return (self.run_dir / "pki" / "token").read_text().strip()

    @property
    def ca_cert(self) -> str:
        return str(self.run_dir / "pki" / "ca.crt")

    @property
    def url(self) -> str:
        return "https://127.0.0.1:%d" % self.port

    def _cp(self, action: str, env: Dict[str, str], timeout: float) -> subprocess.CompletedProcess:
        folder = self.folder or find_folder()
        return subprocess.run(["bash", str(folder / "cp.sh"), action], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)

    def _env(self) -> Dict[str, str]:
        env = dict(os.environ, RUN=str(self.run_dir), PY=sys.executable, NODES=str(self.nodes))
        env.update(self.extra_env)
        return env

    def start(self) -> "ControlPlane":
        self.folder = self.folder or find_folder()
        env = self._env()
        env.update(BIN=str(binaries(self.folder)), ETCD=etcd_binary())
        self.port = free_port()
        env.update(APISERVER_PORT=str(self.port), ETCD_PORT=str(free_port()), ETCD_PEER_PORT=str(free_port()))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.base / "ports").write_text("%d\n" % self.port)
        try:
            done = self._cp("start", env, START_TIMEOUT)
        except subprocess.TimeoutExpired:
            done = None
        if done is None or done.returncode:
            logs = self.logs()
            self.stop()
            raise ServiceError("the Kubernetes control plane did not start: %s\n%s"
                               % ((done.stderr.strip() if done else "timed out after %ss" % START_TIMEOUT), logs))
        return self

    def logs(self, size: int = 800) -> str:
        parts = []
        for log in sorted(self.run_dir.glob("*.log")):
            parts.append("--- %s\n%s" % (log.name, log.read_text(errors="replace")[-size:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Kill the processes at once (their state is thrown away: cp.sh stop removes etcd's data),
        then let cp.sh clean up. A graceful stop takes about 10 s, mostly the apiserver's."""
        if not self.run_dir.is_dir():
            return
        for pidfile in self.run_dir.glob("*.pid"):
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
        self._cp("stop", self._env(), 60)

    def status(self) -> str:
        return self._cp("status", self._env(), 30).stdout


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.k8s", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("action", choices=["start", "stop", "status", "binaries"])
    parser.add_argument("--base", default=str(REPO / ".sandbox" / "k8s"), help="state directory (default .sandbox/k8s)")
    parser.add_argument("--nodes", type=int, default=1, help="fake nodes (default 1)")
    args = parser.parse_args(argv)
    try:
        if args.action == "binaries":
            print(binaries())
            return 0
        plane = ControlPlane(Path(args.base), nodes=args.nodes)
        if args.action == "start":
            plane.start()
            print("KUBECONFIG=%s" % plane.kubeconfig)
        elif args.action == "stop":
            plane.stop()
        else:
            print(plane.status(), end="")
    except ServiceError as exc:
        print("k8s: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
