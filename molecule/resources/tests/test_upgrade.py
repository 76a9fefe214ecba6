"""A server converged by release 0.1.0, converged again by this code (scenario `roles`)."""

from __future__ import annotations

import json

import pytest

testinfra_hosts = ["podman://upgrade"]


@pytest.fixture
def before(host):
    return json.loads(host.file("/root/authsmtp-test/before-upgrade.json").content_string)


def files_holding(host, text, where):
    return host.run("grep -rlF -- %s %s", text, where).stdout.split()


def test_delivered_mail_is_still_there_once(host, before):
    """mail delivered under 0.1.0 is in alice's Maildir, once"""
    message_id = before["message_ids"]["delivered"]
    assert len(files_holding(host, f"Message-ID: {message_id}", "/var/mail/vhosts/example.test/alice")) == 1


def test_deferred_mail_is_still_queued_once(host, before):
    """mail deferred under 0.1.0 is still in the queue, once"""
    assert len(files_holding(host, before["message_ids"]["deferred"], "/var/spool/postfix/deferred")) == 1


def test_passwords_did_not_change(host, before, deployed):
    """the password file is byte for byte what 0.1.0 wrote, and alice still logs in"""
    assert host.check_output("sha256sum < /etc/dovecot/authsmtp-users").split()[0] == before["passwd_sha256"]
    assert host.run("doveadm auth test %s %s", deployed["user"], deployed["password"]).rc == 0


def test_the_certificate_was_not_reissued(host, before):
    """the key and certificate are those 0.1.0 made"""
    parts = "/etc/authsmtp/tls/rsa/10-key.pem /etc/authsmtp/tls/rsa/20-fullchain.pem"
    assert host.check_output(f"cat {parts} | sha256sum").split()[0] == before["tls_sha256"]


def test_no_staging_directory_of_0_1_0_is_left(host):
    """the staging directories are this release's only"""
    assert sorted(host.file("/var/lib/authsmtp/staging").listdir()) == ["dovecot", "fail2ban", "postfix"]
