"""Pure parts of the TLS checks: the DER reader, expiry and trust decisions, targets."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.runbook.ops.plugins.module_utils.http import tls_plan

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def make(not_before, not_after, cn="api.example.com", sans=("api.example.com",), ips=(), key_type="ec",
         issuer_cn=None, extra_names=(), serial=0x1234ABCD):
    key = ec.generate_private_key(ec.SECP256R1()) if key_type == "ec" else rsa.generate_private_key(65537, 2048)
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ops GmbH")]
    attrs += list(extra_names)
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    subject = x509.Name(attrs)
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]) if issuer_cn else subject
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after))
    names = [x509.DNSName(s) for s in sans]
    import ipaddress
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256())


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


# -- DER reader --------------------------------------------------------------------

def test_parse_certificate_fields():
    cert = make(NOW - datetime.timedelta(days=10), NOW + datetime.timedelta(days=20),
                sans=("api.example.com", "www.example.com"), ips=("127.0.0.1", "::1"), issuer_cn="Test CA")
    info = tls_plan.parse_certificate(der(cert))
    assert info["subject"] == "C=DE, O=Ops GmbH, CN=api.example.com"
    assert info["issuer"] == "CN=Test CA"
    assert info["common_name"] == "api.example.com"
    assert info["sans"] == ["DNS:api.example.com", "DNS:www.example.com", "IP:127.0.0.1", "IP:::1"]
    assert info["serial"] == "1234abcd"
    assert info["not_before"] == cert.not_valid_before_utc
    assert info["not_after"] == cert.not_valid_after_utc


def test_generalized_time_after_2049_and_rsa_and_unicode():
    cert = make(datetime.datetime(1999, 1, 1, tzinfo=UTC), datetime.datetime(2061, 3, 4, 5, 6, 7, tzinfo=UTC),
                cn="Zürich Ops", sans=(), key_type="rsa",
                extra_names=[x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SRE"),
                             x509.NameAttribute(NameOID.EMAIL_ADDRESS, "ops@example.com")])
    info = tls_plan.parse_certificate(der(cert))
    assert info["not_before"] == datetime.datetime(1999, 1, 1, tzinfo=UTC)   # UTCTime, 19xx
    assert info["not_after"] == datetime.datetime(2061, 3, 4, 5, 6, 7, tzinfo=UTC)  # GeneralizedTime
    assert info["subject"] == "C=DE, O=Ops GmbH, OU=SRE, emailAddress=ops@example.com, CN=Zürich Ops"
    assert info["sans"] == []


def test_pem_bundle_and_der_file():
    a = make(NOW, NOW + datetime.timedelta(days=1), cn="a")
    b = make(NOW, NOW + datetime.timedelta(days=2), cn="b")
    bundle = b"junk before\n" + pem(a) + b"\n" + pem(b)
    assert [c["common_name"] for c in tls_plan.load_certificates(bundle)] == ["a", "b"]
    assert tls_plan.load_certificates(der(a))[0]["common_name"] == "a"
    assert len(tls_plan.pem_to_der(bundle)) == 2


@pytest.mark.parametrize("data, message", [
    (b"hello", "no PEM certificate found"),
    (b"\x30\x03\x02\x01", "DER element runs past the end"),
    (b"\x30\x00", "no tbsCertificate"),
    (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "bad base64"),
])
def test_garbage_is_a_certificate_error(data, message):
    with pytest.raises(tls_plan.CertificateError, match=message):
        tls_plan.load_certificates(data)


def test_truncated_certificate_is_rejected():
    raw = der(make(NOW, NOW + datetime.timedelta(days=1)))
    with pytest.raises(tls_plan.CertificateError):
        tls_plan.parse_certificate(raw[: len(raw) // 2])


# -- decisions -----------------------------------------------------------------------

def info_for(days_left, not_before_days=-30):
    cert = make(NOW + datetime.timedelta(days=not_before_days), NOW + datetime.timedelta(days=days_left))
    return tls_plan.parse_certificate(der(cert))


@pytest.mark.parametrize("days, status, text", [
    (90, "ok", "expires in 90.0 days (2027-02-20T12:00:00Z)"),
    (30, "ok", "expires in 30.0 days"),
    (29.5, "warning", "warning below 30 days"),
    (20, "warning", "expires in 20.0 days"),
    (7, "warning", "expires in 7.0 days"),
    (5, "critical", "critical below 7 days"),
    (0.5, "critical", "expires in 0.5 days"),
    (-2, "critical", "expired 2.0 days ago (not_after 2026-11-20T12:00:00Z)"),
])
def test_evaluate_expiry(days, status, text):
    check = tls_plan.evaluate_expiry("tls.api", info_for(days), NOW, 30, 7, source="h:443")
    assert check["status"] == status and text in check["message"]
    assert check["name"] == "tls.api" and check["threshold"] == {"warning_days": 30, "critical_days": 7}
    value = check["value"]
    assert value["days_left"] == round(days, 2) and value["source"] == "h:443"
    assert value["subject"].endswith("CN=api.example.com") and value["sans"] == ["DNS:api.example.com"]


def test_not_yet_valid_is_critical():
    check = tls_plan.evaluate_expiry("tls.x", info_for(100, not_before_days=3), NOW, 30, 7)
    assert check["status"] == "critical" and "not valid before 2026-11-25T12:00:00Z" in check["message"]


def test_trust_checks():
    assert tls_plan.evaluate_trust("tls.a", True, None, "a.example")["status"] == "ok"
    bad = tls_plan.evaluate_trust("tls.a", False, "self-signed certificate", "a.example")
    assert bad["name"] == "tls.a.verify" and bad["status"] == "critical" and bad["severity"] == "P1"
    assert bad["message"] == "certificate does not verify for a.example: self-signed certificate"


def test_metrics_and_days_left():
    info = info_for(10)
    assert tls_plan.days_left(info["not_after"], NOW) == 10
    metrics = tls_plan.cert_metrics("api", info, NOW)
    assert metrics == {'tls_cert_expiry_seconds{target="api"}': 10.0 * 86400,
                       'tls_cert_not_after_timestamp_seconds{target="api"}': float(int(info["not_after"].timestamp()))}


# -- targets ---------------------------------------------------------------------------

DEFAULTS = {"timeout": 10.0, "validate_certs": True, "ca_path": None, "warning_days": 30.0, "critical_days": 7.0}


@pytest.mark.parametrize("host, port, expected", [
    ("example.com", None, ("example.com", None)),
    ("example.com:8443", None, ("example.com", 8443)),
    ("example.com:8443", 9000, ("example.com", 9000)),
    ("[::1]:8443", None, ("::1", 8443)),
    ("::1", None, ("::1", None)),
])
def test_split_host(host, port, expected):
    assert tls_plan.split_host(host, port) == expected


def test_normalize_targets_defaults_and_names():
    endpoints, files = tls_plan.normalize_targets(
        [{"host": "api.example.com"}, {"host": "10.0.0.5:8443", "name": "graf", "warning_days": 14, "server_name": "g.x"}],
        [{"path": "/etc/ssl/site cert.pem"}], DEFAULTS)
    assert endpoints[0]["name"] == "api.example.com_443" and endpoints[0]["port"] == 443
    assert endpoints[0]["server_name"] is None and endpoints[0]["warning_days"] == 30
    assert endpoints[1]["port"] == 8443 and endpoints[1]["warning_days"] == 14 and endpoints[1]["server_name"] == "g.x"
    assert files[0]["name"] == "site_cert.pem" and files[0]["critical_days"] == 7


@pytest.mark.parametrize("endpoints, files, message", [
    ([], [], "give at least one of endpoints or files"),
    ([{"name": "n"}], [], "endpoint n: host is required"),
    ([{"host": "h", "port": 0}], [], "endpoint h: port must be 1-65535"),
    ([], [{"name": "f"}], "file f: path is required"),
    ([{"host": "h", "critical_days": 40}], [], "target h: critical_days (40) is above warning_days (30.0)"),
    ([{"host": "h", "name": "x"}], [{"path": "/p", "name": "x"}], "target x: duplicate name"),
    ([{"host": "h", "timeout": -1}], [], "endpoint h: timeout must be > 0"),
])
def test_normalize_targets_errors(endpoints, files, message):
    with pytest.raises(tls_plan.TargetError) as err:
        tls_plan.normalize_targets(endpoints, files, DEFAULTS)
    assert message in str(err.value)


def test_evaluate_file_counts_the_certificates_of_the_file():
    data = pem(make(NOW, NOW + datetime.timedelta(days=3), cn="leaf")) + pem(make(NOW, NOW, cn="ca"))
    certs = tls_plan.load_certificates(data)
    leaf = dict(certs[0], count=len(certs))
    check, metrics = tls_plan.evaluate_file({"name": "c", "path": "/etc/c.pem", "warning_days": 30, "critical_days": 7},
                                            leaf, NOW)
    assert check[0]["status"] == "critical" and check[0]["value"]["certificates_in_file"] == 2
    assert check[0]["value"]["source"] == "/etc/c.pem" and metrics['tls_cert_expiry_seconds{target="c"}'] == 3.0 * 86400


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
def test_reader_agrees_with_cryptography_on_a_real_ca_bundle():
    """Every root in certifi's bundle (RSA, EC, odd names, UTCTime and GeneralizedTime) reads the same."""
    import certifi

    data = open(certifi.where(), "rb").read()
    ours = tls_plan.load_certificates(data)
    theirs = x509.load_pem_x509_certificates(data)
    assert len(ours) == len(theirs) > 50
    for mine, ref in zip(ours, theirs):
        assert mine["not_after"] == ref.not_valid_after_utc
        assert mine["not_before"] == ref.not_valid_before_utc
        names = ref.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert mine["common_name"] == (names[0].value if names else None)


def test_corrupted_certificates_only_raise_certificate_error():
    raw = bytearray(der(make(NOW, NOW + datetime.timedelta(days=1))))
    rejected, read = 0, 0
    for offset in range(0, len(raw), 3):
        broken = bytearray(raw)
        broken[offset] ^= 0xFF
        try:
            info = tls_plan.parse_certificate(bytes(broken))
        except tls_plan.CertificateError:
            rejected += 1
        else:
            assert set(info) >= {"subject", "issuer", "not_after"}
            read += 1
    assert rejected > 0 and read > 0  # structure bytes are caught, payload bytes (key, signature) are not
