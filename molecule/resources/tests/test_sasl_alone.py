"""The sasl role applied alone to a fresh host (scenario `roles`)."""

from __future__ import annotations

from helpers import installed_daemons

testinfra_hosts = ["podman://sasl-only"]


def test_dovecot_and_unconfigured_postfix_are_installed(host):
    """the sasl role installs Dovecot, and Postfix's package unconfigured for the socket's owner"""
    assert installed_daemons(host) == {"dovecot-core", "postfix"}
    assert not host.file("/etc/postfix/main.cf").exists


def test_the_socket_belongs_to_postfix(host):
    """the auth socket is in Postfix's queue directory, Postfix's"""
    assert host.service("dovecot").is_running
    socket = host.file("/var/spool/postfix/private/auth")
    assert socket.is_socket and (socket.user, socket.group) == ("postfix", "postfix")


def test_users_authenticate(host, deployed):
    """Dovecot takes the right password and refuses a wrong one"""
    user, password = deployed["user"], deployed["password"]
    assert host.run("doveadm auth test %s %s", user, password).rc == 0
    assert host.run("doveadm auth test %s %s", user, password + "-wrong").rc != 0
