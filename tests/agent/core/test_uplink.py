"""The network seam against real HTTP(S) servers on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.errors import (
    AgentError,
    DeviceInvalid,
    EnrollmentRefused,
    ServerError,
    TLSError,
    TransportError,
)
from agent.uplink import Backoff, Uplink, check_server_url


def no_sleep(_):
    pass


def test_checkin_sends_the_device_credential_and_json(serve):
    server = serve([(200, {"accepted_event_ids": ["e1"]}, None)])
    uplink = Uplink(f"http://127.0.0.1:{server.port}", credential=("dev-1", "s3cret"))
    assert uplink.checkin({"state": {}}) == {"accepted_event_ids": ["e1"]}
    method, path, headers, body = server.requests[0]
    assert (method, path) == ("POST", "/api/v1/checkin")
    assert headers["Authorization"] == "Device dev-1:s3cret"
    assert json.loads(body) == {"state": {}}


def test_protocol_errors_become_the_agents_exceptions(serve):
    server = serve([
        (401, {"error": "device_invalid", "message": "enrol again", "request_id": "r1"}, None),
        (410, {"error": "token_used", "message": "used"}, None),
        (422, {"error": "validation_failed", "message": "bad",
               "fields": [{"path": "events[0].id", "reason": "not a UUID"}]}, None)])
    uplink = Uplink(f"http://127.0.0.1:{server.port}", credential=("d", "s"))
    with pytest.raises(DeviceInvalid) as invalid:
        uplink.checkin({})
    assert invalid.value.request_id == "r1" and invalid.value.status == 401
    with pytest.raises(EnrollmentRefused, match="token_used"):
        uplink.enroll({"token": "t"})
    with pytest.raises(ServerError) as refused:
        uplink.checkin({})
    assert refused.value.fields[0]["path"] == "events[0].id" and not refused.value.retryable


def test_retries_only_what_is_retryable_honouring_retry_after(serve):
    server = serve([(503, {"error": "database_unavailable", "message": "db down"},
                     {"Retry-After": "7"}),
                    (201, {"device_id": "d"}, None)])
    waits = []
    uplink = Uplink(f"http://127.0.0.1:{server.port}", sleep=waits.append)
    assert uplink.enroll({"token": "t"}) == {"device_id": "d"}
    assert waits == [7.0]


def test_unreachable_server_is_a_transport_error_from_the_requests_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    uplink = Uplink(f"http://127.0.0.1:{port}", credential=("d", "s"), sleep=no_sleep)
    with pytest.raises(TransportError, match="cannot reach") as caught:
        uplink.checkin({})
    assert caught.value.__cause__ is not None  # translated with `raise ... from exc`


def test_backoff_is_exponential_with_full_jitter_and_capped():
    assert [Backoff(5, 900, rng=lambda: 1.0).delay(n) for n in range(10)] == \
        [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]
    assert Backoff(5, 900, rng=lambda: 0.5).delay(2) == 10


def test_plain_http_is_refused_except_to_this_machine():
    assert check_server_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert check_server_url("https://heedful.example.com") == "https://heedful.example.com"
    with pytest.raises(AgentError, match="plain HTTP"):
        check_server_url("http://heedful.example.com")


def make_ca_and_server_cert(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A private CA and a certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    day = dt.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Heedful test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - day).not_valid_after(now + day)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - day).not_valid_after(now + day)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / "ca.pem", context


def test_tls_needs_the_configured_ca_file(serve, tmp_path: Path):
    ca_file, context = make_ca_and_server_cert(tmp_path)
    server = serve([(200, {"ok": 1}, None), (200, {"ok": 1}, None)], tls=context)
    url = f"https://127.0.0.1:{server.port}"
    with pytest.raises(TLSError, match="TLS failure"):
        Uplink(url, credential=("d", "s")).checkin({})  # the system store does not know it
    assert Uplink(url, credential=("d", "s"), ca_file=str(ca_file)).checkin({}) == {"ok": 1}


def test_proxy_returns_any_status_without_raising(serve):
    server = serve([(404, {"error": "not_found", "message": "no such path"}, None)])
    reply = Uplink(f"http://127.0.0.1:{server.port}", credential=("d", "s")).proxy(
        "GET", "/me/logins")
    assert reply.status == 404 and reply.json()["error"] == "not_found"
    assert server.requests[0][1] == "/api/v1/me/logins"
