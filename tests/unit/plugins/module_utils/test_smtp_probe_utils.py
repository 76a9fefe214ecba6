"""Unit tests for plugins/module_utils/smtp_probe.py helpers (no server, no AnsibleModule).

The SMTP sessions themselves are tested end to end in
tests/unit/plugins/modules/test_smtp_probe.py.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from types import SimpleNamespace

import pytest
from ansible_collections.mailops.authsmtp.plugins.module_utils import smtp_probe as sp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

UTC = datetime.UTC


def self_signed(names=(), days=(-1, 30)):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.example.test")])
    now = datetime.datetime.now(UTC).replace(microsecond=0)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(0xABCDEF)
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def base_params(**kwargs):
    params = dict(
        host="mx.example.test",
        port=25,
        mode="plain",
        server_name="mx.example.test",
        ehlo_name="probe.test",
        ca_file=None,
        validate_certs=True,
        tls_min_version=None,
        tls_max_version=None,
        timeout=5.0,
        user=None,
        password=None,
        send=None,
        expect=None,
        check_mode=False,
    )
    params.update(kwargs)
    return params


# --------------------------------------------------------------------------
# EHLO, AUTH and message helpers
# --------------------------------------------------------------------------


def test_parse_ehlo():
    reply = {"code": 250, "text": "mx.example.test greets you\nsize 1000\nAUTH=PLAIN LOGIN\n\nSTARTTLS"}
    ehlo = sp.parse_ehlo(reply)
    assert ehlo["hostname"] == "mx.example.test"
    assert ehlo["extensions"] == {"SIZE": "1000", "AUTH": "PLAIN LOGIN", "STARTTLS": ""}
    assert (ehlo["code"], ehlo["text"]) == (250, reply["text"])
    assert sp.auth_mechanisms(ehlo) == ["PLAIN", "LOGIN"]
    assert sp.auth_mechanisms(None) == []
    assert sp.parse_ehlo({"code": 250, "text": ""}) == {"code": 250, "text": "", "hostname": "", "extensions": {}}


@pytest.mark.parametrize(
    "offered, chosen",
    [([], "PLAIN"), (["LOGIN"], "LOGIN"), (["LOGIN", "PLAIN"], "PLAIN"), (["CRAM-MD5"], "PLAIN")],
)
def test_choose_mechanism(offered, chosen):
    assert sp.choose_mechanism(offered) == chosen


def test_dot_stuff():
    assert sp.dot_stuff(b"a\n.b\r\n..c\rd\r\n") == b"a\r\n..b\r\n...c\r\nd\r\n.\r\n"
    assert sp.dot_stuff(b"no newline") == b"no newline\r\n.\r\n"
    assert sp.dot_stuff(b"") == b".\r\n"
    assert sp.dot_stuff(b".\r\n") == b"..\r\n.\r\n"


def test_build_message_is_7bit_and_complete():
    send = dict(mail_from="", rcpt_to=["a@example.test", "b@example.test"], subject="Grüße", body="Ünïcödé body\n")
    data = sp.build_message(send, "probe.test")
    assert all(byte < 128 for byte in data)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"From: smtp_probe@probe.test" in head
    assert b"To: a@example.test, b@example.test" in head
    assert b"Subject: =?utf-8?" in head
    assert b"Message-ID: <" in head and b"Date: " in head
    assert b"\n" not in data.replace(b"\r\n", b"")
    defaults = sp.build_message(dict(mail_from="x@example.test", rcpt_to=["a@example.test"]), "probe.test")
    assert f"Subject: {sp.DEFAULT_SUBJECT}".encode() in defaults
    assert sp.DEFAULT_BODY.encode() in defaults


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


def test_certificate_facts():
    der = self_signed(names=("mx.example.test", "smtp.example.test"))
    cert = x509.load_der_x509_certificate(der)
    now = cert.not_valid_after_utc - datetime.timedelta(days=12, hours=1)
    facts = sp.certificate_facts(der, now=now)
    assert facts["subject"] == facts["issuer"] == "CN=mx.example.test"
    assert facts["names"] == ["mx.example.test", "smtp.example.test"]
    assert facts["serial"] == "ABCDEF"
    assert facts["days_left"] == 12
    assert facts["not_after"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert facts["not_after"].endswith("Z") and "T" in facts["not_after"]
    assert facts["fingerprint_sha256"] == sp.fingerprint_sha256(der)
    assert "parse_error" not in facts


def test_certificate_facts_without_san_and_expired():
    der = self_signed(days=(-30, -2))
    facts = sp.certificate_facts(der)
    assert facts["names"] == []
    assert facts["days_left"] in (-2, -3)


def test_certificate_facts_unparsable():
    facts = sp.certificate_facts(b"\x30\x03\x02\x01\x00")
    assert facts["parse_error"].startswith("cannot parse the certificate: ")
    assert facts["subject"] is None and facts["not_after"] is None
    assert facts["fingerprint_sha256"] == sp.fingerprint_sha256(b"\x30\x03\x02\x01\x00")


def test_validity_with_old_cryptography():
    """cryptography < 42 (Debian 12) has only the naive not_valid_* properties."""
    old = SimpleNamespace(
        not_valid_before=datetime.datetime(2024, 1, 1, 0, 0, 0),
        not_valid_after=datetime.datetime(2024, 4, 1, 12, 30, 0),
    )
    before, after = sp._validity(old)
    assert after == datetime.datetime(2024, 4, 1, 12, 30, tzinfo=UTC)
    assert sp._iso_utc(after) == "2024-04-01T12:30:00Z"
    assert sp._iso_utc(before) == "2024-01-01T00:00:00Z"


def test_fingerprints():
    fp = sp.fingerprint_sha256(b"abc")
    assert fp == "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
    assert sp.normalize_fingerprint(fp.lower()) == sp.normalize_fingerprint(fp.replace(":", "")) == fp.replace(":", "")


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, normal",
    [(250, 250), ("250", 250), ([250, "550"], [250, 550])],
)
def test_normalize_rcpt_code(value, normal):
    assert sp.normalize_rcpt_code(value) == normal


@pytest.mark.parametrize("value", [True, [], "abc", [250, "x"], None])
def test_normalize_rcpt_code_rejects(value):
    with pytest.raises((ValueError, TypeError)):
        sp.normalize_rcpt_code(value)


def test_default_ehlo_name(monkeypatch):
    monkeypatch.setattr(socket, "getfqdn", lambda *a: "client.example.test")
    assert sp.default_ehlo_name() == "client.example.test"
    monkeypatch.setattr(socket, "getfqdn", lambda *a: "client")
    assert sp.default_ehlo_name() == "localhost"
    monkeypatch.setattr(socket, "getfqdn", lambda *a: "bad name.example.test")
    assert sp.default_ehlo_name() == "localhost"

    def broken(*a):
        raise OSError("no")

    monkeypatch.setattr(socket, "getfqdn", broken)
    assert sp.default_ehlo_name() == "localhost"


def test_default_ports():
    assert [sp.default_port(m) for m in sp.MODES] == [587, 465, 25]


@pytest.mark.parametrize(
    "changes, msg",
    [
        (dict(host=" "), "host: must not be empty"),
        (dict(server_name="a b"), "server_name: 'a b' must be a non-empty name without spaces"),
        (dict(mode="starttls", user="a\nb", password="x"), "user: must not contain control characters"),
        (dict(send=dict(mail_from="a@example.test", rcpt_to=[""])), "send.rcpt_to: recipients must not be empty"),
        (
            dict(port=70000, timeout=-1),
            "port: 70000 is not between 1 and 65535; timeout: must be greater than 0, got -1",
        ),
    ],
)
def test_validate(changes, msg):
    with pytest.raises(sp.ProbeError) as exc:
        sp.probe(base_params(**changes))
    assert exc.value.error == "invalid_parameters"
    assert exc.value.msg == msg
    assert exc.value.result["banner"] is None


def test_tls_contexts(tmp_path):
    verifying, lenient = sp.tls_contexts(base_params(tls_min_version="TLSv1.2", tls_max_version="TLSv1.2"))
    assert verifying.verify_mode == ssl.CERT_REQUIRED and verifying.check_hostname is True
    assert lenient.verify_mode == ssl.CERT_NONE and lenient.check_hostname is False
    for context in (verifying, lenient):
        assert context.minimum_version == context.maximum_version == ssl.TLSVersion.TLSv1_2
    with pytest.raises(sp.ProbeError) as exc:
        sp.tls_contexts(base_params(ca_file=str(tmp_path / "nope.pem")))
    assert exc.value.error == "invalid_parameters"


def test_scrub_and_secret_forms():
    assert sp.secret_forms("u", None) == [] and sp.secret_forms("u", "") == []
    forms = sp.secret_forms("u", "pw")
    assert set(forms) == {"pw", "cHc=", "AHUAcHc="}
    assert forms[0] == "AHUAcHc="  # longest first, so no partial masking
    value = {"a": ["x pw y", {"b": "AHUAcHc="}], "n": 5, "none": None}
    assert sp.scrub(value, forms) == {"a": ["x ******** y", {"b": "********"}], "n": 5, "none": None}
    assert sp.scrub(value, []) is value


# --------------------------------------------------------------------------
# The client's reply parsing, over a socket pair
# --------------------------------------------------------------------------


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    ours.settimeout(2)
    client = sp.SmtpClient("peer.test", 25, 2)
    client.sock = ours
    client._file = ours.makefile("rb")
    yield client, theirs
    client.close()
    client.close()  # idempotent
    theirs.close()


def test_read_reply_variants(pair):
    client, server = pair
    server.sendall(b"250\r\n250-a\r\n250-\r\n250 b\r\n")
    assert client.read_reply("x") == {"code": 250, "text": ""}
    assert client.read_reply("y") == {"code": 250, "text": "a\n\nb"}


def test_read_reply_too_many_lines(pair):
    client, server = pair
    server.sendall(b"250-x\r\n" * sp.MAX_REPLY_LINES)
    with pytest.raises(sp.ProbeError) as exc:
        client.read_reply("the reply to EHLO")
    assert exc.value.error == "smtp_protocol_error"
    assert exc.value.msg == f"more than {sp.MAX_REPLY_LINES} lines in the reply to EHLO"


def test_read_reply_timeout(pair):
    client, _server = pair
    client.sock.settimeout(0.05)
    client.timeout = 0.05
    with pytest.raises(sp.ProbeError) as exc:
        client.read_reply("the reply to DATA")
    assert exc.value.error == "timeout"
    assert exc.value.msg == "timed out after 0.05 s waiting for the reply to DATA"


def test_send_to_closed_peer(pair):
    client, server = pair
    server.close()
    with pytest.raises(sp.ProbeError) as exc:
        for _ in range(3):
            client.send_line("NOOP")
    assert exc.value.error == "connection_closed"
    assert exc.value.msg.startswith("the server closed the connection while sending NOOP")


def test_quit_ignores_errors(pair):
    client, server = pair
    server.close()
    client.quit()


# --------------------------------------------------------------------------
# Expectations, the corner cases
# --------------------------------------------------------------------------


def test_check_expectations_ignores_unset_keys():
    assert sp.check_expectations(None, {}) == ([], [])
    assert sp.check_expectations({"auth_code": None, "ehlo_has": None}, {"mode": "plain"}) == ([], [])


def test_check_expectations_missing_results():
    result = dict(
        mode="implicit",
        banner=None,
        ehlo_before_tls=None,
        ehlo_after_tls=None,
        tls=None,
        certificate=None,
        auth_mechanisms=[],
        auth=None,
        send=dict(mail={"code": 250, "text": "ok"}, rcpt=[], data=None, data_skipped="no recipient was accepted"),
    )
    expect = dict(
        banner_code=220,
        banner_contains="x",
        ehlo_before_tls_lacks=["AUTH"],
        tls_cipher=["A", "B"],
        cert_subject_contains="CN",
        data_code=250,
    )
    mismatches, skipped = sp.check_expectations(expect, result)
    assert mismatches == [
        "banner_code: expected 220, got nothing (no greeting)",
        "banner_contains: expected a banner containing 'x', got nothing (no greeting)",
        "ehlo_before_tls_lacks: expected AUTH not in the EHLO before TLS, "
        "got nothing (no EHLO before TLS in implicit mode)",
        "tls_cipher: expected one of A, B, got nothing (no TLS session)",
        "cert_subject_contains: expected a subject containing 'CN', got nothing (no TLS session)",
        "data_code: expected 250, got nothing (DATA not sent: no recipient was accepted)",
    ]
    assert skipped == []

    result["tls"] = {"version": "TLSv1.3", "cipher": "A", "bits": 256}
    mismatches, _ = sp.check_expectations(dict(cert_verified=True, tls_cipher=["A"]), result)
    assert mismatches == ["cert_verified: expected true, got nothing (the server sent no certificate)"]
