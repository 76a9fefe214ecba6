#!/usr/bin/python3
"""Verify the DKIM signatures of messages in a Maildir with dkimpy (Debian's
python3-dkim), an implementation independent of the OpenDKIM that signed
them, against the records of a zone file as playbooks/dns_records.yml
writes it. No DNS is asked: a key that is not in the zone fails.

    dkim_verify.py MAILDIR < requests

Each request line is "ID MESSAGE-ID ZONE-FILE"; each answer line is
"ID COPIES RESULT d=DOMAIN s=SELECTOR", where RESULT is pass, fail (with
dkimpy's reason), unsigned or missing. A message is waited for up to 30
seconds."""

from __future__ import annotations

import re
import sys
import time
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import dkim

RECORD = re.compile(r'^(\S+)\s+\d+\s+IN\s+TXT\s+((?:"(?:[^"\\]|\\.)*"\s*)+)$')
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def zone_records(path):
    """TXT records of a zone file: name (lower case, no final dot) -> value,
    its strings joined as a resolver joins them."""
    records = {}
    for line in Path(path).read_text().splitlines():
        match = RECORD.match(line.strip())
        if match:
            value = "".join(re.sub(r"\\(.)", r"\1", s) for s in STRING.findall(match.group(2)))
            records[match.group(1).rstrip(".").lower()] = value
    return records


def message_id_of(path):
    """The Message-ID of a stored message, unfolded (a long one is folded)."""
    with path.open("rb") as stream:
        value = BytesHeaderParser(policy=compat32).parse(stream).get("Message-ID", "")
    return " ".join(str(value).split())


def find(maildir, message_id, wait=30):
    for _ in range(wait):
        found = [p for p in (Path(maildir) / "new").iterdir() if message_id_of(p) == message_id]
        if found:
            return found
        time.sleep(1)
    return []


def tags(message):
    """d= and s= of the first DKIM-Signature header, unfolded."""
    head = message.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    match = re.search(rb"^DKIM-Signature:((?:.*\n[ \t].*)*.*)", head, re.M | re.I)
    if not match:
        return None
    header = re.sub(rb"\s+", b"", match.group(1)).decode("ascii", "replace")
    values = dict(part.split("=", 1) for part in header.split(";") if "=" in part)
    return values.get("d", "?"), values.get("s", "?")


def lookup_in(records):
    """dkimpy's DNS lookup (name, timeout) answered from `records` alone."""

    def dnsfunc(name, timeout=5):
        key = name.decode() if isinstance(name, bytes) else name
        return records.get(key.rstrip(".").lower(), "").encode()

    return dnsfunc


def main():
    maildir = sys.argv[1]
    for request in sys.stdin.read().splitlines():
        if not request.strip():
            continue
        session, message_id, zone = request.split()
        files = find(maildir, message_id)
        if not files:
            print(f"{session} 0 missing")
            continue
        message = files[0].read_bytes()
        signed = tags(message)
        if signed is None:
            print(f"{session} {len(files)} unsigned")
            continue
        verifier = dkim.DKIM(message)
        try:
            ok = verifier.verify(dnsfunc=lookup_in(zone_records(zone)))
            reason = "" if ok else " (dkimpy: signature does not verify)"
        except dkim.DKIMException as error:
            ok, reason = False, f" (dkimpy: {error})"
        print(f"{session} {len(files)} {'pass' if ok else 'fail'} d={signed[0]} s={signed[1]}{reason}")


if __name__ == "__main__":
    main()
