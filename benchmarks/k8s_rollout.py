"""Roll a 10-replica Deployment to a new image: runbook.ops.k8s_rollout (with its HTTP gate) against
`kubectl set image` + `kubectl rollout status`, on the same real control plane.

The control plane is the tests' own (sandbox/k8s.py: etcd, the real kube-apiserver,
controller-manager and scheduler v1.20.2, a fake kubelet that makes pods Running and Ready at once),
started here unless --kubeconfig names a running one. A Deployment `web` of --replicas replicas
(RollingUpdate 25%/25%, the defaults) is created in a scratch namespace; then, for --rounds rounds,
each way rolls it to a new image tag in turn (ours, then kubectl, alternating which goes first):

- ours: `k8s_rollout` with `images` and an `http_gate` of one endpoint (a loopback HTTP server
  answering 200), run in-process the way Ansible runs a module (utils.run.run_module: the argument
  spec, the client set-up, the patch, the wait for the rollout, the gate), timed from the call to
  its return; `wait_sleep` is --wait-sleep (default 2 s, the module's own; the pause between two
  reads is a watch of the Deployment that ends when the controller writes);
- kubectl: `kubectl set image deployment/web web=<image>` then `kubectl rollout status
  deployment/web`, two processes, timed from the first's start to the second's end. kubectl is the
  first on PATH (here Google Cloud SDK's v1.32 client; Debian's kubernetes-client 1.20 would do).
  Without kubectl, the kubernetes Python client does the same two steps (a strategic-merge patch of
  the image, then a watch until the rollout is complete) and the output says so.

The medians of the rounds are printed; the last line is the ratio ours / kubectl.

    .venv/bin/python benchmarks/k8s_rollout.py [--replicas 10] [--rounds 3] [--wait-sleep 2] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "collection", ROOT / "tests"):
    sys.path.insert(0, str(entry))


class Health(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # silence
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = b'{"status": "healthy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def complete(dep: Any) -> bool:
    spec, status = dep.spec, dep.status
    return bool((status.observed_generation or 0) >= dep.metadata.generation
                and (status.updated_replicas or 0) == spec.replicas and (status.replicas or 0) == spec.replicas
                and (status.available_replicas or 0) == spec.replicas)


def python_client_way(apps: Any, namespace: str, image: str, timeout: float = 120) -> None:
    """The two kubectl steps with the Python client: patch the image, then watch until complete."""
    from kubernetes import watch  # noqa: PLC0415

    apps.patch_namespaced_deployment("web", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": image}]}}}})
    if complete(apps.read_namespaced_deployment("web", namespace)) and \
            apps.read_namespaced_deployment("web", namespace).spec.template.spec.containers[0].image == image:
        return
    stream = watch.Watch()
    for event in stream.stream(apps.list_namespaced_deployment, namespace, field_selector="metadata.name=web",
                               timeout_seconds=int(timeout)):
        if complete(event["object"]):
            stream.stop()
            return
    raise RuntimeError("rollout did not complete within %ss" % timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wait-sleep", type=float, default=2, help="k8s_rollout's wait_sleep (default 2, the module's)")
    parser.add_argument("--kubeconfig", help="a running cluster's kubeconfig (default: start the tests' control plane)")
    args = parser.parse_args()

    from kubernetes import client as kube_client  # noqa: PLC0415
    from kubernetes import config as kube_config  # noqa: PLC0415

    from sandbox.k8s import ControlPlane  # noqa: PLC0415
    from utils.run import run_module  # noqa: PLC0415

    base = None
    plane = None
    if args.kubeconfig:
        kubeconfig = args.kubeconfig
    else:
        base = Path(tempfile.mkdtemp(prefix="runbook-ops-k8s-bench-"))
        started = time.monotonic()
        plane = ControlPlane(base).start()
        kubeconfig = plane.kubeconfig
        print("control plane started in %.1f s" % (time.monotonic() - started))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    gate_url = "http://127.0.0.1:%d/health" % httpd.server_address[1]
    api_client = kube_config.new_client_from_config(config_file=kubeconfig)
    core, apps = kube_client.CoreV1Api(api_client), kube_client.AppsV1Api(api_client)
    namespace = "rbbench-%s" % uuid.uuid4().hex[:6]
    kubectl = shutil.which("kubectl")
    try:
        core.create_namespace({"metadata": {"name": namespace}})
        apps.create_namespaced_deployment(namespace, {
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": args.replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "reg/web:0"}],
                                           "terminationGracePeriodSeconds": 0}}}})
        deadline = time.monotonic() + 120
        while not complete(apps.read_namespaced_deployment("web", namespace)):
            if time.monotonic() > deadline:
                raise RuntimeError("the initial rollout did not complete")
            time.sleep(0.2)

        tag = [0]

        def next_image() -> str:
            tag[0] += 1
            return "reg/web:%d" % tag[0]

        def ours() -> None:
            result = run_module("k8s_rollout", {
                "kubeconfig": kubeconfig, "namespace": namespace, "name": "web", "images": {"web": next_image()},
                "wait_sleep": args.wait_sleep, "wait_timeout": 120,
                "http_gate": {"endpoints": [{"name": "web", "url": gate_url}], "timeout": 30, "interval": 0.5}})
            assert result["status"] == "ok" and result["changed"], result["summary"]

        def theirs() -> None:
            image = next_image()
            if kubectl:
                base_cmd = [kubectl, "--kubeconfig", kubeconfig, "-n", namespace]
                subprocess.run(base_cmd + ["set", "image", "deployment/web", "web=%s" % image], check=True,
                               capture_output=True, timeout=60)
                subprocess.run(base_cmd + ["rollout", "status", "deployment/web", "--timeout=120s"], check=True,
                               capture_output=True, timeout=130)
            else:
                python_client_way(apps, namespace, image)

        ways: Dict[str, Callable[[], None]] = {"ours": ours, "kubectl": theirs}
        times: Dict[str, List[float]] = {"ours": [], "kubectl": []}
        for round_no in range(args.rounds):
            order = ["ours", "kubectl"] if round_no % 2 == 0 else ["kubectl", "ours"]
            for name in order:
                started = time.monotonic()
                ways[name]()
                times[name].append(time.monotonic() - started)
            print("round %d: k8s_rollout %.2f s, kubectl %.2f s" % (round_no + 1, times["ours"][-1], times["kubectl"][-1]))
        if kubectl:
            version = subprocess.run([kubectl, "version", "--client", "-o", "yaml"], capture_output=True, text=True,
                                     check=False).stdout
            what = "kubectl %s" % version.split("gitVersion:")[1].split()[0]
        else:
            what = "no kubectl here: the kubernetes Python client did its two steps (patch, watch)"
        ours_median, theirs_median = statistics.median(times["ours"]), statistics.median(times["kubectl"])
        print("%d replicas, %d rounds, wait_sleep %g s, gate of 1 endpoint; peer: %s"
              % (args.replicas, args.rounds, args.wait_sleep, what))
        print("k8s_rollout (with the gate) median %.2f s; kubectl set image + rollout status median %.2f s"
              % (ours_median, theirs_median))
        print("ratio ours/kubectl: %.2fx" % (ours_median / theirs_median))
    finally:
        try:
            core.delete_namespace(namespace)
        except Exception:  # noqa: BLE001 - the plane may be gone already
            pass
        api_client.close()
        httpd.shutdown()
        if plane is not None:
            plane.stop()
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
