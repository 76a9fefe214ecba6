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


STORE_CF = """\
# Ansible managed
# A table of the shared user store (pgsql_table(5)), read by proxymap
hosts = inet:db.example.test:5432
dbname = authsmtp
user = authsmtp_postfix
password = Store-pw-1
domain = example.test, example.org
query = SELECT logins FROM authsmtp.postfix_sender_logins WHERE address = '%s'
"""


class FakeStore:
    """psycopg2.connect for the store: answers from a dict of address -> [rows]; ``down`` refuses connections,
    ``break_next`` makes the next query fail as a connection closed by a restarted server does."""

    def __init__(self, answers, down=False):
        self.answers, self.down, self.break_next = answers, down, False
        self.connections, self.asked = [], []

    def __call__(self, **settings):
        if self.down:
            raise RuntimeError('connection to server at "db.example.test" (10.0.0.5), port 5432 failed: refused')
        connection = FakeConnection(self, settings)
        self.connections.append(connection)
        return connection


class FakeConnection:
    def __init__(self, store, settings):
        self.store, self.settings, self.closed, self.session = store, settings, False, None

    def set_session(self, **session):
        self.session = session

    def cursor(self):
        return FakeCursor(self)

    def close(self):
        self.closed = True


class FakeCursor:
    def __init__(self, connection):
        self.connection, self.rows = connection, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, params):
        store = self.connection.store
        assert not self.connection.closed
        if store.break_next:
            store.break_next = False
            raise RuntimeError("server closed the connection unexpectedly")
        assert query == "SELECT logins FROM authsmtp.postfix_sender_logins WHERE address = %(key)s"
        store.asked.append(params["key"])
        self.rows = store.answers.get(params["key"], [])

    def fetchall(self):
        return self.rows


@pytest.fixture
def store_cf(tmp_path):
    path = tmp_path / "store-sender-logins.cf"
    path.write_text(STORE_CF)
    return path


def test_the_store_is_asked_over_one_connection_as_postfix_asks_it(store_cf):
    store = FakeStore({"sales@example.test": [("alice@example.test, bob@example.test",)],
                       "alice@example.test": [("alice@example.test",)]})
    table = milter.PgsqlTable(str(store_cf), connect=store)
    lookup = table.current()
    assert milter.owners(lookup, "Sales+x@Example.test") == {"alice@example.test", "bob@example.test"}
    assert milter.owners(lookup, "nobody@example.test") == frozenset()
    # Each key once per message, in Postfix's order; with `domain` set, Postfix asks
    # neither @domain keys nor other domains (pgsql_table(5)), and nor does the milter.
    assert milter.owners(lookup, "nobody@elsewhere.test") == frozenset()
    assert store.asked == ["sales+x@example.test", "sales@example.test", "nobody@example.test"]
    assert milter.check("alice@example.test", [("From", "Alice <alice@example.test>")], table.current()).accepted
    assert len(store.connections) == 1
    assert store.connections[0].settings == {"host": "db.example.test", "port": 5432, "dbname": "authsmtp",
                                             "user": "authsmtp_postfix", "password": "Store-pw-1",
                                             "application_name": "authsmtp-header-from"}
    assert store.connections[0].session == {"readonly": True, "autocommit": True}


def test_rows_are_joined_as_postfix_joins_them(store_cf):
    store = FakeStore({"team@example.test": [("alice@example.test",), ("Bob@example.test carol@example.test",)]})
    lookup = milter.PgsqlTable(str(store_cf), connect=store).current()
    assert milter.owners(lookup, "team@example.test") == {"alice@example.test", "bob@example.test",
                                                          "carol@example.test"}


def test_a_store_that_is_down_is_a_lookup_error_not_an_unowned_address(store_cf):
    table = milter.PgsqlTable(str(store_cf), connect=FakeStore({}, down=True))
    with pytest.raises(LookupError, match="port 5432 failed: refused"):
        milter.owners(table.current(), "alice@example.test")


def test_a_connection_lost_since_the_last_message_is_opened_again(store_cf):
    store = FakeStore({"alice@example.test": [("alice@example.test",)]})
    table = milter.PgsqlTable(str(store_cf), connect=store)
    assert milter.owners(table.current(), "alice@example.test") == {"alice@example.test"}
    store.break_next = True  # the database restarted between two messages
    assert milter.owners(table.current(), "alice@example.test") == {"alice@example.test"}
    assert [c.closed for c in store.connections] == [True, False]


def test_a_changed_file_is_read_again_and_the_connection_renewed(store_cf):
    store = FakeStore({"alice@example.test": [("alice@example.test",)]})
    table = milter.PgsqlTable(str(store_cf), connect=store)
    milter.owners(table.current(), "alice@example.test")
    store_cf.write_text(STORE_CF.replace("Store-pw-1", "Store-pw-2"))
    os.utime(store_cf, ns=(1, 2))
    milter.owners(table.current(), "alice@example.test")
    assert [(c.settings["password"], c.closed) for c in store.connections] == [("Store-pw-1", True),
                                                                               ("Store-pw-2", False)]
    store_cf.unlink()
    assert table.current() is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("result_format = %s", "result_format = x"), "'result_format' is not one of"),
        (("inet:db.example.test:5432", "db1.example.test db2.example.test"), "hosts: one inet:host:port expected"),
        (("address = '%s'", "address = '%u'"), "'%s' is the only expansion understood"),
        (("dbname = authsmtp\n", ""), "dbname missing"),
    ],
)
def test_a_table_the_milter_would_read_differently_from_postfix_is_refused(change, message):
    text = STORE_CF.replace(*change) if change[0] in STORE_CF else STORE_CF + change[1] + "\n"
    with pytest.raises(ValueError, match=message):
        milter.parse_pgsql_cf(text)


def test_settings_continue_on_indented_lines_and_the_port_defaults():
    settings = milter.parse_pgsql_cf(STORE_CF.replace("inet:db.example.test:5432", "[fd00::5]").replace(
        "query = SELECT logins", "query = SELECT logins\n  "))
    assert (settings["host"], settings["port"]) == ("fd00::5", 5432)
    assert settings["query"] == "SELECT logins FROM authsmtp.postfix_sender_logins WHERE address = %(key)s"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("/etc/postfix/authsmtp/sender_logins", "Table"),
        ("texthash:/etc/postfix/authsmtp/sender_logins", "Table"),
        ("pgsql:/etc/postfix/authsmtp/store-sender-logins.cf", "PgsqlTable"),
    ],
)
def test_open_table_reads_texthash_and_the_store_itself(name, kind):
    assert type(milter.open_table(name)).__name__ == kind


def test_open_table_refuses_other_types():
    with pytest.raises(ValueError, match="texthash file or a pgsql: table expected"):
        milter.open_table("ldap:/etc/postfix/x.cf")
