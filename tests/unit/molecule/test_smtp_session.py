"""The Molecule scenarios' smtp_session module, run in-process against local servers.

aiosmtpd servers (STARTTLS, implicit TLS, AUTH, a handler that records every
message) and a few raw socket servers for what aiosmtpd will not do (never
greet, fall for SMTP smuggling), all on 127.0.0.1 and ephemeral ports, with
certificates from trustme. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from email import message_from_bytes

import pytest
import smtp_session
import yaml
from aiosmtpd.smtp import AuthResult, LoginPassword
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mailops.authsmtp.tests.unit.plugins import smtp_servers

USER = "alice@example.test"
PASSWORD = "Session-s3cret-Passphrase!"
WRONG_PASSWORD = "Guessed-wr0ng-Passphrase?"
TOKEN = "tok123"

# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


class Recorder(smtp_servers.RefusingHandler):
    """Refuses senders starting with ``forged`` and recipients starting with ``refused``; records
    senders and messages. With ``stop_file`` and ``stop_after``, creates the file while it takes
    message number ``stop_after``."""

    def __init__(self, stop_file=None, stop_after=None):
        super().__init__()
        self.stop_file = stop_file
        self.stop_after = stop_after

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        if self.stop_file is not None and len(self.messages) == self.stop_after:
            self.stop_file.touch()
        return "250 2.0.0 Ok: queued as TEST1"


class Authenticator:
    def __init__(self):
        self.attempts = 0

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.attempts += 1
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server_defaults():
    """For smtp_servers.serve: each server counts the AUTH attempts of its own Authenticator (``server.auth``)."""
    return dict(ident="ESMTP session-test", handler=Recorder, authenticator=Authenticator)


# The shared aiosmtpd servers and certificates (tests/unit/plugins/smtp_servers.py).
pki = smtp_servers.pki
serve = smtp_servers.serve
starttls_server = smtp_servers.starttls_server
implicit_server = smtp_servers.implicit_server


@pytest.fixture
def raw_server():
    yield from smtp_servers.started(smtp_servers.RawServer)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def run_module(capsys, **module_args):
    """Run main() like Ansible would; return (exit code, result dict, raw stdout)."""
    with patch_module_args(module_args), pytest.raises(SystemExit) as exc:
        smtp_session.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out), out


def check(server, *steps, **options):
    return dict(
        dict(id="c1", title="a check", host="127.0.0.1", port=server.port, timeout=5, steps=list(steps)), **options
    )


def sessions(capsys, *checks, **module_args):
    rc, result, _out = run_module(capsys, token=TOKEN, checks=list(checks), **module_args)
    assert rc == 0, result
    return result["results"]


def tls_check(server, pki, *steps, **options):
    return check(server, *steps, **dict(dict(tls="starttls", cafile=pki["ca_file"], host="localhost"), **options))


STARTTLS = [{"ehlo": "client.test"}, {"starttls": True, "code": 220}, {"ehlo": "client.test"}]


def free_port_refusing():
    """A bound socket that does not listen: connecting to its port is refused, and nobody else can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------


def test_ehlo_has_and_lacks(capsys, starttls_server):
    results = sessions(
        capsys,
        check(starttls_server, {"ehlo": "client.test", "has": ["STARTTLS"], "lacks": ["AUTH"]}),
        check(starttls_server, {"ehlo": "client.test", "has": ["STARTTLS", "AUTH"]}, id="c2"),
        check(starttls_server, {"ehlo": "client.test", "lacks": ["8BITMIME"]}, id="c3"),
    )
    offered = "offers 8BITMIME HELP SIZE SMTPUTF8 STARTTLS"
    assert [(r["id"], r["passed"], r["expected"], r["got"]) for r in results] == [
        ("c1", True, "offers STARTTLS, no AUTH", offered),
        ("c2", False, "offers STARTTLS, offers AUTH", offered),
        ("c3", False, "no 8BITMIME", offered),
    ]
    first = results[0]
    assert first["features"] == ["8BITMIME", "HELP", "SIZE", "SMTPUTF8", "STARTTLS"]
    assert first["mechanisms"] == []
    assert first["steps"] == [
        {
            "step": "ehlo",
            "code": 250,
            "reply": "mail.test SIZE 33554432 8BITMIME SMTPUTF8 STARTTLS HELP",
            "passed": True,
        }
    ]
    assert first["subject"] == f"authsmtp check c1 {TOKEN}"
    assert "fingerprint" not in first and "tls_version" not in first


def test_starttls_auth_mail_rcpt_data(capsys, starttls_server, pki):
    steps = [
        *STARTTLS[:2],
        {"ehlo": "client.test", "mechanisms": ["PLAIN", "LOGIN"]},
        {"auth": {"user": USER, "password": PASSWORD}, "code": 235, "text": "Authentication successful"},
        {"mail": USER, "code": 250},
        {"rcpt": "bob@example.test", "code": 250},
        {"data": True, "code": 250, "text": "queued as"},
    ]
    rc, result, out = run_module(
        capsys, token=TOKEN, checks=[tls_check(starttls_server, pki, *steps, deliver_to="bob@example.test")]
    )
    assert rc == 0 and result["passed"] is True and result["changed"] is True
    (session,) = result["results"]
    assert session["passed"] is True
    assert (session["expected"], session["got"]) == ("250 queued as", "250 2.0.0 Ok: queued as TEST1")
    assert [(s["step"], s["code"], s["passed"]) for s in session["steps"]] == [
        ("ehlo", 250, True),
        ("starttls", 220, True),
        ("ehlo", 250, True),
        ("auth", 235, True),
        ("mail", 250, True),
        ("rcpt", 250, True),
        ("data", 250, True),
    ]
    assert session["fingerprint"] == pki["fingerprint"]
    assert session["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert "AUTH" in session["features_after_tls"] and "STARTTLS" not in session["features_after_tls"]
    assert session["mechanisms"] == ["LOGIN", "PLAIN"]
    (message,) = starttls_server.handler.messages
    assert message["Subject"] == session["subject"] == f"authsmtp check c1 {TOKEN}"
    assert (message["From"], message["To"]) == (USER, "bob@example.test")
    # The password is masked in the invocation, and in no form in the output.
    assert (
        result["invocation"]["module_args"]["checks"][0]["steps"][3]["auth"]["password"]
        == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    )
    for secret in (PASSWORD, base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()):
        assert secret not in out


def test_implicit_tls_and_auth_raw(capsys, implicit_server, pki):
    steps = [{"ehlo": "client.test", "has": ["AUTH"]}, {"auth_raw": "ANONYMOUS dGVzdA==", "code": 504}]
    (session,) = sessions(
        capsys, check(implicit_server, *steps, tls="implicit", cafile=pki["ca_file"], host="localhost")
    )
    assert session["passed"] is True, session
    assert session["fingerprint"] == pki["fingerprint"]
    assert session["got"].startswith("504 5.5.4")


def test_expected_refusal_with_show(capsys, serve):
    server = serve()
    steps = [
        {"ehlo": "client.test"},
        {"mail": "someone@elsewhere.test", "code": 250},
        {"rcpt": "refused@external.test", "code": 550, "text": "Recipient address rejected", "show": True},
        {"data": True, "code": 503, "text": "need RCPT"},
    ]
    (session,) = sessions(capsys, check(server, *steps))
    assert session["passed"] is True
    # The step marked "show" is the one reported, not the last.
    assert session["expected"] == "550 Recipient address rejected"
    assert session["got"] == "550 5.1.1 <refused@external.test>: Recipient address rejected"
    assert [s["code"] for s in session["steps"]] == [250, 250, 550, 503]


def test_wrong_code_fails_with_expected_and_got(capsys, serve):
    server = serve()
    steps = [
        {"ehlo": "client.test"},
        {"mail": "forged@example.test", "code": 250},
        {"rcpt": "bob@example.test", "code": 250},
    ]
    (session,) = sessions(capsys, check(server, *steps))
    assert session["passed"] is False
    assert session["expected"] == "250"
    assert session["got"] == "553 5.7.1 <forged@example.test>: Sender address rejected: not owned by user"
    # The session stops at the first step that differs.
    assert [(s["step"], s["passed"]) for s in session["steps"]] == [("ehlo", True), ("mail", False)]


def test_text_must_appear_in_the_reply(capsys, serve):
    server = serve()
    (session,) = sessions(
        capsys, check(server, {"ehlo": "client.test"}, {"mail": "a@example.test", "code": 250, "text": "Accepted"})
    )
    assert (session["passed"], session["expected"], session["got"]) == (False, "250 Accepted", "250 2.1.0 Ok")


def test_min_seconds(capsys, serve):
    server = serve()
    (session,) = sessions(
        capsys, check(server, {"ehlo": "client.test"}, {"mail": "a@example.test", "code": 250, "min_seconds": 1})
    )
    assert session["passed"] is False
    assert session["expected"] == "250 after >= 1 s"
    assert session["got"] == "250 2.1.0 Ok after 0.0 s"


def test_repeat_runs_every_round_in_a_new_connection(capsys, starttls_server, pki):
    auth = {"auth": {"user": USER, "password": PASSWORD}, "code": 235}
    (session,) = sessions(capsys, tls_check(starttls_server, pki, *STARTTLS, auth, repeat=3))
    assert session["passed"] is True
    assert session["got"] == "round 3/3: 235 2.7.0 Authentication successful"
    assert starttls_server.auth.attempts == 3


def test_repeat_stops_at_the_first_failing_round(capsys, starttls_server, pki):
    auth = {"auth": {"user": USER, "password": WRONG_PASSWORD}, "code": 235}
    rc, result, out = run_module(
        capsys, token=TOKEN, checks=[tls_check(starttls_server, pki, *STARTTLS, auth, repeat="3")]
    )
    (session,) = result["results"]
    assert (result["passed"], session["passed"]) == (False, False)
    assert session["expected"] == "235"
    assert session["got"] == "round 1/3: 535 5.7.8 Authentication credentials invalid"
    assert starttls_server.auth.attempts == 1
    assert WRONG_PASSWORD not in out


def test_refused_connection(capsys, serve):
    refusing = free_port_refusing()
    port = refusing.getsockname()[1]
    try:
        banned, answered = sessions(
            capsys,
            dict(id="ban", host="127.0.0.1", port=port, refused=True, timeout=2, steps=[]),
            dict(id="open", host="127.0.0.1", port=serve().port, refused=True, timeout=2, steps=[]),
        )
    finally:
        refusing.close()
    assert banned["passed"] is True
    assert banned["expected"] == "connection refused or dropped"
    assert banned["got"] == f"connection to 127.0.0.1 port {port} refused"
    assert answered["passed"] is False
    assert answered["got"] == "connected: 220 mail.test ESMTP session-test"
    assert "subject" not in banned


def test_refused_passes_when_the_server_never_greets(capsys, raw_server):
    server = raw_server(lambda conn, reader: server.done.wait(10))
    (session,) = sessions(
        capsys, dict(id="drop", host="127.0.0.1", port=server.port, refused=True, timeout=0.5, steps=[])
    )
    assert session["passed"] is True
    assert session["got"] == "timed out after 0.5 s waiting for the server's greeting"


def test_connection_refused_fails_an_ordinary_check(capsys):
    refusing = free_port_refusing()
    try:
        port = refusing.getsockname()[1]
        (session,) = sessions(capsys, dict(id="c1", host="127.0.0.1", port=port, steps=[{"ehlo": "client.test"}]))
    finally:
        refusing.close()
    assert (session["passed"], session["steps"]) == (False, [])
    assert session["expected"] == "ok"
    assert session["got"] == f"connection to 127.0.0.1 port {port} refused"


def test_certificate_that_does_not_verify(capsys, starttls_server, pki):
    (session,) = sessions(capsys, tls_check(starttls_server, pki, *STARTTLS, cafile=pki["other_ca_file"]))
    assert session["passed"] is False
    assert session["expected"] == "220"
    assert session["got"].startswith("the certificate does not verify for localhost: ")
    assert "fingerprint" not in session


def test_smuggling_refused_by_the_server(capsys, serve):
    server = serve()
    steps = [
        {"ehlo": "client.test"},
        {"mail": "someone@elsewhere.test", "code": 250},
        {"rcpt": "bob@example.test", "code": 250},
        {"smuggle": {"eod": "\n.\n", "rcpt": "carol@example.test"}, "code": 250, "text": "queued as"},
    ]
    (session,) = sessions(capsys, check(server, *steps))
    assert session["passed"] is True, session
    assert session["smuggled_replies"] == []
    (message,) = server.handler.messages
    assert "RCPT TO:<carol@example.test>" in message.get_payload()
    # Counted where it lands by its Message-ID, like every other message.
    assert message["Message-ID"] == session["message_id"] == f"<authsmtp-{session['id']}-{TOKEN}@elsewhere.test>"


def test_smuggling_a_server_falls_for(capsys, raw_server):
    """A server that takes <LF>.<LF> for the end of data answers the smuggled commands after QUIT."""

    def play(conn, reader):
        conn.sendall(b"220 fooled.test ESMTP\r\n")
        for answer in (b"250 fooled.test\r\n", b"250 2.1.0 Ok\r\n", b"250 2.1.5 Ok\r\n", b"354 go ahead\r\n"):
            reader.readline()
            conn.sendall(answer)
        while reader.readline() not in (b".\r\n", b""):
            pass
        conn.sendall(b"250 2.0.0 Ok: queued as FIRST\r\n")
        reader.readline()  # QUIT
        conn.sendall(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n250 2.0.0 Ok: queued as SECOND\r\n221 Bye\r\n")

    server = raw_server(play)
    steps = [
        {"ehlo": "client.test"},
        {"mail": "someone@elsewhere.test", "code": 250},
        {"rcpt": "bob@example.test", "code": 250},
        {"smuggle": {"eod": "\n.\n", "rcpt": "carol@example.test"}, "code": 250},
    ]
    (session,) = sessions(capsys, check(server, *steps))
    assert session["passed"] is False
    smuggled = ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 go ahead", "250 2.0.0 Ok: queued as SECOND"]
    assert session["smuggled_replies"] == smuggled
    assert session["got"] == "250 2.0.0 Ok: queued as FIRST | then " + " | ".join(smuggled)


def test_parallel_keeps_the_order_of_the_checks(capsys, serve):
    servers = [serve(), serve(), serve()]
    checks = [check(s, {"ehlo": f"c{i}.test"}, id=f"c{i}") for i, s in enumerate(servers)]
    results = sessions(capsys, *checks, parallel=True)
    assert [r["id"] for r in results] == ["c0", "c1", "c2"]
    assert all(r["passed"] for r in results)


def test_invalid_checks_fail_the_module(capsys):
    bad = [
        dict(id="x", host="h", port=25, steps=[{"helo": "client.test"}]),
        dict(id="y", host="h", port="smtp", steps=[{"data": True}]),
        dict(id="z", host="h", port=25, tls="ssl", steps=[{"auth": {"user": "u"}}]),
    ]
    rc, result, _out = run_module(capsys, token=TOKEN, checks=bad)
    assert rc == 1
    for text in (
        "checks[0] (x): step 1 must have exactly one of",
        "checks[1] (y): port 'smtp' is not a port number",
        "checks[1] (y): step 1: data needs a mail step",
        "checks[2] (z): tls must be one of none, starttls, implicit",
        "checks[2] (z): step 1: auth needs user and password",
    ):
        assert text in result["msg"]


# --------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------


def load_args(tmp_path, *targets, **kwargs):
    args = dict(
        mode="load",
        token="renewal-1",
        user=USER,
        password=PASSWORD,
        stop_file=str(tmp_path / "stop"),
        max_seconds=30,
        interval=0.01,
        targets=list(targets),
    )
    args.update(kwargs)
    return args


def test_load_counts_until_the_stop_file(capsys, serve, pki, tmp_path):
    # The STARTTLS server creates the stop file while it takes its 5th message.
    counted = serve(Recorder(stop_file=tmp_path / "stop", stop_after=5), tls_context=pki["context"]())
    other = serve(ssl_context=pki["context"](), auth_require_tls=False)
    targets = [
        {"host": "localhost", "port": counted.port, "tls": "starttls", "cafile": pki["ca_file"], "mx": "ignored"},
        {"host": "localhost", "port": other.port, "tls": "implicit", "cafile": pki["ca_file"]},
    ]
    rc, result, out = run_module(capsys, **load_args(tmp_path, *targets))
    assert rc == 0 and result["changed"] is True
    assert result["token"] == "renewal-1"
    first, second = result["targets"]
    ids = [f"<load-renewal-1-localhost-{counted.port}-{n}@client.test>" for n in range(1, 6)]
    started = first.pop("first_accepted_at")
    assert isinstance(started, float) and abs(time.time() - started) < 30
    assert first == {"host": "localhost", "port": counted.port, "sent": 5, "accepted": 5, "accepted_ids": ids,
                     "failures": []}
    assert second["failures"] == [] and second["sent"] == second["accepted"] == len(other.handler.messages) >= 1
    for target, server in ((first, counted), (second, other)):
        # Each accepted message is named by the Message-ID it carries.
        assert [m["Message-ID"] for m in server.handler.messages] == target["accepted_ids"]
        for serial, message in enumerate(server.handler.messages, 1):
            assert message["X-Authsmtp-Load"] == "renewal-1"
            assert message["Subject"] == f"load renewal-1 localhost:{target['port']} #{serial}"
            assert (message["From"], message["To"]) == (USER, USER)
    assert PASSWORD not in out


def test_load_stops_a_target_at_max_accepted(capsys, serve, pki, tmp_path):
    server = serve(tls_context=pki["context"]())
    target = {"host": "localhost", "port": server.port, "tls": "starttls", "cafile": pki["ca_file"]}
    rc, result, _ = run_module(capsys, **load_args(tmp_path, target, max_accepted=3))
    assert rc == 0
    (counts,) = result["targets"]
    # It stopped long before max_seconds (30) and without the stop file.
    assert (counts["sent"], counts["accepted"], counts["failures"]) == (3, 3, [])
    assert len(server.handler.messages) == 3


def test_load_reports_every_failure_with_its_reason(capsys, serve, pki, tmp_path):
    server = serve(tls_context=pki["context"]())
    targets = [
        {"host": "localhost", "port": server.port, "tls": "starttls", "cafile": pki["other_ca_file"]},
        {"host": "localhost", "port": server.port, "tls": "starttls", "cafile": pki["ca_file"]},
    ]
    rc, result, out = run_module(capsys, **load_args(tmp_path, *targets, max_seconds=0.3, password=WRONG_PASSWORD))
    assert rc == 0 and result["changed"] is False
    for target, reason in zip(
        result["targets"],
        ("the certificate does not verify for localhost: ", "AUTH: 535 5.7.8 Authentication credentials invalid"),
        strict=True,
    ):
        assert target["sent"] >= 1 and target["accepted"] == 0 and target["first_accepted_at"] is None
        assert len(target["failures"]) == target["sent"]
        assert target["failures"][0].startswith(f"#1: {reason}")
    assert server.handler.messages == []
    assert WRONG_PASSWORD not in out


def test_load_needs_its_options(capsys, tmp_path):
    rc, result, _out = run_module(capsys, mode="load", token="t", targets=[{"host": "h", "port": 465, "tls": "ssl"}])
    assert rc == 1
    assert "missing: user, password, stop_file" in result["msg"]
    rc, result, _out = run_module(capsys, **load_args(tmp_path, {"host": "h", "port": 465, "tls": "ssl"}))
    assert rc == 1
    assert result["msg"] == "targets[0]: tls must be implicit or starttls, not 'ssl'"


# --------------------------------------------------------------------------
# Documentation
# --------------------------------------------------------------------------


def test_documentation_matches_argument_spec():
    documented = yaml.safe_load(smtp_session.DOCUMENTATION)["options"]
    spec = smtp_session.argument_spec()
    assert sorted(documented) == sorted(spec)
    for name, opt in spec.items():
        doc = documented[name]
        assert doc.get("type", "str") == opt.get("type", "str"), name
        assert doc.get("default") == opt.get("default"), name
        assert doc.get("choices") == opt.get("choices"), name
        assert bool(doc.get("required")) == bool(opt.get("required")), name
        assert doc.get("elements") == opt.get("elements"), name
    assert yaml.safe_load(smtp_session.EXAMPLES)
    assert yaml.safe_load(smtp_session.RETURN)


def test_data_with_raw_headers_sends_them_as_they_are(capsys, starttls_server, pki):
    headers = ["From: carol@example.test", "from: CEO <ceo@example.test>", "Sender: Carol\r\n\t<carol@example.test>"]
    steps = [
        *STARTTLS[:3],
        {"auth": {"user": USER, "password": PASSWORD}, "code": 235},
        {"mail": "", "code": 250},
        {"rcpt": "bob@example.test", "code": 250},
        {"data": {"headers": headers}, "code": 250, "text": "queued as"},
    ]
    rc, result, _ = run_module(capsys, token=TOKEN, checks=[tls_check(starttls_server, pki, *steps)])
    assert rc == 0 and result["passed"] is True, result
    (message,) = starttls_server.handler.messages
    # Both From headers, the lower-case name and the folding arrive unchanged; no From of the envelope is added.
    assert message.get_all("From") == ["carol@example.test", "CEO <ceo@example.test>"]
    assert message["Sender"] == "Carol\r\n\t<carol@example.test>"
    assert message["Message-ID"] == result["results"][0]["message_id"]


def test_message_for_raw_headers_and_crlf():
    check = {"id": "h1", "steps": [{"mail": ""}, {"rcpt": "bob@example.test"}]}
    data = smtp_session.message_for(check, TOKEN, ["From: Carol\r\n\t<carol@example.test>", "from: x@example.test"])
    assert data.startswith(b"From: Carol\r\n\t<carol@example.test>\r\nfrom: x@example.test\r\nTo: bob@example.test\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert smtp_session.message_id_of(check, TOKEN) == f"<authsmtp-h1-{TOKEN}@localhost>"


def test_data_takes_headers_and_bdat_only():
    bad = {"id": "x", "host": "h", "port": 25, "steps": [{"mail": "a@b.test"}, {"data": {"header": []}}]}
    assert smtp_session.validate_checks([bad]) == ["checks[0] (x): step 2: data takes headers and bdat only"]
