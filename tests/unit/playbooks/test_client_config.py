"""playbooks/client_config.yml, run for real against a local host.

Each ansible-playbook run takes a few seconds, so the runs happen once per
scenario in module-scoped fixtures and the tests look at what they left:
a full run (incoming server, one web root for all domains) and its repeat, a
run without an incoming server (one web root per domain), and runs with bad
input that must fail.
"""

from __future__ import annotations

import plistlib
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "client_config.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

HOSTNAME = "mx1.example.test"
DOMAINS = ["example.test", "example.net"]
USERS = [
    {"name": "alice@example.test", "password": "not used here"},
    {"name": "bob@example.net", "password": "not used either", "state": "present", "send_as": ["b@example.net"]},
    {"name": "carol@example.test", "state": "absent"},
]
PRESENT = ["alice@example.test", "bob@example.net"]
ABSENT = "carol@example.test"
INCOMING = {"host": "imap.example.test", "type": "imap"}

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook is not next to this Python")


@pytest.fixture(scope="module")
def run_playbook(run_ansible):
    """Run the playbook on one local host with the given host variables."""

    def run(workdir: Path, host_vars: dict, out: Path, *extra: str):
        host = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "authsmtp_hostname": HOSTNAME,
            "authsmtp_domains": DOMAINS,
            "authsmtp_users": USERS,
            **host_vars,
        }
        inventory = workdir / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"smtp_servers": {"hosts": {"mx1": host}}}))
        return run_ansible(
            "-i", str(inventory), str(PLAYBOOK), "-e", f"authsmtp_client_config_dir={out}", *extra, cwd=workdir
        )

    return run


def recap(output: str) -> dict[str, int]:
    """The counters of the PLAY RECAP line of host mx1."""
    tail = output.split("PLAY RECAP", 1)[1]
    match = re.search(r"^mx1\s*:\s*(.*)$", tail, re.MULTILINE)
    assert match, output
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def mobileconfig_uuids(out: Path) -> dict[str, list[str]]:
    uuids = {}
    for address in PRESENT:
        profile = plistlib.loads((out / "users" / address / f"{address}.mobileconfig").read_bytes())
        uuids[address] = [profile["PayloadUUID"]] + [payload["PayloadUUID"] for payload in profile["PayloadContent"]]
    return uuids


@pytest.fixture(scope="module")
def full(run_playbook, tmp_path_factory):
    """Incoming server set, one web root for both domains; run twice."""
    workdir = tmp_path_factory.mktemp("full")
    webroot = workdir / "www"
    webroot.mkdir()
    host_vars = {"authsmtp_client_incoming": INCOMING, "authsmtp_client_autoconfig_webroot": str(webroot)}
    first = run_playbook(workdir, host_vars, workdir / "out")
    assert first.returncode == 0, first.output
    out = workdir / "out" / HOSTNAME
    uuids = mobileconfig_uuids(out)
    contents = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    second = run_playbook(workdir, host_vars, workdir / "out")
    return {
        "first": first,
        "second": second,
        "out": out,
        "webroot": webroot,
        "uuids": uuids,
        "contents": contents,
    }


@pytest.fixture(scope="module")
def no_incoming(run_playbook, full, tmp_path_factory):
    """No incoming server, a web root per domain, on a copy of the full run's
    output in which the absent user still has files."""
    workdir = tmp_path_factory.mktemp("no-incoming")
    shutil.copytree(full["out"].parent, workdir / "out")
    out = workdir / "out" / HOSTNAME
    (out / "users" / ABSENT).mkdir()
    (out / "users" / ABSENT / "msmtprc").write_text("left over\n")
    for domain in DOMAINS:
        (workdir / "sites" / domain).mkdir(parents=True)
    host_vars = {"authsmtp_client_autoconfig_webroot": str(workdir / "sites" / "{domain}")}
    result = run_playbook(workdir, host_vars, workdir / "out")
    assert result.returncode == 0, result.output
    return {"result": result, "out": out, "sites": workdir / "sites"}


def outgoing_servers(path: Path):
    root = ET.parse(path).getroot()  # noqa: S314 - files this test just rendered
    return root, root.find("emailProvider"), root.findall("emailProvider/outgoingServer")


# The full run


def test_the_full_run_succeeds_and_changes_files(full):
    assert recap(full["first"].output)["changed"] > 0
    assert recap(full["first"].output)["failed"] == 0


@pytest.mark.parametrize("domain", DOMAINS)
def test_autoconfig_has_both_submission_ports(full, domain):
    root, provider, servers = outgoing_servers(full["out"] / domain / "config-v1.1.xml")
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    assert provider.get("id") == domain
    assert [element.text for element in provider.findall("domain")] == [domain]
    assert provider.findtext("displayName") == domain
    found = [
        (
            server.get("type"),
            server.findtext("hostname"),
            server.findtext("port"),
            server.findtext("socketType"),
            server.findtext("authentication"),
            server.findtext("username"),
        )
        for server in servers
    ]
    assert found == [
        ("smtp", HOSTNAME, "587", "STARTTLS", "password-cleartext", "%EMAILADDRESS%"),
        ("smtp", HOSTNAME, "465", "SSL", "password-cleartext", "%EMAILADDRESS%"),
    ]


@pytest.mark.parametrize("domain", DOMAINS)
def test_autoconfig_has_the_incoming_server(full, domain):
    _, provider, _ = outgoing_servers(full["out"] / domain / "config-v1.1.xml")
    incoming = provider.findall("incomingServer")
    assert len(incoming) == 1
    assert incoming[0].get("type") == "imap"
    assert incoming[0].findtext("hostname") == "imap.example.test"
    assert incoming[0].findtext("port") == "993"
    assert incoming[0].findtext("socketType") == "SSL"
    assert incoming[0].findtext("username") == "%EMAILADDRESS%"


@pytest.mark.parametrize("address", PRESENT)
def test_mobileconfig_describes_the_account(full, address):
    profile = plistlib.loads((full["out"] / "users" / address / f"{address}.mobileconfig").read_bytes())
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    (mail,) = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["EmailAddress"] == address
    assert mail["OutgoingMailServerHostName"] == HOSTNAME
    assert mail["OutgoingMailServerPortNumber"] == 587
    assert mail["OutgoingMailServerUseSSL"] is True
    assert mail["OutgoingMailServerAuthentication"] == "EmailAuthPassword"
    assert mail["OutgoingMailServerUsername"] == address
    assert mail["IncomingMailServerHostName"] == "imap.example.test"
    assert mail["IncomingMailServerPortNumber"] == 993
    assert mail["IncomingMailServerUseSSL"] is True
    assert mail["IncomingMailServerUsername"] == address
    reversed_domain = ".".join(reversed(address.split("@")[1].split(".")))
    assert profile["PayloadIdentifier"].startswith(reversed_domain + ".")
    assert mail["PayloadIdentifier"].startswith(profile["PayloadIdentifier"] + ".")


@pytest.mark.parametrize("address", PRESENT)
def test_mobileconfig_holds_no_password(full, address):
    raw = (full["out"] / "users" / address / f"{address}.mobileconfig").read_bytes()
    profile = plistlib.loads(raw)
    keys = set(profile) | set(profile["PayloadContent"][0])
    assert "OutgoingPassword" not in keys
    assert "IncomingPassword" not in keys
    assert not [key for key in keys if "Password" in key]
    assert b"not used" not in raw


def test_mobileconfig_uuids_are_unique_and_stable(full):
    uuids = full["uuids"]
    flat = [uuid for pair in uuids.values() for uuid in pair]
    assert len(set(flat)) == len(flat) == 2 * len(PRESENT)
    assert mobileconfig_uuids(full["out"]) == uuids


def test_the_absent_user_has_no_files(full):
    assert not (full["out"] / "users" / ABSENT).exists()
    assert sorted(path.name for path in (full["out"] / "users").iterdir()) == sorted(PRESENT)


@pytest.mark.parametrize("address", PRESENT)
def test_msmtprc_logs_in_as_the_address_without_a_password(full, address):
    text = (full["out"] / "users" / address / "msmtprc").read_text()
    lines = [line.strip() for line in text.splitlines()]
    for expected in (
        f"account {address}",
        f"host {HOSTNAME}",
        "port 587",
        "tls on",
        "tls_starttls on",
        "tls_trust_file /etc/ssl/certs/ca-certificates.crt",
        "auth on",
        f"user {address}",
        f"from {address}",
        f"account default : {address}",
    ):
        assert expected in lines, expected
    assert not [line for line in lines if re.match(r"password\s", line)]
    assert "not used" not in text
    assert "passwordeval" in text


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text = []
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize("domain", DOMAINS)
def test_help_pages_name_the_server_and_both_ports(full, domain):
    page = (full["out"] / domain / "help.html").read_text()
    parser = _Collector()
    parser.feed(page)
    parser.close()
    text = " ".join(parser.text)
    assert {"html", "head", "title", "body", "table"} <= set(parser.tags)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    for needle in (HOSTNAME, "587", "465", "STARTTLS", "SSL/TLS", "imap.example.test", domain):
        assert needle in text, needle
    for client in ("Thunderbird", "Apple Mail", "Outlook", "msmtp"):
        assert client in text, client
    markdown = (full["out"] / domain / "help.md").read_text()
    for needle in (HOSTNAME, "587", "465", "STARTTLS", "SSL/TLS", "Thunderbird", "Outlook", "msmtp"):
        assert needle in markdown, needle


def test_modes(full):
    out = full["out"]
    for path in [out, *out.rglob("*")]:
        expected = 0o755 if path.is_dir() else 0o644
        assert path.stat().st_mode & 0o777 == expected, path


def test_a_second_run_changes_nothing(full):
    assert full["second"].returncode == 0, full["second"].output
    assert recap(full["second"].output)["changed"] == 0, full["second"].output
    after = {path: path.read_bytes() for path in full["out"].rglob("*") if path.is_file()}
    assert after == full["contents"]


def test_one_web_root_gets_one_file_for_all_domains(full):
    copies = [
        full["webroot"] / "mail" / "config-v1.1.xml",
        full["webroot"] / ".well-known" / "autoconfig" / "mail" / "config-v1.1.xml",
    ]
    assert copies[0].read_bytes() == copies[1].read_bytes()
    _, provider, servers = outgoing_servers(copies[0])
    assert [element.text for element in provider.findall("domain")] == DOMAINS
    assert [(server.findtext("hostname"), server.findtext("port")) for server in servers] == [
        (HOSTNAME, "587"),
        (HOSTNAME, "465"),
    ]
    for path in [*copies, copies[0].parent, copies[1].parent]:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644)


# Without an incoming server, one web root per domain


def test_without_incoming_there_are_no_profiles(no_incoming):
    assert not list(no_incoming["out"].rglob("*.mobileconfig"))
    assert "authsmtp_client_incoming is not set" in no_incoming["result"].output
    for address in PRESENT:
        assert (no_incoming["out"] / "users" / address / "msmtprc").is_file()


@pytest.mark.parametrize("domain", DOMAINS)
def test_without_incoming_autoconfig_has_no_incoming_server(no_incoming, domain):
    _, provider, servers = outgoing_servers(no_incoming["out"] / domain / "config-v1.1.xml")
    assert provider.find("incomingServer") is None
    assert len(servers) == 2
    assert "imap.example.test" not in (no_incoming["out"] / domain / "help.html").read_text()


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_web_root_per_domain_gets_that_domains_file(no_incoming, domain):
    rendered = (no_incoming["out"] / domain / "config-v1.1.xml").read_bytes()
    site = no_incoming["sites"] / domain
    assert (site / "mail" / "config-v1.1.xml").read_bytes() == rendered
    assert (site / ".well-known" / "autoconfig" / "mail" / "config-v1.1.xml").read_bytes() == rendered


def test_files_of_an_absent_user_are_removed(no_incoming):
    assert not (no_incoming["out"] / "users" / ABSENT).exists()


# Bad input


def test_an_unknown_incoming_type_fails(run_playbook, tmp_path):
    result = run_playbook(
        tmp_path, {"authsmtp_client_incoming": {"host": "imap.example.test", "type": "smtp"}}, tmp_path / "out"
    )
    assert result.returncode != 0
    assert "authsmtp_client_incoming.type must be imap or pop3; got smtp" in result.output
    assert not (tmp_path / "out").exists()


def test_a_misspelled_variable_fails(run_playbook, tmp_path):
    result = run_playbook(tmp_path, {"authsmtp_client_incomming": INCOMING}, tmp_path / "out")
    assert result.returncode != 0
    assert "authsmtp_client_incomming: not a variable" in result.output
    assert not (tmp_path / "out").exists()


def test_a_missing_web_root_fails(run_playbook, tmp_path):
    missing = tmp_path / "no-such-www"
    result = run_playbook(
        tmp_path,
        {"authsmtp_domains": DOMAINS[:1], "authsmtp_users": [], "authsmtp_client_autoconfig_webroot": str(missing)},
        tmp_path / "out",
    )
    assert result.returncode != 0
    assert f"authsmtp_client_autoconfig_webroot: {missing} is not a directory" in result.output
    assert not missing.exists()
