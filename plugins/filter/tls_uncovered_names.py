"""Filter: which host names a certificate's subjectAltName list does not cover."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _covers(pattern: str, name: str) -> bool:
    """RFC 6125 matching as TLS clients do it: exact, or a wildcard that
    stands for exactly one whole left-most label."""
    pattern = pattern.lower().rstrip(".")
    name = name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*."):
        head, _dot, rest = name.partition(".")
        return bool(head) and rest == pattern[2:] and "." in rest
    return False


def tls_uncovered_names(names, subject_alt_names):
    if not isinstance(names, list) or not isinstance(subject_alt_names, list):
        raise AnsibleFilterError("tls_uncovered_names expects two lists: names and subjectAltName entries")
    dns = [entry[4:] for entry in subject_alt_names if isinstance(entry, str) and entry.startswith("DNS:")]
    return [name for name in names if not any(_covers(pattern, name) for pattern in dns)]


class FilterModule:
    def filters(self):
        return {"tls_uncovered_names": tls_uncovered_names}
