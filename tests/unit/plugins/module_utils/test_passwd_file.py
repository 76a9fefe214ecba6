"""Unit tests for plugins/module_utils/passwd_file.py (no AnsibleModule involved)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from ansible_collections.mailops.authsmtp.plugins.module_utils import passwd_file as pf
from passlib.hash import argon2, bcrypt, sha512_crypt

# Small cost parameters keep the suite fast; they are valid for every scheme.
FAST = dict(sha512_rounds=1000, bcrypt_cost=4, argon2_memory_cost=1024, argon2_time_cost=1)
# Different, still cheap, parameters: hashes made with them must not be redone.
OTHER_COSTS = dict(sha512_rounds=1200, bcrypt_cost=5, argon2_memory_cost=2048, argon2_time_cost=2)

PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "Tr0ub4dor&3-but-longer"

# Markers of hashes of every scheme; none of them may show up in a diff.
HASH_MARKERS = ("$6$", "$2b$", "$2a$", "$2y$", "$argon2")


@pytest.fixture(scope="module")
def hasher():
    return pf.Hasher(**FAST)


@pytest.fixture(scope="module")
def other_hasher():
    return pf.Hasher(**OTHER_COSTS)


def specs_for(*users, scheme="SHA512-CRYPT"):
    return pf.validate_users(list(users), scheme)


def entry_lines(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def assert_no_secrets(*texts, secrets=(PASSWORD, OTHER_PASSWORD)):
    for text in texts:
        for marker in HASH_MARKERS + tuple(secrets):
            assert marker not in text, f"{marker!r} leaked into {text!r}"


# --------------------------------------------------------------------------
# parse / render / summarize
# --------------------------------------------------------------------------

SAMPLE = (
    "# Dovecot SMTP AUTH users\n"
    "\n"
    "alice@example.test:{SHA512-CRYPT}$6$x$y::::::\n"
    "   \n"
    ":ignored-by-dovecot\n"
    "bob@example.test:{PLAIN}secret:1000:1000:Bob:/home/bob:/bin/false:userdb_quota_rule=*:storage=1G\n"
    "carol@example.test:{CRYPT}zz\n"
    "# trailing comment\n"
)


def test_parse_keeps_every_line_and_render_round_trips():
    lines = pf.parse(SAMPLE)
    assert [line.name for line in lines] == [
        None,
        None,
        "alice@example.test",
        None,
        None,
        "bob@example.test",
        "carol@example.test",
        None,
    ]
    assert pf.render(lines) == SAMPLE


def test_parse_fields_and_extra_fields_with_colons():
    bob = pf.parse(SAMPLE)[5]
    assert bob.password == "{PLAIN}secret"
    assert bob.rest == ["1000", "1000", "Bob", "/home/bob", "/bin/false", "userdb_quota_rule=*:storage=1G"]
    assert bob.scheme == "PLAIN"
    carol = pf.parse(SAMPLE)[6]
    assert carol.rest == []
    assert carol.scheme == "CRYPT"


@pytest.mark.parametrize("text", ["", "\n"])
def test_parse_empty(text):
    assert pf.parse(text) == []


def test_parse_rejects_line_without_colon_without_echoing_it():
    with pytest.raises(pf.PasswdFileError) as exc:
        pf.parse("# ok\nalice@example.test:{PLAIN}x\nhunter2-on-its-own\n", source="/etc/dovecot/users")
    msg = str(exc.value)
    assert msg.startswith("/etc/dovecot/users line 3: ")
    assert "hunter2" not in msg


@pytest.mark.parametrize(
    "field, expected",
    [
        ("{SHA512-CRYPT}$6$abc", ("SHA512-CRYPT", "$6$abc")),
        ("{sha512-crypt}$6$abc", ("SHA512-CRYPT", "$6$abc")),
        ("{ARGON2ID}", ("ARGON2ID", "")),
        ("$6$abc", (None, "$6$abc")),
        ("plain", (None, "plain")),
        ("", (None, "")),
        ("{bad scheme}x", (None, "{bad scheme}x")),
    ],
)
def test_split_scheme(field, expected):
    assert pf.split_scheme(field) == expected


def test_summarize_lists_names_and_schemes_only():
    text = pf.summarize(pf.parse(SAMPLE + "dave@example.test:nohashprefix\n"))
    assert text == (
        "alice@example.test SHA512-CRYPT\n"
        "bob@example.test PLAIN\n"
        "carol@example.test CRYPT\n"
        "dave@example.test (no scheme)\n"
    )
    assert "secret" not in text
    assert "nohashprefix" not in text


def test_line_repr_hides_password():
    line = pf.parse("alice@example.test:{PLAIN}hunter2\n")[0]
    assert "hunter2" not in repr(line)
    assert "alice@example.test" in repr(line)


# --------------------------------------------------------------------------
# Login address validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("alice@example.test", "alice@example.test"),
        ("Alice.Smith@Example.TEST", "alice.smith@example.test"),
        ("a@b.co", "a@b.co"),
        ("first.last+tag@mail.example.com", "first.last+tag@mail.example.com"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("x!#$%&'*+/=?^_`{|}~-y@example.test", "x!#$%&'*+/=?^_`{|}~-y@example.test"),
        ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
        ("user@example.xn--p1ai", "user@example.xn--p1ai"),
        ("user@a-b.example.test", "user@a-b.example.test"),
        ("user@" + "a" * 63 + ".test", "user@" + "a" * 63 + ".test"),
        ("u" * 64 + "@example.test", "u" * 64 + "@example.test"),
    ],
)
def test_normalize_login_accepts_and_lowercases(name, expected):
    assert pf.normalize_login(name, "users[0].name") == expected


@pytest.mark.parametrize(
    "name",
    [
        "bob@@example.test",
        "bob",
        "@example.test",
        "bob@",
        "bob@localhost",
        ".bob@example.test",
        "bob.@example.test",
        "bo..b@example.test",
        "bob @example.test",
        " bob@example.test",
        "bob@example.test ",
        "bob@example.test\n",
        "bob\n@example.test",
        "bob\t@example.test",
        "bob:x@example.test",
        "bob@example.test:",
        "bob@-example.test",
        "bob@example-.test",
        "bob@exa_mple.test",
        "bob@example..test",
        "bob@example.test.",
        "bob@example.123",
        "bob@example.t3st",
        "bob@" + "a" * 64 + ".test",
        "u" * 65 + "@example.test",
        "b\u00f8b@example.test",
        "bob@b\u00fccher.example",
        "\u212aelvin@example.test",  # KELVIN SIGN lowercases to ASCII 'k'
        '"quoted"@example.test',
        "bob@[192.0.2.1]",
    ],
)
def test_normalize_login_rejects(name):
    with pytest.raises(pf.PasswdFileError) as exc:
        pf.normalize_login(name, "users[2].name")
    assert str(exc.value).startswith(f"users[2].name: {name!r} is not a valid login address (local@domain)")


def test_normalize_login_rejects_overlong_address():
    # Every part is within its own limit, but the whole is longer than 254.
    name = "u" * 64 + "@" + ".".join(["a" * 60] * 3) + ".example"
    assert len(name) > 254 and len(name.split("@")[1]) <= 253
    with pytest.raises(pf.PasswdFileError):
        pf.normalize_login(name, "users[0].name")


@pytest.mark.parametrize("name", [None, "", 42])
def test_normalize_login_requires_a_string(name):
    with pytest.raises(pf.PasswdFileError, match=r"^users\[0\]\.name: a non-empty login address"):
        pf.normalize_login(name, "users[0].name")


# --------------------------------------------------------------------------
# validate_users
# --------------------------------------------------------------------------


def test_validate_users_builds_specs():
    specs = pf.validate_users(
        [
            {"name": "A@example.test", "password": PASSWORD},
            {"name": "b@example.test", "password": PASSWORD, "scheme": "ARGON2ID"},
            {"name": "c@example.test", "state": "absent", "password": ""},
            {"name": "d@example.test", "password_hash": "{blf-crypt}" + bcrypt.using(rounds=4).hash("x")},
        ],
        "BLF-CRYPT",
    )
    assert [(s.name, s.state, s.scheme) for s in specs] == [
        ("a@example.test", "present", "BLF-CRYPT"),
        ("b@example.test", "present", "ARGON2ID"),
        ("c@example.test", "absent", None),
        ("d@example.test", "present", "BLF-CRYPT"),
    ]
    assert specs[3].password_hash.startswith("{BLF-CRYPT}$2b$04$")
    assert PASSWORD not in repr(specs)


@pytest.mark.parametrize(
    "users, message",
    [
        (
            [{"name": "a@example.test", "password": "x"}, {"name": "bob@@example.test", "password": "x"}],
            "users[1].name: 'bob@@example.test' is not a valid login address (local@domain)",
        ),
        (
            [
                {"name": "alice@example.test", "password": "x"},
                {"name": "b@example.test", "password": "x"},
                {"name": "c@example.test", "password": "x"},
                {"name": "alice@example.test", "password": "y"},
            ],
            "users[3].name: 'alice@example.test' is listed twice (also users[0])",
        ),
        (
            [{"name": "alice@example.test", "password": "x"}, {"name": "ALICE@Example.Test", "state": "absent"}],
            "users[1].name: 'alice@example.test' is listed twice (also users[0])",
        ),
        (
            [{"name": "a@example.test", "password": "x", "scheme": "MD5-CRYPT"}],
            "users[0].scheme: unknown scheme 'MD5-CRYPT'; valid choices are SHA512-CRYPT, BLF-CRYPT, ARGON2ID",
        ),
        (
            [{"name": "a@example.test", "state": "absent", "scheme": "sha512-crypt"}],
            "users[0].scheme: unknown scheme 'sha512-crypt'",
        ),
        (
            [{"name": "a@example.test", "password": ""}],
            "users[0].password: empty password for 'a@example.test'",
        ),
        (
            [{"name": "a@example.test", "password": "x", "password_hash": "{SHA512-CRYPT}$6$x"}],
            "users[0]: 'password' and 'password_hash' are mutually exclusive ('a@example.test')",
        ),
        (
            [{"name": "a@example.test"}],
            "users[0]: 'a@example.test' has state=present but neither 'password' nor 'password_hash'",
        ),
        (
            [{"name": "a@example.test", "state": "gone"}],
            "users[0].state: 'gone' is not valid; use one of present, absent",
        ),
        (
            [{"name": "a@example.test", "password": "pw\0x"}],
            "users[0].password: the password for 'a@example.test' contains a NUL character",
        ),
        (
            [{"name": "a@example.test", "password": "x" * 73, "scheme": "BLF-CRYPT"}],
            "users[0].password: the password for 'a@example.test' is longer than 72 bytes",
        ),
        (
            [{"name": "a@example.test", "password": "\u00e9" * 37, "scheme": "BLF-CRYPT"}],  # 74 bytes
            "users[0].password: the password for 'a@example.test' is longer than 72 bytes",
        ),
        ([{"password": "x"}], "users[0].name: a non-empty login address (local@domain) is required"),
        (["a@example.test"], "users[0]: must be a dict"),
        ("a@example.test", "users: must be a list of dicts"),
    ],
)
def test_validate_users_errors(users, message):
    with pytest.raises(pf.PasswdFileError) as exc:
        pf.validate_users(users)
    assert str(exc.value).startswith(message)
    assert "pw\0x" not in str(exc.value)


def test_validate_users_unknown_default_scheme():
    with pytest.raises(pf.PasswdFileError, match="^scheme: unknown scheme 'PLAIN'; valid choices are"):
        pf.validate_users([], "PLAIN")


def test_validate_users_bcrypt_password_of_72_bytes_is_fine():
    (spec,) = pf.validate_users([{"name": "a@example.test", "password": "x" * 72, "scheme": "BLF-CRYPT"}])
    assert spec.scheme == "BLF-CRYPT"


def test_validate_users_hash_scheme_must_match_user_scheme():
    digest = "{SHA512-CRYPT}" + sha512_crypt.using(rounds=1000).hash("x")
    with pytest.raises(pf.PasswdFileError) as exc:
        pf.validate_users([{"name": "a@example.test", "password_hash": digest, "scheme": "ARGON2ID"}])
    assert str(exc.value).startswith("users[0].scheme: ARGON2ID does not match the {SHA512-CRYPT} prefix")
    assert digest[14:] not in str(exc.value)
    (spec,) = pf.validate_users([{"name": "a@example.test", "password_hash": digest, "scheme": "SHA512-CRYPT"}])
    assert spec.password_hash == digest


def test_validate_users_absent_ignores_passwords():
    (spec,) = pf.validate_users(
        [{"name": "a@example.test", "state": "absent", "password": "x", "password_hash": "garbage"}]
    )
    assert (spec.state, spec.password, spec.password_hash) == ("absent", None, None)


# --------------------------------------------------------------------------
# Precomputed hashes
# --------------------------------------------------------------------------


def valid_hashes():
    sha = sha512_crypt.using(rounds=1000).hash("x")
    sha_implicit = sha512_crypt.using(rounds=5000).hash("x")
    blf = bcrypt.using(rounds=4, ident="2b").hash("x")
    arg = argon2.using(type="ID", memory_cost=1024, time_cost=1, parallelism=1).hash("x")
    return {
        "sha512 with rounds": ("SHA512-CRYPT", "{SHA512-CRYPT}" + sha),
        "sha512 default rounds": ("SHA512-CRYPT", "{SHA512-CRYPT}" + sha_implicit),
        "sha512 lowercase prefix": ("SHA512-CRYPT", "{sha512-crypt}" + sha),
        "bcrypt 2b": ("BLF-CRYPT", "{BLF-CRYPT}" + blf),
        "bcrypt 2a": ("BLF-CRYPT", "{BLF-CRYPT}" + blf.replace("$2b$", "$2a$")),
        "bcrypt 2y": ("BLF-CRYPT", "{BLF-CRYPT}" + blf.replace("$2b$", "$2y$")),
        "argon2id": ("ARGON2ID", "{ARGON2ID}" + arg),
        "argon2id p=4": ("ARGON2ID", "{ARGON2ID}" + argon2.using(type="ID", memory_cost=64, time_cost=1).hash("x")),
    }


@pytest.mark.parametrize("case", sorted(valid_hashes()))
def test_normalize_password_hash_accepts(case):
    scheme, value = valid_hashes()[case]
    expected = "{" + scheme + "}" + value.split("}", 1)[1]
    assert pf.normalize_password_hash(value, "users[0].password_hash") == (scheme, expected)


def malformed_hashes():
    sha = sha512_crypt.using(rounds=1000).hash("x")
    blf = bcrypt.using(rounds=4, ident="2b").hash("x")
    arg = argon2.using(type="ID", memory_cost=1024, time_cost=1, parallelism=1).hash("x")
    argon2i = argon2.using(type="I", memory_cost=1024, time_cost=1, parallelism=1).hash("x")
    return {
        "sha512 truncated": ("SHA512-CRYPT", "{SHA512-CRYPT}" + sha[:-1]),
        "sha512 is sha256": ("SHA512-CRYPT", "{SHA512-CRYPT}" + sha.replace("$6$", "$5$")),
        "sha512 rounds too low": ("SHA512-CRYPT", "{SHA512-CRYPT}" + sha.replace("rounds=1000", "rounds=10")),
        "sha512 salt too long": ("SHA512-CRYPT", "{SHA512-CRYPT}$6$" + "s" * 17 + "$" + "c" * 86),
        "sha512 bad character": ("SHA512-CRYPT", "{SHA512-CRYPT}" + sha[:-1] + "!"),
        "sha512 trailing newline": ("SHA512-CRYPT", "{SHA512-CRYPT}" + sha + "\n"),
        "bcrypt 2x": ("BLF-CRYPT", "{BLF-CRYPT}" + blf.replace("$2b$", "$2x$")),
        "bcrypt cost 03": ("BLF-CRYPT", "{BLF-CRYPT}" + blf.replace("$04$", "$03$")),
        "bcrypt cost 32": ("BLF-CRYPT", "{BLF-CRYPT}" + blf.replace("$04$", "$32$")),
        "bcrypt 59 chars": ("BLF-CRYPT", "{BLF-CRYPT}" + blf[:-1]),
        "bcrypt 61 chars": ("BLF-CRYPT", "{BLF-CRYPT}" + blf + "a"),
        "bcrypt with whitespace": ("BLF-CRYPT", "{BLF-CRYPT} " + blf),
        "bcrypt is sha512": ("BLF-CRYPT", "{BLF-CRYPT}" + sha),
        "argon2i": ("ARGON2ID", "{ARGON2ID}" + argon2i),
        "argon2 v=16": ("ARGON2ID", "{ARGON2ID}" + arg.replace("v=19", "v=16")),
        "argon2 no version": ("ARGON2ID", "{ARGON2ID}" + arg.replace("v=19$", "")),
        "argon2 memory too low": ("ARGON2ID", "{ARGON2ID}" + arg.replace("m=1024", "m=4")),
        "argon2 no hash": ("ARGON2ID", "{ARGON2ID}" + arg.rsplit("$", 1)[0] + "$"),
        "argon2 3-byte hash": ("ARGON2ID", "{ARGON2ID}" + arg.rsplit("$", 1)[0] + "$zzzz"),
        "argon2 padded base64": ("ARGON2ID", "{ARGON2ID}" + arg + "="),
        "argon2 short salt": ("ARGON2ID", "{ARGON2ID}" + arg.replace(arg.split("$")[4], "c2FsdA")),
    }


@pytest.mark.parametrize("case", sorted(malformed_hashes()))
def test_normalize_password_hash_rejects_malformed(case):
    scheme, value = malformed_hashes()[case]
    with pytest.raises(pf.PasswdFileError) as exc:
        pf.normalize_password_hash(value, "users[1].password_hash")
    msg = str(exc.value)
    assert msg.startswith(f"users[1].password_hash: not a well-formed {scheme} hash (expected {{{scheme}}}$")
    # Neither the hash nor its salt/checksum parts may be in the message.
    body = value.split("}", 1)[1]
    assert body not in msg
    for part in body.split("$"):
        if len(part) >= 8 and not part.startswith(("argon2", "rounds=")):  # salt or checksum
            assert part not in msg


@pytest.mark.parametrize(
    "value, message",
    [
        ("$6$rounds=1000$salt$" + "c" * 86, "must be a Dovecot-style '{SCHEME}hash' string with SCHEME one of"),
        ("{PLAIN}hunter2", "scheme {PLAIN} is not supported; use one of SHA512-CRYPT, BLF-CRYPT, ARGON2ID"),
        ("{SSHA512}aGVsbG8=", "scheme {SSHA512} is not supported"),
        ("", "must be a non-empty '{SCHEME}hash' string"),
    ],
)
def test_normalize_password_hash_rejects_unsupported(value, message):
    with pytest.raises(pf.PasswdFileError) as exc:
        pf.normalize_password_hash(value, "users[0].password_hash")
    assert str(exc.value).startswith("users[0].password_hash: " + message)
    assert "hunter2" not in str(exc.value)
    assert "aGVsbG8=" not in str(exc.value)


# --------------------------------------------------------------------------
# Hasher
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme, prefix",
    [
        ("SHA512-CRYPT", "{SHA512-CRYPT}$6$rounds=1000$"),
        ("BLF-CRYPT", "{BLF-CRYPT}$2b$04$"),
        ("ARGON2ID", "{ARGON2ID}$argon2id$v=19$m=1024,t=1,p=1$"),
    ],
)
def test_hasher_hash_and_verify(hasher, scheme, prefix):
    field = hasher.hash(scheme, PASSWORD)
    assert field.startswith(prefix)
    assert pf.normalize_password_hash(field, "x") == (scheme, field)
    assert hasher.verify(scheme, PASSWORD, field)
    assert not hasher.verify(scheme, OTHER_PASSWORD, field)
    other = next(s for s in pf.SCHEMES if s != scheme)
    assert not hasher.verify(other, PASSWORD, field)


def test_hasher_defaults():
    h = pf.Hasher()
    assert (h.sha512_rounds, h.bcrypt_cost, h.argon2_memory_cost, h.argon2_time_cost) == (100000, 12, 65536, 3)


def test_hasher_sha512_default_rounds_are_implicit():
    field = pf.Hasher(**dict(FAST, sha512_rounds=5000)).hash("SHA512-CRYPT", PASSWORD)
    assert field.startswith("{SHA512-CRYPT}$6$") and "rounds=" not in field


@pytest.mark.parametrize(
    "stored",
    [
        "{SHA512-CRYPT}$6$garbage",
        "{SHA512-CRYPT}",
        "{sha512-crypt}$6$rounds=10$salt$" + "c" * 86,
        "$6$rounds=1000$salt$" + "c" * 86,
        "",
        "{PLAIN}" + PASSWORD,
    ],
)
def test_hasher_verify_unusable_stored_values(hasher, stored):
    assert hasher.verify("SHA512-CRYPT", PASSWORD, stored) is False


def test_hasher_verify_accepts_lowercase_stored_prefix(hasher):
    field = hasher.hash("SHA512-CRYPT", PASSWORD)
    assert hasher.verify("SHA512-CRYPT", PASSWORD, field.replace("{SHA512-CRYPT}", "{sha512-crypt}"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sha512_rounds=999), "sha512_rounds: must be an integer from 1000 to 999999999, got 999"),
        (dict(bcrypt_cost=3), "bcrypt_cost: must be an integer from 4 to 31, got 3"),
        (dict(bcrypt_cost=32), "bcrypt_cost: must be an integer from 4 to 31, got 32"),
        (dict(argon2_memory_cost=7), "argon2_memory_cost: must be an integer from 8 to"),
        (dict(argon2_time_cost=0), "argon2_time_cost: must be an integer from 1 to"),
        (dict(sha512_rounds="5000"), "sha512_rounds: must be an integer"),
        (dict(bcrypt_cost=True), "bcrypt_cost: must be an integer"),
    ],
)
def test_hasher_rejects_bad_parameters(kwargs, message):
    with pytest.raises(pf.PasswdFileError) as exc:
        pf.Hasher(**dict(FAST, **kwargs))
    assert str(exc.value).startswith(message)


def test_hasher_requires_passlib(monkeypatch):
    monkeypatch.setattr(pf, "HAS_PASSLIB", False)
    with pytest.raises(pf.PasswdFileError, match="passlib"):
        pf.Hasher(**FAST)


def test_import_without_passlib(monkeypatch):
    """The module_utils imports without passlib and says so, as the module expects."""
    for name in ("passlib", "passlib.exc", "passlib.hash"):
        monkeypatch.setitem(sys.modules, name, None)  # makes 'import passlib...' raise ImportError
    spec = importlib.util.spec_from_file_location("passwd_file_without_passlib", pf.__file__)
    copy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copy)
    assert copy.HAS_PASSLIB is False
    assert "passlib" in copy.PASSLIB_IMPORT_ERROR
    assert issubclass(copy.MissingBackendError, Exception)
    with pytest.raises(copy.PasswdFileError, match="passlib"):
        copy.Hasher()


class _BrokenHandler:
    """Stands in for a passlib handler whose backend is missing or broken."""

    def __init__(self, exc):
        self.exc = exc

    def hash(self, secret):
        raise self.exc

    def verify(self, secret, digest):
        raise self.exc


def test_hasher_missing_backend_on_hash(monkeypatch):
    hasher = pf.Hasher(**FAST)
    monkeypatch.setattr(hasher, "_configured", lambda scheme: _BrokenHandler(pf.MissingBackendError("no backend")))
    with pytest.raises(pf.PasswdFileError) as exc:
        hasher.hash("BLF-CRYPT", PASSWORD)
    assert "install the Python 'bcrypt' package (Debian: python3-bcrypt)" in str(exc.value)
    with pytest.raises(pf.PasswdFileError, match=r"python3-argon2"):
        hasher.hash("ARGON2ID", PASSWORD)


def test_hasher_broken_backend_on_hash(monkeypatch):
    hasher = pf.Hasher(**FAST)
    monkeypatch.setattr(hasher, "_configured", lambda scheme: _BrokenHandler(ValueError("backend exploded")))
    with pytest.raises(pf.PasswdFileError) as exc:
        hasher.hash("BLF-CRYPT", PASSWORD)
    assert str(exc.value) == "cannot compute BLF-CRYPT hashes with the installed passlib: ValueError: backend exploded"


def test_hasher_missing_backend_on_verify(monkeypatch, hasher):
    field = hasher.hash("ARGON2ID", PASSWORD)
    monkeypatch.setattr(pf, "_handler", lambda scheme: _BrokenHandler(pf.MissingBackendError("no backend")))
    with pytest.raises(pf.PasswdFileError, match=r"^cannot verify ARGON2ID hashes: .*python3-argon2"):
        hasher.verify("ARGON2ID", PASSWORD, field)


# --------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", pf.SCHEMES)
def test_plan_adds_user_with_plaintext_password(hasher, scheme):
    result = pf.plan("", specs_for({"name": "Alice@Example.test", "password": PASSWORD, "scheme": scheme}), hasher)
    assert result.changed
    assert (result.added, result.updated, result.removed) == (["alice@example.test"], [], [])
    (line,) = result.new_text.splitlines()
    name, field, *rest = line.split(":")
    assert name == "alice@example.test"
    assert field.startswith("{" + scheme + "}")
    assert rest == [""] * 6  # name:{SCHEME}hash:::::: -> 7 colons in total
    assert hasher.verify(scheme, PASSWORD, field)
    assert result.before == ""
    assert result.after == f"alice@example.test {scheme}\n"
    assert_no_secrets(result.before, result.after)


@pytest.mark.parametrize("scheme", pf.SCHEMES)
def test_plan_plaintext_unchanged_when_password_verifies(hasher, other_hasher, scheme):
    # Stored with other cost parameters: still no rehash.
    old = f"# users\n\nalice@example.test:{other_hasher.hash(scheme, PASSWORD)}::::::\n"
    result = pf.plan(old, specs_for({"name": "alice@example.test", "password": PASSWORD}, scheme=scheme), hasher)
    assert not result.changed
    assert result.new_text == old
    assert (result.added, result.updated, result.removed) == ([], [], [])
    assert result.before == result.after == f"alice@example.test {scheme}\n"


@pytest.mark.parametrize("scheme", pf.SCHEMES)
def test_plan_rehashes_when_stored_password_differs(hasher, scheme):
    old_field = hasher.hash(scheme, OTHER_PASSWORD)
    old = f"alice@example.test:{old_field}::::::\nbob@example.test:{{PLAIN}}x\n"
    result = pf.plan(old, specs_for({"name": "alice@example.test", "password": PASSWORD, "scheme": scheme}), hasher)
    assert result.changed
    assert (result.added, result.updated, result.removed) == ([], ["alice@example.test"], [])
    alice, bob = result.new_text.splitlines()
    assert hasher.verify(scheme, PASSWORD, alice.split(":")[1])
    assert bob == "bob@example.test:{PLAIN}x"
    assert result.before == f"alice@example.test {scheme}\nbob@example.test PLAIN\n"
    assert result.after == f"alice@example.test {scheme} (password changed)\nbob@example.test PLAIN\n"
    assert_no_secrets(result.before, result.after)


@pytest.mark.parametrize("old_scheme", pf.SCHEMES)
@pytest.mark.parametrize("new_scheme", pf.SCHEMES)
def test_plan_scheme_change_triggers_rehash(hasher, old_scheme, new_scheme):
    old = f"alice@example.test:{hasher.hash(old_scheme, PASSWORD)}::::::\n"
    spec = specs_for({"name": "alice@example.test", "password": PASSWORD}, scheme=new_scheme)
    result = pf.plan(old, spec, hasher)
    assert result.changed is (old_scheme != new_scheme)
    field = result.new_text.split(":")[1]
    assert field.startswith("{" + new_scheme + "}")
    assert hasher.verify(new_scheme, PASSWORD, field)
    if result.changed:
        assert result.updated == ["alice@example.test"]
        assert result.after == f"alice@example.test {new_scheme} (password changed)\n"


def test_plan_rehashes_unknown_and_unprefixed_stored_values(hasher):
    old = "a@example.test:{PLAIN}pw\nb@example.test:$6$rounds=1000$salt$" + "c" * 86 + "\nc@example.test:\n"
    users = [{"name": n, "password": PASSWORD} for n in ("a@example.test", "b@example.test", "c@example.test")]
    result = pf.plan(old, specs_for(*users), hasher)
    assert result.updated == ["a@example.test", "b@example.test", "c@example.test"]
    assert result.before == "a@example.test PLAIN\nb@example.test (no scheme)\nc@example.test (no scheme)\n"
    assert all(line.split(":")[1].startswith("{SHA512-CRYPT}$6$") for line in result.new_text.splitlines())


@pytest.mark.parametrize("case", ["sha512 with rounds", "bcrypt 2y", "argon2id"])
def test_plan_password_hash_add_keep_and_replace(hasher, case):
    scheme, value = valid_hashes()[case]
    specs = specs_for({"name": "alice@example.test", "password_hash": value})
    added = pf.plan("", specs, hasher)
    assert added.added == ["alice@example.test"]
    assert added.new_text == f"alice@example.test:{value}::::::\n"
    assert added.after == f"alice@example.test {scheme}\n"

    same = pf.plan(added.new_text, specs, hasher)
    assert not same.changed
    assert same.updated == []

    # Same hash with a lowercase prefix in the file is the same value for Dovecot.
    lowered = added.new_text.replace("{" + scheme + "}", "{" + scheme.lower() + "}")
    assert not pf.plan(lowered, specs, hasher).changed

    # A different stored hash - even one that verifies - is replaced verbatim.
    old = f"alice@example.test:{hasher.hash(scheme, 'x')}:1000:1000::/home/alice::\n"
    replaced = pf.plan(old, specs, hasher)
    assert replaced.updated == ["alice@example.test"]
    assert replaced.new_text == f"alice@example.test:{value}:1000:1000::/home/alice::\n"
    assert replaced.after == f"alice@example.test {scheme} (password changed)\n"
    assert_no_secrets(added.after, replaced.before, replaced.after)


def test_plan_preserves_comments_blank_lines_order_and_extra_fields(hasher):
    alice = hasher.hash("SHA512-CRYPT", PASSWORD)
    stale = hasher.hash("SHA512-CRYPT", OTHER_PASSWORD)
    old = (
        "# managed by hand, too\n"
        "\n"
        "bob@example.test:{PLAIN}x:1000:1000:Bob:/home/bob:/bin/false:userdb_quota_rule=*:storage=1G\n"
        f"alice@example.test:{stale}:2000:2000::/srv/a::k=v\n"
        "# end\n"
        "carol@example.test:{PLAIN}y\n"
    )
    specs = specs_for(
        {"name": "alice@example.test", "password": PASSWORD},
        {"name": "dave@example.test", "password_hash": alice},
    )
    result = pf.plan(old, specs, hasher)
    lines = result.new_text.splitlines()
    assert lines[0:3] == old.splitlines()[0:3]  # comment, blank, untouched bob incl. extra fields
    assert lines[3].startswith("alice@example.test:{SHA512-CRYPT}$6$")
    assert lines[3].endswith(":2000:2000::/srv/a::k=v")  # other fields of the rewritten entry kept
    assert lines[4:6] == ["# end", "carol@example.test:{PLAIN}y"]
    assert lines[6] == f"dave@example.test:{alice}::::::"
    assert len(lines) == 7
    assert result.new_text.endswith("\n")


def test_plan_without_changes_keeps_content_byte_for_byte(hasher):
    old = "# no final newline\r\nalice@example.test:" + hasher.hash("BLF-CRYPT", PASSWORD)
    result = pf.plan(
        old, specs_for({"name": "alice@example.test", "password": PASSWORD, "scheme": "BLF-CRYPT"}), hasher
    )
    assert not result.changed
    assert result.new_text == old


def test_plan_change_adds_final_newline(hasher):
    result = pf.plan("# no final newline", specs_for({"name": "a@example.test", "password": PASSWORD}), hasher)
    assert result.new_text.startswith("# no final newline\na@example.test:")
    assert result.new_text.endswith("::::::\n")


def test_plan_absent(hasher):
    old = "# c\nalice@example.test:{PLAIN}a\nbob@example.test:{PLAIN}b\n"
    specs = specs_for(
        {"name": "Bob@example.test", "state": "absent"}, {"name": "nobody@example.test", "state": "absent"}
    )
    result = pf.plan(old, specs, hasher)
    assert result.new_text == "# c\nalice@example.test:{PLAIN}a\n"
    assert (result.added, result.updated, result.removed) == ([], [], ["bob@example.test"])
    assert result.before == "alice@example.test PLAIN\nbob@example.test PLAIN\n"
    assert result.after == "alice@example.test PLAIN\n"

    again = pf.plan(result.new_text, specs, hasher)
    assert not again.changed
    assert again.removed == []


def test_plan_absent_on_missing_file(hasher):
    result = pf.plan(None, specs_for({"name": "a@example.test", "state": "absent"}), hasher)
    assert not result.changed
    assert result.new_text == ""


def test_plan_exclusive(hasher):
    keep = hasher.hash("SHA512-CRYPT", PASSWORD)
    old = (
        "# header\n"
        f"alice@example.test:{keep}::::::\n"
        "Stranger@Example.test:{PLAIN}s\n"
        "\n"
        "postmaster:{PLAIN}p\n"
        "gone@example.test:{PLAIN}g\n"
    )
    specs = specs_for(
        {"name": "alice@example.test", "password": PASSWORD},
        {"name": "gone@example.test", "state": "absent"},
        {"name": "new@example.test", "password_hash": keep},
    )
    result = pf.plan(old, specs, hasher, exclusive=True)
    assert result.new_text == f"# header\nalice@example.test:{keep}::::::\n\nnew@example.test:{keep}::::::\n"
    assert result.added == ["new@example.test"]
    assert result.updated == []
    assert result.removed == ["gone@example.test", "Stranger@Example.test", "postmaster"]
    assert result.after == "alice@example.test SHA512-CRYPT\nnew@example.test SHA512-CRYPT\n"

    # Without exclusive the unlisted users stay.
    result = pf.plan(old, specs, hasher)
    assert "Stranger@Example.test:{PLAIN}s\n" in result.new_text
    assert "postmaster:{PLAIN}p\n" in result.new_text
    assert result.removed == ["gone@example.test"]


def test_plan_exclusive_with_no_users_empties_file_but_keeps_comments(hasher):
    result = pf.plan("# header\na@example.test:{PLAIN}x\n", [], hasher, exclusive=True)
    assert result.new_text == "# header\n"
    assert result.removed == ["a@example.test"]


def test_plan_lowercases_matching_entry_without_touching_password(hasher):
    field = hasher.hash("ARGON2ID", PASSWORD)
    old = f"Alice@Example.TEST:{field}:1:2:g:/h:/s:x=y\n"
    result = pf.plan(old, specs_for({"name": "alice@example.test", "password": PASSWORD, "scheme": "ARGON2ID"}), hasher)
    assert result.new_text == f"alice@example.test:{field}:1:2:g:/h:/s:x=y\n"
    assert result.updated == ["alice@example.test"]
    assert result.before == "Alice@Example.TEST ARGON2ID\n"
    assert result.after == "alice@example.test ARGON2ID\n"  # not marked: the password did not change


def test_plan_duplicate_entries_in_file(hasher):
    field = hasher.hash("SHA512-CRYPT", PASSWORD)
    old = f"alice@example.test:{field}::::::\nbob@example.test:{{PLAIN}}b\nALICE@example.test:{{PLAIN}}dup\n"
    specs = specs_for({"name": "alice@example.test", "password": PASSWORD})
    result = pf.plan(old, specs, hasher)
    assert result.new_text == f"alice@example.test:{field}::::::\nbob@example.test:{{PLAIN}}b\n"
    assert result.updated == ["alice@example.test"]

    gone = pf.plan(old, specs_for({"name": "alice@example.test", "state": "absent"}), hasher)
    assert gone.new_text == "bob@example.test:{PLAIN}b\n"
    assert gone.removed == ["alice@example.test"]


def test_plan_counts(hasher):
    keep = hasher.hash("SHA512-CRYPT", PASSWORD)
    old = (
        "# header\n"
        f"alice@example.test:{keep}::::::\n"
        "Stranger@Example.test:{PLAIN}s\n"
        "stranger@example.test:{PLAIN}s2\n"  # the same user for Dovecot: counted once
        "bob@example.test:{PLAIN}b\n"
        "gone@example.test:{PLAIN}g\n"
    )
    specs = specs_for(
        {"name": "alice@example.test", "password": PASSWORD},
        {"name": "bob@example.test", "password": PASSWORD},
        {"name": "gone@example.test", "state": "absent"},
        {"name": "new@example.test", "password_hash": keep},
        {"name": "never@example.test", "state": "absent"},
    )
    result = pf.plan(old, specs, hasher)
    # alice and the unlisted stranger unchanged, bob updated, new added, gone removed.
    assert result.counts == {"added": 1, "updated": 1, "removed": 1, "unchanged": 2, "total": 4}

    result = pf.plan(old, specs, hasher, exclusive=True)
    assert result.counts == {"added": 1, "updated": 1, "removed": 3, "unchanged": 1, "total": 3}

    assert pf.plan(None, [], hasher).counts == {"added": 0, "updated": 0, "removed": 0, "unchanged": 0, "total": 0}


def test_plan_propagates_parse_errors(hasher):
    with pytest.raises(pf.PasswdFileError, match=r"^/x/users line 2: "):
        pf.plan("a@example.test:{PLAIN}x\nbroken\n", [], hasher, source="/x/users")


def test_plan_mixed_schemes_diff_never_contains_secrets(hasher):
    old = "".join(
        f"{name}:{hasher.hash(scheme, OTHER_PASSWORD)}::::::\n"
        for name, scheme in (("a@example.test", "SHA512-CRYPT"), ("b@example.test", "BLF-CRYPT"))
    )
    specs = specs_for(
        {"name": "a@example.test", "password": PASSWORD, "scheme": "ARGON2ID"},
        {"name": "b@example.test", "password": PASSWORD, "scheme": "BLF-CRYPT"},
        {"name": "c@example.test", "password": PASSWORD},
    )
    result = pf.plan(old, specs, hasher)
    assert result.before == "a@example.test SHA512-CRYPT\nb@example.test BLF-CRYPT\n"
    assert result.after == (
        "a@example.test ARGON2ID (password changed)\n"
        "b@example.test BLF-CRYPT (password changed)\n"
        "c@example.test SHA512-CRYPT\n"
    )
    assert_no_secrets(result.before, result.after, repr(specs))


# --------------------------------------------------------------------------
# mode / owner / group
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [None, "0640", "640", "0o640", "0600", 0o640, 416, "u=rw,g=r,o=", "u+rw,g-w", "a=r"])
def test_validate_mode_accepts(mode):
    pf.validate_mode(mode)


@pytest.mark.parametrize("mode", ["rw-r-----", "0999", "77777", -1, 0o10000, "u=rw;g=r", "", True, 1.5])
def test_validate_mode_rejects(mode):
    with pytest.raises(pf.PasswdFileError, match=r"^mode: .* is not a valid file mode"):
        pf.validate_mode(mode)


def test_validate_owner_group(current_ids):
    owner, group = current_ids
    pf.validate_owner_group(owner, group)
    pf.validate_owner_group("0", "0")
    pf.validate_owner_group(None, None)
    with pytest.raises(pf.PasswdFileError, match=r"^owner: user 'no-such-user-x9' does not exist"):
        pf.validate_owner_group("no-such-user-x9", group)
    with pytest.raises(pf.PasswdFileError, match=r"^group: group 'no-such-group-x9' does not exist"):
        pf.validate_owner_group(owner, "no-such-group-x9")
