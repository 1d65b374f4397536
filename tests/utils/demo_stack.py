"""The demo stack of the deploy tests and the deploy benchmark, on the real Docker engine.

A demo app (tests/integration/assets/demo_image, built from the local base image in
three tags: v1 and v2 good, v3 whose health check fails) runs as Compose-labelled
replicas on a user-defined bridge network, behind an nginx load balancer container
(Debian's nginx package) that finds them through Docker's embedded DNS and a network
alias shared by the replicas: new replicas join and removed ones leave by themselves.
The load balancer serves the maintenance page while /var/www/maintenance/maintenance.on
exists (bind-mount a directory there). A load generator thread sends requests to it.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import docker

ASSETS = Path(__file__).resolve().parents[1] / "integration" / "assets" / "demo_image"
APP_IMAGE = "runbook-ops/demo-app"
LB_IMAGE = "runbook-ops/test-lb:1"
HASH_LABEL = "runbook.ops.test.asset-hash"
TEST_LABEL = "runbook.ops.test"
ALIAS = "demo"
MAINTENANCE_DIR = "/var/www/maintenance"


def asset_hash(*names: str) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update((ASSETS / name).read_bytes())
    return digest.hexdigest()[:16]


def build_demo_images(client) -> Dict[str, str]:
    """The three demo tags (built once, kept for reuse; rebuilt when the assets change): tag -> image ID."""
    wanted = asset_hash("Dockerfile", "app.py")
    ids = {}
    for version, broken in (("v1", "0"), ("v2", "0"), ("v3", "1")):
        tag = "%s:%s" % (APP_IMAGE, version)
        stale = None
        try:
            image = client.images.get(tag)
            if image.labels.get(HASH_LABEL) != wanted:
                stale = image.id
                raise docker.errors.ImageNotFound("stale")
        except docker.errors.ImageNotFound:
            image, _logs = client.images.build(path=str(ASSETS), tag=tag, pull=False, rm=True, forcerm=True,
                                               buildargs={"APP_VERSION": version, "APP_BROKEN": broken},
                                               labels={HASH_LABEL: wanted, TEST_LABEL: "1"})
            if stale and stale != image.id:
                try:
                    client.images.remove(stale)  # the outdated build, now untagged
                except docker.errors.APIError:
                    pass
        ids[version] = image.id
    assert len(set(ids.values())) == 3
    return ids


def build_lb_image(client) -> str:
    """nginx from Debian's packages in the base image; the .debs are fetched with apt-get download."""
    try:
        client.images.get(LB_IMAGE)
        return LB_IMAGE
    except docker.errors.ImageNotFound:
        pass
    context = Path(tempfile.mkdtemp(prefix="runbook-ops-lb-"))
    try:
        shutil.copy(ASSETS / "lb" / "Dockerfile", context / "Dockerfile")
        download = ["apt-get", "download", "-q", "nginx", "nginx-common"]
        if subprocess.run(download, cwd=str(context), check=False, capture_output=True, timeout=300).returncode:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=300)
            subprocess.run(download, cwd=str(context), check=True, capture_output=True, timeout=300)
        client.images.build(path=str(context), tag=LB_IMAGE, pull=False, rm=True, forcerm=True,
                            labels={TEST_LABEL: "1"})
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return LB_IMAGE


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s" % what)


class Service:
    """Replicas of the demo app with Compose labels on their own network, plus an nginx in front."""

    def __init__(self, client, project: str, network, tmp: Path):
        self.client = client
        self.project = project
        self.network = network
        self.tmp = tmp
        self.lb = None

    @property
    def labels(self) -> List[str]:
        return ["com.docker.compose.project=%s" % self.project, "com.docker.compose.service=api"]

    def start_replica(self, index: int, image: str, ports: Any = None):
        name = "%s-api-%d" % (self.project, index)
        (self.tmp / "data").mkdir(exist_ok=True)
        container = self.client.containers.create(
            image, name=name, detach=True,
            labels={"com.docker.compose.project": self.project, "com.docker.compose.service": "api",
                    "com.docker.compose.container-number": str(index), TEST_LABEL: "1", "team": "payments"},
            environment={"CUSTOM_SETTING": "keep-me"},
            volumes={str(self.tmp / "data"): {"bind": "/data", "mode": "ro"}},
            restart_policy={"Name": "unless-stopped"},
            ports=ports,
            network=self.network.name,
            networking_config={self.network.name: self.client.api.create_endpoint_config(aliases=[ALIAS, "api"])},
        )
        container.start()
        return container

    def replicas(self):
        found = self.client.containers.list(filters={"label": self.labels})
        return sorted(found, key=lambda c: c.name)

    def wait_healthy(self, count: int, timeout: float = 30.0):
        def healthy():
            items = self.replicas()
            states = [c.attrs["State"].get("Health", {}).get("Status") for c in items]
            return len(items) == count and all(s == "healthy" for s in states)
        wait_for(healthy, timeout=timeout, what="%d healthy replicas" % count)

    def snapshot(self) -> Dict[str, Dict[str, str]]:
        return {c.name: {"id": c.id, "image": c.attrs["Image"]} for c in self.replicas()}

    def start_lb(self, lb_image: str, maintenance_dir: Optional[Path] = None):
        """Start nginx in front of the replicas; ``maintenance_dir`` is mounted at MAINTENANCE_DIR."""
        conf = (ASSETS / "lb" / "nginx.conf.template").read_text().replace("@BACKEND@", ALIAS).replace("@PORT@", "8000")
        path = self.tmp / "nginx.conf"
        path.write_text(conf)
        volumes = {str(path): {"bind": "/etc/nginx/nginx.conf", "mode": "ro"}}
        if maintenance_dir is not None:
            volumes[str(maintenance_dir)] = {"bind": MAINTENANCE_DIR, "mode": "ro"}
        self.lb = self.client.containers.run(
            lb_image, name="%s-lb" % self.project, detach=True,
            labels={TEST_LABEL: "1", "runbook.ops.test.project": self.project},
            volumes=volumes, network=self.network.name)
        self.lb.reload()
        address = self.lb.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"]

        def answers():
            try:
                return get(address, "/")[0] == 200
            except OSError:
                return False
        wait_for(answers, what="the load balancer")
        return address

    def remove_all(self):
        for label in ("com.docker.compose.project=%s" % self.project, "runbook.ops.test.project=%s" % self.project):
            for container in self.client.containers.list(all=True, filters={"label": [label]}):
                container.remove(force=True)


def get(host: str, path: str, timeout: float = 5.0, port: int = 80):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


class LoadGenerator(threading.Thread):
    """GET / on the load balancer as fast as one connection allows; records every outcome."""

    def __init__(self, host: str, pause: float = 0.01):
        super().__init__(daemon=True)
        self.host = host
        self.pause = pause
        self.outcomes: List[Dict[str, Any]] = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            at = time.monotonic()
            try:
                status, body = get(self.host, "/")
                self.outcomes.append({"at": at, "ok": status == 200, "status": status, "body": body.strip()})
            except (OSError, http.client.HTTPException) as exc:
                self.outcomes.append({"at": at, "ok": False, "status": None, "body": repr(exc)})
            time.sleep(self.pause)

    def stop(self):
        self.stopping.set()
        self.join(10)

    @property
    def failed(self) -> List[Dict[str, Any]]:
        return [o for o in self.outcomes if not o["ok"]]
