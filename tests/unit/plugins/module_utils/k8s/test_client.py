"""k8s_client: connection options, kubeconfig loading and error messages (no server)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.runbook.ops.plugins.module_utils.k8s import client


def write_kubeconfig(path, server="https://k8s.example.internal:6443", token="tok"):
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stg",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "stg", "context": {"cluster": "c", "user": "u"}},
                     {"name": "prod", "context": {"cluster": "c", "user": "u", "namespace": "sec-analysis"}}],
    }))
    return str(path)


def test_mode_host_without_kubeconfig(tmp_path):
    assert client.connection_mode({"host": "https://h:6443"}, environ={}, home=str(tmp_path)) == "host"


def test_mode_kubeconfig_from_option_env_or_home(tmp_path):
    cfg = write_kubeconfig(tmp_path / "cfg")
    assert client.connection_mode({"kubeconfig": cfg}, environ={}, home=str(tmp_path)) == "kubeconfig"
    assert client.connection_mode({}, environ={"KUBECONFIG": cfg}, home=str(tmp_path)) == "kubeconfig"
    (tmp_path / ".kube").mkdir()
    write_kubeconfig(tmp_path / ".kube" / "config")
    assert client.connection_mode({}, environ={}, home=str(tmp_path)) == "kubeconfig"


def test_mode_incluster_and_none(tmp_path):
    assert client.connection_mode({}, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, home=str(tmp_path)) == "incluster"
    with pytest.raises(client.K8sConfigError, match="no Kubernetes connection"):
        client.connection_mode({}, environ={}, home=str(tmp_path))
    with pytest.raises(client.K8sConfigError, match="context prod given but no kubeconfig"):
        client.connection_mode({"context": "prod"}, environ={}, home=str(tmp_path))
    with pytest.raises(client.K8sConfigError, match="is not a readable file"):
        client.connection_mode({"kubeconfig": str(tmp_path / "missing")}, environ={}, home=str(tmp_path))


def test_configuration_from_kubeconfig_context_and_overrides(tmp_path):
    cfg = write_kubeconfig(tmp_path / "cfg", token="from-kubeconfig")
    conf = client.configuration({"kubeconfig": cfg, "context": "prod"})
    assert conf.host == "https://k8s.example.internal:6443"
    assert conf.get_api_key_with_prefix("BearerToken", alias="authorization") == "Bearer from-kubeconfig"
    conf = client.configuration({"kubeconfig": cfg, "api_key": "override", "host": "https://other:6443/",
                                 "validate_certs": False})
    assert conf.get_api_key_with_prefix("BearerToken", alias="authorization") == "Bearer override"
    assert conf.host == "https://other:6443"
    assert conf.verify_ssl is False


def test_configuration_unknown_context_is_a_config_error(tmp_path):
    cfg = write_kubeconfig(tmp_path / "cfg")
    with pytest.raises(client.K8sConfigError, match="nope"):
        client.configuration({"kubeconfig": cfg, "context": "nope"})


@pytest.mark.parametrize("params, message", [
    ({"host": "k8s.example.internal:6443"}, "host must be an http:// or https:// URL"),
    ({"host": "https://h", "ca_cert": "/nonexistent/ca.pem"}, "ca_cert /nonexistent/ca.pem is not a readable file"),
    ({"host": "https://h", "request_timeout": 0}, "request_timeout must be positive"),
])
def test_bad_options(params, message):
    with pytest.raises(client.K8sConfigError, match=message):
        client.configuration(params)


def test_client_cert_needs_key(tmp_path):
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(client.K8sConfigError, match="client_cert and client_key must be given together"):
        client.configuration({"host": "https://h", "client_cert": str(cert)})


def test_status_message_from_a_status_body():
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                       "message": 'deployments.apps "api" not found'})
    assert client.status_message(body) == 'deployments.apps "api" not found'
    assert client.status_message(body.encode()) == 'deployments.apps "api" not found'
    assert client.status_message("<html>bad gateway</html>") == "<html>bad gateway</html>"


class _Exc(Exception):
    def __init__(self, status, reason, body):
        super().__init__(reason)
        self.status, self.reason, self.body = status, reason, body


def test_api_error_explains_401_and_403():
    err = client.api_error(_Exc(403, "Forbidden", json.dumps({"message": "User x cannot patch"})))
    assert err.status == 403 and err.message == "forbidden (RBAC): User x cannot patch"
    err = client.api_error(_Exc(401, "Unauthorized", json.dumps({"message": "Unauthorized"})))
    assert "check api_key" in err.message


@pytest.mark.parametrize("text, expected", [
    ("Max retries exceeded (Caused by NewConnectionError: [Errno 111] Connection refused)", "connection refused by"),
    ("Read timed out. (read timeout=3)", "no answer from the Kubernetes API server at https://h within 3.0s"),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "TLS error talking to https://h"),
    ("Failed to resolve 'h' ([Errno -2] Name or service not known)", "cannot resolve the host of https://h"),
])
def test_transport_errors(text, expected):
    assert expected in client.describe_transport_error(Exception(text), "https://h", 3.0)
