"""The tls role applied alone to a fresh host (scenario `roles`)."""

from __future__ import annotations

from helpers import installed_daemons

testinfra_hosts = ["podman://tls-only"]


def test_no_daemon_is_installed(host):
    """the tls role alone installs no mail daemon"""
    assert installed_daemons(host) == set()


def test_key_and_chain_are_root_only(host):
    """key and chain in rsa.pem, root-only"""
    for path in ("/etc/authsmtp/tls/rsa.pem", "/etc/authsmtp/tls/rsa/10-key.pem"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600), path


def test_certificate_is_for_the_host(host):
    """the certificate is for the host's name"""
    check = host.run("openssl x509 -noout -checkhost tls-only.example.test -in /etc/authsmtp/tls/rsa/20-fullchain.pem")
    assert "does match" in check.stdout
