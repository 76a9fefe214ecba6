"""aiosmtpd SMTP servers on 127.0.0.1 with trustme certificates, for tests that talk to a real server.

Shared by tests/unit/plugins/modules/test_smtp_probe.py and
tests/unit/molecule/test_smtp_session.py. It lives under tests/unit/plugins so
that `ansible-test units` (scripts/sanity.sh), which runs tests/unit/plugins
from a copy of the collection, has it too; import it by its collection name,
``ansible_collections.mailops.authsmtp.tests.unit.plugins.smtp_servers``.

A test module binds the fixtures it uses (``pki = smtp_servers.pki`` and so on)
and defines a ``smtp_server_defaults`` fixture: a dict with the ``ident`` of
the servers' greeting, and the ``handler`` and ``authenticator`` factories
that ``serve()`` calls for each server unless given one.
"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
import trustme
from aiosmtpd.controller import Controller
from ansible_collections.mailops.authsmtp.plugins.module_utils.smtp_probe import fingerprint_sha256
from cryptography import x509

SERVER_NAME = "mail.test"


class EphemeralController(Controller):
    """aiosmtpd's Controller on port 0: learn the port before the start-up self-test connects."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class RefusingHandler:
    """aiosmtpd handler: refuses senders starting with ``forged`` and recipients starting with ``refused``.

    It records every sender; subclasses record the messages.
    """

    def __init__(self):
        self.mail_from = []
        self.messages = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mail_from.append(address)
        if address.startswith("forged"):
            return f"553 5.7.1 <{address}>: Sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused"):
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a certificate of SERVER_NAME (also valid for localhost and 127.0.0.1) and another CA.

    ``context(leaf=cert, **versions)`` makes a server SSLContext with that
    certificate and those attributes (such as ``minimum_version``).
    """
    base = tmp_path_factory.mktemp("pki")
    ca, other_ca = trustme.CA(), trustme.CA()
    cert = ca.issue_cert(SERVER_NAME, "localhost", "127.0.0.1", common_name=SERVER_NAME)
    ca_file = base / "ca.pem"
    other_ca_file = base / "other-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    other_ca.cert_pem.write_to_path(str(other_ca_file))

    def context(leaf=cert, **versions):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(ctx)
        for name, value in versions.items():
            setattr(ctx, name, value)
        return ctx

    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    return dict(
        ca=ca,
        cert=cert,
        ca_file=str(ca_file),
        other_ca_file=str(other_ca_file),
        context=context,
        der=der,
        fingerprint=fingerprint_sha256(der),
        parsed=x509.load_der_x509_certificate(der),
        ca_parsed=x509.load_pem_x509_certificate(ca.cert_pem.bytes()),
    )


class RawServer:
    """One connection on a plain socket, answered by ``play(conn, reader)`` in a thread.

    For peers aiosmtpd will not play. ``done`` is set when the server stops.
    """

    def __init__(self, play):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(play,), daemon=True)
        self.thread.start()

    def _run(self, play):
        self.listener.settimeout(10)
        try:
            conn, _addr = self.listener.accept()
        except OSError:
            return
        with conn, conn.makefile("rb") as reader:
            try:
                play(conn, reader)
            except OSError:
                pass

    def stop(self):
        self.done.set()
        self.thread.join(10)
        self.listener.close()


def started(make):
    """For a fixture, ``yield from started(make)``: the test gets ``make``; what it made stops when the test ends."""
    servers = []

    def start(*args, **kwargs):
        server = make(*args, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def serve(smtp_server_defaults):
    """Start aiosmtpd servers on 127.0.0.1; all of them stop at the end of the test.

    ``serve(handler=None, **kwargs)``: kwargs go to the Controller; the
    server's authenticator is also its ``auth`` attribute.
    """

    def start(handler=None, **kwargs):
        kwargs.setdefault("authenticator", smtp_server_defaults["authenticator"]())
        controller = EphemeralController(
            handler or smtp_server_defaults["handler"](),
            hostname="127.0.0.1",
            port=0,
            server_hostname=SERVER_NAME,
            ident=smtp_server_defaults["ident"],
            **kwargs,
        )
        controller.auth = kwargs["authenticator"]
        controller.start()
        return controller

    yield from started(start)


@pytest.fixture
def starttls_server(serve, pki):
    return serve(tls_context=pki["context"]())


@pytest.fixture
def implicit_server(serve, pki):
    # aiosmtpd does not know an implicit TLS connection is encrypted; let it offer AUTH anyway.
    return serve(ssl_context=pki["context"](), auth_require_tls=False)
