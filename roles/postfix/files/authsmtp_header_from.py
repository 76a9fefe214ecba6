# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A milter for the submission ports: the From: header belongs to the login.

Postfix's reject_authenticated_sender_login_mismatch binds the envelope
sender (MAIL FROM) to the login, but a recipient sees the From: header.
For an authenticated session this milter requires exactly one From: header
(RFC 5322 3.6), and every address in it and in Sender: must be one the login
may use as envelope sender. The rule is read from the very table Postfix
uses for the envelope (smtpd_sender_login_maps: a texthash file written by
the mailops.authsmtp.postfix role, or the shared user store's pgsql table,
asked over one connection that stays open) and looked up the way Postfix
looks it up: the whole address, then without its extension, then @domain,
all in lower case. The null sender gets no exception: its From: must be
owned too.

Anything else gets "550 5.7.1" naming the address, at the end of data (DATA
and BDAT alike); a table that cannot be read (the store down) gets "451
4.3.0", and a milter that is down gets Postfix's milter_default_action
(tempfail), so nothing is ever accepted unchecked. Unauthenticated sessions
are not looked at: the submission ports refuse them before DATA.

The policy (everything above the Milter glue) is plain Python, unit-tested
without libmilter or a database. The glue uses pymilter (Debian:
python3-milter), the store psycopg2 (python3-psycopg2).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from dataclasses import dataclass
from email.errors import ObsoleteHeaderDefect
from email.headerregistry import HeaderRegistry

# Something in a display name that a mail program could show as an address.
ADDRESS_LIKE = re.compile(r"[^\s<>\"'(),;:@]+@[^\s<>\"'(),;:@]+\.[^\s<>\"'(),;:@]+")
REGISTRY = HeaderRegistry()


@dataclass(frozen=True)
class Verdict:
    """What to answer: ``code`` None accepts; otherwise code, enhanced status and text."""

    code: str | None = None
    status: str = ""
    text: str = ""

    @property
    def accepted(self):
        return self.code is None


ACCEPT = Verdict()


def refuse(text):
    return Verdict("550", "5.7.1", text)


def split_list(value):
    """A Postfix list (comma or space separated) in lower case, as a frozenset."""
    return frozenset(v.lower() for v in re.split(r"[\s,]+", value.strip()) if v)


def file_stamp(path):
    """What tells that a file changed: inode, size and modification time (raises OSError)."""
    info = os.stat(path)
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def parse_table(text):
    """Postfix texthash syntax as the postfix role writes it: ``key value``, the value a comma or
    space separated list of logins. Returns {key: frozenset of logins}, keys and logins lower case."""
    table = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, value = (re.split(r"\s+", line, maxsplit=1) + [""])[:2]
        table[key.lower()] = split_list(value) | table.get(key.lower(), frozenset())
    return table


def lookup_keys(address, delimiters="+"):
    """The keys Postfix tries for ``address`` in smtpd_sender_login_maps, in order."""
    address = address.lower()
    if "@" not in address:
        return [address]
    local, domain = address.rsplit("@", 1)
    keys = [address]
    for index, char in enumerate(local):
        if char in delimiters and index > 0:
            keys.append(f"{local[:index]}@{domain}")
            break
    keys.append(f"@{domain}")
    return keys


def owners(table, address, delimiters="+"):
    """The logins that own ``address``: the first key of lookup_keys found decides, as in Postfix."""
    for key in lookup_keys(address, delimiters):
        if key in table:
            return table[key]
    return frozenset()


def unfold(value):
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "")


def header_addresses(name, value):
    """The addresses of one From: or Sender: header, or a Verdict saying why it is refused."""
    try:
        parsed = REGISTRY(name, unfold(value))
    except Exception as exc:  # noqa: BLE001 - any parser failure is a refusal, not a crash
        return refuse(f"{name}: header cannot be parsed ({exc})")
    invalid = [d for d in parsed.defects if not isinstance(d, ObsoleteHeaderDefect)]
    if invalid:
        return refuse(f"{name}: header is not a valid address list ({invalid[0]})")
    if any(group.display_name is not None for group in parsed.groups):
        return refuse(f"{name}: header uses group syntax; name the sender's own address instead")
    if not parsed.addresses:
        return refuse(f"{name}: header has no address")
    return list(parsed.addresses)


def check(login, headers, table, delimiters="+"):
    """The verdict on one message: ``headers`` is [(name, value)] as received, ``table`` from parse_table."""
    login = login.lower()
    by_name = {"from": [], "sender": []}
    for name, value in headers:
        if name.lower() in by_name:
            by_name[name.lower()].append(value)
    if len(by_name["from"]) != 1:
        return refuse(f"a message needs exactly one From: header, this one has {len(by_name['from'])}")
    if len(by_name["sender"]) > 1:
        return refuse("a message may have one Sender: header at most")
    for name in ("From", "Sender"):
        for value in by_name[name.lower()]:
            addresses = header_addresses(name, value)
            if isinstance(addresses, Verdict):
                return addresses
            if name == "Sender" and len(addresses) != 1:
                return refuse("Sender: must name exactly one address")
            for address in addresses:
                if login not in owners(table, address.addr_spec, delimiters):
                    return refuse(f"{name}: header address <{address.addr_spec}> is not owned by login {login}")
                for shown in ADDRESS_LIKE.findall(address.display_name or ""):
                    if login not in owners(table, shown, delimiters):
                        return refuse(f"{name}: header display name shows <{shown}>, not owned by login {login}")
    return ACCEPT


class Table:
    """The sender login table, read again whenever the file changes."""

    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.table = None

    def current(self):
        """The table, or None when the file cannot be read."""
        try:
            stamp = file_stamp(self.path)
            if stamp != self.stamp:
                with open(self.path, encoding="utf-8") as handle:
                    self.table = parse_table(handle.read())
                self.stamp = stamp
        except OSError as exc:
            log(f"cannot read {self.path}: {exc}")
            return None
        return self.table


class PgsqlTable:
    """The shared user store's sender login table: the pgsql_table(5) file Postfix reads, asked over one
    connection that stays open (a new process and a new TLS login per message would cost more than the rest
    of the message). The file is read again when it changes; libpq takes TLS settings from the environment
    (PGSSLMODE, PGSSLROOTCERT, PGCONNECT_TIMEOUT, as Postfix's import_environment)."""

    def __init__(self, path, connect=None):
        self.path = path
        self.connect = connect
        self.stamp = None
        self.settings = None
        self.connection = None
        self.lock = threading.Lock()

    def current(self):
        """A lookup for one message, or None when the file cannot be read."""
        try:
            stamp = file_stamp(self.path)
            if stamp != self.stamp:
                with open(self.path, encoding="utf-8") as handle:
                    settings = parse_pgsql_cf(handle.read())
                with self.lock:
                    self.close()
                    self.settings, self.stamp = settings, stamp
        except (OSError, ValueError) as exc:
            log(f"cannot read {self.path}: {exc}")
            return None
        return StoreLookup(self)

    def close(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # noqa: BLE001, S110 - a broken connection is dropped either way
                pass
            self.connection = None

    def query(self, key):
        """The logins of ``key`` (None: not in the table), as Postfix's pgsql client would find them; a
        database that cannot be asked raises LookupError. A connection broken since the last message (the
        database restarted) is opened again once."""
        if not eligible(key, self.settings["domain"]):
            return None
        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.connection is None:
                        self.connection = self.open()
                    with self.connection.cursor() as cursor:
                        cursor.execute(self.settings["query"], {"key": key})
                        rows = cursor.fetchall()
                    break
                except Exception as exc:  # noqa: BLE001 - psycopg2's errors, or the connection's
                    self.close()
                    if attempt == 2:
                        raise LookupError(f"{self.path}: {str(exc).strip() or type(exc).__name__}") from exc
        values = [str(v) for row in rows for v in row if v is not None]
        if not values:
            return None
        return split_list(",".join(values))

    def open(self):
        connect = self.connect
        if connect is None:
            import psycopg2  # noqa: PLC0415 - Debian's python3-psycopg2, installed with the shared store

            connect = psycopg2.connect
        host, port = self.settings["host"], self.settings["port"]
        connection = connect(host=host, port=port, dbname=self.settings["dbname"], user=self.settings["user"],
                             password=self.settings["password"], application_name="authsmtp-header-from")
        connection.set_session(readonly=True, autocommit=True)
        return connection


class StoreLookup:
    """The ``in`` and ``[]`` of a parse_table() result for one message, each key asked once."""

    def __init__(self, table):
        self.table = table
        self.answers = {}

    def get(self, key):
        if key not in self.answers:
            self.answers[key] = self.table.query(key)
        return self.answers[key]

    def __contains__(self, key):
        return self.get(key) is not None

    def __getitem__(self, key):
        return self.get(key)


# The pgsql_table(5) settings the postfix role writes; any other would change what a lookup means.
PGSQL_SETTINGS = {"hosts", "dbname", "user", "password", "domain", "query"}


def parse_pgsql_cf(text):
    """The settings of a pgsql_table(5) file as the postfix role writes it: one host (``inet:host:port``), the
    query with ``'%s'`` as its only expansion (made a bound parameter), and the ``domain`` list. Raises
    ValueError on anything else, rather than answer differently from Postfix."""
    settings, name = {}, None
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw[0].isspace() and name:
            settings[name] += " " + raw.strip()
            continue
        name, sep, value = raw.partition("=")
        name = name.strip()
        if not sep or name not in PGSQL_SETTINGS:
            known = ", ".join(sorted(PGSQL_SETTINGS))
            raise ValueError(f"line {number}: {name or raw.strip()!r} is not one of {known}")
        settings[name] = value.strip()
    missing = {"hosts", "dbname", "user", "password", "query"} - set(settings)
    if missing:
        raise ValueError(f"{', '.join(sorted(missing))} missing")
    hosts = settings["hosts"].split()
    match = re.fullmatch(r"(?:inet:)?(\[[^\]]+\]|[^:\s]+)(?::(\d+))?", hosts[0]) if len(hosts) == 1 else None
    if match is None:
        raise ValueError(f"hosts: one inet:host:port expected, got {settings['hosts']!r}")
    query = settings["query"]
    if query.replace("'%s'", "").count("%"):
        raise ValueError("query: '%s' is the only expansion understood")
    return {"host": match[1].strip("[]"), "port": int(match[2] or 5432), "dbname": settings["dbname"],
            "user": settings["user"], "password": settings["password"],
            "domain": split_list(settings.get("domain", "")),
            "query": query.replace("'%s'", "%(key)s")}


def eligible(key, domains):
    """Whether Postfix's pgsql client asks the database for ``key``: with a ``domain`` list, only
    local@domain with a local part and one of those domains (pgsql_table(5), "domain")."""
    if not domains:
        return True
    local, at, domain = key.rpartition("@")
    return bool(at and local and domain in domains)


def open_table(name):
    """The sender login table: a texthash file (a path, or ``texthash:path``), or the shared store's
    ``pgsql:`` table."""
    if name.startswith("/"):
        return Table(name)
    if name.startswith("texthash:"):
        return Table(name.removeprefix("texthash:"))
    if name.startswith("pgsql:"):
        return PgsqlTable(name.removeprefix("pgsql:"))
    raise ValueError(f"{name}: a texthash file or a pgsql: table expected")


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(socket, table_path, delimiters, timeout):  # pragma: no cover - needs libmilter; the scenarios prove it
    import Milter

    table = open_table(table_path)

    class HeaderFrom(Milter.Base):
        def __init__(self):
            self.login = None
            self.headers = []

        @Milter.noreply
        def envfrom(self, sender, *params):
            self.login = self.getsymval("{auth_authen}")
            self.headers = []
            return Milter.CONTINUE

        @Milter.noreply
        def header(self, name, value):
            if self.login:
                self.headers.append((name, value))
            return Milter.CONTINUE

        def eom(self):
            if not self.login:
                return Milter.ACCEPT
            current = table.current()
            if current is None:
                self.setreply("451", "4.3.0", "sender table unavailable, try again later")
                return Milter.TEMPFAIL
            try:
                verdict = check(self.login, self.headers, current, delimiters)
            except LookupError as exc:
                log(f"{self.getsymval('i') or '-'}: sender table unavailable: {exc}")
                self.setreply("451", "4.3.0", "sender table unavailable, try again later")
                return Milter.TEMPFAIL
            if verdict.accepted:
                return Milter.ACCEPT
            log(f"{self.getsymval('i') or '-'}: refused login={self.login}: {verdict.text}")
            self.setreply(verdict.code, verdict.status, verdict.text)
            return Milter.REJECT

    Milter.factory = HeaderFrom
    Milter.set_flags(0)
    log(f"listening on {socket}, table {table_path}")
    Milter.runmilter("authsmtp-header-from", f"unix:{socket}", timeout)


def main(argv=None):  # pragma: no cover - the service's entry point
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="path of the unix socket Postfix connects to")
    parser.add_argument(
        "--table",
        required=True,
        help="smtpd_sender_login_maps: its texthash file, or the shared store's pgsql:/etc/postfix/....cf",
    )
    parser.add_argument("--delimiters", default="+", help="Postfix's recipient_delimiter")
    parser.add_argument("--timeout", type=int, default=60)
    args = parser.parse_args(argv)
    os.umask(0o007)
    run(args.socket, args.table, args.delimiters, args.timeout)


if __name__ == "__main__":  # pragma: no cover
    main()
