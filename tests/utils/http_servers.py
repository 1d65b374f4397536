"""Real HTTP(S) servers on 127.0.0.1 free ports for the http_check / tls_check tests.

Also makes test certificates (a CA and leaf certificates with chosen lifetimes)
with the ``cryptography`` package.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Dict, List, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sandbox.services import free_port

__all__ = ["TestServer", "CertFiles", "make_ca", "make_cert", "free_port"]

HEALTHY = {"status": "healthy", "version": "1.4.2", "checks": {"db": {"status": "ok", "latency_ms": 3}},
           "queue": {"depth": 12}, "workers": [{"name": "w1", "alive": True}]}


class _Handler(BaseHTTPRequestHandler):
    server_version = "runbook-test/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - silence the access log
        pass

    # -- helpers ----------------------------------------------------------
    def _send(self, code: int, body, content_type: str = "application/json", headers: Optional[Dict[str, str]] = None):
        data = body if isinstance(body, bytes) else (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _route(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        state = self.server.state  # type: ignore[attr-defined]
        with state["lock"]:
            state["requests"].append({"method": self.command, "path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()}})
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        delay = float(self.server.delay)  # type: ignore[attr-defined]
        if delay:
            time.sleep(delay)
        path = url.path
        if path == "/health":
            return self._send(200, HEALTHY)
        if path == "/degraded":
            return self._send(200, {"status": "degraded", "checks": {"db": {"status": "down"}}})
        if path == "/error":
            return self._send(500, {"error": "internal"})
        if path == "/slow":
            time.sleep(float(query.get("s", "1")))
            return self._send(200, {"status": "healthy"})
        if path == "/metrics":
            return self._send(200, "# HELP finchat_requests_total x\nfinchat_requests_total 42\n", "text/plain")
        if path == "/text":
            return self._send(200, "<html>not json</html>", "text/html")
        if path == "/flaky":
            key = query.get("key", "default")
            with state["lock"]:
                count = state["flaky"].get(key, 0) + 1
                state["flaky"][key] = count
            if count <= int(query.get("fail", "1")):
                return self._send(503, {"status": "starting"})
            return self._send(200, {"status": "healthy", "try": count})
        if path == "/auth":
            if self.headers.get("Authorization") == "Bearer %s" % self.server.token:  # type: ignore[attr-defined]
                return self._send(200, {"status": "healthy", "user": "ops"})
            return self._send(401, {"error": "unauthorized"})
        if path == "/redirect":
            return self._send(302, "", "text/plain", {"Location": "/health"})
        if path == "/echo":
            return self._send(200, {"method": self.command, "body": body.decode(),
                                    "content_type": self.headers.get("Content-Type")})
        if path == "/close":
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        return self._send(404, {"error": "not found"})

    do_GET = _route
    do_HEAD = _route
    do_POST = _route


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # noqa: D401 - failed TLS handshakes are expected
        pass


class TestServer:
    """A ThreadingHTTPServer on 127.0.0.1 (optionally TLS) running in a thread.

    ``delay`` makes every answer wait that many seconds; ``token`` is the bearer
    token /auth accepts.
    """

    __test__ = False  # not a pytest class

    def __init__(self, tls: Optional[ssl.SSLContext] = None, delay: float = 0.0, token: str = "", port: int = 0):
        self.httpd = _QuietServer(("127.0.0.1", port), _Handler)
        self.httpd.state = {"lock": threading.Lock(), "requests": [], "flaky": {}}
        self.httpd.delay = delay
        self.httpd.token = token
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return "%s://%s:%d%s" % (self.scheme, host, self.port, path)

    @property
    def requests(self) -> List[dict]:
        return list(self.httpd.state["requests"])

    def start(self) -> "TestServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- #
# Certificates
# --------------------------------------------------------------------------- #

class CertFiles:
    """Paths of a generated certificate and its key, and the certificate object."""

    def __init__(self, cert: Path, key: Path, obj: x509.Certificate, key_obj):
        self.cert = cert
        self.key = key
        self.obj = obj
        self.key_obj = key_obj

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


def _name(common_name: str, org: str = "runbook.ops tests") -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _write(directory: Path, stem: str, cert: x509.Certificate, key) -> CertFiles:
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / ("%s.pem" % stem)
    key_path = directory / ("%s.key" % stem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return CertFiles(cert_path, key_path, cert, key)


def make_ca(directory: Path, name: str = "runbook test CA") -> CertFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return _write(Path(directory), "ca", cert, key)


def make_cert(directory: Path, stem: str, common_name: str, days: float, ca: Optional[CertFiles] = None,
              sans: Optional[List[str]] = None, not_before_days: float = -1) -> CertFiles:
    """A server certificate valid until now + ``days`` (negative: already expired).

    Signed by ``ca`` or self-signed; ``sans`` are DNS names or IP addresses.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    alt: List[x509.GeneralName] = []
    for item in sans if sans is not None else ["localhost", "127.0.0.1"]:
        try:
            alt.append(x509.IPAddress(ip_address(item)))
        except ValueError:
            alt.append(x509.DNSName(item))
    issuer = ca.obj.subject if ca else _name(common_name)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=not_before_days))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key_obj.public_key()), critical=False)
    cert = builder.sign(ca.key_obj if ca else key, hashes.SHA256())
    return _write(Path(directory), stem, cert, key)
