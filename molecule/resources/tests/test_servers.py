"""What a deployed server looks like from inside: packages, services, sockets, files and its journal."""

from __future__ import annotations

import os
import shlex

import pytest
from helpers import journal_errors

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
    """password file root:dovecot 0640; with the shared store none, and its connection files root:service 0640"""
    if deployed.get("user_store") == "postgresql":
        assert not host.file(deployed["passwd_file"]).exists
        secrets = {
            "/etc/dovecot/authsmtp-sql.conf.ext": "dovecot",
            "/etc/postfix/authsmtp/store-mailboxes.cf": "postfix",
            "/etc/postfix/authsmtp/store-sender-logins.cf": "postfix",
            "/etc/postfix/authsmtp/store-unauthenticated-senders.cf": "postfix",
        }
        for path, group in secrets.items():
            f = host.file(path)
            assert (f.exists, f.user, f.group, f.mode) == (True, "root", group, 0o640), path
        return
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
def test_configuration_is_root_owned_and_not_writable_by_others(host, deployed, path):
    """root:root 0644 (the user tables only with the password file: the shared store replaces them)"""
    f = host.file(path)
    if deployed.get("user_store") == "postgresql" and path.startswith("/etc/postfix/authsmtp/"):
        assert not f.exists, f"{path} stayed behind after the move to the shared store"
        return
    assert (f.user, f.group, f.mode) == ("root", "root", 0o644)


def test_the_auth_socket_belongs_to_postfix(host, deployed):
    """auth socket postfix:postfix 0660; with the shared store, the relay's for Postfix, Dovecot's for the relay"""
    if deployed.get("user_store") == "postgresql":
        relay = host.file("/var/spool/postfix/authsmtp-auth/auth")
        assert relay.is_socket and (relay.user, relay.group, relay.mode) == ("authsmtp-auth-relay", "postfix", 0o660)
        dovecot = host.file("/run/dovecot/authsmtp-auth-relay")
        assert dovecot.is_socket and (dovecot.user, dovecot.mode) == ("authsmtp-auth-relay", 0o600)
        assert not host.file("/var/spool/postfix/private/auth").exists
        assert host.service("authsmtp-auth-relay").is_running
        return
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


def test_the_sending_limits_serve_postfix_only(host, deployed):
    """sending limits (postfwd) running as postfw, socket postfw:postfix 0660 in a 0750 directory, no TCP listener"""
    if not deployed.get("sending_limits"):
        pytest.skip("the scenario does not declare the sending limits for this host")
    service = host.service("authsmtp-sending-limits")
    assert service.is_running and service.is_enabled
    # Debian's own unit would listen on 127.0.0.1:10040, open to every local user.
    assert not host.service("postfwd").is_running
    assert not host.socket("tcp://127.0.0.1:10040").is_listening
    directory = host.file("/var/spool/postfix/authsmtp-policy")
    assert (directory.user, directory.group, directory.mode) == ("postfw", "postfix", 0o750)
    sock = host.file("/var/spool/postfix/authsmtp-policy/sending-limits.sock")
    assert sock.is_socket and (sock.user, sock.group, sock.mode & 0o777) == ("postfw", "postfix", 0o660)
    counters = host.file("/var/spool/postfix/authsmtp-policy/counters.sock")
    assert counters.is_socket and counters.user == "postfw" and counters.mode & 0o777 == 0o600
    pid = host.check_output("systemctl show --value -p MainPID authsmtp-sending-limits")
    assert host.file(f"/proc/{pid}").user == "postfw"
    for path in ("/etc/postfix/authsmtp-sending-limits.cf", "/etc/systemd/system/authsmtp-sending-limits.service"):
        f = host.file(path)
        assert f.user == "root" and not f.mode & 0o022, path


# A policy request as Postfix's smtpd sends it at the end of a message.
POLICY_REQUEST = r"""
import socket, sys
login, count = sys.argv[1], sys.argv[2]
request = ("request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nprotocol_name=ESMTP\n"
           "client_address=192.0.2.1\nclient_name=probe.test\nhelo_name=probe.test\n"
           f"sender={login}\nsasl_username={login}\nrecipient=\nrecipient_count={count}\nsize=100\n\n")
s = socket.socket(socket.AF_UNIX)
s.connect("/var/spool/postfix/authsmtp-policy/sending-limits.sock")
s.sendall(request.encode())
print(s.recv(4096).decode().strip())
"""


def test_the_site_sending_limits_hold_any_login(host, deployed):
    """postfwd holds a login without limits of its own at the site's recipient limit (a policy request)"""
    if not deployed.get("sending_limits"):
        pytest.skip("the scenario does not declare the sending limits for this host")
    site = deployed["sending_limits"]["recipients"]
    # Fresh names each run: a first message within the limit passes, one past it is held.
    stamp = host.check_output("date +%s%N")
    ask = f"python3 -c {shlex.quote(POLICY_REQUEST)}"
    assert host.check_output(f"{ask} site-probe-{stamp}a@example.test {site}") == "action=DUNNO"
    held = host.check_output(f"{ask} site-probe-{stamp}a@example.test 1")
    assert held.startswith(f"action=450 4.7.1 Sending limit reached: {site} recipients in"), held


def test_dkim_keys_are_roots_and_only_the_signer_reads_them(host, deployed):
    """DKIM: one key per domain for the selector that signs (no other left), root 0600 in a 0700 directory; OpenDKIM
    runs as opendkim and reads them as credentials that postfix cannot; only the submission ports have its milter"""
    if not deployed.get("dkim"):
        pytest.skip("the scenario does not declare DKIM for this host")
    label = host.check_output("hostname").split(".")[0]
    keys = sorted(f"{domain}.{label}-k1.key" for domain in deployed["dkim"]["domains"])
    directory = host.file("/etc/authsmtp/dkim")
    assert (directory.user, directory.group, directory.mode) == ("root", "root", 0o700)
    assert sorted(directory.listdir()) == keys
    for name in keys:
        key = host.file(f"/etc/authsmtp/dkim/{name}")
        assert (key.user, key.group, key.mode) == ("root", "root", 0o600), name
    service = host.service("authsmtp-dkim")
    assert service.is_running and service.is_enabled
    assert not host.service("opendkim").is_running
    pid = host.check_output("systemctl show --value -p MainPID authsmtp-dkim")
    assert host.file(f"/proc/{pid}").user == "opendkim"
    sock = host.file("/var/spool/postfix/authsmtp-dkim/dkim.sock")
    assert sock.is_socket and sock.group == "postfix" and not sock.mode & 0o007
    for name in keys:
        copy = f"/run/credentials/authsmtp-dkim.service/{name}"
        assert host.run(f"runuser -u opendkim -- test -r {copy}").rc == 0, copy
        assert host.run(f"runuser -u postfix -- cat {copy}").rc != 0, copy
    milters = "unix:authsmtp-milter/header-from.sock,unix:authsmtp-dkim/dkim.sock"
    for port in (deployed["submission_port"], deployed["submissions_port"]):
        line = host.check_output(f"postconf -P {port}/inet/smtpd_milters")
        assert line.split("=", 1)[-1].replace(" ", "") == milters, line
    assert host.check_output("postconf -h smtpd_milters") == ""


def test_the_password_file_keeps_passwd_files_rules_in_the_auth_workers(host, deployed):
    """Dovecot 2.3 reads the password file in its auth workers (Lua passdb), with passwd-file's rules

    Lines added for the test and cut off again (same inode, owner, mode and content after it): a hash
    without {SCHEME} is CRYPT (its own text is no password, nor is a plaintext field), a login with ':'
    matches no line, extra fields reach Postfix. Each is compared with what passwd-file itself does.
    """
    if deployed.get("user_store") == "postgresql":
        pytest.skip("the users are in the shared store")
    if not host.package("dovecot-core").version.startswith("1:2.3."):
        pytest.skip("Dovecot 2.4 reads the file with its own passwd-file passdb, in the auth workers")
    passdb = host.check_output("doveconf -n passdb")
    assert "driver = lua" in passdb and "blocking=yes" in passdb, passdb
    path = deployed["passwd_file"]
    crypted = host.check_output("doveadm pw -s SHA512-CRYPT -r 1000 -p secret-1").split("}", 1)[1]
    lines = (
        f"lua-test-nohash@example.invalid:{crypted}::::::\n"
        "lua-test-plain@example.invalid:secret-2::::::\n"
        "lua-test-extra@example.invalid:{PLAIN}secret-3::::::nodelay authsmtp_test=kept\n"
    )
    size = host.file(path).size
    before = host.check_output("stat -c '%%i %%U:%%G %%a' %s && sha256sum < %s", path, path)
    append = f"import sys; open(sys.argv[1], 'a').write({lines!r})"
    host.check_output("python3 -c %s %s", append, path)

    def auth(user, password):
        return host.run("doveadm auth test %s %s", user, password)

    try:
        assert auth("lua-test-nohash@example.invalid", "secret-1").rc == 0
        assert auth("lua-test-nohash@example.invalid", crypted).rc != 0
        assert auth("lua-test-plain@example.invalid", "secret-2").rc != 0
        assert auth("lua-test-nohash@example.invalid:x", "secret-1").rc != 0
        extra = auth("lua-test-extra@example.invalid", "secret-3")
        assert extra.rc == 0 and "authsmtp_test=kept" in extra.stdout, extra.stdout
        # An auth worker's command line is "dovecot/auth -w" (the debootstrap image has no pgrep).
        workers = host.check_output(
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done"
            " | grep -c '^dovecot/auth -w' || true"
        )
        assert int(workers) >= 1, "no auth worker process, so none verified them"
    finally:
        host.check_output("truncate -s %s %s", str(size), path)
    assert host.check_output("stat -c '%%i %%U:%%G %%a' %s && sha256sum < %s", path, path) == before


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
    lines = [line for identifier, line in journal_errors(host, since) if identifier.split("/")[0] == program]
    assert not lines, "\n".join([f"{len(lines)} error(s) from {program}:"] + lines[:20])
