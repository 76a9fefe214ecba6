"""End-to-end tests of the smtp_probe module's main(), run in-process.

The module talks to real SMTP servers: aiosmtpd servers (STARTTLS, implicit
TLS, AUTH, a handler that records messages) and small scripted socket servers
for misbehaving peers, all on 127.0.0.1 and ephemeral ports, with
certificates from trustme. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import socket
import ssl

import pytest
import yaml
from aiosmtpd.smtp import AuthResult, LoginPassword
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mailops.authsmtp.plugins.module_utils import smtp_probe as sp
from ansible_collections.mailops.authsmtp.plugins.modules import smtp_probe
from ansible_collections.mailops.authsmtp.tests.unit.plugins import smtp_servers

USER = "alice@example.test"
PASSWORD = "Probe-s3cret-Passphrase!"
WRONG_PASSWORD = "Wrong-s3cret-Passphrase?"
SECRET_FORMS = (
    PASSWORD,
    WRONG_PASSWORD,
    base64.b64encode(PASSWORD.encode()).decode(),
    base64.b64encode(WRONG_PASSWORD.encode()).decode(),
    base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode(),
    base64.b64encode(f"\0{USER}\0{WRONG_PASSWORD}".encode()).decode(),
)
SERVER_NAME = smtp_servers.SERVER_NAME
BANNER = "mail.test ESMTP probe-test"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_INVALID = "5.7.8 Authentication credentials invalid"


# --------------------------------------------------------------------------
# Test servers
# --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_reverse_dns(monkeypatch):
    """The default ehlo_name comes from socket.getfqdn(), which may ask DNS: keep the tests off the network."""
    monkeypatch.setattr(socket, "getfqdn", lambda *args: "controller.example.test")


class Recorder(smtp_servers.RefusingHandler):
    """aiosmtpd handler: refuses senders starting with ``forged`` and recipients starting with ``refused``.

    It records every sender, RSET and message.
    """

    def __init__(self):
        super().__init__()
        self.rset = 0

    async def handle_RSET(self, server, session, envelope):
        self.rset += 1
        return "250 2.0.0 Ok"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            dict(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), content=envelope.content)
        )
        return "250 2.0.0 Ok: queued as PROBE1"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server_defaults():
    """For smtp_servers.serve: every server takes the one user's password and records what it gets."""
    return dict(ident="ESMTP probe-test", handler=Recorder, authenticator=lambda: authenticator)


# The shared aiosmtpd servers and certificates (tests/unit/plugins/smtp_servers.py).
pki = smtp_servers.pki
serve = smtp_servers.serve
starttls_server = smtp_servers.starttls_server
implicit_server = smtp_servers.implicit_server


class ScriptedServer(smtp_servers.RawServer):
    """Accepts one connection and plays a script.

    Steps: bytes are sent, ``READ`` reads one line from the client, ``HOLD``
    keeps the connection open without answering until the test ends. The
    connection is closed after the last step.
    """

    READ = object()
    HOLD = object()

    def __init__(self, script):
        self.script = script
        self.received = []
        super().__init__(self._play)

    def _play(self, conn, reader):
        conn.settimeout(10)
        for step in self.script:
            if step is self.READ:
                self.received.append(reader.readline())
            elif step is self.HOLD:
                self.done.wait(10)
            else:
                conn.sendall(step)


@pytest.fixture
def scripted():
    yield from smtp_servers.started(ScriptedServer)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def run_module(capsys, module_args, check_mode=False):
    """Run main() like Ansible would; return (exit code, result dict, raw stdout)."""
    module_args = dict(module_args, _ansible_check_mode=check_mode)
    with patch_module_args(module_args), pytest.raises(SystemExit) as exc:
        smtp_probe.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out), out


def assert_no_secrets(*texts):
    for text in texts:
        for secret in SECRET_FORMS:
            assert secret not in text, f"{secret!r} leaked"


def args_for(server, pki=None, **kwargs):
    args = dict(host="127.0.0.1", port=server.port, ehlo_name="probe.test", timeout=5)
    if pki is not None:
        args.update(server_name=SERVER_NAME, ca_file=pki["ca_file"])
    args.update(kwargs)
    return args


def fingerprint(der):
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def free_port_refusing():
    """A bound socket that does not listen: connecting to its port is refused, and nobody else can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


# --------------------------------------------------------------------------
# Plain, STARTTLS and implicit TLS
# --------------------------------------------------------------------------


def test_plain_banner_and_ehlo(capsys, serve):
    server = serve()
    rc, result, _ = run_module(capsys, args_for(server, mode="plain"))
    assert rc == 0, result
    assert result["changed"] is False
    assert result["banner"] == {"code": 220, "text": BANNER}
    ehlo = result["ehlo_before_tls"]
    assert ehlo["code"] == 250
    assert ehlo["hostname"] == SERVER_NAME
    assert list(ehlo["extensions"]) == ["SIZE", "8BITMIME", "SMTPUTF8", "HELP"]
    assert ehlo["extensions"]["SIZE"] == "33554432"
    assert ehlo["text"].splitlines()[0] == SERVER_NAME
    assert result["ehlo_after_tls"] is None
    assert result["tls"] is None and result["certificate"] is None
    assert result["auth_mechanisms"] == [] and result["auth"] is None and result["send"] is None
    assert (result["host"], result["port"], result["mode"]) == ("127.0.0.1", server.port, "plain")
    assert result["peer_address"] == "127.0.0.1"
    assert result["ehlo_name"] == "probe.test"
    assert result["mismatches"] == [] and result["expect_skipped"] == []
    assert "error" not in result


def test_starttls_verified_with_ca_file(capsys, starttls_server, pki):
    rc, result, _ = run_module(capsys, args_for(starttls_server, pki))
    assert rc == 0, result
    assert result["changed"] is False
    assert result["mode"] == "starttls" and result["server_name"] == SERVER_NAME
    before, after = result["ehlo_before_tls"], result["ehlo_after_tls"]
    assert "STARTTLS" in before["extensions"] and "AUTH" not in before["extensions"]
    assert "STARTTLS" not in after["extensions"] and after["extensions"]["AUTH"] == "LOGIN PLAIN"
    assert result["auth_mechanisms"] == ["LOGIN", "PLAIN"]

    assert result["tls"]["version"] == "TLSv1.3"
    assert result["tls"]["cipher"].startswith("TLS_") and result["tls"]["bits"] >= 128

    cert, parsed = result["certificate"], pki["parsed"]
    assert cert["verified"] is True and cert["verify_error"] is None
    assert cert["subject"] == parsed.subject.rfc4514_string()
    assert "CN=mail.test" in cert["subject"]
    assert cert["issuer"] == pki["ca_parsed"].subject.rfc4514_string()
    assert cert["names"] == [SERVER_NAME, "localhost", "127.0.0.1"]
    assert cert["serial"] == format(parsed.serial_number, "X")
    assert cert["not_after"] == parsed.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cert["not_before"] == parsed.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    expected_days = (parsed.not_valid_after_utc - datetime.datetime.now(datetime.UTC)).days
    assert cert["days_left"] in (expected_days, expected_days - 1)
    assert cert["fingerprint_sha256"] == fingerprint(pki["der"])
    assert len(cert["fingerprint_sha256"]) == 95 and cert["fingerprint_sha256"] == cert["fingerprint_sha256"].upper()


def test_starttls_verifies_ip_address_by_default(capsys, starttls_server, pki):
    # server_name defaults to host, here an IP address that is among the certificate's names.
    rc, result, _ = run_module(capsys, args_for(starttls_server, ca_file=pki["ca_file"]))
    assert rc == 0, result
    assert result["server_name"] == "127.0.0.1"
    assert result["certificate"]["verified"] is True


def test_implicit_tls(capsys, implicit_server, pki):
    args = args_for(implicit_server, pki, mode="implicit", user=USER, password=PASSWORD)
    rc, result, raw = run_module(capsys, args)
    assert rc == 0, result
    assert result["banner"] == {"code": 220, "text": BANNER}
    assert result["ehlo_before_tls"] is None
    assert result["ehlo_after_tls"]["extensions"]["AUTH"] == "LOGIN PLAIN"
    assert result["tls"]["version"] == "TLSv1.3"
    assert result["certificate"]["verified"] is True
    assert result["certificate"]["fingerprint_sha256"] == fingerprint(pki["der"])
    assert result["auth"]["code"] == 235
    assert_no_secrets(raw)


def test_tls_version_limits(capsys, starttls_server, pki):
    args = args_for(starttls_server, pki, tls_max_version="TLSv1.2")
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert result["tls"]["version"] == "TLSv1.2"
    args = args_for(starttls_server, pki, tls_min_version="TLSv1.3")
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert result["tls"]["version"] == "TLSv1.3"


def test_default_port_and_ehlo_name(capsys, monkeypatch):
    """Something may listen on this machine's ports 25, 587 or 465: look at the connect call only."""
    seen = []

    def fake_create_connection(address, timeout=None, *a, **kw):
        seen.append((address, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", fake_create_connection)
    monkeypatch.setattr(socket, "getfqdn", lambda *a: "client.example.test")
    for mode, port in (("starttls", 587), ("implicit", 465), ("plain", 25)):
        rc, result, _ = run_module(capsys, dict(host="127.0.0.1", mode=mode))
        assert rc == 1
        assert result["error"] == "connection_refused"
        assert result["port"] == port
        assert result["ehlo_name"] == "client.example.test"
        assert result["server_name"] == "127.0.0.1"
    assert seen == [(("127.0.0.1", 587), 10.0), (("127.0.0.1", 465), 10.0), (("127.0.0.1", 25), 10.0)]

    monkeypatch.setattr(socket, "getfqdn", lambda *a: "debian")
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1"))
    assert result["ehlo_name"] == "localhost"


def test_ehlo_name_is_sent(capsys, serve):
    seen = []

    class Handler(Recorder):
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            seen.append(hostname)
            session.host_name = hostname
            return responses

    server = serve(handler=Handler())
    rc, result, _ = run_module(capsys, args_for(server, mode="plain", ehlo_name="client.example.test"))
    assert rc == 0, result
    assert seen == ["client.example.test"]


# --------------------------------------------------------------------------
# AUTH
# --------------------------------------------------------------------------


def test_auth_success(capsys, starttls_server, pki):
    rc, result, raw = run_module(capsys, args_for(starttls_server, pki, user=USER, password=PASSWORD))
    assert rc == 0, result
    assert result["changed"] is False
    assert result["auth"] == {
        "user": USER,
        "mechanism": "PLAIN",
        "code": 235,
        "text": "2.7.0 Authentication successful",
        "success": True,
    }
    assert_no_secrets(raw)


def test_auth_failure_is_reported_not_failed(capsys, starttls_server, pki):
    rc, result, raw = run_module(capsys, args_for(starttls_server, pki, user=USER, password=WRONG_PASSWORD))
    assert rc == 0, result
    assert result["auth"]["code"] == 535
    assert result["auth"]["text"] == AUTH_INVALID
    assert result["auth"]["success"] is False
    assert_no_secrets(raw)


def test_auth_login_fallback(capsys, serve, pki):
    server = serve(tls_context=pki["context"](), auth_exclude_mechanism=["PLAIN"])
    rc, result, raw = run_module(capsys, args_for(server, pki, user=USER, password=PASSWORD))
    assert rc == 0, result
    assert result["auth_mechanisms"] == ["LOGIN"]
    assert result["auth"]["mechanism"] == "LOGIN"
    assert result["auth"]["code"] == 235
    rc, result, raw2 = run_module(capsys, args_for(server, pki, user=USER, password=WRONG_PASSWORD))
    assert rc == 0, result
    assert (result["auth"]["mechanism"], result["auth"]["code"]) == ("LOGIN", 535)
    assert_no_secrets(raw, raw2)


def test_auth_not_offered_still_reports_the_reply(capsys, serve, pki):
    # Over implicit TLS, aiosmtpd with auth_require_tls does not know it is encrypted: no AUTH offered.
    server = serve(ssl_context=pki["context"]())
    args = args_for(server, pki, mode="implicit", user=USER, password=PASSWORD)
    rc, result, raw = run_module(capsys, args)
    assert rc == 0, result
    assert result["auth_mechanisms"] == []
    assert result["auth"]["mechanism"] == "PLAIN"
    assert result["auth"]["code"] == 538
    assert result["auth"]["success"] is False
    assert_no_secrets(raw)


def test_auth_plain_with_empty_challenge(scripted):
    """A server that answers AUTH PLAIN with 334 gets the credentials on the next line."""
    server = scripted(
        [
            b"220 raw ESMTP\r\n",
            ScriptedServer.READ,  # EHLO
            b"250-raw\r\n250 AUTH PLAIN\r\n",
            ScriptedServer.READ,  # AUTH PLAIN ...
            b"334 \r\n",
            ScriptedServer.READ,  # credentials again
            b"235 2.7.0 ok\r\n",
            ScriptedServer.READ,  # QUIT
            b"221 bye\r\n",
        ]
    )
    # Plain mode refuses credentials, so call the logic directly over a plain connection.
    client = sp.SmtpClient("127.0.0.1", server.port, 5)
    client.connect()
    client.read_reply("greeting")
    client.command("EHLO probe.test")
    outcome = sp.authenticate(client, "PLAIN", USER, PASSWORD)
    client.quit()
    client.close()
    server.stop()
    assert outcome["code"] == 235 and outcome["success"] is True
    blob = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode())
    assert server.received[1] == b"AUTH PLAIN " + blob + b"\r\n"
    assert server.received[2] == blob + b"\r\n"


def test_auth_login_cancelled_when_server_keeps_challenging(scripted):
    server = scripted(
        [
            b"220 raw ESMTP\r\n",
            ScriptedServer.READ,  # AUTH LOGIN
            b"334 VXNlcm5hbWU6\r\n",
            ScriptedServer.READ,  # user
            b"334 UGFzc3dvcmQ6\r\n",
            ScriptedServer.READ,  # password
            b"334 more?\r\n",
            ScriptedServer.READ,  # "*"
            b"501 5.7.0 cancelled\r\n",
        ]
    )
    client = sp.SmtpClient("127.0.0.1", server.port, 5)
    client.connect()
    client.read_reply("greeting")
    outcome = sp.authenticate(client, "LOGIN", USER, PASSWORD)
    client.close()
    server.stop()
    assert outcome == dict(user=USER, mechanism="LOGIN", code=501, text="5.7.0 cancelled", success=False)
    assert server.received == [
        b"AUTH LOGIN\r\n",
        base64.b64encode(USER.encode()) + b"\r\n",
        base64.b64encode(PASSWORD.encode()) + b"\r\n",
        b"*\r\n",
    ]


# --------------------------------------------------------------------------
# Sending a message
# --------------------------------------------------------------------------


def test_send_message(capsys, serve, pki):
    recorder = Recorder()
    server = serve(tls_context=pki["context"](), handler=recorder)
    args = args_for(
        server,
        pki,
        user=USER,
        password=PASSWORD,
        send=dict(
            mail_from=USER,
            rcpt_to=["bob@example.test", "refused@example.test", "carol@example.test"],
            subject="Probe ✓",
            body="Hello.\n.a line that starts with a dot\nBye.",
        ),
    )
    rc, result, raw = run_module(capsys, args)
    assert rc == 0, result
    assert result["changed"] is True
    send = result["send"]
    assert send["mail"] == {"code": 250, "text": "2.1.0 Ok"}
    assert send["rcpt"] == [
        {"address": "bob@example.test", "code": 250, "text": "2.1.5 Ok"},
        {
            "address": "refused@example.test",
            "code": 550,
            "text": "5.1.1 <refused@example.test>: Recipient address rejected",
        },
        {"address": "carol@example.test", "code": 250, "text": "2.1.5 Ok"},
    ]
    assert send["data"] == {"code": 250, "text": "2.0.0 Ok: queued as PROBE1"}
    assert send["data_skipped"] is None and send["sent"] is True

    assert len(recorder.messages) == 1
    message = recorder.messages[0]
    assert message["mail_from"] == USER
    assert message["rcpt_tos"] == ["bob@example.test", "carol@example.test"]
    content = message["content"]
    assert b"\r\n.a line that starts with a dot\r\n" in content  # dot-stuffing undone by the server
    assert b"From: alice@example.test\r\n" in content
    assert b"To: bob@example.test, refused@example.test, carol@example.test\r\n" in content
    assert b"Subject: Probe =?utf-8?" in content  # the non-ASCII subject is encoded
    assert b"Message-ID: <" in content and b"@probe.test>" in content
    assert all(byte < 128 for byte in content)
    assert_no_secrets(raw)


def test_send_default_message_and_null_sender(capsys, serve):
    recorder = Recorder()
    server = serve(handler=recorder)
    args = args_for(server, mode="plain", send=dict(mail_from="", rcpt_to=["bob@example.test"]))
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert result["send"]["sent"] is True and result["changed"] is True
    assert recorder.mail_from == ["<>"]  # aiosmtpd's way of reporting the null sender
    content = recorder.messages[0]["content"]
    assert b"From: smtp_probe@probe.test\r\n" in content
    assert b"Subject: smtp_probe test message\r\n" in content
    assert b"sent by the mailops.authsmtp.smtp_probe Ansible module" in content


def test_send_all_recipients_refused(capsys, serve):
    recorder = Recorder()
    server = serve(handler=recorder)
    args = args_for(server, mode="plain", send=dict(mail_from="a@example.test", rcpt_to=["refused@example.test"]))
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert result["changed"] is False
    send = result["send"]
    assert [r["code"] for r in send["rcpt"]] == [550]
    assert send["data"] is None and send["sent"] is False
    assert send["data_skipped"] == "no recipient was accepted"
    assert recorder.messages == [] and recorder.rset == 1


def test_send_mail_from_refused(capsys, serve, pki):
    recorder = Recorder()
    server = serve(tls_context=pki["context"](), handler=recorder, auth_required=True)
    args = args_for(server, pki, send=dict(mail_from="a@example.test", rcpt_to=["bob@example.test"]))
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    send = result["send"]
    assert send["mail"] == {"code": 530, "text": "5.7.0 Authentication required"}
    assert send["rcpt"] == [] and send["data"] is None
    assert send["data_skipped"] == "MAIL FROM was refused"
    assert result["changed"] is False and recorder.messages == []


def test_send_data_refused(capsys, scripted):
    server = scripted(
        [
            b"220 raw ESMTP\r\n",
            ScriptedServer.READ,  # EHLO
            b"250 raw\r\n",
            ScriptedServer.READ,  # MAIL
            b"250 ok\r\n",
            ScriptedServer.READ,  # RCPT
            b"250 ok\r\n",
            ScriptedServer.READ,  # DATA
            b"554 5.5.1 Error: no valid recipients\r\n",
            ScriptedServer.READ,  # QUIT
            b"221 bye\r\n",
        ]
    )
    args = args_for(server, mode="plain", send=dict(mail_from="a@example.test", rcpt_to=["b@example.test"]))
    rc, result, _ = run_module(capsys, dict(args, expect=dict(data_code=250)))
    assert rc == 1
    assert result["send"]["data"] == {"code": 554, "text": "5.5.1 Error: no valid recipients"}
    assert result["send"]["sent"] is False and result["changed"] is False
    assert result["msg"] == "1 expectation not met: data_code: expected 250, got 554 (5.5.1 Error: no valid recipients)"


def test_check_mode_never_sends_data(capsys, serve, pki):
    recorder = Recorder()
    server = serve(tls_context=pki["context"](), handler=recorder)
    args = args_for(
        server,
        pki,
        user=USER,
        password=PASSWORD,
        send=dict(mail_from=USER, rcpt_to=["bob@example.test", "refused@example.test"]),
        expect=dict(auth_code=235, mail_code=250, rcpt_code=[250, 550], data_code=250),
    )
    rc, result, raw = run_module(capsys, args, check_mode=True)
    assert rc == 0, result
    assert result["changed"] is False
    assert result["auth"]["code"] == 235  # AUTH is done in check mode
    send = result["send"]
    assert send["mail"]["code"] == 250
    assert [r["code"] for r in send["rcpt"]] == [250, 550]
    assert send["data"] is None and send["sent"] is False
    assert send["data_skipped"] == "check mode"
    assert result["mismatches"] == []
    assert result["expect_skipped"] == ["data_code: not checked in check mode, DATA is never sent"]
    assert recorder.messages == []
    assert recorder.mail_from == [USER] and recorder.rset == 1
    assert_no_secrets(raw)


# --------------------------------------------------------------------------
# expect
# --------------------------------------------------------------------------


def test_expect_all_match(capsys, starttls_server, pki):
    cert_fp = fingerprint(pki["der"])
    expect = dict(
        banner_code=220,
        banner_contains="probe-test",
        ehlo_has=["auth", "SMTPUTF8"],
        ehlo_lacks=["STARTTLS"],
        ehlo_before_tls_has=["STARTTLS"],
        ehlo_before_tls_lacks=["AUTH"],
        tls_version="TLSv1.3",
        tls_cipher=["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"],
        cert_verified=True,
        cert_names_include=["MAIL.test", "127.0.0.1"],
        cert_subject_contains="CN=mail.test",
        cert_issuer_contains="Testing CA",
        cert_fingerprint=cert_fp.replace(":", "").lower(),
        cert_days_left_min=30,
        auth_mechanisms=["plain", "LOGIN"],
        auth_code=235,
        auth_text_contains="successful",
        mail_code=250,
        rcpt_code=250,
        data_code=250,
    )
    args = args_for(
        starttls_server,
        pki,
        user=USER,
        password=PASSWORD,
        send=dict(mail_from=USER, rcpt_to=["bob@example.test"]),
        expect=expect,
    )
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert result["mismatches"] == [] and result["expect_skipped"] == []
    assert result["changed"] is True

    # A list of TLS versions, and a list of RCPT codes.
    args["expect"] = dict(tls_version=["TLSv1.2", "TLSv1.3"], rcpt_code=[250], cert_fingerprint=cert_fp)
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result


def test_expect_mismatches_are_listed(capsys, starttls_server, pki):
    expect = dict(
        banner_code=554,
        banner_contains="Postfix",
        ehlo_has=["PIPELINING", "AUTH"],
        ehlo_lacks=["SMTPUTF8"],
        ehlo_before_tls_has=["AUTH"],
        ehlo_before_tls_lacks=["STARTTLS"],
        tls_version="TLSv1.2",
        tls_cipher="NULL-SHA",
        cert_verified=False,
        cert_names_include=["mail.test", "smtp.test"],
        cert_subject_contains="CN=smtp.test",
        cert_issuer_contains="Let's Encrypt",
        cert_fingerprint="AA:BB",
        cert_days_left_min=999999,
        auth_mechanisms=["PLAIN"],
        auth_code=235,
        auth_text_contains="successful",
        mail_code=553,
        rcpt_code=[250, 250],
        data_code=554,
    )
    args = args_for(
        starttls_server,
        pki,
        user=USER,
        password=WRONG_PASSWORD,
        send=dict(mail_from=USER, rcpt_to=["bob@example.test", "refused@example.test"]),
        expect=expect,
    )
    rc, result, raw = run_module(capsys, args)
    assert rc == 1
    assert result["error"] == "expectation_failed"
    cert = result["certificate"]
    fp = fingerprint(pki["der"])
    expected = [
        f"banner_code: expected 554, got 220 ({BANNER})",
        f"banner_contains: expected a banner containing 'Postfix', got '{BANNER}'",
        "ehlo_has: expected PIPELINING, AUTH in the EHLO, "
        "got SIZE, 8BITMIME, SMTPUTF8, AUTH, HELP (missing: PIPELINING)",
        "ehlo_lacks: expected SMTPUTF8 not in the EHLO, got SIZE, 8BITMIME, SMTPUTF8, AUTH, HELP (offered: SMTPUTF8)",
        "ehlo_before_tls_has: expected AUTH in the EHLO before TLS, "
        "got SIZE, 8BITMIME, SMTPUTF8, STARTTLS, HELP (missing: AUTH)",
        "ehlo_before_tls_lacks: expected STARTTLS not in the EHLO before TLS, "
        "got SIZE, 8BITMIME, SMTPUTF8, STARTTLS, HELP (offered: STARTTLS)",
        "tls_version: expected TLSv1.2, got TLSv1.3",
        f"tls_cipher: expected NULL-SHA, got {result['tls']['cipher']}",
        "cert_verified: expected false, got true",
        "cert_names_include: expected mail.test, smtp.test among the certificate's names, "
        "got mail.test, localhost, 127.0.0.1 (missing: smtp.test)",
        f"cert_subject_contains: expected a subject containing 'CN=smtp.test', got {cert['subject']!r}",
        f'cert_issuer_contains: expected an issuer containing "Let\'s Encrypt", got {cert["issuer"]!r}',
        f"cert_fingerprint: expected AA:BB, got {fp}",
        f"cert_days_left_min: expected at least 999999 days left, "
        f"got {cert['days_left']} (notAfter {cert['not_after']})",
        "auth_mechanisms: expected PLAIN, got LOGIN, PLAIN",
        f"auth_code: expected 235, got 535 ({AUTH_INVALID})",
        f"auth_text_contains: expected an AUTH reply containing 'successful', got 535 ({AUTH_INVALID})",
        "mail_code: expected 553, got 250 (2.1.0 Ok)",
        "rcpt_code (refused@example.test): expected 250, got 550 "
        "(5.1.1 <refused@example.test>: Recipient address rejected)",
        "data_code: expected 554, got 250 (2.0.0 Ok: queued as PROBE1)",
    ]
    assert result["mismatches"] == expected
    assert result["msg"] == f"{len(expected)} expectations not met: " + "; ".join(expected)
    # The full result comes back with the failure.
    assert result["banner"]["code"] == 220
    assert result["certificate"]["verified"] is True
    assert result["auth"]["code"] == 535
    assert result["send"]["sent"] is True and result["changed"] is True
    assert_no_secrets(raw)


def test_expect_on_results_that_do_not_exist(capsys, serve):
    server = serve()
    expect = dict(
        tls_version=["TLSv1.2", "TLSv1.3"],
        cert_verified=True,
        cert_fingerprint="AA",
        cert_days_left_min=1,
        cert_names_include=["mail.test"],
        ehlo_has=["AUTH"],
        auth_mechanisms=["PLAIN"],
        auth_code=235,
        auth_text_contains="ok",
        mail_code=250,
        rcpt_code=250,
        data_code=250,
    )
    rc, result, _ = run_module(capsys, args_for(server, mode="plain", expect=expect))
    assert rc == 1
    assert result["error"] == "expectation_failed"
    assert result["mismatches"] == [
        "ehlo_has: expected AUTH in the EHLO, got SIZE, 8BITMIME, SMTPUTF8, HELP (missing: AUTH)",
        "tls_version: expected one of TLSv1.2, TLSv1.3, got nothing (no TLS in plain mode)",
        "cert_verified: expected true, got nothing (no TLS in plain mode)",
        "cert_names_include: expected mail.test among the certificate's names, got nothing (no TLS in plain mode)",
        "cert_fingerprint: expected AA, got nothing (no TLS in plain mode)",
        "cert_days_left_min: expected at least 1 days left, got nothing (no TLS in plain mode)",
        "auth_mechanisms: expected PLAIN, got none",
        "auth_code: expected 235, got nothing (no credentials given)",
        "auth_text_contains: expected an AUTH reply containing 'ok', got nothing (no credentials given)",
        "mail_code: expected 250, got nothing (no send option)",
        "rcpt_code: expected 250, got nothing (no send option)",
        "data_code: expected 250, got nothing (no send option)",
    ]


def test_expect_rcpt_codes_when_mail_refused_or_counts_differ(capsys, serve):
    server = serve()
    send = dict(mail_from="a@example.test", rcpt_to=["b@example.test", "refused@example.test"])
    args = args_for(server, mode="plain", send=send, expect=dict(rcpt_code=[250, 550, 250]))
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert result["mismatches"] == [
        "rcpt_code: expected 3 codes (250, 550, 250), got 2 recipients: b@example.test 250, refused@example.test 550"
    ]
    args["expect"] = dict(rcpt_code=[250, 550], data_code=250)
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result

    send = dict(send, mail_from="forged@example.test")
    args = args_for(server, mode="plain", send=send, expect=dict(rcpt_code=250, data_code=250))
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert result["mismatches"] == [
        "rcpt_code: expected 250, got nothing (RCPT not sent: MAIL FROM was refused)",
        "data_code: expected 250, got nothing (DATA not sent: MAIL FROM was refused)",
    ]


def test_expect_cert_verified_false_when_not_validating(capsys, starttls_server, pki):
    args = args_for(
        starttls_server, pki, server_name="other.test", validate_certs=False, expect=dict(cert_verified=True)
    )
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert result["mismatches"] == [
        "cert_verified: expected true, got false (Hostname mismatch, certificate is not valid for 'other.test'.)"
    ]


def test_expect_rejects_unknown_keys_and_bad_rcpt_code(capsys, serve):
    server = serve()
    rc, result, _ = run_module(capsys, args_for(server, mode="plain", expect=dict(auth_cde=235)))
    assert rc == 1
    assert "auth_cde" in result["msg"]
    rc, result, _ = run_module(capsys, args_for(server, mode="plain", expect=dict(rcpt_code="abc")))
    assert rc == 1
    assert result["error"] == "invalid_parameters"
    assert result["msg"] == "expect.rcpt_code: 'abc' is neither a reply code nor a list of reply codes"


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def test_connection_refused(capsys):
    sock = free_port_refusing()
    try:
        port = sock.getsockname()[1]
        rc, result, _ = run_module(capsys, dict(host="127.0.0.1", port=port, mode="plain"))
    finally:
        sock.close()
    assert rc == 1
    assert result["error"] == "connection_refused"
    assert result["msg"] == f"connection to 127.0.0.1 port {port} refused"
    assert result["banner"] is None and result["peer_address"] is None
    assert result["changed"] is False


@pytest.mark.parametrize(
    "mode, activity",
    [
        ("plain", "waiting for the server's greeting"),
        ("starttls", "waiting for the server's greeting"),
        ("implicit", "during the TLS handshake"),
    ],
)
def test_timeout_when_the_server_never_answers(capsys, mode, activity):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # the kernel completes the connection; nobody ever answers
    try:
        port = listener.getsockname()[1]
        rc, result, _ = run_module(capsys, dict(host="127.0.0.1", port=port, mode=mode, timeout=0.3))
    finally:
        listener.close()
    assert rc == 1
    assert result["error"] == "timeout"
    assert result["msg"] == f"timed out after 0.3 s {activity}"
    assert result["peer_address"] == "127.0.0.1"


def test_timeout_mid_session(capsys, scripted):
    server = scripted([b"220 raw ESMTP\r\n", ScriptedServer.READ, ScriptedServer.HOLD])
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1", port=server.port, mode="plain", timeout=0.3))
    assert rc == 1
    assert result["error"] == "timeout"
    assert result["msg"] == "timed out after 0.3 s waiting for the reply to EHLO"
    assert result["banner"] == {"code": 220, "text": "raw ESMTP"}


def test_name_not_resolved(capsys, monkeypatch):
    real_getaddrinfo = socket.getaddrinfo

    def no_dns(host, *args, **kwargs):
        # Never ask a DNS server: .invalid never resolves (RFC 6761), and this test must not use the network.
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    rc, result, _ = run_module(capsys, dict(host="nonexistent.invalid", port=2525, user=USER, password=PASSWORD))
    assert rc == 1
    assert result["error"] == "name_not_resolved"
    assert result["msg"] == "cannot resolve nonexistent.invalid: Name or service not known"
    assert result["server_name"] == "nonexistent.invalid"


def test_connection_failed_other_network_errors(capsys, monkeypatch):
    def unreachable(*args, **kwargs):
        raise OSError(113, "No route to host")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    rc, result, _ = run_module(capsys, dict(host="192.0.2.1", port=25, mode="plain"))
    assert rc == 1
    assert result["error"] == "connection_failed"
    assert result["msg"] == "cannot connect to 192.0.2.1 port 25: No route to host"


def test_tls_handshake_failed_implicit_against_plain_server(capsys, serve, pki):
    server = serve()
    rc, result, _ = run_module(capsys, args_for(server, pki, mode="implicit"))
    assert rc == 1
    assert result["error"] == "tls_handshake_failed"
    assert result["msg"].startswith(f"TLS handshake with 127.0.0.1 port {server.port} failed: ")
    assert "WRONG_VERSION_NUMBER" in result["msg"]
    assert result["tls"] is None and result["certificate"] is None


def test_tls_handshake_failed_protocol_version(capsys, serve, pki):
    server = serve(tls_context=pki["context"](minimum_version=ssl.TLSVersion.TLSv1_3))
    rc, result, _ = run_module(capsys, args_for(server, pki, tls_max_version="TLSv1.2"))
    assert rc == 1
    assert result["error"] == "tls_handshake_failed"
    assert result["msg"].startswith(f"TLS handshake with 127.0.0.1 port {server.port} failed: [SSL: ")
    # What was learnt before the handshake is returned.
    assert result["banner"]["code"] == 220
    assert "STARTTLS" in result["ehlo_before_tls"]["extensions"]
    assert result["ehlo_after_tls"] is None


@pytest.mark.parametrize(
    "wrong, verify_error",
    [
        ("ca_file", "unable to get local issuer certificate"),
        ("server_name", "Hostname mismatch, certificate is not valid for 'other.test'."),
    ],
)
def test_certificate_verify_failed(capsys, serve, pki, wrong, verify_error):
    recorder = Recorder()
    server = serve(tls_context=pki["context"](), handler=recorder)
    args = args_for(
        server,
        pki,
        user=USER,
        password=PASSWORD,
        send=dict(mail_from=USER, rcpt_to=["bob@example.test"]),
    )
    args[wrong] = pki["other_ca_file"] if wrong == "ca_file" else "other.test"
    rc, result, raw = run_module(capsys, args)
    assert rc == 1
    assert result["error"] == "certificate_verify_failed"
    assert result["msg"] == f"certificate verification failed for {args['server_name']}: {verify_error}"
    # The certificate's facts are reported all the same ...
    cert = result["certificate"]
    assert cert["verified"] is False and cert["verify_error"] == verify_error
    assert cert["fingerprint_sha256"] == fingerprint(pki["der"])
    assert cert["names"] == [SERVER_NAME, "localhost", "127.0.0.1"]
    assert result["tls"]["version"] == "TLSv1.3"
    # ... but nothing was sent to the unverified server.
    assert result["auth"] is None and result["send"] is None and result["ehlo_after_tls"] is None
    assert recorder.mail_from == [] and recorder.messages == []
    assert_no_secrets(raw)

    # validate_certs=false: reported, and the probe carries on.
    rc, result, raw = run_module(capsys, dict(args, validate_certs=False))
    assert rc == 0, result
    assert result["certificate"]["verified"] is False
    assert result["certificate"]["verify_error"] == verify_error
    assert result["certificate"]["fingerprint_sha256"] == fingerprint(pki["der"])
    assert result["auth"]["code"] == 235
    assert result["send"]["sent"] is True and result["changed"] is True
    assert len(recorder.messages) == 1
    assert_no_secrets(raw)


def test_certificate_verify_failed_implicit_system_store(capsys, implicit_server):
    # No ca_file: the system's trust store does not know trustme's CA.
    rc, result, _ = run_module(capsys, args_for(implicit_server, mode="implicit", server_name=SERVER_NAME))
    assert rc == 1
    assert result["error"] == "certificate_verify_failed"
    assert result["certificate"]["verify_error"] == "unable to get local issuer certificate"
    assert result["banner"] is None  # the greeting comes after the handshake in implicit mode


def test_expired_certificate(capsys, serve, pki):
    expired = pki["ca"].issue_cert(
        SERVER_NAME,
        not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
        not_after=datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC),
    )
    server = serve(tls_context=pki["context"](leaf=expired))
    args = args_for(server, pki, validate_certs=False, expect=dict(cert_days_left_min=0))
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    cert = result["certificate"]
    assert cert["verify_error"] == "certificate has expired"
    assert cert["not_after"] == "2021-01-01T00:00:00Z"
    assert cert["days_left"] < 0
    assert result["mismatches"] == [
        f"cert_days_left_min: expected at least 0 days left, got {cert['days_left']} (notAfter 2021-01-01T00:00:00Z)"
    ]


def test_starttls_not_offered(capsys, serve, pki):
    server = serve()
    rc, result, _ = run_module(capsys, args_for(server, pki))
    assert rc == 1
    assert result["error"] == "starttls_not_offered"
    assert result["msg"] == "the server did not offer STARTTLS in its EHLO reply"
    assert result["ehlo_before_tls"]["code"] == 250


@pytest.mark.parametrize(
    "script, mode, error, msg",
    [
        (
            [b"554 5.7.1 No SMTP service here\r\n", ScriptedServer.READ, b"221 bye\r\n"],
            "plain",
            "smtp_rejected",
            "the server greeted with 554 (5.7.1 No SMTP service here) instead of 220",
        ),
        (
            [b"220 raw\r\n", ScriptedServer.READ, b"502 5.5.2 Error: command not recognized\r\n", ScriptedServer.READ],
            "plain",
            "smtp_rejected",
            "the server refused EHLO: 502 (5.5.2 Error: command not recognized)",
        ),
        (
            [
                b"220 raw\r\n",
                ScriptedServer.READ,
                b"250-raw\r\n250 STARTTLS\r\n",
                ScriptedServer.READ,
                b"454 4.7.0 TLS not available due to local problem\r\n",
                ScriptedServer.READ,
                b"221 bye\r\n",
            ],
            "starttls",
            "smtp_rejected",
            "the server refused STARTTLS: 454 (4.7.0 TLS not available due to local problem)",
        ),
        (
            [b"SSH-2.0-OpenSSH_9.2\r\n"],
            "plain",
            "smtp_protocol_error",
            "not an SMTP reply in the server's greeting: 'SSH-2.0-OpenSSH_9.2'",
        ),
        (
            [b"220-first line\r\n250 second line\r\n"],
            "plain",
            "smtp_protocol_error",
            "reply code changed within one reply in the server's greeting: '250 second line'",
        ),
        (
            [b"220-" + b"x" * 9000 + b"\r\n"],
            "plain",
            "smtp_protocol_error",
            "reply line longer than 8192 bytes in the server's greeting",
        ),
        ([], "plain", "connection_closed", "the server closed the connection while waiting for the server's greeting"),
        (
            [b"220 raw\r\n", ScriptedServer.READ],
            "plain",
            "connection_closed",
            "the server closed the connection while waiting for the reply to EHLO",
        ),
    ],
    ids=["greeting", "ehlo", "starttls", "not-smtp", "code-change", "long-line", "closed-at-once", "closed-later"],
)
def test_misbehaving_servers(capsys, scripted, script, mode, error, msg):
    server = scripted(script)
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1", port=server.port, mode=mode, timeout=5))
    assert rc == 1
    assert result["error"] == error
    assert result["msg"] == msg


def test_multiline_greeting_and_old_auth_syntax(capsys, scripted):
    server = scripted(
        [
            b"220-raw.test ESMTP\r\n220-welcome\r\n220 no UCE\r\n",
            ScriptedServer.READ,
            b"250-raw.test\r\n250-AUTH=LOGIN\r\n250-auth login plain\r\n250 8BITMIME\r\n",
            ScriptedServer.READ,
            b"221 bye\r\n",
        ]
    )
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1", port=server.port, mode="plain", ehlo_name="p.test"))
    assert rc == 0, result
    assert result["banner"] == {"code": 220, "text": "raw.test ESMTP\nwelcome\nno UCE"}
    # The standard AUTH line wins over the old AUTH= one.
    assert result["ehlo_before_tls"]["extensions"] == {"AUTH": "login plain", "8BITMIME": ""}
    assert result["auth_mechanisms"] == ["LOGIN", "PLAIN"]
    assert server.received == [b"EHLO p.test\r\n", b"QUIT\r\n"]


# --------------------------------------------------------------------------
# Invalid parameters and secrets
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, msg",
    [
        (
            dict(mode="plain", user=USER, password=PASSWORD),
            "user/password: credentials are never sent over an unencrypted connection; use mode starttls or implicit",
        ),
        (dict(port=0), "port: 0 is not between 1 and 65535"),
        (dict(timeout=0), "timeout: must be greater than 0, got 0.0"),
        (
            dict(ehlo_name="bad name"),
            "ehlo_name: 'bad name' must be a non-empty name without spaces or control characters",
        ),
        (
            dict(tls_min_version="TLSv1.3", tls_max_version="TLSv1.2"),
            "tls_min_version TLSv1.3 is higher than tls_max_version TLSv1.2",
        ),
        (
            dict(send=dict(mail_from="<a@example.test>", rcpt_to=["b@example.test\r\nDATA"])),
            "send.mail_from: '<a@example.test>' must be a bare address, without <>, CR, LF or NUL; "
            "send.rcpt_to: 'b@example.test\\r\\nDATA' must be a bare address, without <>, CR, LF or NUL",
        ),
        (dict(send=dict(mail_from="a@example.test", rcpt_to=[])), "send.rcpt_to: give at least one recipient"),
        (
            dict(send=dict(mail_from="a@example.test", rcpt_to=["b@example.test"], subject="a\nBcc: x@example.test")),
            "send.subject: must be one line, without CR, LF or NUL",
        ),
    ],
)
def test_invalid_parameters(capsys, extra, msg):
    args = dict(dict(host="127.0.0.1", port=2525), **extra)
    rc, result, raw = run_module(capsys, args)
    assert rc == 1
    assert result["error"] == "invalid_parameters"
    assert result["msg"] == msg
    assert result["banner"] is None
    assert_no_secrets(raw)


def test_ca_file_that_cannot_be_loaded(capsys, tmp_path):
    missing = tmp_path / "missing.pem"
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1", port=2525, ca_file=str(missing)))
    assert rc == 1
    assert result["error"] == "invalid_parameters"
    assert result["msg"].startswith(f"ca_file: cannot load CA certificates from {missing}: ")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1", port=2525, ca_file=str(garbage)))
    assert rc == 1
    assert result["error"] == "invalid_parameters"


def test_user_requires_password(capsys):
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1", user=USER))
    assert rc == 1
    assert "parameters are required together: user, password" in result["msg"]


def test_password_never_in_logic_results(starttls_server, pki):
    """Without Ansible's no_log masking, the logic itself keeps the password out of results and errors."""
    params = dict(
        host="127.0.0.1",
        port=starttls_server.port,
        mode="starttls",
        server_name=SERVER_NAME,
        ehlo_name="probe.test",
        ca_file=pki["ca_file"],
        validate_certs=True,
        tls_min_version=None,
        tls_max_version=None,
        timeout=5.0,
        user=USER,
        password=WRONG_PASSWORD,
        send=dict(mail_from=USER, rcpt_to=["bob@example.test"], subject="s", body="b"),
        expect=None,
        check_mode=False,
    )
    result = sp.probe(params)
    assert result["auth"]["code"] == 535
    assert_no_secrets(json.dumps(result))

    with pytest.raises(sp.ProbeError) as exc:
        sp.probe(dict(params, server_name="other.test"))
    assert exc.value.error == "certificate_verify_failed"
    assert_no_secrets(json.dumps(exc.value.result), exc.value.msg, str(exc.value))


def test_server_echoing_the_password_is_scrubbed(scripted):
    """Even a server that echoes the credentials cannot make the password appear in a result."""
    blob = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    server = scripted(
        [
            b"220 raw\r\n",
            ScriptedServer.READ,
            f"535 5.7.8 bad {blob} / {PASSWORD}\r\n".encode(),
        ]
    )
    client = sp.SmtpClient("127.0.0.1", server.port, 5)
    client.connect()
    client.read_reply("greeting")
    outcome = sp.authenticate(client, "PLAIN", USER, PASSWORD)
    client.close()
    assert sp.scrub(outcome, sp.secret_forms(USER, PASSWORD))["text"] == "5.7.8 bad ******** / ********"


def test_probes_run_in_order_each_judged_on_its_own(capsys, starttls_server, pki):
    refusing = free_port_refusing()
    probes = [
        dict(user=USER, password=PASSWORD, expect=dict(auth_code=235)),
        dict(user=USER, password=WRONG_PASSWORD, expect=dict(auth_code=235)),
        dict(mode="plain", port=refusing.getsockname()[1]),
        dict(expect=dict(ehlo_before_tls_has=["STARTTLS"])),
    ]
    rc, result, raw = run_module(capsys, args_for(starttls_server, pki, probes=probes))
    assert rc == 1
    assert [p["failed"] for p in result["probes"]] == [False, True, True, False]
    assert result["probes"][0]["auth"]["code"] == 235
    assert result["probes"][1]["error"] == "expectation_failed"
    assert result["probes"][1]["mismatches"] == [f"auth_code: expected 235, got 535 ({AUTH_INVALID})"]
    assert result["probes"][2]["error"] == "connection_refused"
    assert result["msg"].startswith("2 of 4 probes failed: #2 (1 expectation not met: auth_code")
    assert "; #3 (" in result["msg"]
    assert "port" not in result and result["changed"] is False
    assert_no_secrets(raw)


def test_probes_take_what_they_leave_out_from_the_top_level(capsys, starttls_server, pki):
    args = args_for(starttls_server, pki, user=USER, password=PASSWORD)
    rc, result, raw = run_module(capsys, dict(args, probes=[{}, dict(expect=dict(auth_code=235))]))
    assert rc == 0, result
    assert [p["auth"]["code"] for p in result["probes"]] == [235, 235]
    assert [p["port"] for p in result["probes"]] == [starttls_server.port] * 2
    assert_no_secrets(raw)


def test_probes_in_check_mode_send_no_data(capsys, serve, pki):
    recorder = Recorder()
    server = serve(tls_context=pki["context"](), handler=recorder)
    send = dict(mail_from=USER, rcpt_to=["bob@example.test"])
    args = args_for(server, pki, probes=[dict(user=USER, password=PASSWORD, send=send, expect=dict(data_code=250))])
    rc, result, _ = run_module(capsys, args, check_mode=True)
    assert rc == 0, result
    assert result["probes"][0]["send"]["data_skipped"] == "check mode"
    assert result["probes"][0]["expect_skipped"] and result["changed"] is False
    assert recorder.messages == []


def test_a_probe_requires_user_and_password_together(capsys):
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1", probes=[dict(user=USER)]))
    assert rc == 1
    assert "parameters are required together: user, password found in probes" in result["msg"]


def test_no_probes_is_an_empty_run(capsys):
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1", probes=[]))
    assert (rc, result["probes"], result["changed"]) == (0, [], False)


def test_missing_cryptography(capsys, monkeypatch):
    monkeypatch.setattr(smtp_probe, "HAS_CRYPTOGRAPHY", False)
    monkeypatch.setattr(smtp_probe, "CRYPTOGRAPHY_IMPORT_ERROR", "Traceback: ImportError")
    rc, result, _ = run_module(capsys, dict(host="127.0.0.1"))
    assert rc == 1
    assert result["error"] == "invalid_parameters"
    assert "cryptography" in result["msg"] and "to read the server certificate" in result["msg"]


def test_documentation_matches_argument_spec():
    """Every option is documented with the argument spec's type, default, choices and required flag."""

    def compare(documented, spec, path=""):
        assert sorted(documented) == sorted(spec), path
        for name, opt in spec.items():
            doc = documented[name]
            where = f"{path}{name}"
            assert doc.get("type", "str") == opt.get("type", "str"), where
            assert doc.get("default") == opt.get("default"), where
            assert doc.get("choices") == opt.get("choices"), where
            assert bool(doc.get("required")) == bool(opt.get("required")), where
            assert doc.get("elements") == opt.get("elements"), where
            assert doc.get("description"), where
            compare(doc.get("suboptions", {}), opt.get("options", {}), f"{where}.")

    documentation = yaml.safe_load(smtp_probe.DOCUMENTATION)
    compare(documentation["options"], smtp_probe.argument_spec())
    assert yaml.safe_load(smtp_probe.EXAMPLES)
    returned = yaml.safe_load(smtp_probe.RETURN)
    result_keys = set(sp.new_result(dict(host="h", port=1, mode="plain", server_name="h", ehlo_name="e")))
    assert result_keys | {"error", "mismatches", "expect_skipped", "probes"} == set(returned)
