#!/usr/bin/env python3
"""Compare the client setup files that playbooks/client_config.yml rendered
with the deployment they describe.

Reads a JSON document on stdin:

    {"dir": "<authsmtp_client_config_dir>",
     "servers": [{"host": "mx1 (inventory name)", "hostname": "mx1.example.org",
                  "domains": [...], "users": [...], "submission": 587, "submissions": 465}]}

and prints a JSON list of report rows {host, check, expected, got, passed}:
per domain, the Thunderbird autoconfig file parsed as XML (both outgoing
servers: host name, port, socket type, authentication, user name); per
user, the .mobileconfig loaded with plistlib (outgoing host, port, SSL,
user name, and no password of any kind inside).
"""

import json
import plistlib
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def row(host, check, expected, got):
    return {"host": host, "check": check, "expected": expected, "got": got, "passed": expected == got}


def autoconfig_rows(server, base):
    rows = []
    want = sorted(
        [
            f"{server['hostname']}:{server['submission']} STARTTLS password-cleartext %EMAILADDRESS%",
            f"{server['hostname']}:{server['submissions']} SSL password-cleartext %EMAILADDRESS%",
        ]
    )
    for domain in server["domains"]:
        path = base / domain / "config-v1.1.xml"
        try:
            root = ET.parse(path).getroot()  # noqa: S314 - a file this run rendered itself
            provider = root.find("emailProvider")
            got = sorted(
                f"{o.findtext('hostname')}:{o.findtext('port')} {o.findtext('socketType')} "
                f"{o.findtext('authentication')} {o.findtext('username')}"
                for o in provider.findall("outgoingServer")
            )
            got_text = "; ".join(got) if provider.get("id") == domain else f"emailProvider id {provider.get('id')}"
        except (OSError, ET.ParseError, AttributeError) as err:
            got_text = f"{type(err).__name__}: {err}"
        rows.append(row(server["host"], f"autoconfig for {domain} (XML): both submission ports",
                        "; ".join(want), got_text))
    return rows


def mobileconfig_rows(server, base):
    rows = []
    for user in server["users"]:
        path = base / "users" / user / f"{user}.mobileconfig"
        want = f"{server['hostname']}:{server['submission']} SSL=True {user}, no password"
        try:
            with path.open("rb") as handle:
                profile = plistlib.load(handle)
            mail = next(p for p in profile["PayloadContent"] if p.get("PayloadType") == "com.apple.mail.managed")
            secrets = sorted(k for k in mail if k in ("OutgoingPassword", "IncomingPassword"))
            got = (
                f"{mail.get('OutgoingMailServerHostName')}:{mail.get('OutgoingMailServerPortNumber')} "
                f"SSL={mail.get('OutgoingMailServerUseSSL')} {mail.get('OutgoingMailServerUsername')}, "
                + (f"has {', '.join(secrets)}" if secrets else "no password")
            )
        except (OSError, plistlib.InvalidFileException, KeyError, StopIteration) as err:
            got = f"{type(err).__name__}: {err}"
        rows.append(row(server["host"], f".mobileconfig for {user} (plistlib)", want, got))
    return rows


def main():
    spec = json.load(sys.stdin)
    rows = []
    for server in spec["servers"]:
        base = Path(spec["dir"]) / server["hostname"]
        rows += autoconfig_rows(server, base) + mobileconfig_rows(server, base)
    json.dump(rows, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
