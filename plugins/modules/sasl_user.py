#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sasl_user
short_description: Manage SMTP AUTH users in a Dovecot passwd-file
description:
  - Adds, updates and removes users in the passwd-file that Dovecot's auth service reads, and that Postfix uses
    for SMTP AUTH through Dovecot SASL.
  - New users are appended as C(name:{SCHEME}hash::::::), that is the user name, the password field and six empty
    fields (uid, gid, gecos, home, shell, extra fields).
  - Existing lines keep their position. Comments, blank lines, and the uid/gid/gecos/home/shell/extra fields of
    existing entries are preserved, also when the password of an entry is rewritten.
  - User names are login addresses (C(local@domain)). They are stored in lowercase and matched case-insensitively,
    which fits Dovecot's default C(auth_username_format) that lowercases the login name before the lookup.
    An entry found in the file with different case is rewritten in lowercase.
  - If a user name appears on several lines, Dovecot uses the first one; the module updates that line and removes
    the later duplicates of users it manages.
  - All input is validated before the file is touched. If anything is wrong, the module fails and leaves the file
    byte-for-byte unchanged. Passwords and hashes never appear in messages, results or diffs.
  - The file is replaced atomically (temporary file in the same directory, then rename).
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff lists one line per user in file order as C(name SCHEME), and marks rewritten password hashes with
        C((password changed)). It never contains passwords or hashes.
  platform:
    support: full
    platforms: posix
options:
  path:
    description:
      - Path of the passwd-file. It is created if it does not exist; its directory must exist.
      - If it is a symbolic link, the file it points to is updated.
    type: path
    default: /etc/dovecot/users
  users:
    description:
      - The users to manage.
      - Users not listed here are left alone, unless O(exclusive=true).
      - An empty list together with O(exclusive=true) removes all users.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Login address of the user, C(local@domain).
          - Converted to lowercase. Must be ASCII without spaces or C(:); internationalised domains must be given
            in their C(xn--) form.
          - Each name may appear only once in O(users) (compared case-insensitively).
        type: str
        required: true
      password:
        description:
          - Plaintext password. It is hashed with the user's scheme (O(users[].scheme), else O(scheme)).
          - If the stored hash already has that scheme and matches this password, the entry is left as it is,
            even if it was made with different cost parameters.
          - Mutually exclusive with O(users[].password_hash). One of them is required when
            O(users[].state=present). Ignored when O(users[].state=absent).
          - Must not be empty. With C(BLF-CRYPT) it may be at most 72 bytes long.
        type: str
      password_hash:
        description:
          - Precomputed hash in Dovecot's C({SCHEME}hash) form, for example the output of
            C(doveadm pw -s SHA512-CRYPT).
          - The scheme must be C(SHA512-CRYPT) (C($6$) crypt hash), C(BLF-CRYPT) (C($2a$), C($2b$) or C($2y$)
            bcrypt hash) or C(ARGON2ID) (C($argon2id$v=19$...) hash), and the hash must be well-formed.
          - The entry is rewritten only if the stored password field differs from this value.
          - Mutually exclusive with O(users[].password).
        type: str
      scheme:
        description:
          - Scheme for this user's O(users[].password); overrides O(scheme).
          - One of C(SHA512-CRYPT), C(BLF-CRYPT) or C(ARGON2ID).
          - If given together with O(users[].password_hash), it must match the hash's scheme.
        type: str
      state:
        description:
          - Whether the user should be in the file.
        type: str
        choices: [present, absent]
        default: present
  scheme:
    description:
      - Default password scheme for plaintext O(users[].password) values.
      - Changing it rehashes every plaintext-managed user with a different stored scheme on the next run.
    type: str
    choices: [SHA512-CRYPT, BLF-CRYPT, ARGON2ID]
    default: SHA512-CRYPT
  exclusive:
    description:
      - If V(true), remove every user from the file that is not listed in O(users).
      - Comment and blank lines are kept.
    type: bool
    default: false
  owner:
    description:
      - Owner of the file (name or numeric id).
    type: str
    default: root
  group:
    description:
      - Group of the file (name or numeric id). Dovecot's auth process must be able to read the file.
      - The group must exist, so install Dovecot before using the default.
    type: str
    default: dovecot
  mode:
    description:
      - Permissions of the file, as a quoted octal string such as V('0640') or a symbolic mode.
      - The default lets the group read the file and denies access to others.
    type: raw
    default: '0640'
  backup:
    description:
      - Create a timestamped backup copy of the file before changing its content.
    type: bool
    default: false
  sha512_rounds:
    description:
      - Rounds for new C(SHA512-CRYPT) hashes (1000 to 999999999).
      - Only applied when a hash is computed (new user, changed password or scheme); existing hashes with other
        rounds are not rehashed. Higher values slow down every SMTP AUTH login.
    type: int
    default: 100000
  bcrypt_cost:
    description:
      - Cost factor (log2 of the rounds) for new C(BLF-CRYPT) hashes (4 to 31).
      - Only applied when a hash is computed.
    type: int
    default: 12
  argon2_memory_cost:
    description:
      - Memory in KiB for new C(ARGON2ID) hashes (at least 8).
      - Only applied when a hash is computed. The parallelism of new hashes is always 1, like Dovecot's own
        C(doveadm pw -s ARGON2ID).
    type: int
    default: 65536
  argon2_time_cost:
    description:
      - Number of passes for new C(ARGON2ID) hashes (at least 1).
      - Only applied when a hash is computed.
    type: int
    default: 3
requirements:
  - passlib >= 1.7.4 (Debian package C(python3-passlib)) or libpass >= 1.9
  - bcrypt, for C(BLF-CRYPT) (Debian package C(python3-bcrypt))
  - argon2-cffi, for C(ARGON2ID) (Debian package C(python3-argon2))
notes:
  - Verifying a plaintext password costs one hash computation per user and run, with the parameters of the
    stored hash.
seealso:
  - name: Dovecot passwd-file
    description: Format of the passwd-file.
    link: https://doc.dovecot.org/configuration_manual/authentication/passwd_file/
  - name: Dovecot password schemes
    description: The schemes Dovecot understands.
    link: https://doc.dovecot.org/configuration_manual/authentication/password_schemes/
author:
  - mailops.authsmtp maintainers (@mailops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Ensure SMTP AUTH users exist
  mailops.authsmtp.sasl_user:
    users:
      - name: alice@example.com
        password: "{{ vault_smtp_password_alice }}"
      - name: bob@example.com
        password: "{{ vault_smtp_password_bob }}"
        scheme: ARGON2ID
      - name: relay@example.com
        # e.g. the output of: doveadm pw -s SHA512-CRYPT
        password_hash: "{{ vault_smtp_password_hash_relay }}"
      - name: former@example.com
        state: absent
  no_log: true

- name: Make the file contain exactly these users, hashing with bcrypt
  mailops.authsmtp.sasl_user:
    path: /etc/dovecot/users
    scheme: BLF-CRYPT
    bcrypt_cost: 11
    exclusive: true
    backup: true
    users: "{{ smtp_users }}"
  no_log: true
"""

RETURN = r"""
users_added:
  description: Names of the users that were (or in check mode would be) added.
  returned: always
  type: list
  elements: str
  sample: [alice@example.com]
users_updated:
  description:
    - Names of the users whose entry was (or would be) rewritten, because the password or scheme changed, the
      stored name was not lowercase, or duplicate lines were removed.
  returned: always
  type: list
  elements: str
  sample: [bob@example.com]
users_removed:
  description: Names of the users that were (or would be) removed, by O(users[].state=absent) or O(exclusive).
  returned: always
  type: list
  elements: str
  sample: [former@example.com]
backup_file:
  description: Name of the backup file.
  returned: when O(backup=true) and the content of an existing file changed
  type: str
  sample: /etc/dovecot/users.2051.2025-01-31@12:00:00~
diff:
  description:
    - In diff mode, C(before) and C(after) texts with one line per user in file order, C(name SCHEME), where
      C(after) marks rewritten hashes with C((password changed)).
    - If owner, group or mode of an existing file also change, a list of two such dicts is returned; the second
      one describes the file attributes.
  returned: when diff mode is enabled
  type: raw
  sample:
    before: "alice@example.com SHA512-CRYPT\n"
    after: "alice@example.com SHA512-CRYPT (password changed)\nbob@example.com ARGON2ID\n"
    before_header: /etc/dovecot/users
    after_header: /etc/dovecot/users
"""

# Ansible modules keep their documentation first, hence the late imports.
import contextlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Mapping  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible.module_utils.common.parameters import remove_values  # noqa: E402
from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402
from ansible.module_utils.common.warnings import get_deprecations, get_warnings  # noqa: E402
from ansible_collections.mailops.authsmtp.plugins.module_utils.passwd_file import (  # noqa: E402
    DEFAULT_ARGON2_MEMORY_COST,
    DEFAULT_ARGON2_TIME_COST,
    DEFAULT_BCRYPT_COST,
    DEFAULT_SHA512_ROUNDS,
    HAS_PASSLIB,
    PASSLIB_IMPORT_ERROR,
    SCHEMES,
    Hasher,
    PasswdFileError,
    SecretScanner,
    plan,
    validate_mode,
    validate_owner_group,
    validate_users,
)


def argument_spec():
    return dict(
        path=dict(type="path", default="/etc/dovecot/users"),
        users=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                name=dict(type="str", required=True),
                password=dict(type="str", no_log=True),
                password_hash=dict(type="str", no_log=True),
                # Validated by passwd_file.validate_users, which names the user in its message.
                scheme=dict(type="str"),
                state=dict(type="str", default="present", choices=["present", "absent"]),
            ),
        ),
        scheme=dict(type="str", default="SHA512-CRYPT", choices=list(SCHEMES)),
        exclusive=dict(type="bool", default=False),
        owner=dict(type="str", default="root"),
        group=dict(type="str", default="dovecot"),
        mode=dict(type="raw", default="0640"),
        backup=dict(type="bool", default=False),
        sha512_rounds=dict(type="int", default=DEFAULT_SHA512_ROUNDS),
        bcrypt_cost=dict(type="int", default=DEFAULT_BCRYPT_COST),
        argon2_memory_cost=dict(type="int", default=DEFAULT_ARGON2_MEMORY_COST),
        argon2_time_cost=dict(type="int", default=DEFAULT_ARGON2_TIME_COST),
    )


# What Ansible's remove_values() puts in place of a string that equals a no_log value.
NO_LOG_PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def masked_params(spec, params):
    """Copy of ``params`` where the value of every no_log option, also of suboptions, is the placeholder.

    This is the echo of the module arguments that AnsibleModule returns as
    ``invocation.module_args``, with the no_log values already replaced the way
    its remove_values() would replace them (our no_log options are strings).
    """
    if not isinstance(params, Mapping):
        return params
    masked = {}
    for key, value in params.items():
        options = spec.get(key) if isinstance(spec, Mapping) else None
        if not isinstance(options, Mapping):
            options = {}
        suboptions = options.get("options")
        if options.get("no_log") and value:
            # Like remove_values: empty values are not no_log values and stay as they are.
            masked[key] = NO_LOG_PLACEHOLDER
        elif suboptions and isinstance(value, list):
            masked[key] = [masked_params(suboptions, item) for item in value]
        elif suboptions:
            masked[key] = masked_params(suboptions, value)
        else:
            masked[key] = value
    return masked


class SaslUserModule(AnsibleModule):
    """AnsibleModule whose exit_json() and fail_json() take time linear in the number of users.

    Why: before it prints a result, AnsibleModule masks every no_log value in
    it, ``remove_values(result, self.no_log_values)``, which calls
    ``str.replace`` once per no_log value for every string of the result. Every
    user adds a no_log value (its password or password_hash) and also strings:
    its entry in the echoed ``invocation.module_args.users``, its name in
    users_added/users_updated/users_removed and its line in the diff texts.
    With 10,000 users that is 10,000 no_log values times some 30,000 strings,
    7 s of a run that otherwise takes about half a second.

    What changes is the cost of that protection, not the protection:

    1. The result gets its ``invocation`` from masked_params(): the same echo
       of the module arguments Ansible would add, with every password and hash
       already replaced by the placeholder that remove_values() would put there.
    2. passwd_file.SecretScanner finds, exactly and in linear time, which no_log
       values occur anywhere in the result, and in the warnings, deprecations
       and the traceback that exit_json() and fail_json() may still add.
       Normally there are none: the result holds login names, schemes, paths
       and fixed texts, and passwd_file never puts a password or hash into it.
    3. Only the values found stay in ``no_log_values`` while AnsibleModule's own
       exit_json()/fail_json() run; its remove_values() masks them as always.
       A no_log value that occurs nowhere in the output has nothing to mask, so
       leaving it out changes nothing. The set is checked: if masking the
       values found would still leave a no_log value in the output (conceivable
       only for values made of the '*' that masking inserts), the full set is
       used, as is for a result that AnsibleModule would extend with data not
       searched here (a ``path`` key adds the file's stat data; an exception
       object).

    So everything printed has still passed AnsibleModule's own remove_values(),
    either with the no_log values that occur in it (checked to leave none of
    them behind) or with all of them: no password or hash appears in the
    output, also not at -vvv. No protection is switched off; only the values
    that cannot match are not tried.
    """

    def _no_log_values_in(self, result, extra):
        """The no_log values that exit_json()/fail_json() have to mask in ``result``."""
        everything = self.no_log_values
        if not everything or "path" in result or any(isinstance(v, BaseException) for v in result.values()):
            return everything
        scanner = SecretScanner(everything)
        # What exit_json()/fail_json() add to the result before they mask it.
        extra = [get_warnings(), get_deprecations(), *extra]
        found = scanner.find(result, *extra)
        if found:
            try:
                leftover = scanner.find(remove_values([result, extra], found))
            except TypeError:  # a type that remove_values() does not know: leave it to AnsibleModule
                return everything
            if leftover:
                return everything
        return found

    @contextlib.contextmanager
    def _masking_only_what_occurs(self, result, extra=()):
        """Add the masked ``invocation`` to ``result``; mask only the no_log values found in it meanwhile."""
        everything = getattr(self, "no_log_values", None)
        params = getattr(self, "params", None)
        if not everything or params is None:  # nothing to mask, or a failure early in __init__
            yield
            return
        result.setdefault("invocation", {"module_args": masked_params(self.argument_spec, params)})
        self.no_log_values = self._no_log_values_in(result, extra)
        try:
            yield
        finally:
            self.no_log_values = everything

    def exit_json(self, **kwargs):
        with self._masking_only_what_occurs(kwargs):
            super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        extra = [msg]
        current = sys.exc_info()[1]
        if "exception" not in kwargs and current is not None:
            # fail_json() may attach the traceback of the exception being handled
            # (with tracebacks enabled, or at -vvv before ansible-core 2.19); search it.
            extra.append("".join(traceback.format_exception(type(current), current, current.__traceback__)))
        with self._masking_only_what_occurs(kwargs, extra):
            super().fail_json(msg, **kwargs)


def read_file(module, path):
    """Return the file's text, or None if it does not exist."""
    b_path = to_bytes(path, errors="surrogate_or_strict")
    if not os.path.exists(b_path):
        return None
    if not os.path.isfile(b_path):
        module.fail_json(msg=f"path: {path} exists but is not a regular file")
    try:
        with open(b_path, "rb") as f:
            data = f.read()
    except OSError as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}")
    # surrogateescape lets bytes that are not UTF-8 (e.g. in comments) round-trip unchanged.
    return data.decode("utf-8", errors="surrogateescape")


def write_file(module, path, text, file_args):
    """Atomically replace ``path`` with ``text`` and apply owner/group/mode."""
    directory = os.path.dirname(path) or "."
    try:
        fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as exc:
        module.fail_json(msg=f"cannot create a temporary file in {directory}: {exc}")
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(text.encode("utf-8", errors="surrogateescape"))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            module.fail_json(msg=f"cannot write the new content of {path}: {exc}")
        # The temp file gets the final attributes before it replaces the file,
        # so the new content is never visible with wrong permissions.
        module.set_fs_attributes_if_different(dict(file_args, path=tmp_path), False)

        # When it creates the file, atomic_move chmods it to 0666 & ~umask;
        # a strict umask keeps the hashes unreadable for others until the
        # attributes are applied again below.
        old_umask = os.umask(0o077)
        try:
            # keep_dest_attrs=False: keep the temp file's attributes instead of
            # copying the old file's (ansible-core >= 2.17).
            module.atomic_move(tmp_path, path, keep_dest_attrs=False)
        except Exception as exc:
            module.fail_json(msg=f"cannot replace {path}: {exc}")
        finally:
            os.umask(old_umask)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
    # Needed after creating the file (see above); a no-op otherwise.
    module.set_fs_attributes_if_different(file_args, False)


def main():
    module = SaslUserModule(argument_spec=argument_spec(), supports_check_mode=True)

    if not HAS_PASSLIB:
        module.fail_json(
            msg=missing_required_lib(
                "passlib",
                reason="to hash and verify Dovecot passwords (Debian: python3-passlib; or pip install libpass)",
            ),
            exception=PASSLIB_IMPORT_ERROR,
        )

    params = module.params
    path = params["path"]
    if os.path.islink(path):
        # Update the link's target; atomic_move would replace the link itself.
        path = os.path.realpath(path)

    # Validate everything and compute the new content before touching the file.
    try:
        validate_mode(params["mode"])
        validate_owner_group(params["owner"], params["group"])
        hasher = Hasher(
            sha512_rounds=params["sha512_rounds"],
            bcrypt_cost=params["bcrypt_cost"],
            argon2_memory_cost=params["argon2_memory_cost"],
            argon2_time_cost=params["argon2_time_cost"],
        )
        specs = validate_users(params["users"], params["scheme"])
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            raise PasswdFileError(
                f"path: directory {directory} does not exist; install Dovecot first or choose another path"
            )
        old_text = read_file(module, path)
        result_plan = plan(old_text, specs, hasher, exclusive=params["exclusive"], source=path)
    except PasswdFileError as exc:
        module.fail_json(msg=str(exc))

    exists = old_text is not None
    result = dict(
        changed=False,
        users_added=result_plan.added,
        users_updated=result_plan.updated,
        users_removed=result_plan.removed,
    )
    file_args = module.load_file_common_arguments(params)

    # Fix owner/group/mode of an existing file first: in check mode this only
    # reports, and otherwise new content never lands in a file that is too open.
    attr_diff = {}
    if exists:
        result["changed"] = module.set_fs_attributes_if_different(file_args, False, diff=attr_diff)

    if result_plan.changed or not exists:
        result["changed"] = True
        if not module.check_mode:
            if params["backup"] and exists:
                try:
                    result["backup_file"] = module.backup_local(path)
                except Exception as exc:
                    module.fail_json(msg=f"cannot back up {path}: {exc}")
            write_file(module, path, result_plan.new_text, file_args)

    if module._diff:
        content_diff = dict(
            before=result_plan.before,
            after=result_plan.after,
            before_header=path,
            after_header=path,
        )
        result["diff"] = [content_diff, attr_diff] if attr_diff else content_diff

    module.exit_json(**result)


if __name__ == "__main__":
    main()
