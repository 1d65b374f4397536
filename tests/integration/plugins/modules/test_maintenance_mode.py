"""runbook.ops.maintenance_mode and playbooks/maintenance.yml against a real nginx.

The demo stack's load balancer (nginx from Debian's packages, demo_stack.py) runs in a
container with a host directory bind-mounted at /var/www/maintenance; its configuration
(assets/demo_image/lb/nginx.conf.template) answers 503 with the page while the flag
file exists. The module writes on the host; nginx sees the files through the mount.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import docker
import pytest

from utils.run import ModuleFailed, run_module
from utils.demo_stack import (
    APP_IMAGE,
    TEST_LABEL,
    Service,
    build_demo_images,
    build_lb_image,
    get,
)

ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One demo replica (v1) behind the load balancer, the maintenance directory mounted."""
    client = docker.from_env(timeout=60)
    build_demo_images(client)
    lb_image = build_lb_image(client)
    tmp = tmp_path_factory.mktemp("maint")
    maint = tmp / "maintenance"
    maint.mkdir()
    os.chmod(maint, 0o755)  # nginx's workers (www-data) read it
    project = "rbdep%s" % uuid.uuid4().hex[:8]
    network = client.networks.create("%s_default" % project, driver="bridge", labels={TEST_LABEL: "1"})
    svc = Service(client, project, network, tmp)
    try:
        svc.start_replica(1, "%s:v1" % APP_IMAGE)
        svc.wait_healthy(1)
        lb = svc.start_lb(lb_image, maintenance_dir=maint)
        yield {"svc": svc, "lb": lb, "dir": maint, "url": "http://%s/" % lb}
    finally:
        svc.remove_all()
        network.remove()
        client.close()


@pytest.fixture(autouse=True)
def maintenance_off(request):
    yield
    if "stack" not in request.fixturenames:  # the tests without the demo stack need no Docker
        return
    flag = request.getfixturevalue("stack")["dir"] / "maintenance.on"
    if flag.exists():
        flag.unlink()


@pytest.fixture()
def app_url():
    """A URL that always answers 200 with the application: never the maintenance page."""
    class App(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's name)
            body = b"the application\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()
    server.server_close()


def _mm(stack, check_mode=False, diff=False, **args):
    params = {"path": str(stack["dir"]), "verify_url": stack["url"], "verify_timeout": 5}
    params.update(args)
    if diff:
        params["_ansible_diff"] = True
    return run_module("maintenance_mode", params, check_mode=check_mode)


def test_on_serves_the_page_with_503_and_off_serves_the_app_again(stack):
    assert get(stack["lb"], "/")[0] == 200

    dry = _mm(stack, check_mode=True, diff=True, state="on", notice="Emergency maintenance in progress")
    assert dry["changed"] is True and dry["status"] == "ok"
    assert dry["actions"] == ["write_page", "create_flag"]
    assert "would turn maintenance on" in dry["checks"][0]["message"]
    assert "Emergency maintenance in progress" in dry["diff"][0]["after"]
    assert os.listdir(stack["dir"]) == []                       # check mode wrote nothing
    assert get(stack["lb"], "/")[0] == 200

    on = _mm(stack, state="on", notice="Emergency maintenance in progress")
    assert on["changed"] is True and on["status"] == "ok", on["summary"]
    assert on["state"] == "on" and on["since"].endswith("Z")
    assert on["metrics"]["maintenance_on"] == 1.0
    verify = [c for c in on["checks"] if c["name"] == "maintenance.verify"][0]
    assert verify["status"] == "ok" and "503 with the maintenance page" in verify["message"]
    for path in ("/", "/health", "/api/v1/anything"):
        status, body = get(stack["lb"], path)
        assert status == 503 and "Emergency maintenance in progress" in body, (path, status, body[:200])
    assert (stack["dir"] / "maintenance.html").read_text() == body

    again = _mm(stack, state="on", notice="Emergency maintenance in progress", diff=True)
    assert again["changed"] is False and again["actions"] == [] and again["diff"] == []
    assert "already on" in again["checks"][0]["message"]

    reworded = _mm(stack, state="on", notice="Back at 3 AM", diff=True)
    assert reworded["changed"] is True and reworded["actions"] == ["write_page"]
    assert "Back at 3 AM" in reworded["diff"][0]["after"] and "Emergency" in reworded["diff"][0]["before"]
    assert "Back at 3 AM" in get(stack["lb"], "/")[1]

    off = _mm(stack, state="off", diff=True)
    assert off["changed"] is True and off["status"] == "ok", off["summary"]
    assert off["actions"] == ["remove_flag"] and off["since"] is None
    assert off["diff"] == [{"before_header": str(stack["dir"] / "maintenance.on"),
                            "after_header": str(stack["dir"] / "maintenance.on"),
                            "before": "state: present\n", "after": "state: absent\n"}]
    status, body = get(stack["lb"], "/")
    assert status == 200 and body.startswith("demo v1")
    assert _mm(stack, state="off")["changed"] is False


def test_nginx_serves_it_as_html_with_retry_after(stack):
    _mm(stack, state="on")
    conn = http.client.HTTPConnection(stack["lb"], 80, timeout=5)
    conn.request("GET", "/")
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 503
    assert response.getheader("Retry-After") == "300"
    assert response.getheader("Content-Type").startswith("text/html")


def test_verification_fails_when_the_url_does_not_serve_the_page(stack):
    # The replica itself, not the load balancer: it knows nothing of the flag.
    replica = stack["svc"].replicas()[0]
    address = replica.attrs["NetworkSettings"]["Networks"][stack["svc"].network.name]["IPAddress"]
    result = _mm(stack, state="on", verify_url="http://%s:8000/" % address, verify_timeout=0.5)
    assert result["status"] == "critical" and result["changed"] is True
    verify = [c for c in result["checks"] if c["name"] == "maintenance.verify"][0]
    assert verify["status"] == "critical" and "HTTP 200, not 503" in verify["message"]


def test_reload_command_runs_after_a_change_only(stack):
    name = stack["svc"].lb.name
    reload_cmd = ["docker", "exec", name, "nginx", "-s", "reload"]
    on = _mm(stack, state="on", notice="Reloaded", reload_command=reload_cmd)
    assert on["status"] == "ok", on["summary"]
    assert on["actions"] == ["write_page", "create_flag", "reload"]
    assert [c for c in on["checks"] if c["name"] == "maintenance.reload"][0]["status"] == "ok"
    again = _mm(stack, state="on", notice="Reloaded", reload_command=reload_cmd)
    assert "reload" not in again["actions"]
    assert not [c for c in again["checks"] if c["name"] == "maintenance.reload"]
    failed = _mm(stack, state="off", reload_command=["docker", "exec", "rbdep-no-such-container", "true"])
    reload_check = [c for c in failed["checks"] if c["name"] == "maintenance.reload"][0]
    assert reload_check["status"] == "critical" and "exited" in reload_check["message"]
    assert failed["status"] == "critical"


def test_bad_input_fails_with_a_clear_message(tmp_path):
    with pytest.raises(ModuleFailed) as info:
        run_module("maintenance_mode", {"state": "on", "path": str(tmp_path), "page_name": "../evil.html"})
    assert "page_name must be a plain file name" in info.value.result["msg"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ModuleFailed) as info:
        run_module("maintenance_mode", {"state": "on", "path": str(a_file)})
    assert "is not a directory" in info.value.result["msg"]
    with pytest.raises(ModuleFailed) as info:
        run_module("maintenance_mode", {"state": "on", "path": str(tmp_path), "verify_url": "ftp://x/"})
    assert "verify_url" in info.value.result["msg"]
    with pytest.raises(ModuleFailed) as info:
        run_module("maintenance_mode", {"state": "maybe", "path": str(tmp_path)})
    assert "state" in info.value.result["msg"]
    assert not (tmp_path / "maintenance.on").exists()


def test_unwritable_directory_fails_the_task_with_the_result_schema(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    os.chmod(parent, 0o555)
    try:
        if os.access(str(parent), os.W_OK):  # root ignores permissions: use a path under a file instead
            blocker = tmp_path / "blocker"
            blocker.write_text("")
            target = blocker / "maintenance"
        else:
            target = parent / "maintenance"
        with pytest.raises(ModuleFailed) as err:
            run_module("maintenance_mode", {"state": "on", "path": str(target)})
    finally:
        os.chmod(parent, 0o755)
    # A switch that could not be carried out fails its task, keeping the result schema.
    result = err.value.result
    assert result["status"] == "critical" and result["changed"] is False
    assert "cannot turn maintenance on" in result["checks"][0]["message"]
    assert result["msg"] == result["summary"] and result["metrics"] == {"maintenance_on": 0.0}


def _playbook(stack, tmp: Path, extra, *args):
    extra_file = tmp / "vars.json"
    extra_file.write_text(json.dumps(extra))
    env = dict(os.environ, RUNBOOK_OPS_REPORT_DIR=str(tmp / "reports"), ANSIBLE_NOCOLOR="1",
               PATH=str(ANSIBLE_PLAYBOOK.parent) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "inventories/local", "playbooks/maintenance.yml",
                           "-e", "@%s" % extra_file, *args], cwd=str(ROOT), env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_maintenance_playbook_on_and_off(stack, tmp_path):
    extra = {"maintenance_dir": str(stack["dir"]), "maintenance_verify_url": stack["url"],
             "maintenance_message": "Emergency maintenance in progress"}
    dry = _playbook(stack, tmp_path, dict(extra), "-e", "maintenance_state=on", "--check", "--diff")
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert "+state: present" in dry.stdout and not (stack["dir"] / "maintenance.on").exists()

    on = _playbook(stack, tmp_path, dict(extra), "-e", "maintenance_state=on")
    assert on.returncode == 0, on.stdout[-3000:]
    status, body = get(stack["lb"], "/")
    assert status == 503 and "Emergency maintenance in progress" in body

    # A YAML/JSON boolean works too.
    off = _playbook(stack, tmp_path, dict(extra, maintenance_state=False))
    assert off.returncode == 0, off.stdout[-3000:]
    assert get(stack["lb"], "/")[0] == 200

    # The switch did not take effect at the URL: the run fails.
    wrong = _playbook(stack, tmp_path, dict(extra, maintenance_state="on", maintenance_verify_timeout=0.5,
                                            maintenance_verify_url="http://%s/" % "127.0.0.1:9"))
    assert wrong.returncode != 0
    assert "maintenance.verify" in wrong.stdout, wrong.stdout[-3000:]


def _module_processes(marker: str):
    """Pids of live processes whose command line holds ``marker`` (the AnsiballZ file of this run)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path("/proc", entry, "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = Path("/proc", entry, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def test_killed_task_leaves_no_module_process_behind(app_url, tmp_path):
    # A long verification against a URL that never answers as wanted (the app answers 200 and
    # never the maintenance page); ansible-playbook is killed mid-wait: the module must not live
    # on until verify_timeout.
    target = tmp_path / "elsewhere"
    local_tmp = tmp_path / "ansible-tmp"
    playbook = tmp_path / "long_verify.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [{"runbook.ops.maintenance_mode": {"state": "on", "path": str(target), "verify_url": app_url,
                                                    "verify_timeout": 3000}}]}]))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(local_tmp),
               ANSIBLE_REMOTE_TMP=str(tmp_path / "remote-tmp"), RUNBOOK_OPS_REPORT_DIR=str(tmp_path / "reports"))
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.Popen([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local",
                             "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                            cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    marker = str(tmp_path / "remote-tmp")
    try:
        deadline = time.monotonic() + 120
        while not ((target / "maintenance.on").exists() and _module_processes(marker)):
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the module never started its verification"
            time.sleep(0.2)
        time.sleep(1)
        assert _module_processes(marker), "the module should still be verifying"
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _module_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _module_processes(marker) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _module_processes(marker):
            os.kill(pid, 9)


@pytest.mark.parametrize("timeout, message", [
    (5000, "verify_timeout must be more than 0 and at most 3600 seconds"),  # the wait's own bound
    (1e9, "verify_timeout must be at most 31622400"),                        # any duration's bound
])
def test_verify_timeout_is_bounded(tmp_path, timeout, message):
    with pytest.raises(ModuleFailed) as err:
        run_module("maintenance_mode", {"state": "on", "path": str(tmp_path / "m"), "verify_timeout": timeout,
                                        "verify_url": "http://127.0.0.1:9/"})
    assert message in err.value.result["msg"]
    assert not (tmp_path / "m").exists()
