"""The postfix role applied alone to a fresh host (scenario `roles`)."""

from __future__ import annotations

from helpers import greeting, installed_daemons

testinfra_hosts = ["podman://postfix-only"]


def test_only_postfix_is_installed(host):
    """the postfix role alone installs Postfix and no other daemon"""
    assert installed_daemons(host) == {"postfix"}


def test_postfix_passes_its_own_checks(host):
    """`postfix check` and `postconf -n` say nothing"""
    for command in ("postfix check", "postconf -n >/dev/null"):
        result = host.run(command)
        assert (result.rc, result.stderr.strip()) == (0, ""), command


def test_snakeoil_is_served(host):
    """Debian's snakeoil certificate is what the submission ports serve"""
    assert "ssl-cert-snakeoil" in host.check_output("postconf -h smtpd_tls_chain_files")


def test_ports_greet(host):
    """ports 25 and 587 greet with 220"""
    assert host.service("postfix").is_running
    assert greeting(host, 25).startswith("220 ") and greeting(host, 587).startswith("220 ")
