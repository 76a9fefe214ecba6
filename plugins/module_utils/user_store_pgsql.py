# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan and apply changes to the users of the PostgreSQL user store.

The store is the table ``authsmtp.users`` that the user_store role creates
(roles/user_store/templates/schema.sql.j2): one row per login, with its
``{SCHEME}hash`` password field and the extra envelope senders it owns.
Dovecot and Postfix read it through views, each as its own database role.

The rules for what changes are those of the passwd-file
(passwd_file.validate_users and passwd_file.wanted_field): the same input
gives the same decisions in either store. plan() is plain Python over the
rows read; apply() runs the statements on a cursor of the caller's
transaction, so that the whole change is one transaction.

Secrets policy as in passwd_file: no message, diff or result from here
contains a password, a hash, or more of a stored field than its prefix.
"""

from __future__ import annotations

from ansible_collections.mailops.authsmtp.plugins.module_utils.passwd_file import (
    NO_SCHEME_LABEL,
    PasswdFileError,
    change_counts,
    split_scheme,
    wanted_field,
)

TABLE = "authsmtp.users"


class StoredUser:
    """A row of the users table; ``send_as`` is a sorted tuple."""

    __slots__ = ("name", "password", "send_as")

    def __init__(self, name, password, send_as=()):
        self.name = name
        self.password = password
        self.send_as = tuple(sorted(send_as or ()))

    def __repr__(self):
        return f"StoredUser(name={self.name!r}, send_as={self.send_as!r})"


class RowPlan:
    """Outcome of plan(): the statements' data, the names changed, and the diff texts."""

    def __init__(self, inserts, updates, deletes, before, after, total):
        self.inserts = inserts  # [(name, password, send_as)]
        self.updates = updates  # [(name, password or None, send_as)]
        self.deletes = deletes  # [name]
        self.before = before
        self.after = after
        self.total = total

    @property
    def added(self):
        return [row[0] for row in self.inserts]

    @property
    def updated(self):
        return [row[0] for row in self.updates]

    @property
    def removed(self):
        return list(self.deletes)

    @property
    def changed(self):
        return bool(self.inserts or self.updates or self.deletes)

    @property
    def counts(self):
        return change_counts(len(self.inserts), len(self.updates), len(self.deletes), self.total)


def summarize(users, password_changed=()):
    """One line per user, sorted by name: ``name SCHEME``, its send_as, and a password-change mark."""
    lines = []
    for user in sorted(users, key=lambda u: u.name):
        scheme = split_scheme(user.password)[0] or NO_SCHEME_LABEL
        line = f"{user.name} {scheme}"
        if user.send_as:
            line += f" send_as={','.join(user.send_as)}"
        if user.name in password_changed:
            line += " (password changed)"
        lines.append(line + "\n")
    return "".join(lines)


def plan(stored, specs, hasher, exclusive=False):
    """Compute the changes for the validated ``specs`` against ``stored`` (name -> StoredUser).

    Raises PasswdFileError on any problem; nothing is written here.
    """
    inserts, updates, deletes = [], [], []
    after = dict(stored)
    password_changed = set()
    for spec in specs:
        current = stored.get(spec.name)
        if spec.state == "absent":
            if current is not None:
                deletes.append(spec.name)
                del after[spec.name]
            continue
        if current is None:
            password = wanted_field(spec, None, hasher)
            inserts.append((spec.name, password, spec.send_as))
            after[spec.name] = StoredUser(spec.name, password, spec.send_as)
            continue
        password = wanted_field(spec, current.password, hasher)
        if password is not None or current.send_as != spec.send_as:
            updates.append((spec.name, password, spec.send_as))
            after[spec.name] = StoredUser(spec.name, password or current.password, spec.send_as)
            if password is not None:
                password_changed.add(spec.name)
    if exclusive:
        listed = {spec.name for spec in specs}
        for name in sorted(stored):
            if name not in listed:
                deletes.append(name)
                del after[name]
    return RowPlan(
        inserts=inserts,
        updates=updates,
        deletes=deletes,
        before=summarize(stored.values()),
        after=summarize(after.values(), password_changed),
        total=len(after),
    )


def read(cursor):
    """Lock the users table against other writers for this transaction and return its rows by name.

    SHARE ROW EXCLUSIVE lets Dovecot and Postfix keep reading, and makes a
    second run of the module (another playbook at the same time) wait
    instead of deciding on rows that are about to change.
    """
    cursor.execute("LOCK TABLE authsmtp.users IN SHARE ROW EXCLUSIVE MODE")
    cursor.execute("SELECT name, password, send_as FROM authsmtp.users")
    stored = {}
    for name, password, send_as in cursor.fetchall():
        if name != name.lower():
            raise PasswdFileError(f"{TABLE} holds {name!r}, which is not lower case; the schema forbids that")
        stored[name] = StoredUser(name, password, send_as)
    return stored


def apply(cursor, row_plan):
    """Run the planned statements on ``cursor``; the caller commits or rolls back."""
    for name in row_plan.deletes:
        cursor.execute("DELETE FROM authsmtp.users WHERE name = %s", (name,))
    for name, password, send_as in row_plan.updates:
        if password is None:
            cursor.execute("UPDATE authsmtp.users SET send_as = %s WHERE name = %s", (list(send_as), name))
        else:
            cursor.execute(
                "UPDATE authsmtp.users SET password = %s, send_as = %s WHERE name = %s", (password, list(send_as), name)
            )
    for name, password, send_as in row_plan.inserts:
        cursor.execute(
            "INSERT INTO authsmtp.users (name, password, send_as) VALUES (%s, %s, %s)", (name, password, list(send_as))
        )
