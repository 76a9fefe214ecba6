"""playbooks/check_certs.yml, run for real against a local host.

A small SMTP server in this process serves a certificate on two local ports,
as the submission ports (STARTTLS) and the submissions port (implicit TLS);
the certificates on disk are files in a temporary authsmtp_tls_dir. Port 25
is not served here (binding it needs root), so its row always fails and
every run exits 2: the tests look at the rows and the failure message.
"""

from __future__ import annotations

import datetime
import re
import socket
import ssl
import sys
import threading
from pathlib import Path

import pytest
import yaml

cryptography = pytest.importorskip("cryptography")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "check_certs.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
# An address, not a name: the probes must not depend on how the test
# machine resolves localhost.
HOSTNAME = "127.0.0.1"

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook is not next to this Python")


def make_pem(path: Path, common_name: str, days: int, key_type: str = "ecdsa"):
    """Key followed by certificate, as the tls role writes 20-fullchain.pem."""
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


class FakeSmtp:
    """Greets, answers EHLO (offering STARTTLS before TLS), STARTTLS and QUIT."""

    def __init__(self, certfile: Path, implicit: bool):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(certfile))
        self.implicit = implicit
        self.listener = socket.create_server((HOSTNAME, 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _peer = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        conn.settimeout(10)
        tls = False
        try:
            if self.implicit:
                conn, tls = self.context.wrap_socket(conn, server_side=True), True
            reader = conn.makefile("rb")
            conn.sendall(b"220 fake ESMTP\r\n")
            while line := reader.readline():
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-fake\r\n" + (b"" if tls else b"250-STARTTLS\r\n") + b"250 8BITMIME\r\n")
                elif verb == b"STARTTLS" and not tls:
                    conn.sendall(b"220 go ahead\r\n")
                    conn, tls = self.context.wrap_socket(conn, server_side=True), True
                    reader = conn.makefile("rb")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"502 no\r\n")
        except (OSError, ssl.SSLError):
            # A client that gives up on an unverified certificate, mostly.
            return
        finally:
            conn.close()

    def close(self):
        self.listener.close()


@pytest.fixture(scope="module")
def run_playbook(run_ansible, tmp_path_factory):
    """Run the playbook on one local host whose ports are the given servers."""

    def run(tls_dir: Path, served: FakeSmtp, served_implicit: FakeSmtp, *extra: str):
        workdir = tmp_path_factory.mktemp("check-certs")
        host = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "authsmtp_hostname": HOSTNAME,
            "authsmtp_tls_dir": str(tls_dir),
            "authsmtp_submission_port": served.port,
            "authsmtp_submissions_port": served_implicit.port,
        }
        inventory = workdir / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"smtp_servers": {"hosts": {"mx1": host}}}))
        result = run_ansible("-i", str(inventory), str(PLAYBOOK), *extra, cwd=workdir)
        # The report's rows: status, then the port (or "disk"), days, type.
        result.rows = {
            (match.group(2), match.group(4) or ""): match.group(1)
            for match in re.finditer(r'^\s+"(OK|FAIL) +(\d+|disk) +(\d+|-)? +(\w+|-)', result.stdout, re.MULTILINE)
        }
        return result

    return run


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    base = tmp_path_factory.mktemp("certs")
    tls_dir = base / "tls"
    return {
        "tls_dir": tls_dir,
        "ecdsa": make_pem(tls_dir / "ecdsa" / "20-fullchain.pem", HOSTNAME, 60),
        "rsa": make_pem(tls_dir / "rsa" / "20-fullchain.pem", HOSTNAME, 90, "rsa"),
        "elsewhere": make_pem(base / "old" / "20-fullchain.pem", HOSTNAME, 60),
    }


@pytest.fixture(scope="module")
def runs(run_playbook, certs):
    """As deployed, with a threshold above the days left, and with a port
    that serves a certificate that is not on disk."""
    current = FakeSmtp(certs["ecdsa"], implicit=False)
    current_implicit = FakeSmtp(certs["ecdsa"], implicit=True)
    stale = FakeSmtp(certs["elsewhere"], implicit=True)
    try:
        yield {
            "deployed": run_playbook(certs["tls_dir"], current, current_implicit),
            "threshold": run_playbook(
                certs["tls_dir"], current, current_implicit, "-e", "authsmtp_check_certs_min_days=100000"
            ),
            "stale": run_playbook(certs["tls_dir"], current, stale),
            "ports": (current.port, current_implicit.port, stale.port),
        }
    finally:
        for server in (current, current_implicit, stale):
            server.close()


def test_as_deployed_the_served_ports_and_the_files_on_disk_pass(runs):
    sub, subs, _mx = runs["ports"]
    result = runs["deployed"]
    assert result.rows == {
        ("25", "-"): "FAIL",
        (str(sub), "ecdsa"): "OK",
        (str(subs), "ecdsa"): "OK",
        ("disk", "ecdsa"): "OK",
        ("disk", "rsa"): "OK",
    }, result.output
    # Only port 25, which nothing serves here, needs attention.
    assert result.returncode == 2, result.output
    message = re.search(r'"msg": "(127\.0\.0\.1: .*)"', result.stdout).group(1)
    assert "port 25: probe failed" in message
    assert f"port {sub}" not in message and f"port {subs}" not in message and "on disk" not in message
    assert "threshold authsmtp_check_certs_min_days=14." in message


def test_a_threshold_above_the_days_left_fails_every_certificate(runs):
    sub, subs, _mx = runs["ports"]
    result = runs["threshold"]
    assert result.returncode == 2, result.output
    assert set(result.rows.values()) == {"FAIL"}, result.output
    assert re.search(rf"port {subs}: (59|60) days left", result.output), result.output
    assert re.search(r"on disk \(rsa\): expires \d+Z, within 100000 days", result.output), result.output
    assert "threshold authsmtp_check_certs_min_days=100000." in result.output


def test_a_port_serving_a_certificate_not_on_disk_fails(runs):
    sub, _subs, stale = runs["ports"]
    result = runs["stale"]
    assert result.returncode == 2, result.output
    assert result.rows[(str(sub), "ecdsa")] == "OK", result.output
    assert result.rows[(str(stale), "NOT")] == "FAIL", result.output
    assert f"port {stale}: not the certificate on disk" in result.output
