"""What a satellite (the relay_client role) looks like from inside (scenario `fleet`)."""

from __future__ import annotations

import os

from helpers import installed_daemons, journal_errors

# The scenario's satellites (container names), from its verify.
testinfra_hosts = [f"podman://{name}" for name in os.environ.get("AUTHSMTP_TEST_SATELLITES", "").split(",") if name]

MAP_DIR = "/etc/postfix/authsmtp-relay"


def test_only_postfix_is_installed(host):
    """Postfix and no other daemon of the collection"""
    assert installed_daemons(host) == {"postfix"}


def test_postfix_is_enabled_and_running(host):
    """Postfix enabled and running"""
    service = host.service("postfix")
    assert service.is_enabled and service.is_running


def test_nothing_listens_beyond_loopback(host):
    """nothing listens beyond loopback"""
    outside = []
    for url in host.socket.get_listening_sockets():
        if not url.startswith("tcp"):
            continue
        address = url.split("://", 1)[1].rpartition(":")[0]
        if not (address.startswith("127.") or address in ("::1", "[::1]")):
            outside.append(url)
    assert outside == []


def test_postfix_passes_its_own_checks(host):
    """`postfix check` and `postconf -n` say nothing"""
    for command in ("postfix check", "postconf -n >/dev/null"):
        result = host.run(command)
        assert (result.rc, result.stderr.strip()) == (0, ""), command


def test_the_login_is_root_only(host):
    """the password map is root's alone (0600)"""
    f = host.file(f"{MAP_DIR}/sasl_passwd")
    assert (f.user, f.group, f.mode) == ("root", "root", 0o600)


def test_hubs_are_verified(host):
    """TLS to the hubs verified against the named CA, SASL on, a refused login defers"""
    names = ["smtp_tls_security_level", "smtp_tls_CAfile", "smtp_sasl_auth_enable", "smtp_sasl_auth_soft_bounce"]
    values = [host.check_output(f"postconf -h {name}") for name in names]
    assert values == ["secure", f"{MAP_DIR}/hubs-ca.pem", "yes", "yes"]


def test_one_login_carries_many_messages(host):
    """TLS connections to the hubs are kept and reused: deliveries over a connection already logged in"""
    assert host.check_output("postconf -h smtp_tls_connection_reuse") == "yes"
    assert host.run("postconf -M tlsproxy/unix").stdout.split()[:2] == ["tlsproxy", "unix"]
    sent = host.check_output("journalctl -q --boot -t postfix/smtp -o cat --grep 'status=sent' || true").splitlines()
    reused = [line for line in sent if "conn_use=" in line]
    assert sent, "the satellite has relayed nothing"
    # How many depends on timing (a flushed queue: most; a trickle: some).
    assert reused, f"none of {len(sent)} deliveries went over a reused connection"


def test_the_queue_is_empty(host):
    """the queue is empty"""
    assert host.check_output("postqueue -j") == ""


def test_journal_has_no_postfix_errors(host):
    """no error from Postfix in the journal"""
    lines = [line for identifier, line in journal_errors(host) if identifier.startswith("postfix")]
    assert not lines, "\n".join([f"{len(lines)} error(s) from Postfix:"] + lines[:20])
