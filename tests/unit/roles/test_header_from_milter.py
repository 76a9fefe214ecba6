"""The header From policy of the postfix role's milter (roles/postfix/files/authsmtp_header_from.py).

Only the policy is tested here; the Molecule scenario sends the same cases through Postfix from a client.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_PATH = os.path.join(_ROOT, "roles", "postfix", "files", "authsmtp_header_from.py")
_SPEC = importlib.util.spec_from_file_location("authsmtp_header_from", _PATH)
milter = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = milter
_SPEC.loader.exec_module(milter)

# As roles/postfix/templates/sender_logins.j2 writes it.
TABLE = milter.parse_table(
    """# managed
alice@example.test alice@example.test
bob@example.test bob@example.test
carol@example.test carol@example.test
sales@example.test alice@example.test, bob@example.test
@partner.test dave@example.test
"""
)


def verdict(login, *headers):
    return milter.check(login, list(headers), TABLE)


@pytest.mark.parametrize(
    "headers",
    [
        [("From", "carol@example.test")],
        [("From", "Carol <carol@example.test>")],
        [("From", "carol@example.test (Carol at work)")],
        [("from", "CAROL@Example.TEST")],
        [("From", "<carol+news@example.test>")],
        [("From", "=?utf-8?q?Carol_K=C3=B6hler?= <carol@example.test>")],
        [("From", "J. Carol <carol@example.test>")],
        [("From", "Carol\r\n <carol@example.test>")],
        [("From", '"carol@example.test" <carol@example.test>')],
        [("From", "carol@example.test"), ("Sender", "carol@example.test")],
        [("From", "Carol <carol@example.test>"), ("Subject", "From: ceo@example.test")],
    ],
)
def test_own_address_is_accepted(headers):
    assert verdict("carol@example.test", *headers).accepted


def test_send_as_and_domain_entries_are_owned():
    assert verdict("alice@example.test", ("From", "Sales <sales@example.test>")).accepted
    assert verdict("bob@example.test", ("From", "sales+q4@example.test")).accepted
    assert verdict("dave@example.test", ("From", "anyone@partner.test")).accepted
    assert not verdict("carol@example.test", ("From", "sales@example.test")).accepted


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        ([("From", "CEO <ceo@example.test>")], "<ceo@example.test> is not owned by login carol@example.test"),
        ([("From", "alice@example.test")], "<alice@example.test> is not owned"),
        ([("From", "carol@example.test, ceo@example.test")], "<ceo@example.test> is not owned"),
        ([("From", "carol@example.test"), ("From", "ceo@example.test")], "exactly one From: header, this one has 2"),
        ([("Subject", "no author")], "exactly one From: header, this one has 0"),
        ([("From", "=?utf-8?q?ceo=40example=2Etest?=")], "not a valid address list"),
        ([("From", "=?utf-8?b?Q0VP?= <ceo@example.test>")], "<ceo@example.test> is not owned"),
        ([("From", "ceo@example.test (carol@example.test)")], "<ceo@example.test> is not owned"),
        ([("From", "Board: ceo@example.test;")], "group syntax"),
        ([("From", "Board: carol@example.test;")], "group syntax"),
        ([("From", "undisclosed:;")], "group syntax"),
        ([("From", "Carol\r\n\t<ceo@example.test>")], "<ceo@example.test> is not owned"),
        ([("from", "ceo@example.test")], "<ceo@example.test> is not owned"),
        # Cyrillic "е" (U+0435) in the domain: looks like example.test, is another domain.
        ([("From", "carol@\u0435xample.test")], "is not owned"),
        ([("From", '"ceo@example.test" <carol@example.test>')], "display name shows <ceo@example.test>"),
        ([("From", "carol@example.test <ceo@example.test>")], "not a valid address list"),
        ([("From", "")], "has no address"),
        ([("From", "carol")], "not a valid address list"),
        ([("From", "carol@example.test"), ("Sender", "ceo@example.test")], "Sender: header address <ceo@example.test>"),
        ([("From", "carol@example.test"), ("Sender", "a@example.test"), ("Sender", "b@example.test")], "one Sender:"),
        ([("From", "carol@example.test"), ("Sender", "carol@example.test, c+x@example.test")], "exactly one address"),
    ],
)
def test_forgeries_are_refused_with_the_address(headers, text):
    result = verdict("carol@example.test", *headers)
    assert (result.code, result.status) == ("550", "5.7.1")
    assert text in result.text


def test_lookup_keys_follow_postfix():
    assert milter.lookup_keys("Carol+Tag@Example.Test") == [
        "carol+tag@example.test",
        "carol@example.test",
        "@example.test",
    ]
    assert milter.lookup_keys("carol@example.test", delimiters="-+") == ["carol@example.test", "@example.test"]
    assert milter.lookup_keys("+x@example.test") == ["+x@example.test", "@example.test"]
    # The most specific key found decides, as in Postfix: @domain does not widen a listed address.
    table = milter.parse_table("a@p.test x@example.test\n@p.test y@example.test\n")
    assert milter.owners(table, "a@p.test") == {"x@example.test"}
    assert milter.owners(table, "b@p.test") == {"y@example.test"}


def test_table_is_read_again_when_it_changes(tmp_path):
    path = tmp_path / "sender_logins"
    path.write_text("carol@example.test carol@example.test\n")
    table = milter.Table(str(path))
    assert milter.owners(table.current(), "carol@example.test") == {"carol@example.test"}
    path.write_text("carol@example.test carol@example.test\nceo@example.test carol@example.test\n")
    os.utime(path, ns=(1, 2))
    assert milter.owners(table.current(), "ceo@example.test") == {"carol@example.test"}
    path.unlink()
    assert table.current() is None


class FakePostmap:
    """subprocess.run for `postmap -q KEY TABLE`: answers from a dict, or fails like a database that is down."""

    def __init__(self, answers, down=False):
        self.answers = answers
        self.down = down
        self.asked = []

    def __call__(self, argv, **kwargs):
        from types import SimpleNamespace

        assert argv[:2] == ["postmap", "-q"] and kwargs.get("check") is False
        self.asked.append(argv[2])
        if self.down:
            return SimpleNamespace(returncode=1, stdout="", stderr="postmap: fatal: table pgsql:x.cf: query error\n")
        if argv[2] in self.answers:
            return SimpleNamespace(returncode=0, stdout=self.answers[argv[2]] + "\n", stderr="")
        return SimpleNamespace(returncode=1, stdout="", stderr="")


def test_a_table_of_another_type_is_asked_with_postmap_key_by_key():
    run = FakePostmap({"sales@example.test": "alice@example.test, bob@example.test"})
    lookup = milter.PostmapLookup("pgsql:/etc/postfix/authsmtp/store-sender-logins.cf", run=run)
    assert milter.owners(lookup, "sales+x@example.test") == {"alice@example.test", "bob@example.test"}
    assert milter.owners(lookup, "nobody@example.test") == frozenset()
    # Each key once per message, in Postfix's order.
    assert run.asked == ["sales+x@example.test", "sales@example.test", "nobody@example.test", "@example.test"]


def test_a_store_that_is_down_is_a_lookup_error_not_an_unowned_address():
    lookup = milter.PostmapLookup("pgsql:/x.cf", run=FakePostmap({}, down=True))
    with pytest.raises(LookupError, match="query error"):
        milter.owners(lookup, "alice@example.test")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("/etc/postfix/authsmtp/sender_logins", "Table"),
        ("texthash:/etc/postfix/authsmtp/sender_logins", "Table"),
        ("pgsql:/etc/postfix/authsmtp/store-sender-logins.cf", "PostmapTable"),
    ],
)
def test_open_table_reads_texthash_itself_and_asks_postmap_for_the_rest(name, kind):
    assert type(milter.open_table(name)).__name__ == kind
