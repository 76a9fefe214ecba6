"""What several host-state test modules ask of a host."""

from __future__ import annotations

import datetime
import json

DAEMON_PACKAGES = ("postfix", "dovecot-core", "fail2ban")


def installed_daemons(host):
    """Which of the collection's daemons' packages the host has."""
    return {name for name in DAEMON_PACKAGES if host.package(name).is_installed}


def greeting(host, port):
    """The first line the server sends on 127.0.0.1:port."""
    return host.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}; head -n 1 <&3'").stdout.strip()


def journal_errors(host, since="--boot"):
    """The journal's errors (priority err and worse) since `since`, as
    (identifier, line) pairs; each line starts with its time (UTC, to the
    microsecond), to be set beside the side effects' task times."""
    out = host.check_output("journalctl %s --no-pager --output=json --priority=err", since)
    errors = []
    for entry in map(json.loads, filter(None, out.splitlines())):
        identifier = str(entry.get("SYSLOG_IDENTIFIER", ""))
        when = datetime.datetime.fromtimestamp(int(entry.get("__REALTIME_TIMESTAMP", 0)) / 1e6, datetime.UTC)
        errors.append((identifier, f"{when:%H:%M:%S.%f} {identifier}: {entry.get('MESSAGE')}"))
    return errors
