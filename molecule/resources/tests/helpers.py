"""What several host-state test modules ask of a host."""

from __future__ import annotations

DAEMON_PACKAGES = ("postfix", "dovecot-core", "fail2ban")


def installed_daemons(host):
    """Which of the collection's daemons' packages the host has."""
    return {name for name in DAEMON_PACKAGES if host.package(name).is_installed}


def greeting(host, port):
    """The first line the server sends on 127.0.0.1:port."""
    return host.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}; head -n 1 <&3'").stdout.strip()
