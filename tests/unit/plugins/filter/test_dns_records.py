"""The DNS records playbooks/dns_records.yml prints: DKIM per selector, SPF
and DMARC suggestions per domain, and zone file lines."""

import re

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.mailops.authsmtp.plugins.filter import dns_records
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def public_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


PEM1 = public_pem()
PEM2 = public_pem()


def key(server, selector, pem=PEM1, signs=True, domain="example.org"):
    return {"server": server, "domain": domain, "selector": selector, "signs": signs, "public_key": pem}


def test_each_domain_gets_its_dkim_records_then_spf_and_dmarc():
    records = dns_records.authsmtp_dns_records(
        [
            key("mx2.example.org", "mx2-k1", PEM2),
            key("mx1.example.org", "mx1-k1"),
            key("mx1.example.org", "mx1-k2", PEM2, signs=False),
            key("mx1.example.org", "mx1-k1", domain="example.net"),
        ]
    )
    names = [r["name"] for r in records]
    assert names == [
        "mx1-k1._domainkey.example.net.",
        "example.net.",
        "_dmarc.example.net.",
        "mx1-k1._domainkey.example.org.",
        "mx1-k2._domainkey.example.org.",
        "mx2-k1._domainkey.example.org.",
        "example.org.",
        "_dmarc.example.org.",
    ]
    data = "".join(PEM1.strip().splitlines()[1:-1])
    assert records[3]["value"] == f"v=DKIM1; k=rsa; p={data}"
    assert records[3]["comment"] == "DKIM key mx1-k1: signs on mx1.example.org"
    assert records[4]["comment"] == "DKIM key mx1-k2: standby on mx1.example.org"
    assert records[6]["value"] == "v=spf1 a:mx1.example.org a:mx2.example.org ~all"
    assert records[7]["value"] == "v=DMARC1; p=none; rua=mailto:postmaster@example.org"


def test_one_key_shared_by_two_servers_is_one_record():
    records = dns_records.authsmtp_dns_records([key("mx1.example.org", "k1"), key("mx2.example.org", "k1")])
    assert [r["name"] for r in records].count("k1._domainkey.example.org.") == 1
    assert records[0]["comment"] == "DKIM key k1: signs on mx1.example.org, mx2.example.org"


def test_two_keys_under_one_selector_name_both_servers():
    with pytest.raises(AnsibleFilterError, match="mx2.example.org and mx1.example.org both have a DKIM key"):
        dns_records.authsmtp_dns_records([key("mx1.example.org", "k1"), key("mx2.example.org", "k1", PEM2)])


@pytest.mark.parametrize(
    "bad",
    [
        "not a list",
        [{"server": "mx1", "domain": "example.org", "selector": "k1", "public_key": "no pem"}],
        [{"domain": "example.org", "selector": "k1", "public_key": PEM1}],
    ],
)
def test_bad_input_is_an_error(bad):
    with pytest.raises(AnsibleFilterError):
        dns_records.authsmtp_dns_records(bad)


def test_zone_lines_split_long_values_into_strings_of_255():
    records = dns_records.authsmtp_dns_records([key("mx1.example.org", "mx1-k1")])
    lines = dns_records.authsmtp_zone_lines(records, 300)
    assert lines[0] == "; DKIM key mx1-k1: signs on mx1.example.org"
    name, ttl, cls, rtype, rest = lines[1].split(" ", 4)
    assert (name, ttl, cls, rtype) == ("mx1-k1._domainkey.example.org.", "300", "IN", "TXT")
    strings = re.findall(r'"([^"]*)"', rest)
    assert len(strings) == 2 and len(strings[0]) == 255
    assert "".join(strings) == records[0]["value"]
    assert lines[3] == 'example.org. 300 IN TXT "v=spf1 a:mx1.example.org ~all"'


def test_zone_lines_escape_quotes():
    lines = dns_records.authsmtp_zone_lines([{"name": "a.", "type": "TXT", "value": 'x"y\\z', "comment": "c"}])
    assert lines[1] == 'a. 3600 IN TXT "x\\"y\\\\z"'
