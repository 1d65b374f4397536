"""docker/client: options turned into SDK arguments, and the wording of engine errors."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.docker import client


def test_client_kwargs():
    assert client.client_kwargs({"docker_host": "unix:///var/run/docker.sock", "api_version": "auto", "timeout": 30}) == {
        "base_url": "unix:///var/run/docker.sock", "version": "auto", "timeout": 30}
    tls = client.client_kwargs({"docker_host": "tcp://10.0.0.5:2376", "validate_certs": True, "ca_path": "/etc/hostname"})
    assert tls["tls"] == {"client_cert": None, "ca_cert": "/etc/hostname", "verify": True}
    with pytest.raises(client.DockerClientError, match="docker_host must look like"):
        client.client_kwargs({"docker_host": "docker.sock"})
    with pytest.raises(client.DockerClientError, match="together"):
        client.client_kwargs({"docker_host": "tcp://h:2376", "client_key": "/etc/hostname"})
    with pytest.raises(client.DockerClientError, match="not a readable file"):
        client.client_kwargs({"docker_host": "tcp://h:2376", "ca_path": "/nonexistent/ca.pem"})
    with pytest.raises(client.DockerClientError, match="tcp:// engines only"):
        client.client_kwargs({"docker_host": "unix:///var/run/docker.sock", "tls": True})
    with pytest.raises(client.DockerClientError, match="timeout must be positive"):
        client.client_kwargs({"docker_host": "unix:///x.sock", "timeout": 0})


@pytest.mark.parametrize("text, expected", [
    ("Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or "
     "directory'))", "no Docker socket at /var/run/docker.sock"),
    ("('Connection aborted.', PermissionError(13, 'Permission denied'))",
     "permission denied on /var/run/docker.sock (is the user in the docker group?)"),
])
def test_describe_error_unix(text, expected):
    assert client.describe_error(Exception(text), "unix:///var/run/docker.sock") == expected


def test_describe_error_tcp():
    refused = "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded ([Errno 111] Connection refused)"
    assert client.describe_error(Exception(refused), "tcp://127.0.0.1:1") == "connection refused by tcp://127.0.0.1:1"
    assert client.describe_error(Exception("Read timed out. (read timeout=5)"), "tcp://h:2375", 5) == \
        "no answer from tcp://h:2375 within 5s"
    assert client.describe_error(Exception("x" * 1000), "tcp://h").endswith("...")


def test_connect_to_missing_socket_raises_engine_unreachable():
    with pytest.raises(client.EngineUnreachable, match="no Docker socket at /nonexistent.sock"):
        client.connect({"docker_host": "unix:///nonexistent.sock", "timeout": 5})
