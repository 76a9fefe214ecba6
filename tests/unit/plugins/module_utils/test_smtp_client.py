"""SmtpClient's additions for its other user, the Molecule scenarios' smtp_session module:
send_data, quit on a closed client, and CertificateNotVerified under its public name.

The probe's own use of the client is tested in test_smtp_probe_utils.py and
tests/unit/plugins/modules/test_smtp_probe.py.
"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
import trustme
from ansible_collections.mailops.authsmtp.plugins.module_utils import smtp_probe as sp


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    ours.settimeout(2)
    theirs.settimeout(2)
    client = sp.SmtpClient("peer.test", 25, 2)
    client.sock = ours
    client._file = ours.makefile("rb")
    yield client, theirs
    client.close()
    theirs.close()


def test_send_data_dot_stuffs_and_returns_the_final_reply(pair):
    client, server = pair
    server.sendall(b"250 2.0.0 Ok: queued as X\r\n")
    reply = client.send_data(b"Subject: s\n\n.leading dot\nlast")
    assert reply == {"code": 250, "text": "2.0.0 Ok: queued as X"}
    assert server.recv(4096) == b"Subject: s\r\n\r\n..leading dot\r\nlast\r\n.\r\n"


def test_quit_on_a_closed_client_does_nothing(pair):
    client, server = pair
    client.close()
    client.quit()
    server.settimeout(0.1)
    assert server.recv(100) == b""  # nothing sent, only the close
    sp.SmtpClient("never.test", 25, 1).quit()


def test_start_tls_raises_certificate_not_verified(tmp_path):
    ca, other = trustme.CA(), trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("mail.test").configure_cert(server_ctx)
    listener = socket.create_server(("127.0.0.1", 0))

    def accept():
        conn, _addr = listener.accept()
        try:
            server_ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    other.cert_pem.write_to_path(str(tmp_path / "other.pem"))
    client = sp.SmtpClient("127.0.0.1", listener.getsockname()[1], 5)
    client.connect()
    try:
        with pytest.raises(sp.CertificateNotVerified) as exc:
            client.start_tls(ssl.create_default_context(cafile=str(tmp_path / "other.pem")), "mail.test")
    finally:
        client.close()
        thread.join(5)
        listener.close()
    assert "unable to get local issuer certificate" in exc.value.verify_error
    # The probe catches it under its old name.
    assert sp._CertNotVerified is sp.CertificateNotVerified
