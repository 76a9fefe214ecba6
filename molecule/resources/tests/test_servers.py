"""What a deployed server looks like from inside: packages, services, sockets, files and its journal."""

from __future__ import annotations

import json
import os

import pytest

# The scenario's servers (container names), from its verify.
testinfra_hosts = [f"podman://{name}" for name in os.environ.get("AUTHSMTP_TEST_SERVERS", "").split(",") if name]

SERVICES = ["postfix", "dovecot"]


@pytest.mark.parametrize("package", ["postfix", "dovecot-core", "ca-certificates"])
def test_packages_are_installed(host, package):
    """installed"""
    assert host.package(package).is_installed


def test_fail2ban_is_installed_when_enabled(host, deployed):
    """fail2ban, nftables and python3-systemd installed"""
    if not deployed["fail2ban"]:
        pytest.skip("fail2ban is switched off on this host")
    for package in ("fail2ban", "nftables", "python3-systemd"):
        assert host.package(package).is_installed, package


@pytest.mark.parametrize("name", [*SERVICES, "fail2ban"])
def test_services_are_enabled_and_running(host, deployed, name):
    """enabled and running"""
    if name == "fail2ban" and not deployed["fail2ban"]:
        pytest.skip("fail2ban is switched off on this host")
    service = host.service(name)
    assert service.is_enabled and service.is_running


def test_only_smtp_listens_beyond_loopback(host, deployed):
    """only 25, 465 and 587 listen beyond loopback"""
    ports = set()
    for url in host.socket.get_listening_sockets():
        if not url.startswith("tcp://"):
            continue
        address, _, port = url[len("tcp://"):].rpartition(":")
        if not (address.startswith("127.") or address in ("::1", "[::1]") or address.startswith("::ffff:127.")):
            ports.add(int(port))
    assert ports == {25, deployed["submission_port"], deployed["submissions_port"]}


def test_keys_are_root_only(host, deployed):
    """served keys root:root 0600"""
    for kind in deployed["tls_types"]:
        for path in (f"{deployed['tls_dir']}/{kind}.pem", f"{deployed['tls_dir']}/{kind}/10-key.pem"):
            f = host.file(path)
            assert (f.exists, f.user, f.group, f.mode) == (True, "root", "root", 0o600), path


def test_password_file_is_readable_by_dovecot_only(host, deployed):
    """password file root:dovecot 0640"""
    f = host.file(deployed["passwd_file"])
    assert (f.user, f.group, f.mode) == ("root", "dovecot", 0o640)


@pytest.mark.parametrize(
    "path",
    [
        "/etc/postfix/main.cf",
        "/etc/postfix/master.cf",
        "/etc/postfix/authsmtp/mailboxes",
        "/etc/postfix/authsmtp/sender_logins",
        "/etc/dovecot/dovecot.conf",
    ],
)
def test_configuration_is_root_owned_and_not_writable_by_others(host, path):
    """root:root 0644"""
    f = host.file(path)
    assert (f.user, f.group, f.mode) == ("root", "root", 0o644)


def test_the_auth_socket_belongs_to_postfix(host):
    """auth socket postfix:postfix 0660"""
    f = host.file("/var/spool/postfix/private/auth")
    assert f.is_socket and (f.user, f.group, f.mode) == ("postfix", "postfix", 0o660)


def test_the_header_from_milter_serves_postfix_only(host, deployed):
    """header From milter running, its socket authsmtp-milter:postfix 0770 in a 0750 directory"""
    if not deployed.get("header_from"):
        pytest.skip("the scenario does not declare the header From check for this host")
    assert host.service("authsmtp-header-from").is_running
    assert host.service("authsmtp-header-from").is_enabled
    directory = host.file("/var/spool/postfix/authsmtp-milter")
    assert (directory.user, directory.group, directory.mode) == ("authsmtp-milter", "postfix", 0o750)
    sock = host.file("/var/spool/postfix/authsmtp-milter/header-from.sock")
    assert sock.is_socket and (sock.user, sock.group, sock.mode & 0o777) == ("authsmtp-milter", "postfix", 0o770)
    # Its program and unit are root's; the milter itself runs without root.
    pid = host.check_output("systemctl show --value -p MainPID authsmtp-header-from")
    assert host.file(f"/proc/{pid}").user == "authsmtp-milter"
    for path in ("/usr/local/lib/authsmtp/authsmtp_header_from.py", "/etc/systemd/system/authsmtp-header-from.service"):
        f = host.file(path)
        assert f.user == "root" and not f.mode & 0o022, path


def test_staging_is_private(host):
    """staging directories root, 0700"""
    for name in ("postfix", "dovecot"):
        f = host.file(f"/var/lib/authsmtp/staging/{name}")
        if f.exists:
            assert f.mode == 0o700 and f.user == "root", name


def test_nothing_is_left_from_release_0_1_0(host):
    """no staging directory of release 0.1.0 left"""
    assert not host.file("/var/lib/authsmtp/staging/fail2ban-jail").exists


@pytest.mark.parametrize("program", ["postfix", "dovecot", "doveconf"])
def test_journal_has_no_errors(host, deployed, program):
    """journal without errors from

    On a host that an earlier release converged, from the moment this code took over. Only the daemons' own
    messages count: systemd's "Failed to start" when Debian's installer starts an
    unconfigured Postfix, before the role writes main.cf, is not Postfix's.
    """
    since = "--boot"
    if deployed.get("journal_cursor_file"):
        # A host some other software ran before (an upgrade): from then on.
        since = "--after-cursor=" + host.file(deployed["journal_cursor_file"]).content_string.strip()
    out = host.check_output("journalctl %s --no-pager --output=json --priority=err", since)
    lines = [
        f"{entry.get('SYSLOG_IDENTIFIER')}: {entry.get('MESSAGE')}"
        for entry in map(json.loads, filter(None, out.splitlines()))
        if str(entry.get("SYSLOG_IDENTIFIER", "")).split("/")[0] == program
    ]
    assert lines == []
