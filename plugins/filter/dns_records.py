"""Filters: the DNS records a mail domain publishes for the servers that
sign its mail (DKIM) and send it (SPF suggestion, DMARC suggestion), and the
same records in zone file syntax."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_PEM = re.compile(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", re.S)
# A TXT record is a list of strings of at most 255 bytes each; resolvers
# join them (RFC 7208 3.3, RFC 6376 3.6.2.2).
_TXT_CHUNK = 255


def _public_key_data(pem):
    """The base64 SubjectPublicKeyInfo of a PEM public key: DKIM's p= tag."""
    match = _PEM.search(pem or "") if isinstance(pem, str) else None
    if not match:
        raise AnsibleFilterError("authsmtp_dns_records: a key's public_key is not a PEM public key")
    return "".join(match.group(1).split())


def authsmtp_dns_records(keys):
    """Records for `keys`: one entry per server, domain and selector, each a
    dict with server (its host name), domain, selector, signs (true for the
    selector that signs) and public_key (PEM). Returns, per domain in order,
    its DKIM records (one per selector), an SPF and a DMARC suggestion; each
    a dict with name, type, value and comment.

    Two servers with one selector for one domain but different keys cannot
    both be published: that is an error naming both."""
    if not isinstance(keys, list) or not all(isinstance(key, Mapping) for key in keys):
        raise AnsibleFilterError("authsmtp_dns_records expects a list of keys (dicts)")
    dkim = {}
    senders = {}
    for key in keys:
        domain, selector, server = key.get("domain"), key.get("selector"), key.get("server")
        if not all(isinstance(v, str) and v for v in (domain, selector, server)):
            raise AnsibleFilterError(f"authsmtp_dns_records: a key needs server, domain and selector; got {dict(key)}")
        data = _public_key_data(key.get("public_key"))
        senders.setdefault(domain, set()).add(server)
        entry = dkim.setdefault((domain, selector), {"data": data, "signs": set(), "standby": set()})
        if entry["data"] != data:
            others = sorted(entry["signs"] | entry["standby"])
            raise AnsibleFilterError(
                f"{server} and {', '.join(others)} both have a DKIM key for {domain} with selector {selector}, and the "
                "keys differ: only one can be published. Give each server its own authsmtp_dkim_selector (the "
                "default, <first label of authsmtp_hostname>-k1, does)"
            )
        entry["signs" if key.get("signs") else "standby"].add(server)

    records = []
    for domain in sorted(senders):
        for (d, selector), entry in sorted(dkim.items()):
            if d != domain:
                continue
            roles = []
            if entry["signs"]:
                roles.append("signs on " + ", ".join(sorted(entry["signs"])))
            if entry["standby"]:
                roles.append("standby on " + ", ".join(sorted(entry["standby"])))
            records.append({
                "name": f"{selector}._domainkey.{domain}.",
                "type": "TXT",
                "value": f"v=DKIM1; k=rsa; p={entry['data']}",
                "comment": f"DKIM key {selector}: {'; '.join(roles)}",
            })
        hosts = " ".join(f"a:{server}" for server in sorted(senders[domain]))
        records.append({
            "name": f"{domain}.",
            "type": "TXT",
            "value": f"v=spf1 {hosts} ~all",
            "comment": "SPF suggestion: add your other senders of this domain, then make ~all -all",
        })
        records.append({
            "name": f"_dmarc.{domain}.",
            "type": "TXT",
            "value": f"v=DMARC1; p=none; rua=mailto:postmaster@{domain}",
            "comment": "DMARC suggestion: read the reports to postmaster@, then p=quarantine, then p=reject",
        })
    return records


def _txt_strings(value):
    chunks = [value[i:i + _TXT_CHUNK] for i in range(0, len(value), _TXT_CHUNK)] or [""]
    return " ".join('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


def authsmtp_zone_lines(records, ttl=3600):
    """`records` (from authsmtp_dns_records) as zone file lines: each
    record's comment, then the record, its TXT value split into strings of
    at most 255 characters."""
    if not isinstance(records, list):
        raise AnsibleFilterError("authsmtp_zone_lines expects the list authsmtp_dns_records returns")
    lines = []
    for record in records:
        lines.append(f"; {record['comment']}")
        lines.append(f"{record['name']} {int(ttl)} IN {record['type']} {_txt_strings(record['value'])}")
    return lines


class FilterModule:
    def filters(self):
        return {"authsmtp_dns_records": authsmtp_dns_records, "authsmtp_zone_lines": authsmtp_zone_lines}
