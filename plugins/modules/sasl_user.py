#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sasl_user
short_description: Manage SMTP AUTH users in a Dovecot passwd-file or the PostgreSQL user store
description:
  - Adds, updates and removes users in the passwd-file that Dovecot's auth service reads, and that Postfix uses
    for SMTP AUTH through Dovecot SASL; or, with O(backend=postgresql), in the table C(authsmtp.users) of the
    PostgreSQL user store that the C(mailops.authsmtp.user_store) role creates, which Dovecot and Postfix of
    every server read.
  - Both stores follow the same rules, described below for the file. A plaintext password is verified against
    the stored hash before anything is re-hashed, and nothing changes if any input is wrong.
  - With O(backend=postgresql), every change of one run is made in one transaction (all or nothing), which holds
    a lock on the table so that two runs never decide on the same rows at once; C(send_as) is stored with each
    user, and the diff lists users sorted by name.
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
  backend:
    description:
      - Where the users are kept.
      - V(passwd-file) is the file O(path); O(owner), O(group), O(mode) and O(backup) apply to it.
      - V(postgresql) is the user store's database O(database), reached with the O(login_user) options.
    type: str
    choices: [passwd-file, postgresql]
    default: passwd-file
  database:
    description: Name of the user store's database (O(backend=postgresql)).
    type: str
    default: authsmtp
  login_user:
    description: Database role the module connects as (O(backend=postgresql)); it must own C(authsmtp.users).
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user); empty for peer authentication over the Unix socket.
    type: str
    default: ''
  login_host:
    description: Host of the database server; empty connects over the Unix socket in O(login_unix_socket).
    type: str
    default: ''
  login_port:
    description: Port of the database server.
    type: int
    default: 5432
  login_unix_socket:
    description: Directory of the database server's Unix socket, used when O(login_host) is empty.
    type: path
    default: /var/run/postgresql
  ssl_mode:
    description:
      - libpq's C(sslmode) for a connection over the network (O(login_host)). The default verifies the server's
        certificate and name against O(ca_cert).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    default: verify-full
  ca_cert:
    description: CA certificate that the database server's certificate must chain to, for O(ssl_mode).
    type: path
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
      send_as:
        description:
          - Extra envelope sender addresses this user may send as, stored with the user by
            O(backend=postgresql) (Postfix's sender login map reads them there).
          - With O(backend=passwd-file) it must be empty; the postfix role writes its own maps.
        type: list
        elements: str
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
  - psycopg2, for O(backend=postgresql) (Debian package C(python3-psycopg2))
  - passlib >= 1.7.4 (Debian package C(python3-passlib)) or libpass >= 1.9
  - bcrypt, for C(BLF-CRYPT) (Debian package C(python3-bcrypt))
  - argon2-cffi, for C(ARGON2ID) (Debian package C(python3-argon2))
notes:
  - Verifying a plaintext password costs one hash computation per user and run, with the parameters of the
    stored hash.
  - The result echoes the module's arguments in C(invocation.module_args) (shown with C(-vvv), kept by
    C(register)) as usual, except O(users), which is echoed only as a count, for example C(3 users; names,
    passwords and hashes are not echoed, see users_added, users_updated, users_removed and counts). The users
    that changed are listed in RV(users_added), RV(users_updated) and RV(users_removed), and RV(counts) has the
    numbers.
  - This keeps the result small. Before Ansible prints a result, it hides every password and hash (each value of
    a C(no_log) option) in every string of it, so that work grows with the number of users times the size of the
    result; echoing 10,000 users would add several seconds to every run. Ansible still does this hiding, with
    every password and hash, on the whole result including the echo.
  - If Ansible itself rejects the arguments, or reading or writing the file fails, the result carries Ansible's
    usual echo, which lists every user with passwords and hashes hidden.
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
counts:
  description:
    - How many users were (or in check mode would be) added, updated and removed, how many were left as they
      were, and how many users the file holds afterwards.
    - Every user in the file afterwards was either added, updated or left as it was, so C(total) is
      C(added + updated + unchanged). C(unchanged) includes users in the file that are not listed in O(users).
  returned: always
  type: dict
  contains:
    added:
      description: Number of users added, the length of RV(users_added).
      type: int
    updated:
      description: Number of users updated, the length of RV(users_updated).
      type: int
    removed:
      description: Number of users removed, the length of RV(users_removed).
      type: int
    unchanged:
      description: Number of users in the file that were neither added nor updated.
      type: int
    total:
      description: Number of users in the file after the run (names compared case-insensitively).
      type: int
  sample:
    added: 1
    updated: 1
    removed: 1
    unchanged: 9997
    total: 9999
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
import os  # noqa: E402
import traceback  # noqa: E402

from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible_collections.mailops.authsmtp.plugins.module_utils import user_store_pgsql  # noqa: E402
from ansible_collections.mailops.authsmtp.plugins.module_utils.files import read_bytes, write_atomically  # noqa: E402
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
    plan,
    validate_mode,
    validate_owner_group,
    validate_users,
)


def argument_spec():
    return dict(
        backend=dict(type="str", default="passwd-file", choices=["passwd-file", "postgresql"]),
        database=dict(type="str", default="authsmtp"),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", default="", no_log=True),
        login_host=dict(type="str", default=""),
        login_port=dict(type="int", default=5432),
        login_unix_socket=dict(type="path", default="/var/run/postgresql"),
        ssl_mode=dict(
            type="str",
            default="verify-full",
            choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        ),
        ca_cert=dict(type="path"),
        path=dict(type="path", default="/etc/dovecot/users"),
        users=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                name=dict(type="str", required=True),
                password=dict(type="str", no_log=True),
                password_hash=dict(type="str", no_log=True),
                send_as=dict(type="list", elements="str"),
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


def invocation(params):
    """The echo of the arguments for the result: every option as AnsibleModule echoes it, but ``users`` as a summary.

    AnsibleModule masks every no_log value in every string of the result, at a
    cost of (no_log values) x (strings); with one password or hash per user,
    echoing all users would make that the slowest part of a large run. Passing
    this as ``invocation`` to exit_json()/fail_json() is the way AnsibleModule
    offers to replace its own echo; the result, this echo included, is still
    masked by AnsibleModule with all no_log values.
    """
    count = len(params["users"] or [])
    users = (
        f"{count} {'user' if count == 1 else 'users'}; names, passwords and hashes are not echoed, "
        "see users_added, users_updated, users_removed and counts"
    )
    return {"module_args": dict(params, users=users)}


try:
    import psycopg2
except ImportError:
    psycopg2 = None
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG2_IMPORT_ERROR = None


def make_hasher(params):
    return Hasher(
        sha512_rounds=params["sha512_rounds"],
        bcrypt_cost=params["bcrypt_cost"],
        argon2_memory_cost=params["argon2_memory_cost"],
        argon2_time_cost=params["argon2_time_cost"],
    )


def connect(params):
    """A psycopg2 connection to the user store, as the login_ options say."""
    kwargs = dict(dbname=params["database"], user=params["login_user"], connect_timeout=10)
    if params["login_password"]:
        kwargs["password"] = params["login_password"]
    if params["login_host"]:
        kwargs.update(host=params["login_host"], port=params["login_port"], sslmode=params["ssl_mode"])
        if params["ca_cert"]:
            kwargs["sslrootcert"] = params["ca_cert"]
    else:
        kwargs.update(host=params["login_unix_socket"], port=params["login_port"])
    return psycopg2.connect(**kwargs)


def run_postgresql(module, echo):
    """The postgresql backend: plan against the locked table, apply in the same transaction, commit."""
    params = module.params
    if psycopg2 is None:
        module.fail_json(
            msg=missing_required_lib("psycopg2", reason="to reach the user store (Debian: python3-psycopg2)"),
            exception=PSYCOPG2_IMPORT_ERROR,
            invocation=echo,
        )
    try:
        hasher = make_hasher(params)
        specs = validate_users(params["users"], params["scheme"])
    except PasswdFileError as exc:
        module.fail_json(msg=str(exc), invocation=echo)
    where = f"database {params['database']} as {params['login_user']}"
    try:
        connection = connect(params)
    except psycopg2.Error as exc:
        # libpq's own words (host, port, SSL, authentication), never a password.
        module.fail_json(msg=f"cannot connect to {where}: {str(exc).strip()}", invocation=echo)
    try:
        with connection.cursor() as cursor:
            stored = user_store_pgsql.read(cursor)
            row_plan = user_store_pgsql.plan(stored, specs, hasher, exclusive=params["exclusive"])
            if row_plan.changed and not module.check_mode:
                user_store_pgsql.apply(cursor, row_plan)
        if module.check_mode:
            connection.rollback()
        else:
            connection.commit()
    except PasswdFileError as exc:
        connection.rollback()
        module.fail_json(msg=str(exc), invocation=echo)
    except psycopg2.Error as exc:
        connection.rollback()
        hint = " (run the mailops.authsmtp.user_store role first)" if exc.pgcode == "42P01" else ""
        module.fail_json(msg=f"{where}: {str(exc).strip()}{hint}; nothing was changed", invocation=echo)
    finally:
        connection.close()
    result = dict(
        changed=row_plan.changed,
        users_added=row_plan.added,
        users_updated=row_plan.updated,
        users_removed=row_plan.removed,
        counts=row_plan.counts,
    )
    if module._diff:
        header = f"{params['database']}:{user_store_pgsql.TABLE}"
        result["diff"] = dict(before=row_plan.before, after=row_plan.after, before_header=header, after_header=header)
    module.exit_json(invocation=echo, **result)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    echo = invocation(params)

    if not HAS_PASSLIB:
        module.fail_json(
            msg=missing_required_lib(
                "passlib",
                reason="to hash and verify Dovecot passwords (Debian: python3-passlib; or pip install libpass)",
            ),
            exception=PASSLIB_IMPORT_ERROR,
            invocation=echo,
        )

    if params["backend"] == "postgresql":
        run_postgresql(module, echo)
        return
    for index, user in enumerate(params["users"] or []):
        if user.get("send_as"):
            module.fail_json(
                msg=f"users[{index}].send_as: the passwd-file keeps no send_as; with backend=passwd-file the "
                "postfix role writes the sender maps, so leave send_as out here (or use backend=postgresql)",
                invocation=echo,
            )

    path = params["path"]
    if os.path.islink(path):
        # Update the link's target; atomic_move would replace the link itself.
        path = os.path.realpath(path)

    # Validate everything and compute the new content before touching the file.
    try:
        validate_mode(params["mode"])
        validate_owner_group(params["owner"], params["group"])
        hasher = make_hasher(params)
        specs = validate_users(params["users"], params["scheme"])
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            raise PasswdFileError(
                f"path: directory {directory} does not exist; install Dovecot first or choose another path"
            )
        if os.path.lexists(path) and not os.path.isfile(path):
            raise PasswdFileError(f"path: {path} exists but is not a regular file")
        old_bytes = read_bytes(module, path)
        # surrogateescape lets bytes that are not UTF-8 (e.g. in comments) round-trip unchanged.
        old_text = None if old_bytes is None else old_bytes.decode("utf-8", errors="surrogateescape")
        result_plan = plan(old_text, specs, hasher, exclusive=params["exclusive"], source=path)
    except PasswdFileError as exc:
        module.fail_json(msg=str(exc), invocation=echo)

    exists = old_text is not None
    result = dict(
        changed=False,
        users_added=result_plan.added,
        users_updated=result_plan.updated,
        users_removed=result_plan.removed,
        counts=result_plan.counts,
    )
    # The resolved path: owner, group and mode belong to the file, not to a symbolic link to it.
    file_args = module.load_file_common_arguments(params, path=path)

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
                    module.fail_json(msg=f"cannot back up {path}: {exc}", invocation=echo)
            write_atomically(module, path, result_plan.new_text.encode("utf-8", errors="surrogateescape"), file_args)

    if module._diff:
        content_diff = dict(
            before=result_plan.before,
            after=result_plan.after,
            before_header=path,
            after_header=path,
        )
        result["diff"] = [content_diff, attr_diff] if attr_diff else content_diff

    module.exit_json(invocation=echo, **result)


if __name__ == "__main__":
    main()
