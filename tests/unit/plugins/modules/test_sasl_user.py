"""End-to-end tests of the sasl_user module's main(), run in-process."""

from __future__ import annotations

import json
import os
import random
import stat

import pytest
import yaml
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mailops.authsmtp.plugins.module_utils import files
from ansible_collections.mailops.authsmtp.plugins.module_utils import passwd_file as pf
from ansible_collections.mailops.authsmtp.plugins.modules import sasl_user

FAST = dict(sha512_rounds=1000, bcrypt_cost=4, argon2_memory_cost=1024, argon2_time_cost=1)

ALICE_PW = "alice-Secret-passphrase-1"
BOB_PW = "bob-Secret-passphrase-2"
CAROL_PW = "carol-Secret-passphrase-3"
SECRETS = (ALICE_PW, BOB_PW, CAROL_PW)
HASH_MARKERS = ("$6$", "$2b$", "$2a$", "$2y$", "$argon2")

ORIGINAL = b"# hand-written header\n\nlegacy@example.test:{PLAIN}old:1000:1000::/home/legacy::quota=1G\n"


@pytest.fixture
def users_file(tmp_path):
    return tmp_path / "users"


@pytest.fixture
def args(users_file, current_ids):
    owner, group = current_ids
    return dict(path=str(users_file), owner=owner, group=group, mode="0640", **FAST)


def run_module(capsys, module_args, check_mode=False, diff=False):
    """Run main() like Ansible would; return (exit code, result dict, raw stdout)."""
    module_args = dict(module_args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(module_args), pytest.raises(SystemExit) as exc:
        sasl_user.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out), out


def assert_no_secrets(raw_output, extra=()):
    for marker in HASH_MARKERS + SECRETS + tuple(extra):
        assert marker not in raw_output, f"{marker!r} leaked into the module output"


def assert_no_secrets_in_error(msg, users):
    """The expected-format hint may show a template, but no given password or hash."""
    for user in users:
        password = user.get("password")
        if password:
            assert password not in msg
        password_hash = user.get("password_hash")
        if password_hash:
            assert password_hash not in msg
            for part in password_hash.split("$")[-2:]:  # salt and checksum
                assert part not in msg


def three_users():
    return [
        {"name": "alice@example.test", "password": ALICE_PW},
        {"name": "Bob@Example.test", "password": BOB_PW, "scheme": "BLF-CRYPT"},
        {"name": "carol@example.test", "password": CAROL_PW, "scheme": "ARGON2ID"},
    ]


def test_creates_file_with_attributes_and_is_idempotent(capsys, args, users_file, current_ids):
    args["users"] = three_users()
    rc, result, raw = run_module(capsys, args, diff=True)
    assert rc == 0, result
    assert result["changed"] is True
    assert result["users_added"] == ["alice@example.test", "bob@example.test", "carol@example.test"]
    assert result["users_updated"] == [] and result["users_removed"] == []
    assert "backup_file" not in result
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"] == (
        "alice@example.test SHA512-CRYPT\nbob@example.test BLF-CRYPT\ncarol@example.test ARGON2ID\n"
    )
    assert result["diff"]["after_header"] == str(users_file)
    assert_no_secrets(raw)

    lines = users_file.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["alice@example.test", "bob@example.test", "carol@example.test"]
    assert lines[0].startswith("alice@example.test:{SHA512-CRYPT}$6$rounds=1000$")
    assert lines[1].startswith("bob@example.test:{BLF-CRYPT}$2b$04$")
    assert lines[2].startswith("carol@example.test:{ARGON2ID}$argon2id$v=19$m=1024,t=1,p=1$")
    assert all(line.count(":") == 7 and line.endswith("::::::") for line in lines)

    st = users_file.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert os.listdir(users_file.parent) == ["users"]  # no temp file left behind

    before = users_file.read_bytes()
    rc, result, raw = run_module(capsys, args, diff=True)
    assert rc == 0
    assert result["changed"] is False
    assert (result["users_added"], result["users_updated"], result["users_removed"]) == ([], [], [])
    assert result["diff"]["before"] == result["diff"]["after"]
    assert users_file.read_bytes() == before
    assert_no_secrets(raw)


def test_update_absent_and_diff(capsys, args, users_file):
    args["users"] = three_users()
    run_module(capsys, args)
    args["users"] = [
        {"name": "alice@example.test", "password": "a-new-passphrase-for-alice"},  # password change
        {"name": "bob@example.test", "password": BOB_PW},  # BLF-CRYPT -> default SHA512-CRYPT
        {"name": "carol@example.test", "state": "absent"},
        {"name": "dave@example.test", "password": "dave-passphrase", "scheme": "ARGON2ID"},
    ]
    rc, result, raw = run_module(capsys, args, diff=True)
    assert rc == 0, result
    assert result["changed"] is True
    assert result["users_added"] == ["dave@example.test"]
    assert result["users_updated"] == ["alice@example.test", "bob@example.test"]
    assert result["users_removed"] == ["carol@example.test"]
    assert result["diff"]["before"] == (
        "alice@example.test SHA512-CRYPT\nbob@example.test BLF-CRYPT\ncarol@example.test ARGON2ID\n"
    )
    assert result["diff"]["after"] == (
        "alice@example.test SHA512-CRYPT (password changed)\n"
        "bob@example.test SHA512-CRYPT (password changed)\n"
        "dave@example.test ARGON2ID\n"
    )
    assert_no_secrets(raw, extra=("a-new-passphrase-for-alice", "dave-passphrase"))
    text = users_file.read_text()
    assert "carol@example.test" not in text
    assert text.splitlines()[1].startswith("bob@example.test:{SHA512-CRYPT}$6$")
    assert os.listdir(users_file.parent) == ["users"]


def test_preserves_existing_lines_and_exclusive(capsys, args, users_file):
    users_file.write_bytes(ORIGINAL)
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW}]
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    content = users_file.read_bytes()
    assert content.startswith(ORIGINAL)  # comment, blank line and the foreign entry untouched
    assert content[len(ORIGINAL) :].startswith(b"alice@example.test:{SHA512-CRYPT}$6$")

    args["exclusive"] = True
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert result["changed"] is True
    assert result["users_removed"] == ["legacy@example.test"]
    content = users_file.read_bytes()
    assert content.startswith(b"# hand-written header\n\nalice@example.test:")
    assert b"legacy" not in content


def test_password_hash_option(capsys, args, users_file):
    field = pf.Hasher(**FAST).hash("BLF-CRYPT", ALICE_PW).replace("$2b$", "$2y$")
    args["users"] = [{"name": "alice@example.test", "password_hash": field}]
    rc, result, raw = run_module(capsys, args, diff=True)
    assert rc == 0, result
    assert users_file.read_text() == f"alice@example.test:{field}::::::\n"
    assert_no_secrets(raw, extra=(field[len("{BLF-CRYPT}") :],))

    rc, result, _ = run_module(capsys, args)
    assert result["changed"] is False

    # The plaintext that matches the stored $2y$ hash keeps it, too.
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW, "scheme": "BLF-CRYPT"}]
    rc, result, _ = run_module(capsys, args)
    assert result["changed"] is False
    assert users_file.read_text() == f"alice@example.test:{field}::::::\n"


def test_check_mode_creates_nothing(capsys, args, users_file):
    args["users"] = three_users()
    rc, result, raw = run_module(capsys, args, check_mode=True, diff=True)
    assert rc == 0, result
    assert result["changed"] is True
    assert result["users_added"] == ["alice@example.test", "bob@example.test", "carol@example.test"]
    assert "carol@example.test ARGON2ID" in result["diff"]["after"]
    assert not users_file.exists()
    assert os.listdir(users_file.parent) == []
    assert_no_secrets(raw)


def test_check_mode_changes_nothing(capsys, args, users_file):
    users_file.write_bytes(ORIGINAL)
    os.chmod(users_file, 0o644)
    args.update(users=[{"name": "alice@example.test", "password": ALICE_PW}], exclusive=True, backup=True)
    rc, result, _ = run_module(capsys, args, check_mode=True, diff=True)
    assert rc == 0, result
    assert result["changed"] is True
    assert result["users_added"] == ["alice@example.test"]
    assert result["users_removed"] == ["legacy@example.test"]
    content_diff, attr_diff = result["diff"]
    assert content_diff["after"] == "alice@example.test SHA512-CRYPT\n"
    assert attr_diff == {"before": {"mode": "0644"}, "after": {"mode": "0640"}}
    assert users_file.read_bytes() == ORIGINAL
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o644
    assert os.listdir(users_file.parent) == ["users"]  # no backup, no temp file


def test_fixes_attributes_without_content_change(capsys, args, users_file):
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW}]
    run_module(capsys, args)
    content = users_file.read_bytes()
    os.chmod(users_file, 0o644)

    rc, result, _ = run_module(capsys, args, diff=True)
    assert rc == 0, result
    assert result["changed"] is True
    assert (result["users_added"], result["users_updated"], result["users_removed"]) == ([], [], [])
    content_diff, attr_diff = result["diff"]
    assert content_diff["before"] == content_diff["after"] == "alice@example.test SHA512-CRYPT\n"
    assert attr_diff == {"before": {"mode": "0644"}, "after": {"mode": "0640"}}
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o640
    assert users_file.read_bytes() == content

    rc, result, _ = run_module(capsys, args)
    assert result["changed"] is False


def test_mode_option_applies_to_rewritten_file(capsys, args, users_file):
    users_file.write_bytes(ORIGINAL)
    os.chmod(users_file, 0o644)
    args.update(users=[{"name": "alice@example.test", "password": ALICE_PW}], mode="0600")
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    assert os.listdir(users_file.parent) == ["users"]


def test_backup(capsys, args, users_file):
    users_file.write_bytes(ORIGINAL)
    args.update(users=[{"name": "alice@example.test", "password": ALICE_PW}], backup=True)
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    backup = result["backup_file"]
    assert os.path.dirname(backup) == str(users_file.parent)
    with open(backup, "rb") as f:
        assert f.read() == ORIGINAL
    assert sorted(os.listdir(users_file.parent)) == sorted(["users", os.path.basename(backup)])

    rc, result, _ = run_module(capsys, args)
    assert result["changed"] is False
    assert "backup_file" not in result


def test_backup_failure_leaves_file_untouched(capsys, args, users_file, monkeypatch):
    users_file.write_bytes(ORIGINAL)

    def broken_backup(self, fn):
        raise Exception(f"Could not make backup of {fn!r}.")

    monkeypatch.setattr(AnsibleModule, "backup_local", broken_backup)
    args.update(users=[{"name": "alice@example.test", "password": ALICE_PW}], backup=True)
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert result["msg"] == f"cannot back up {users_file}: Could not make backup of {str(users_file)!r}."
    assert users_file.read_bytes() == ORIGINAL
    assert os.listdir(users_file.parent) == ["users"]


def test_no_backup_when_file_is_created(capsys, args, users_file):
    args.update(users=[{"name": "alice@example.test", "password": ALICE_PW}], backup=True)
    rc, result, _ = run_module(capsys, args)
    assert rc == 0 and result["changed"] is True
    assert "backup_file" not in result


def test_creates_empty_file_when_nothing_to_add(capsys, args, users_file):
    args.update(users=[{"name": "alice@example.test", "state": "absent"}])
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert result["changed"] is True
    assert users_file.read_bytes() == b""
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o640


def test_failed_move_leaves_file_and_no_temp_file(capsys, args, users_file, monkeypatch):
    users_file.write_bytes(ORIGINAL)

    def broken_move(self, src, dest, unsafe_writes=False, keep_dest_attrs=True):
        raise Exception("simulated rename failure")

    monkeypatch.setattr(AnsibleModule, "atomic_move", broken_move)
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW}]
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert result["msg"] == f"cannot replace {users_file}: simulated rename failure"
    assert users_file.read_bytes() == ORIGINAL
    assert os.listdir(users_file.parent) == ["users"]


def _hash(scheme):
    return pf.Hasher(**FAST).hash(scheme, "irrelevant-password")


# Each case: users option (or extra module options), and the start of the expected message.
INVALID = {
    "bad address": (
        [{"name": "alice@example.test", "password": ALICE_PW}, {"name": "bob@@example.test", "password": BOB_PW}],
        "users[1].name: 'bob@@example.test' is not a valid login address (local@domain)",
    ),
    "address with colon": (
        [{"name": "bob:x@example.test", "password": BOB_PW}],
        "users[0].name: 'bob:x@example.test' is not a valid login address",
    ),
    "address with space": (
        [{"name": "bob @example.test", "password": BOB_PW}],
        "users[0].name: 'bob @example.test' is not a valid login address",
    ),
    "address with newline": (
        [{"name": "bob@example.test\nevil@example.test", "password": BOB_PW}],
        "users[0].name: 'bob@example.test\\nevil@example.test' is not a valid login address",
    ),
    "address without domain": (
        [{"name": "bob", "password": BOB_PW}],
        "users[0].name: 'bob' is not a valid login address",
    ),
    "duplicate": (
        [
            {"name": "alice@example.test", "password": ALICE_PW},
            {"name": "bob@example.test", "password": BOB_PW},
            {"name": "carol@example.test", "password": CAROL_PW},
            {"name": "alice@example.test", "password": BOB_PW},
        ],
        "users[3].name: 'alice@example.test' is listed twice (also users[0])",
    ),
    "duplicate differing in case": (
        [{"name": "alice@example.test", "password": ALICE_PW}, {"name": "ALICE@example.TEST", "state": "absent"}],
        "users[1].name: 'alice@example.test' is listed twice (also users[0])",
    ),
    "unknown user scheme": (
        [{"name": "alice@example.test", "password": ALICE_PW, "scheme": "PLAIN"}],
        "users[0].scheme: unknown scheme 'PLAIN'; valid choices are SHA512-CRYPT, BLF-CRYPT, ARGON2ID",
    ),
    "malformed SHA512-CRYPT hash": (
        [{"name": "alice@example.test", "password_hash": _hash("SHA512-CRYPT")[:-2]}],
        "users[0].password_hash: not a well-formed SHA512-CRYPT hash (expected {SHA512-CRYPT}$6$",
    ),
    "malformed BLF-CRYPT hash": (
        [{"name": "alice@example.test", "password_hash": _hash("BLF-CRYPT").replace("$04$", "$99$")}],
        "users[0].password_hash: not a well-formed BLF-CRYPT hash (expected {BLF-CRYPT}$2b$",
    ),
    "malformed ARGON2ID hash": (
        [
            {"name": "alice@example.test", "password": ALICE_PW},
            {"name": "bob@example.test", "password_hash": _hash("ARGON2ID").replace("$argon2id$", "$argon2i$")},
        ],
        "users[1].password_hash: not a well-formed ARGON2ID hash (expected {ARGON2ID}$argon2id$v=19$m=",
    ),
    "hash without prefix": (
        [{"name": "alice@example.test", "password_hash": _hash("SHA512-CRYPT")[len("{SHA512-CRYPT}") :]}],
        "users[0].password_hash: must be a Dovecot-style '{SCHEME}hash' string",
    ),
    "empty password": (
        [{"name": "alice@example.test", "password": ""}],
        "users[0].password: empty password for 'alice@example.test'",
    ),
    "password and password_hash": (
        [{"name": "alice@example.test", "password": ALICE_PW, "password_hash": _hash("SHA512-CRYPT")}],
        "users[0]: 'password' and 'password_hash' are mutually exclusive",
    ),
    "neither password nor password_hash": (
        [{"name": "alice@example.test"}],
        "users[0]: 'alice@example.test' has state=present but neither 'password' nor 'password_hash'",
    ),
    "bcrypt password too long": (
        [{"name": "alice@example.test", "password": "x" * 80, "scheme": "BLF-CRYPT"}],
        "users[0].password: the password for 'alice@example.test' is longer than 72 bytes",
    ),
    "unknown module scheme": ({"scheme": "MD5-CRYPT"}, "value of scheme must be one of: SHA512-CRYPT, BLF-CRYPT"),
    "bad mode": ({"mode": "rw-r-----"}, "mode: 'rw-r-----' is not a valid file mode"),
    "unknown group": ({"group": "no-such-group-x9"}, "group: group 'no-such-group-x9' does not exist on this host"),
    "unknown owner": ({"owner": "no-such-user-x9"}, "owner: user 'no-such-user-x9' does not exist on this host"),
    "too few rounds": ({"sha512_rounds": 10}, "sha512_rounds: must be an integer from 1000 to 999999999"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
@pytest.mark.parametrize("exists", [True, False], ids=["existing-file", "no-file"])
def test_invalid_input_leaves_file_untouched(capsys, args, users_file, case, exists):
    options, message = INVALID[case]
    if isinstance(options, list):
        args["users"] = options
    else:
        args.update(options, users=[{"name": "new@example.test", "password": ALICE_PW}])
    if exists:
        users_file.write_bytes(ORIGINAL)
        os.chmod(users_file, 0o644)  # also no attribute change may happen
        mtime = users_file.stat().st_mtime_ns

    rc, result, raw = run_module(capsys, args)
    assert rc == 1
    assert result["failed"] is True
    assert result["msg"].startswith(message), result["msg"]
    assert_no_secrets_in_error(result["msg"], args["users"])
    if exists:
        assert users_file.read_bytes() == ORIGINAL
        assert users_file.stat().st_mtime_ns == mtime
        assert stat.S_IMODE(users_file.stat().st_mode) == 0o644
        assert os.listdir(users_file.parent) == ["users"]
    else:
        assert os.listdir(users_file.parent) == []


def test_unparseable_file_is_left_untouched(capsys, args, users_file):
    users_file.write_bytes(ORIGINAL + b"some-password-on-its-own\n")
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW}]
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert result["msg"].startswith(f"{users_file} line 4: expected 'name:password'")
    assert "some-password" not in result["msg"]
    assert users_file.read_bytes() == ORIGINAL + b"some-password-on-its-own\n"


def test_non_utf8_bytes_round_trip(capsys, args, users_file):
    original = b"# caf\xe9 (latin-1 comment)\n"
    users_file.write_bytes(original)
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW}]
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert users_file.read_bytes().startswith(original + b"alice@example.test:{SHA512-CRYPT}")


def test_symlink_target_is_updated(capsys, args, users_file, tmp_path):
    target = tmp_path / "real-users"
    target.write_bytes(ORIGINAL)
    users_file.symlink_to(target)
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW}]
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert users_file.is_symlink()
    assert target.read_bytes().startswith(ORIGINAL + b"alice@example.test:")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["real-users", "users"]


def test_symlink_target_attributes_are_checked_not_the_links(capsys, args, users_file, tmp_path):
    """Owner, group and mode are those of the file the link points to; a rerun reports no change."""
    target = tmp_path / "real-users"
    users_file.symlink_to(target)
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW}]
    rc, result, _ = run_module(capsys, args)
    assert rc == 0 and result["changed"] is True, result

    for check_mode in (True, False):
        rc, result, _ = run_module(capsys, args, check_mode=check_mode, diff=True)
        assert rc == 0, result
        assert result["changed"] is False
        assert isinstance(result["diff"], dict)  # no attribute diff for the link's own 0777

    os.chmod(target, 0o644)
    rc, result, _ = run_module(capsys, args, diff=True)
    assert rc == 0, result
    assert result["changed"] is True
    assert result["diff"][1] == {"before": {"mode": "0644"}, "after": {"mode": "0640"}}
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert users_file.is_symlink()


def test_unwritable_directory(capsys, args, users_file, monkeypatch):
    users_file.write_bytes(ORIGINAL)

    def no_temp_files(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", no_temp_files)
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW}]
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert result["msg"].startswith(f"cannot create a temporary file in {users_file.parent}: ")
    assert users_file.read_bytes() == ORIGINAL


def test_missing_directory(capsys, args, tmp_path):
    args.update(path=str(tmp_path / "missing" / "users"), users=[])
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert result["msg"] == f"path: directory {tmp_path / 'missing'} does not exist; " + (
        "install Dovecot first or choose another path"
    )


def test_path_is_a_directory(capsys, args, tmp_path):
    args.update(path=str(tmp_path), users=[])
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert result["msg"] == f"path: {tmp_path} exists but is not a regular file"


def test_missing_passlib(capsys, args, monkeypatch):
    monkeypatch.setattr(sasl_user, "HAS_PASSLIB", False)
    monkeypatch.setattr(sasl_user, "PASSLIB_IMPORT_ERROR", "ImportError: No module named 'passlib'")
    args["users"] = []
    rc, result, _ = run_module(capsys, args)
    assert rc == 1
    assert "Failed to import the required Python library (passlib)" in result["msg"]
    assert "python3-passlib" in result["msg"]


def test_the_passwd_file_keeps_no_send_as(capsys, args, users_file):
    args["users"] = [{"name": "alice@example.test", "password": ALICE_PW, "send_as": ["sales@example.test"]}]
    rc, result, raw = run_module(capsys, args)
    assert rc == 1 and result["msg"].startswith("users[0].send_as: the passwd-file keeps no send_as")
    assert not users_file.exists()
    assert_no_secrets(raw)


def test_the_postgresql_backend_names_its_missing_driver(capsys, args, monkeypatch):
    monkeypatch.setattr(sasl_user, "psycopg2", None)
    args.update(backend="postgresql", users=[{"name": "alice@example.test", "password": ALICE_PW}])
    rc, result, raw = run_module(capsys, args)
    assert rc == 1 and "psycopg2" in result["msg"] and "python3-psycopg2" in result["msg"]
    assert_no_secrets(raw)


class _FakeConnection:
    """psycopg2's connection, over a list of rows: records what was executed, committed or rolled back."""

    def __init__(self, rows):
        self.rows = rows
        self.executed = []
        self.ended = []

    def cursor(self):
        connection = self

        class Cursor:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def execute(self, sql, args=None):
                connection.executed.append(sql.split()[0])

            def fetchall(self):
                return connection.rows

        return Cursor()

    def commit(self):
        self.ended.append("commit")

    def rollback(self):
        self.ended.append("rollback")

    def close(self):
        self.ended.append("close")


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_postgresql_backend_changes_in_one_transaction_or_rolls_back_in_check_mode(
    capsys, args, monkeypatch, check_mode
):
    import types

    connection = _FakeConnection([("carol@example.test", "{SHA512-CRYPT}$6$x$y", [])])
    monkeypatch.setattr(sasl_user, "psycopg2", types.SimpleNamespace(connect=lambda **kw: connection, Error=Exception))
    args.update(
        backend="postgresql",
        exclusive=True,
        users=[{"name": "alice@example.test", "password": ALICE_PW, "send_as": ["sales@example.test"]}],
    )
    rc, result, raw = run_module(capsys, args, check_mode=check_mode, diff=True)
    assert rc == 0 and result["changed"]
    assert (result["users_added"], result["users_removed"]) == (["alice@example.test"], ["carol@example.test"])
    assert result["diff"]["after"] == "alice@example.test SHA512-CRYPT send_as=sales@example.test\n"
    expected = ["LOCK", "SELECT"] + ([] if check_mode else ["DELETE", "INSERT"])
    assert connection.executed == expected
    assert connection.ended == ["rollback" if check_mode else "commit", "close"]
    assert_no_secrets(raw)


# --------------------------------------------------------------------------
# What the module prints: no secret, a short echo of the arguments, counts
# --------------------------------------------------------------------------


def _secret_parts(field):
    """A stored or given password field, and its salt and checksum parts."""
    parts = [field, field.split("}", 1)[-1]]
    parts += [part for part in field.split("$")[-2:] if len(part) >= 8]
    return parts


def _leaked(raw, fields):
    """The passwords and hashes in ``fields``, or parts of them, that occur in ``raw``."""
    return sorted({part for field in fields for part in _secret_parts(field) if part in raw})


def _stored_fields(users_file):
    if not users_file.exists():
        return []
    return [line.split(":")[1] for line in users_file.read_text().splitlines() if ":" in line]


def _summary(count):
    noun = "user" if count == 1 else "users"
    return (
        f"{count} {noun}; names, passwords and hashes are not echoed, "
        "see users_added, users_updated, users_removed and counts"
    )


def test_result_json_never_contains_a_password_or_hash(capsys, args, users_file):
    """Added, updated, unchanged and removed users, plaintext and precomputed: no secret in the JSON."""
    hasher = pf.Hasher(**FAST)
    kept_hash = hasher.hash("ARGON2ID", "kept-hash-passphrase")
    old_hash = hasher.hash("BLF-CRYPT", "old-hash-passphrase")
    args["users"] = [
        {"name": "alice@example.test", "password": ALICE_PW},
        {"name": "bob@example.test", "password": BOB_PW, "scheme": "BLF-CRYPT"},
        {"name": "carol@example.test", "password_hash": kept_hash},
        {"name": "dave@example.test", "password_hash": old_hash},
        {"name": "erin@example.test", "password": "erin-passphrase-to-be-removed"},
    ]
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    stored_before = _stored_fields(users_file)

    new_hash = hasher.hash("SHA512-CRYPT", "new-hash-passphrase")
    new_user_hash = hasher.hash("BLF-CRYPT", "frank-hash-passphrase")
    given = [
        {"name": "alice@example.test", "password": ALICE_PW},  # unchanged
        {"name": "bob@example.test", "password": "bob-changed-passphrase"},  # new password and scheme
        {"name": "carol@example.test", "password_hash": kept_hash},  # unchanged
        {"name": "dave@example.test", "password_hash": new_hash},  # new hash
        {"name": "erin@example.test", "state": "absent", "password": "erin-passphrase-to-be-removed"},
        {"name": "frank@example.test", "password_hash": new_user_hash},  # added
        {"name": "grace@example.test", "password": CAROL_PW, "scheme": "ARGON2ID"},  # added
    ]
    secrets = {u[k] for u in given for k in ("password", "password_hash") if k in u}
    for check_mode in (True, False):
        args["users"] = [dict(user) for user in given]
        rc, result, raw = run_module(capsys, args, check_mode=check_mode, diff=True)
        assert rc == 0, result
        assert result["users_added"] == ["frank@example.test", "grace@example.test"]
        assert result["users_updated"] == ["bob@example.test", "dave@example.test"]
        assert result["users_removed"] == ["erin@example.test"]
        assert _leaked(raw, secrets | set(stored_before + _stored_fields(users_file))) == []
        assert_no_secrets(raw)
        # The echo of the arguments does not list the users at all.
        assert result["invocation"]["module_args"]["users"] == _summary(7)

    # A failing run (the last user is invalid) echoes the same arguments, no secret either.
    args["users"] = [*given, {"name": "heidi@example.test", "password_hash": new_hash[:-3]}]
    rc, result, raw = run_module(capsys, args, diff=True)
    assert rc == 1
    assert result["msg"].startswith("users[7].password_hash: not a well-formed SHA512-CRYPT hash")
    assert result["invocation"]["module_args"]["users"] == _summary(8)
    assert _leaked(raw, secrets) == []
    assert_no_secrets_in_error(raw, args["users"])  # the message shows the expected format, with '$6$'


def _users_with_secrets(kind, tag):
    """Three users with passwords (kind 'plaintext') or precomputed hashes (kind 'precomputed')."""
    hasher = pf.Hasher(**FAST)
    users = []
    for name, scheme in (("alice", "SHA512-CRYPT"), ("bob", "BLF-CRYPT"), ("carol", "ARGON2ID")):
        password = f"{name}-{tag}-passphrase"
        if kind == "plaintext":
            users.append({"name": f"{name}@example.test", "password": password, "scheme": scheme})
        else:
            users.append({"name": f"{name}@example.test", "password_hash": hasher.hash(scheme, password)})
    return users


@pytest.fixture
def module_warnings(monkeypatch):
    """Collect warnings and deprecations in the result, as in a module process; start with none."""
    # Other tests load controller code, which makes warn() print instead; a module process never does.
    monkeypatch.setattr(module_utils_internal, "is_controller", False)
    monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
    monkeypatch.setattr(ansible_warnings, "_global_deprecations", {})


@pytest.mark.usefixtures("module_warnings")
@pytest.mark.parametrize("kind", ["plaintext", "precomputed"])
def test_printed_output_never_contains_a_password_or_hash(capsys, args, users_file, monkeypatch, kind):
    """Everything printed, at every step: add, no change, update, and failures of both kinds.

    The module emits no warnings or deprecations: ansible-core 2.19 passes
    them through remove_values() unmasked (they are AnsibleSerializable
    objects, not strings), so none may ever carry user data.
    """
    first = _users_with_secrets(kind, "first")
    second = _users_with_secrets(kind, "second")
    seen = set()  # every password and hash given or stored so far

    def check(raw, users):
        seen.update(u[k] for u in users for k in ("password", "password_hash") if k in u)
        seen.update(_stored_fields(users_file))
        assert _leaked(raw, seen) == []
        assert_no_secrets(raw)
        assert not {"warnings", "deprecations"} & set(json.loads(raw))

    args["users"] = first
    for step in ("add", "no change"):
        for check_mode in (True, False):
            rc, result, raw = run_module(capsys, args, check_mode=check_mode, diff=True)
            assert rc == 0, result
            assert result["changed"] is (step == "add"), step
            check(raw, first)

    args["users"] = [second[0], second[1], {"name": "carol@example.test", "state": "absent"}]
    for check_mode in (True, False):
        rc, result, raw = run_module(capsys, args, check_mode=check_mode, diff=True)
        assert rc == 0, result
        assert result["users_updated"] == ["alice@example.test", "bob@example.test"]
        check(raw, second)

    # The module's own failure: an invalid user after valid ones.
    args["users"] = [*first, {"name": "dave@example.test", "password": ""}]
    rc, result, raw = run_module(capsys, args, diff=True)
    assert rc == 1 and result["msg"].startswith("users[3].password: empty password"), result
    check(raw, first)

    # A failure inside Ansible's file handling: Ansible's own echo lists every user, still without secrets.
    def broken_move(self, src, dest, unsafe_writes=False, keep_dest_attrs=True):
        raise Exception("simulated rename failure")

    monkeypatch.setattr(AnsibleModule, "atomic_move", broken_move)
    args["users"] = _users_with_secrets(kind, "third")
    rc, result, raw = run_module(capsys, args, diff=True)
    assert rc == 1 and result["msg"] == f"cannot replace {users_file}: simulated rename failure", result
    assert [user["name"] for user in result["invocation"]["module_args"]["users"]] == [
        "alice@example.test",
        "bob@example.test",
        "carol@example.test",
    ]
    check(raw, args["users"])


def test_a_password_in_a_failure_message_is_masked(capsys, args, monkeypatch):
    """A failure message passes through Ansible's masking with every no_log value, too."""

    def careless_plan(*plan_args, **plan_kwargs):
        raise pf.PasswdFileError(f"careless message about {BOB_PW} and {CAROL_PW}")

    monkeypatch.setattr(sasl_user, "plan", careless_plan)
    args["users"] = three_users()
    rc, result, raw = run_module(capsys, args)
    assert rc == 1
    assert result["msg"] == "careless message about ******** and ********"
    assert_no_secrets(raw)


def test_a_password_that_occurs_in_the_result_is_still_masked(capsys, args):
    """A password that happens to be in the result (a name, a piece of the diff) is masked there."""
    args["users"] = [
        {"name": "alice@example.test", "password": "bob@example.test"},  # another user's name
        {"name": "bob@example.test", "password": ".test SHA512"},  # spans name and scheme in the diff
    ]
    rc, result, raw = run_module(capsys, args, diff=True)
    assert rc == 0, result
    assert "bob@example.test" not in raw and ".test SHA512" not in raw
    assert result["users_added"] == ["alice@example.test", "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"]
    # How much of the diff is masked depends on the order Ansible tries the values in.
    assert "********" in result["diff"]["after"]


def test_echo_lists_every_option_but_the_users(capsys, args, users_file):
    spec = sasl_user.argument_spec()
    args.update(users=three_users(), scheme="ARGON2ID", exclusive=True, backup=True)
    expected = {name: args.get(name, option.get("default")) for name, option in spec.items()}
    expected["users"] = _summary(3)
    for check_mode in (True, False):
        rc, result, _ = run_module(capsys, args, check_mode=check_mode)
        assert rc == 0, result
        assert result["invocation"] == {"module_args": expected}
    # No user name appears anywhere in the echo.
    assert "example.test" not in json.dumps(result["invocation"])

    # The same echo when the module fails on its input, with the right noun for one user.
    args["users"] = [{"name": "alice@example.test"}]
    rc, result, _ = run_module(capsys, args)
    assert rc == 1, result
    assert result["invocation"] == {"module_args": dict(expected, users=_summary(1))}


def test_counts(capsys, args, users_file):
    users_file.write_bytes(ORIGINAL)  # a comment, a blank line and legacy@example.test
    args["users"] = three_users()
    rc, result, _ = run_module(capsys, args)
    assert rc == 0, result
    assert result["counts"] == {"added": 3, "updated": 0, "removed": 0, "unchanged": 1, "total": 4}

    rc, result, _ = run_module(capsys, args)
    assert result["changed"] is False
    assert result["counts"] == {"added": 0, "updated": 0, "removed": 0, "unchanged": 4, "total": 4}

    args["users"] = [
        {"name": "alice@example.test", "password": "a-new-passphrase-for-alice"},
        {"name": "bob@example.test", "password": BOB_PW, "scheme": "BLF-CRYPT"},
        {"name": "carol@example.test", "state": "absent"},
        {"name": "dave@example.test", "password": "dave-passphrase"},
        {"name": "nobody@example.test", "state": "absent"},  # not in the file: nothing to count
    ]
    for check_mode in (True, False):
        rc, result, _ = run_module(capsys, args, check_mode=check_mode)
        assert rc == 0, result
        # legacy and bob unchanged; alice updated, dave added, carol removed.
        assert result["counts"] == {"added": 1, "updated": 1, "removed": 1, "unchanged": 2, "total": 4}

    args["exclusive"] = True
    rc, result, _ = run_module(capsys, args)
    assert result["users_removed"] == ["legacy@example.test"]
    assert result["counts"] == {"added": 0, "updated": 0, "removed": 1, "unchanged": 3, "total": 3}
    assert len([line for line in users_file.read_text().splitlines() if "@" in line]) == 3


def _well_formed_sha512_fields(count, seed):
    """Distinct, well-formed SHA512-CRYPT fields, cheap to make: random salts and checksums, no hashing."""
    rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
    chars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return [
        "{SHA512-CRYPT}$6$rounds=5000$" + "".join(rnd.choices(chars, k=16)) + "$" + "".join(rnd.choices(chars, k=86))
        for _index in range(count)
    ]


def test_ten_thousand_unchanged_users_print_a_small_result(capsys, args, users_file):
    """Structure, not timing: the printed result does not grow with the users when nothing changes."""
    fields = _well_formed_sha512_fields(10000, seed="bulk")
    names = [f"user{i:05d}@bulk.example.test" for i in range(len(fields))]
    users_file.write_text("".join(f"{name}:{field}::::::\n" for name, field in zip(names, fields, strict=True)))
    os.chmod(users_file, 0o640)
    args["users"] = [{"name": name, "password_hash": field} for name, field in zip(names, fields, strict=True)]

    rc, result, raw = run_module(capsys, args)
    assert rc == 0, result
    assert result["changed"] is False
    assert result["counts"] == {"added": 0, "updated": 0, "removed": 0, "unchanged": 10000, "total": 10000}
    assert len(raw.encode()) < 5000, f"{len(raw.encode())} bytes printed"
    assert "bulk.example.test" not in raw
    assert [field for field in fields if field[len("{SHA512-CRYPT}") :] in raw] == []


def test_documented_return_values_match_the_result(capsys, args, users_file):
    returned = yaml.safe_load(sasl_user.RETURN)
    users_file.write_bytes(ORIGINAL)
    args.update(users=three_users(), backup=True)
    rc, result, _ = run_module(capsys, args, diff=True)
    assert rc == 0, result
    # changed and invocation are common return values, documented by Ansible itself.
    assert set(result) - {"changed", "invocation"} == set(returned)
    assert set(result["counts"]) == set(returned["counts"]["contains"])
