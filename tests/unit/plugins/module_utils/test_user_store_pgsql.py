# SPDX-License-Identifier: GPL-3.0-or-later
"""The PostgreSQL store's planning follows the passwd-file's rules, row by row."""

from __future__ import annotations

import pytest
from ansible_collections.mailops.authsmtp.plugins.module_utils import passwd_file as pf
from ansible_collections.mailops.authsmtp.plugins.module_utils import user_store_pgsql as store

FAST = dict(sha512_rounds=1000, bcrypt_cost=4, argon2_memory_cost=1024, argon2_time_cost=1)
PASSWORD = "correct horse battery staple"
OTHER = "Tr0ub4dor&3-but-longer"


@pytest.fixture(scope="module")
def hasher():
    return pf.Hasher(**FAST)


def specs(*users, scheme="SHA512-CRYPT"):
    return pf.validate_users(list(users), scheme)


def stored(hasher, **users):
    """name -> StoredUser; each value is (password, send_as)."""
    return {
        name: store.StoredUser(name, hasher.hash("SHA512-CRYPT", password), send_as)
        for name, (password, send_as) in users.items()
    }


def test_a_new_user_is_inserted_with_a_hash_and_send_as(hasher):
    plan = store.plan(
        {}, specs({"name": "Alice@Example.test", "password": PASSWORD, "send_as": ["Sales@example.test"]}), hasher
    )
    assert plan.added == ["alice@example.test"] and not plan.updated and not plan.removed
    name, password, send_as = plan.inserts[0]
    assert password.startswith("{SHA512-CRYPT}$6$") and hasher.verify("SHA512-CRYPT", PASSWORD, password)
    assert send_as == ("sales@example.test",)
    assert plan.counts == dict(added=1, updated=0, removed=0, unchanged=0, total=1)


def test_an_unchanged_password_is_verified_not_rehashed(hasher):
    rows = stored(hasher, **{"alice@example.test": (PASSWORD, ())})
    plan = store.plan(rows, specs({"name": "alice@example.test", "password": PASSWORD}), hasher)
    assert not plan.changed and plan.counts["unchanged"] == 1


def test_a_new_password_and_new_send_as_update_the_row(hasher):
    rows = stored(hasher, **{"alice@example.test": (PASSWORD, ()), "bob@example.test": (PASSWORD, ())})
    plan = store.plan(
        rows,
        specs(
            {"name": "alice@example.test", "password": OTHER},
            {"name": "bob@example.test", "password": PASSWORD, "send_as": ["b@example.test"]},
        ),
        hasher,
    )
    assert plan.updated == ["alice@example.test", "bob@example.test"]
    by_name = {row[0]: row for row in plan.updates}
    assert hasher.verify("SHA512-CRYPT", OTHER, by_name["alice@example.test"][1])
    # bob's password is right: only send_as changes, the hash is not touched.
    assert by_name["bob@example.test"][1] is None and by_name["bob@example.test"][2] == ("b@example.test",)
    assert "alice@example.test SHA512-CRYPT (password changed)" in plan.after
    assert "bob@example.test SHA512-CRYPT send_as=b@example.test\n" in plan.after


def test_a_precomputed_hash_is_compared_as_text(hasher):
    wanted = "{SHA512-CRYPT}" + pf.Hasher(**FAST).hash("SHA512-CRYPT", PASSWORD).split("}", 1)[1]
    rows = {
        "alice@example.test": store.StoredUser("alice@example.test", wanted.replace("SHA512-CRYPT", "sha512-crypt"))
    }
    plan = store.plan(rows, specs({"name": "alice@example.test", "password_hash": wanted}), hasher)
    assert not plan.changed


def test_absent_and_exclusive_remove_rows(hasher):
    rows = stored(
        hasher,
        **{
            "alice@example.test": (PASSWORD, ()),
            "carol@example.test": (PASSWORD, ()),
            "dave@example.test": (PASSWORD, ()),
        },
    )
    plan = store.plan(
        rows,
        specs({"name": "alice@example.test", "password": PASSWORD}, {"name": "carol@example.test", "state": "absent"}),
        hasher,
        exclusive=True,
    )
    assert plan.removed == ["carol@example.test", "dave@example.test"]
    assert plan.counts == dict(added=0, updated=0, removed=2, unchanged=1, total=1)


def test_the_diff_names_users_and_never_a_secret(hasher):
    rows = stored(hasher, **{"alice@example.test": (PASSWORD, ())})
    plan = store.plan(
        rows,
        specs({"name": "alice@example.test", "password": OTHER}, {"name": "bob@example.test", "password": PASSWORD}),
        hasher,
    )
    for text in (plan.before, plan.after, repr(plan.inserts[0][0]), repr(list(rows.values()))):
        for secret in (PASSWORD, OTHER, "$6$"):
            assert secret not in text


class FakeCursor:
    def __init__(self, rows):
        self.rows = rows
        self.statements = []

    def execute(self, sql, args=None):
        self.statements.append((sql, args))

    def fetchall(self):
        return self.rows


def test_read_locks_the_table_and_refuses_a_name_not_in_lower_case():
    cursor = FakeCursor([("alice@example.test", "{SHA512-CRYPT}x", ["s@example.test"])])
    rows = store.read(cursor)
    assert cursor.statements[0][0].startswith("LOCK TABLE authsmtp.users IN SHARE ROW EXCLUSIVE MODE")
    assert rows["alice@example.test"].send_as == ("s@example.test",)
    with pytest.raises(pf.PasswdFileError, match="not lower case"):
        store.read(FakeCursor([("Alice@example.test", "{SHA512-CRYPT}x", [])]))


def test_apply_deletes_updates_and_inserts_with_parameters(hasher):
    rows = stored(hasher, **{"alice@example.test": (PASSWORD, ()), "bob@example.test": (PASSWORD, ())})
    plan = store.plan(
        rows,
        specs(
            {"name": "alice@example.test", "password": PASSWORD, "send_as": ["a@example.test"]},
            {"name": "bob@example.test", "state": "absent"},
            {"name": "carol@example.test", "password": OTHER},
        ),
        hasher,
    )
    cursor = FakeCursor([])
    store.apply(cursor, plan)
    kinds = [sql.split()[0] for sql, _params in cursor.statements]
    assert kinds == ["DELETE", "UPDATE", "INSERT"]
    # Every value goes as a parameter, never into the SQL text.
    assert all("%s" in sql and "example.test" not in sql for sql, _params in cursor.statements)
    assert cursor.statements[1] == (
        "UPDATE authsmtp.users SET send_as = %s WHERE name = %s",
        (["a@example.test"], "alice@example.test"),
    )
