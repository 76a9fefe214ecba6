"""The fail2ban role applied alone to a fresh host (scenario `roles`)."""

from __future__ import annotations

from helpers import installed_daemons

testinfra_hosts = ["podman://fail2ban-only"]


def test_only_fail2ban_is_installed(host):
    """the fail2ban role alone installs fail2ban and no mail daemon"""
    assert installed_daemons(host) == {"fail2ban"}


def test_the_jail_is_up(host):
    """the authsmtp-sasl jail is up"""
    assert host.service("fail2ban").is_running
    assert "Currently banned" in host.check_output("fail2ban-client status authsmtp-sasl")
