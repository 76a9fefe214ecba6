# SPDX-License-Identifier: GPL-3.0-or-later
"""Read, validate, plan and render changes to a Dovecot passwd-file.

Everything here is plain Python that raises PasswdFileError and never writes
to the file system, so the mailops.authsmtp.sasl_user module can validate the
input and compute the complete new file content before it writes one byte,
and the logic is unit-testable without AnsibleModule.

Secrets policy: no error message, diff line or result produced here ever
contains a password, a password hash, or any part of a stored password field
other than its ``{SCHEME}`` prefix.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import pwd
import re
import traceback
import warnings

try:
    from passlib.exc import MissingBackendError
    from passlib.hash import argon2 as _argon2
    from passlib.hash import bcrypt as _bcrypt
    from passlib.hash import sha512_crypt as _sha512_crypt
except ImportError:
    HAS_PASSLIB = False
    PASSLIB_IMPORT_ERROR = traceback.format_exc()

    class MissingBackendError(Exception):
        """Stand-in so ``except MissingBackendError`` stays valid without passlib."""

else:
    HAS_PASSLIB = True
    PASSLIB_IMPORT_ERROR = None

# passlib 1.7.4 (Debian's python3-passlib) reads bcrypt.__about__.__version__,
# which bcrypt >= 4.1 no longer has. It traps the AttributeError but logs it
# with a traceback at WARNING level, which would land on the module's stderr.
# The backend works regardless, so only let real errors through.
logging.getLogger("passlib.handlers.bcrypt").setLevel(logging.ERROR)

SCHEMES = ("SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID")
STATES = ("present", "absent")

DEFAULT_SHA512_ROUNDS = 100000
DEFAULT_BCRYPT_COST = 12
DEFAULT_ARGON2_MEMORY_COST = 65536
DEFAULT_ARGON2_TIME_COST = 3

# user:password:uid:gid:gecos:home:shell:extra_fields
FIELD_COUNT = 8
# Dovecot joins everything after the 7th ':' back together as the extra
# fields (they may contain ':'), so never split further than that.
MAX_SPLIT = FIELD_COUNT - 1

# bcrypt only uses the first 72 bytes of a password; depending on the
# versions, passlib/bcrypt truncate silently or raise. Refuse up front.
BCRYPT_MAX_PASSWORD_BYTES = 72

_LOCAL_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = _LOCAL_ATOM + r"(?:\." + _LOCAL_ATOM + r")*"
_DOMAIN_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# The TLD is alphabetic, or an IDNA A-label (xn--...).
_TLD = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
# Names are checked for ASCII *before* they are lowercased and matched:
# str.lower() and re.IGNORECASE both map e.g. the Kelvin sign to ASCII 'k'.
_ADDRESS_RE = re.compile(r"(?P<local>" + _LOCAL_PART + r")@(?P<domain>(?:" + _DOMAIN_LABEL + r"\.)+" + _TLD + r")")
_MAX_LOCAL_LEN = 64
_MAX_DOMAIN_LEN = 253
_MAX_ADDRESS_LEN = 254

# A Dovecot scheme prefix at the start of a password field: {SCHEME}rest
_SCHEME_PREFIX_RE = re.compile(r"\{([A-Za-z0-9][A-Za-z0-9._-]{0,63})\}")

# Structure of precomputed hashes (the part after the {SCHEME} prefix) and the
# format shown when one is malformed. passlib then parses them to check what a
# regex cannot (rounds/cost/memory ranges, salt size, bcrypt padding bits).
_HASH_FORMATS = {
    "SHA512-CRYPT": (
        re.compile(r"\$6\$(?:rounds=[0-9]+\$)?[./0-9A-Za-z]{0,16}\$[./0-9A-Za-z]{86}"),
        "{SHA512-CRYPT}$6$[rounds=<N>$]<salt>$<86-character checksum>",
    ),
    "BLF-CRYPT": (
        re.compile(r"\$2[aby]\$[0-9]{2}\$[./0-9A-Za-z]{53}"),
        "{BLF-CRYPT}$2b$<cost>$<53 characters>, 60 characters after the prefix; $2a$ and $2y$ work too",
    ),
    "ARGON2ID": (
        # Unpadded base64: salt of at least 8 bytes, hash of at least 16 bytes
        # (the minimum libsodium, Dovecot's Argon2 backend, accepts).
        re.compile(r"\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{22,}"),
        "{ARGON2ID}$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>",
    ),
}

# What provides passlib's backend for each scheme.
_BACKEND_HINTS = {
    "SHA512-CRYPT": "a complete passlib installation",
    "BLF-CRYPT": "the Python 'bcrypt' package (Debian: python3-bcrypt)",
    "ARGON2ID": "the Python 'argon2-cffi' package (Debian: python3-argon2)",
}

NO_SCHEME_LABEL = "(no scheme)"


class PasswdFileError(Exception):
    """A validation or processing error whose message is safe to show."""


@contextlib.contextmanager
def _quiet_passlib():
    """Silence warnings from passlib and its backends while hashing/parsing.

    They are deprecation and security notices (e.g. about bcrypt salt padding
    bits) that only clutter the module's stderr.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _handler(scheme):
    return {"SHA512-CRYPT": _sha512_crypt, "BLF-CRYPT": _bcrypt, "ARGON2ID": _argon2}[scheme]


def _scheme_list():
    return ", ".join(SCHEMES)


# --------------------------------------------------------------------------
# Parsing and rendering the file
# --------------------------------------------------------------------------


class Line:
    """One line of the file.

    ``name`` is None for comments, blank lines and other lines Dovecot skips;
    those are only ever reproduced verbatim from ``raw``. Instances compare and
    hash by identity, which plan() relies on.
    """

    __slots__ = ("raw", "name", "password", "rest")

    def __init__(self, raw, name=None, password=None, rest=None):
        self.raw = raw
        self.name = name
        self.password = password
        self.rest = rest if rest is not None else []

    def __repr__(self):
        # Never show the password field (pytest failure output, tracebacks).
        return f"Line(name={self.name!r}, scheme={self.scheme!r})" if self.is_entry else "Line(<other>)"

    @property
    def is_entry(self):
        return self.name is not None

    @property
    def key(self):
        """Name used for matching: lowercase, like the names the module manages."""
        return self.name.lower()

    @property
    def scheme(self):
        return split_scheme(self.password)[0] if self.is_entry else None

    @classmethod
    def entry(cls, name, password, rest=None):
        """A new entry line in the full layout name:password:uid:gid:gecos:home:shell:extra."""
        rest = list(rest or [])
        rest += [""] * (FIELD_COUNT - 2 - len(rest))
        return cls(":".join([name, password, *rest]), name, password, rest)


def split_scheme(password_field):
    """Return (SCHEME, rest) of a password field; SCHEME is None without a prefix."""
    match = _SCHEME_PREFIX_RE.match(password_field or "")
    if not match:
        return None, password_field
    return match.group(1).upper(), password_field[match.end() :]


def parse(text, source="passwd-file"):
    """Parse passwd-file content into a list of Line objects.

    Entries have 2 to 8 ':'-separated fields (the 8th, extra_fields, may itself
    contain ':'). Comment lines (#), blank lines and lines starting with ':'
    (no user name, Dovecot ignores them) are kept verbatim.
    """
    if text.endswith("\n"):
        text = text[:-1]
    if text == "":
        return []
    lines = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.strip() == "" or raw.startswith(("#", ":")):
            lines.append(Line(raw))
            continue
        fields = raw.split(":", MAX_SPLIT)
        if len(fields) < 2:
            # Never echo the line: it might hold a password.
            raise PasswdFileError(
                f"{source} line {number}: expected 'name:password' and up to 6 more ':'-separated fields, "
                "but the line has no ':'; fix or comment out that line"
            )
        lines.append(Line(raw, fields[0], fields[1], fields[2:]))
    return lines


def render(lines):
    """Render lines back to file content (newline-terminated)."""
    return "".join(line.raw + "\n" for line in lines)


def summarize(lines, password_changed=()):
    """Diff text: one 'name SCHEME' line per entry in file order, never a hash.

    Lines in ``password_changed`` get a ' (password changed)' mark.
    """
    out = []
    for line in lines:
        if line.is_entry:
            mark = " (password changed)" if line in password_changed else ""
            out.append(f"{line.name} {line.scheme or NO_SCHEME_LABEL}{mark}\n")
    return "".join(out)


# --------------------------------------------------------------------------
# Validation of the module's input
# --------------------------------------------------------------------------


def normalize_login(name, label):
    """Validate a login address and return it lowercased.

    ``label`` names the option in messages, e.g. 'users[2].name'.
    """
    if not isinstance(name, str) or name == "":
        raise PasswdFileError(f"{label}: a non-empty login address (local@domain) is required")
    lowered = name.lower()
    match = _ADDRESS_RE.fullmatch(lowered) if name.isascii() else None
    if (
        match is None
        or len(match.group("local")) > _MAX_LOCAL_LEN
        or len(match.group("domain")) > _MAX_DOMAIN_LEN
        or len(lowered) > _MAX_ADDRESS_LEN
    ):
        raise PasswdFileError(
            f"{label}: {name!r} is not a valid login address (local@domain); use an ASCII address such as "
            "user@example.com without spaces or ':' (internationalised domains in xn-- form)"
        )
    return lowered


def _check_scheme(scheme, label):
    if scheme not in SCHEMES:
        raise PasswdFileError(f"{label}: unknown scheme {scheme!r}; valid choices are {_scheme_list()}")
    return scheme


def normalize_password_hash(value, label):
    """Validate a Dovecot-style '{SCHEME}hash' string.

    Returns (SCHEME, value with the prefix in uppercase). The hash itself
    never appears in messages.
    """
    if not isinstance(value, str) or value == "":
        raise PasswdFileError(f"{label}: must be a non-empty '{{SCHEME}}hash' string")
    scheme, rest = split_scheme(value)
    if scheme is None:
        raise PasswdFileError(
            f"{label}: must be a Dovecot-style '{{SCHEME}}hash' string with SCHEME one of {_scheme_list()}, "
            "for example the output of 'doveadm pw -s SHA512-CRYPT'"
        )
    if scheme not in SCHEMES:
        raise PasswdFileError(f"{label}: scheme {{{scheme}}} is not supported; use one of {_scheme_list()}")
    pattern, expected = _HASH_FORMATS[scheme]
    well_formed = pattern.fullmatch(rest) is not None
    if well_formed:
        handler = _handler(scheme)
        try:
            with _quiet_passlib():
                parsed = handler.from_string(rest) if handler.identify(rest) else None
            # passlib's argon2 handler parses all variants; only argon2id is ARGON2ID.
            well_formed = parsed is not None and (scheme != "ARGON2ID" or parsed.type == "id")
        except (ValueError, TypeError):
            well_formed = False
    if not well_formed:
        raise PasswdFileError(f"{label}: not a well-formed {scheme} hash (expected {expected})")
    return scheme, f"{{{scheme}}}{rest}"


class UserSpec:
    """A validated entry of the module's ``users`` option."""

    __slots__ = ("index", "name", "state", "scheme", "password", "password_hash", "send_as")

    def __init__(self, index, name, state, scheme=None, password=None, password_hash=None, send_as=()):
        self.index = index
        self.name = name
        self.state = state
        self.scheme = scheme
        self.password = password
        self.password_hash = password_hash
        # Extra envelope senders, lowercased, sorted and unique (stored by the postgresql backend only).
        self.send_as = send_as

    def __repr__(self):
        # Keep secrets out of reprs (pytest failure output, tracebacks).
        return f"UserSpec(index={self.index}, name={self.name!r}, state={self.state!r}, scheme={self.scheme!r})"


def validate_users(users, default_scheme="SHA512-CRYPT"):
    """Validate the ``users`` option and return a list of UserSpec."""
    _check_scheme(default_scheme, "scheme")
    if not isinstance(users, list):
        raise PasswdFileError("users: must be a list of dicts")
    seen = {}
    specs = []
    for index, user in enumerate(users):
        prefix = f"users[{index}]"
        if not isinstance(user, dict):
            raise PasswdFileError(f"{prefix}: must be a dict with at least a 'name' key")
        name = normalize_login(user.get("name"), f"{prefix}.name")
        if name in seen:
            raise PasswdFileError(
                f"{prefix}.name: {name!r} is listed twice (also users[{seen[name]}]); list each login address once"
            )
        seen[name] = index

        state = user.get("state") or "present"
        if state not in STATES:
            raise PasswdFileError(f"{prefix}.state: {state!r} is not valid; use one of {', '.join(STATES)}")
        user_scheme = user.get("scheme")
        if user_scheme is not None:
            _check_scheme(user_scheme, f"{prefix}.scheme")
        if state == "absent":
            # password/password_hash do not matter for removal and are ignored.
            specs.append(UserSpec(index, name, state))
            continue
        send_as = _normalize_send_as(user.get("send_as"), f"{prefix}.send_as")

        password = user.get("password")
        password_hash = user.get("password_hash")
        if password is not None and password_hash is not None:
            raise PasswdFileError(
                f"{prefix}: 'password' and 'password_hash' are mutually exclusive ({name!r}); set only one of them"
            )
        if password is None and password_hash is None:
            raise PasswdFileError(
                f"{prefix}: {name!r} has state=present but neither 'password' nor 'password_hash'; "
                "set one of them or use state=absent"
            )
        if password_hash is not None:
            hash_scheme, password_hash = normalize_password_hash(password_hash, f"{prefix}.password_hash")
            if user_scheme is not None and user_scheme != hash_scheme:
                raise PasswdFileError(
                    f"{prefix}.scheme: {user_scheme} does not match the {{{hash_scheme}}} prefix of password_hash "
                    f"for {name!r}; drop 'scheme' or make them agree"
                )
            specs.append(UserSpec(index, name, state, hash_scheme, password_hash=password_hash, send_as=send_as))
            continue

        scheme = user_scheme or default_scheme
        if not isinstance(password, str) or password == "":
            raise PasswdFileError(
                f"{prefix}.password: empty password for {name!r}; set a non-empty password or use state=absent"
            )
        if "\0" in password:
            raise PasswdFileError(
                f"{prefix}.password: the password for {name!r} contains a NUL character, which crypt-style "
                "schemes cannot hash and SASL clients cannot send"
            )
        if scheme == "BLF-CRYPT" and len(password.encode("utf-8")) > BCRYPT_MAX_PASSWORD_BYTES:
            raise PasswdFileError(
                f"{prefix}.password: the password for {name!r} is longer than {BCRYPT_MAX_PASSWORD_BYTES} bytes, "
                "which BLF-CRYPT (bcrypt) cannot hash; use a shorter password or SHA512-CRYPT or ARGON2ID"
            )
        specs.append(UserSpec(index, name, state, scheme, password=password, send_as=send_as))
    return specs


def _normalize_send_as(value, label):
    """Validate a user's ``send_as`` list; return its addresses lowercased, unique and sorted, as a tuple."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PasswdFileError(f"{label}: must be a list of addresses (local@domain)")
    return tuple(sorted({normalize_login(address, f"{label}[{i}]") for i, address in enumerate(value)}))


def change_counts(added, updated, removed, total):
    """The counts a run reports, for either store: every user left in it was added, updated or left as it
    was, so ``unchanged`` also counts the users the module was not asked about."""
    return dict(added=added, updated=updated, removed=removed, unchanged=total - added - updated, total=total)


def wanted_field(spec, stored, hasher):
    """The ``{SCHEME}hash`` field to store for the present user ``spec``, or None when ``stored`` is right.

    ``stored`` is the stored password field, None for a new user. A
    precomputed hash is compared as text (the stored prefix uppercased, as
    in the wanted value); a plaintext password is verified against the
    stored hash first and hashed only when it does not match, so a run with
    unchanged passwords never rewrites a hash. This is the one place of that
    rule for every store.
    """
    if spec.password_hash is not None:
        if stored is None:
            return spec.password_hash
        scheme, rest = split_scheme(stored)
        return None if (f"{{{scheme}}}{rest}" if scheme else stored) == spec.password_hash else spec.password_hash
    if stored is not None and hasher.verify(spec.scheme, spec.password, stored):
        return None
    return hasher.hash(spec.scheme, spec.password)


# --------------------------------------------------------------------------
# Hashing and verifying
# --------------------------------------------------------------------------


def _check_int(value, name, minimum, maximum):
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise PasswdFileError(f"{name}: must be an integer from {minimum} to {maximum}, got {value!r}")
    return value


class Hasher:
    """Hash and verify passwords with passlib, using Dovecot's scheme names.

    Only APIs present in both passlib 1.7.4 (Debian's python3-passlib) and
    libpass 1.9 are used. The cost parameters only apply to new hashes;
    verification works with whatever parameters a stored hash was made with.
    """

    def __init__(
        self,
        sha512_rounds=DEFAULT_SHA512_ROUNDS,
        bcrypt_cost=DEFAULT_BCRYPT_COST,
        argon2_memory_cost=DEFAULT_ARGON2_MEMORY_COST,
        argon2_time_cost=DEFAULT_ARGON2_TIME_COST,
    ):
        if not HAS_PASSLIB:
            raise PasswdFileError("passlib (or its fork libpass) is required to hash and verify passwords")
        self.sha512_rounds = _check_int(sha512_rounds, "sha512_rounds", 1000, 999999999)
        self.bcrypt_cost = _check_int(bcrypt_cost, "bcrypt_cost", 4, 31)
        # argon2 needs at least 8 KiB per lane, and new hashes use one lane.
        self.argon2_memory_cost = _check_int(argon2_memory_cost, "argon2_memory_cost", 8, 2**32 - 1)
        self.argon2_time_cost = _check_int(argon2_time_cost, "argon2_time_cost", 1, 2**32 - 1)

    def _configured(self, scheme):
        if scheme == "SHA512-CRYPT":
            return _sha512_crypt.using(rounds=self.sha512_rounds)
        if scheme == "BLF-CRYPT":
            # passlib's default $2b$ is accepted by Dovecot (libxcrypt / OpenBSD bcrypt).
            return _bcrypt.using(rounds=self.bcrypt_cost, ident="2b")
        # One lane, as 'doveadm pw -s ARGON2ID' (libsodium) makes them; passlib would default to 4.
        return _argon2.using(
            type="ID", memory_cost=self.argon2_memory_cost, time_cost=self.argon2_time_cost, parallelism=1
        )

    def hash(self, scheme, password):
        """Return the Dovecot password field '{SCHEME}hash' for a plaintext password."""
        try:
            with _quiet_passlib():
                digest = self._configured(scheme).hash(password)
        except MissingBackendError as exc:
            raise PasswdFileError(
                f"cannot compute {scheme} hashes: passlib has no backend for them; install "
                f"{_BACKEND_HINTS[scheme]} ({exc})"
            ) from None
        except Exception as exc:
            # Backend incompatibilities (e.g. passlib 1.7.4 with bcrypt >= 5)
            # end up here. passlib's messages do not contain the secret.
            raise PasswdFileError(
                f"cannot compute {scheme} hashes with the installed passlib: {type(exc).__name__}: {exc}"
            ) from None
        return f"{{{scheme}}}{digest}"

    def verify(self, scheme, password, stored_field):
        """True if the password field ``stored_field`` is a ``scheme`` hash of ``password``.

        A stored hash of another scheme, or one passlib cannot parse, does not
        verify (the caller then rehashes).
        """
        stored_scheme, digest = split_scheme(stored_field)
        if stored_scheme != scheme:
            return False
        try:
            with _quiet_passlib():
                return bool(_handler(scheme).verify(password, digest))
        except MissingBackendError as exc:
            raise PasswdFileError(
                f"cannot verify {scheme} hashes: passlib has no backend for them; install "
                f"{_BACKEND_HINTS[scheme]} ({exc})"
            ) from None
        except (ValueError, TypeError):
            return False


# --------------------------------------------------------------------------
# Planning the change
# --------------------------------------------------------------------------


class Plan:
    """Outcome of plan(): the new content, what changed, and the diff texts.

    ``total`` is the number of users in the new content: distinct names,
    compared case-insensitively like Dovecot's default lookup does.
    """

    def __init__(self, old_text, new_text, added, updated, removed, before, after, total):
        self.old_text = old_text
        self.new_text = new_text
        self.added = added
        self.updated = updated
        self.removed = removed
        self.before = before
        self.after = after
        self.total = total

    @property
    def changed(self):
        return self.old_text != self.new_text

    @property
    def counts(self):
        """Numbers of users added, updated, removed and left as they were, and the total afterwards."""
        return change_counts(len(self.added), len(self.updated), len(self.removed), self.total)


def plan(old_text, specs, hasher, exclusive=False, source="passwd-file"):
    """Compute the new file content for the validated ``specs``.

    File entries are matched case-insensitively and a matched entry is
    rewritten with the lowercase name. Dovecot uses the first line of a user
    name, so that one is updated and later duplicate lines of a managed user
    are removed. Rewritten entries keep their other fields (uid, gid, gecos,
    home, shell, extra fields); new entries are appended.
    Raises PasswdFileError on any problem; nothing is written here.
    """
    old_text = old_text or ""
    lines = parse(old_text, source)
    by_key = {}
    for line in lines:
        if line.is_entry:
            by_key.setdefault(line.key, []).append(line)

    dropped = set()  # old Lines to remove
    replaced = {}  # old Line -> new Line
    appended = []  # new Lines for new users
    password_changed = set()  # new Lines whose password field changed
    added, updated, removed = [], [], []

    for spec in specs:
        existing = by_key.get(spec.name, [])
        if spec.state == "absent":
            if existing:
                dropped.update(existing)
                removed.append(spec.name)
            continue

        if not existing:
            appended.append(Line.entry(spec.name, wanted_field(spec, None, hasher)))
            added.append(spec.name)
            continue

        first, duplicates = existing[0], existing[1:]
        wanted = wanted_field(spec, first.password, hasher)
        needs_password = wanted is not None
        renamed = first.name != spec.name
        if needs_password or renamed:
            new_line = Line.entry(spec.name, wanted if needs_password else first.password, first.rest)
            replaced[first] = new_line
            if needs_password:
                password_changed.add(new_line)
        dropped.update(duplicates)
        if needs_password or renamed or duplicates:
            updated.append(spec.name)

    if exclusive:
        listed = {spec.name for spec in specs}
        for line in lines:
            if line.is_entry and line.key not in listed and line not in dropped:
                dropped.add(line)
                if line.name not in removed:
                    removed.append(line.name)

    result = [replaced.get(line, line) for line in lines if line not in dropped] + appended
    # Without any change keep the content byte for byte, even a missing final newline.
    new_text = render(result) if (added or updated or removed) else old_text
    return Plan(
        old_text=old_text,
        new_text=new_text,
        added=added,
        updated=updated,
        removed=removed,
        before=summarize(lines),
        after=summarize(result, password_changed),
        total=len({line.key for line in result if line.is_entry}),
    )


# --------------------------------------------------------------------------
# File attribute options (checked up front so a bad value never fails halfway)
# --------------------------------------------------------------------------

# Grammar of AnsibleModule's symbolic modes, one clause per ','.
_SYMBOLIC_MODE_CLAUSE_RE = re.compile(r"[ugoa]*(?:[-+=][rwxXstugo]*)+")


def validate_mode(mode):
    """Check that ``mode`` is something AnsibleModule.set_mode_if_different accepts."""
    if mode is None:
        return
    if isinstance(mode, int) and not isinstance(mode, bool):
        if 0 <= mode <= 0o7777:
            return
    elif isinstance(mode, str):
        try:
            if 0 <= int(mode, 8) <= 0o7777:
                return
        except ValueError:
            if all(_SYMBOLIC_MODE_CLAUSE_RE.fullmatch(clause) for clause in mode.split(",")):
                return
    raise PasswdFileError(
        f"mode: {mode!r} is not a valid file mode; use a quoted octal string such as '0640' "
        "or a symbolic mode such as 'u=rw,g=r,o='"
    )


def validate_owner_group(owner, group):
    """Check that owner and group exist on this host (numeric ids are taken as they are)."""
    if owner is not None and not str(owner).isdigit():
        try:
            pwd.getpwnam(owner)
        except KeyError:
            raise PasswdFileError(
                f"owner: user {owner!r} does not exist on this host; create it or set 'owner'"
            ) from None
    if group is not None and not str(group).isdigit():
        try:
            grp.getgrnam(group)
        except KeyError:
            raise PasswdFileError(
                f"group: group {group!r} does not exist on this host; install Dovecot first (its package "
                "creates the 'dovecot' group) or set 'group'"
            ) from None
