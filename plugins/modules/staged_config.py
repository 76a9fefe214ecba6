#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: staged_config
short_description: Put a daemon's configuration files live only after the daemon's own check accepts them
description:
  - Takes a set of configuration files below one directory (O(root)), each with its content, owner, group and mode,
    and compares them with the live files, content and attributes, in one pass on the host.
  - When nothing differs, it changes nothing and runs nothing.
  - When anything differs, it lays the whole set out in O(staging_dir) (over a copy of O(root) with
    O(stage_copy_of_root=true)), runs each O(check) command against that directory, and only if every check
    passes does it put the differing files live, each in one rename with its owner, group and mode already set.
  - If a check fails, no live file is touched and the task fails with the checker's own complaint. The rejected
    files stay in O(staging_dir) for you to read. Because the comparison is always with the live files, the next
    run with the same input checks and rejects them again.
  - A hand-edited live file (content, owner, group or mode) differs from what the set says, so it is checked and
    put back on the next run.
  - Use the task's C(notify) to reload the daemon. The task reports a change only when a live file changed.
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module compares and reports the difference (with a diff), and neither stages, checks
        nor writes anything.
  diff_mode:
    support: full
    details:
      - One diff per changed file, against the live file; owner, group and mode changes are shown too.
  platform:
    support: full
    platforms: posix
options:
  root:
    description:
      - Directory of the live configuration, for example V(/etc/postfix). Every O(files[].path) is relative to it.
    type: path
    required: true
  staging_dir:
    description:
      - Directory where the set is laid out for the checks. Created (mode 0700) when needed; its content is
        replaced on every check. It must not be inside O(root).
    type: path
    required: true
  files:
    description:
      - The files of the configuration.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - Path of the file relative to O(root), for example V(main.cf) or V(jail.d/local.conf). Missing
            directories below O(root) are created (root, mode 0755) when the file goes live; O(root) itself must
            exist (it comes with the daemon's package).
        type: str
        required: true
      content:
        description:
          - The whole content of the file, usually C(lookup('ansible.builtin.template', ...)).
        type: str
        required: true
      owner:
        description: Owner of the file; defaults to O(owner).
        type: str
      group:
        description: Group of the file; defaults to O(group).
        type: str
      mode:
        description: Mode of the file, a quoted octal string such as V('0644'); defaults to O(mode).
        type: raw
      secret:
        description:
          - The content is a secret, such as a password map. It never appears in the result or the diff, which
            says only that the secret content changed; Ansible's own masking (C(no_log) values) hides it, and
            every line of it, anywhere else in the result. Give such a file a tight O(files[].mode).
        type: bool
        default: false
  owner:
    description: Owner of every file that does not name its own.
    type: str
    default: root
  group:
    description: Group of every file that does not name its own.
    type: str
    default: root
  mode:
    description: Mode of every file that does not name its own.
    type: raw
    default: '0644'
  check:
    description:
      - Commands that must accept the staged set before anything goes live, run in order, each without a shell.
        V({staging}) in a command stands for O(staging_dir).
      - A command fails when it exits non-zero, or, with O(check_stderr=fail), when it writes anything to
        standard error (C(postconf -n) and C(doveconf -n) only warn there, with exit status 0).
      - Empty, nothing is checked.
    type: list
    elements: str
    default: []
  check_stderr:
    description:
      - Whether output on standard error fails a check (V(fail)) or is ignored (V(ignore)).
    type: str
    choices: [fail, ignore]
    default: fail
  stage_copy_of_root:
    description:
      - Start the staged set from a copy of the whole of O(root), for daemons whose checker reads a directory
        tree (C(fail2ban-client --test)), so that the files of the set are checked together with the rest.
    type: bool
    default: false
  hint:
    description:
      - A sentence added to the failure message of a check, saying which inputs to look at.
    type: str
    default: ""
  obsolete:
    description:
      - Absolute paths of files or directories that an earlier version of this configuration used and this one
        does not, such as a staging directory an older release kept. Each one there is removed, after the files
        went live, and reported as a change.
    type: list
    elements: path
    default: []
notes:
  - Each file goes live in one rename, so no daemon ever reads half a file; a set of several files goes live one
    file after another, after all of them passed the checks. Reload the daemon from a handler, after the task.
seealso:
  - name: postfix check
    description: The Postfix configuration checker (postfix(1)).
    link: https://www.postfix.org/postfix.1.html
author:
  - mailops.authsmtp maintainers (@mailops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Put Postfix's main.cf and master.cf live once Postfix accepts them
  mailops.authsmtp.staged_config:
    root: /etc/postfix
    staging_dir: /var/lib/authsmtp/staging/postfix
    files:
      - path: main.cf
        content: "{{ lookup('ansible.builtin.template', 'main.cf.j2') }}"
      - path: master.cf
        content: "{{ lookup('ansible.builtin.template', 'master.cf.j2') }}"
    check:
      - postfix -c {staging} check
      - postconf -c {staging} -n
  notify: Reload Postfix

- name: A fail2ban jail, checked together with the rest of /etc/fail2ban
  mailops.authsmtp.staged_config:
    root: /etc/fail2ban
    staging_dir: /var/lib/authsmtp/staging/fail2ban
    stage_copy_of_root: true
    files:
      - path: jail.d/local.conf
        content: "{{ lookup('ansible.builtin.template', 'jail.conf.j2') }}"
    check:
      - fail2ban-client --conf {staging} --test
    check_stderr: ignore
  notify: Reload fail2ban
"""

RETURN = r"""
removed:
  description: The O(obsolete) paths that were (in check mode, would be) removed.
  returned: always
  type: list
  elements: str
  sample: [/var/lib/authsmtp/staging/fail2ban-jail]
changed_files:
  description: Live paths whose content or attributes were (in check mode, would be) changed.
  returned: always
  type: list
  elements: str
  sample: [/etc/postfix/main.cf]
checked:
  description: Whether the checks ran (only when something differed, and never in check mode).
  returned: always
  type: bool
  sample: true
"""

import grp  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import stat  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.common.text.converters import to_bytes, to_text  # noqa: E402
from ansible_collections.mailops.authsmtp.plugins.module_utils.files import (  # noqa: E402
    read_bytes,
    write_atomically,
)

STAGING_PLACEHOLDER = "{staging}"
# What a diff shows of a secret file's content.
SECRET_BEFORE = "(secret content)\n"  # noqa: S105 - a placeholder shown instead of one
SECRET_AFTER = "(secret content, changed)\n"  # noqa: S105 - likewise
# Lines of a secret shorter than this are not masked on their own (they
# would mask common words); the whole content always is.
SECRET_LINE_MIN = 8


def argument_spec():
    return dict(
        root=dict(type="path", required=True),
        staging_dir=dict(type="path", required=True),
        files=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                path=dict(type="str", required=True),
                content=dict(type="str", required=True),
                owner=dict(type="str"),
                group=dict(type="str"),
                mode=dict(type="raw"),
                secret=dict(type="bool", default=False),
            ),
        ),
        owner=dict(type="str", default="root"),
        group=dict(type="str", default="root"),
        mode=dict(type="raw", default="0644"),
        check=dict(type="list", elements="str", default=[]),
        check_stderr=dict(type="str", default="fail", choices=["fail", "ignore"]),
        stage_copy_of_root=dict(type="bool", default=False),
        hint=dict(type="str", default=""),
        obsolete=dict(type="list", elements="path", default=[]),
    )


def relative_path(root, path):
    """``path`` normalised below ``root``, or None if it is absolute, empty or leaves ``root``."""
    if not path or os.path.isabs(path):
        return None
    rel = os.path.normpath(path)
    if rel == "." or rel == ".." or rel.startswith("../"):
        return None
    return rel


def parse_mode(value):
    """An octal mode such as '0644' (or an int) as an int; None if it is not one."""
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text, 8) if re.fullmatch(r"0?[0-7]{3,4}", text) else None


def resolve_id(value, lookup, attribute):
    """Numeric id of a user or group given by name or number; None if no such name exists."""
    if str(value).isdigit():
        return int(value)
    try:
        return getattr(lookup(value), attribute)
    except KeyError:
        return None


def name_of(value, lookup, attribute):
    try:
        return getattr(lookup(value), attribute)
    except KeyError:
        return str(value)


def validate(params):
    """Every problem with the input, as messages that name the option; empty if none."""
    problems = []
    root, staging = os.path.normpath(params["root"]), os.path.normpath(params["staging_dir"])
    if os.path.commonpath([root, staging]) == root:
        problems.append(f"staging_dir {staging} is inside root {root}: choose a directory outside it")
    seen = set()
    for index, item in enumerate(params["files"]):
        rel = relative_path(root, item["path"])
        if rel is None:
            problems.append(f"files[{index}].path {item['path']!r} must be a relative path below root {root}")
        elif rel in seen:
            problems.append(f"files[{index}].path {item['path']!r} is listed twice")
        seen.add(rel)
        for key, lookup in (("owner", pwd.getpwnam), ("group", grp.getgrnam)):
            value = item[key] or params[key]
            if resolve_id(value, lookup, "pw_uid" if key == "owner" else "gr_gid") is None:
                problems.append(f"files[{index}] ({item['path']}): {key} {value!r} does not exist on this host")
        mode = item["mode"] if item["mode"] is not None else params["mode"]
        if parse_mode(mode) is None:
            problems.append(f"files[{index}] ({item['path']}): mode {mode!r} is not an octal mode such as '0644'")
    for index, command in enumerate(params["check"]):
        if not command.strip():
            problems.append(f"check[{index}] is empty")
    for index, path in enumerate(params["obsolete"]):
        if not os.path.isabs(path) or os.path.normpath(path) in ("/", root):
            problems.append(f"obsolete[{index}] {path!r} must be an absolute path of one file or directory")
    return problems


class Wanted:
    """One file of the set: where it goes live, its bytes and attributes, and how the live one differs."""

    def __init__(self, params, item):
        self.rel = relative_path(params["root"], item["path"])
        self.path = os.path.join(params["root"], self.rel)
        self.content = item["content"]
        self.data = to_bytes(item["content"], errors="surrogate_or_strict")
        self.owner = item["owner"] or params["owner"]
        self.group = item["group"] or params["group"]
        self.mode = parse_mode(item["mode"] if item["mode"] is not None else params["mode"])
        self.uid = resolve_id(self.owner, pwd.getpwnam, "pw_uid")
        self.gid = resolve_id(self.group, grp.getgrnam, "gr_gid")
        self.secret = item["secret"]
        self.live = None
        self.live_attributes = None

    def read_live(self, module):
        self.live = read_bytes(module, self.path)
        if self.live is not None:
            st = os.lstat(self.path)
            self.live_attributes = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))

    @property
    def content_differs(self):
        return self.live != self.data

    @property
    def attributes_differ(self):
        return self.live_attributes is not None and self.live_attributes != (self.uid, self.gid, self.mode)

    @property
    def file_args(self):
        # The keys AnsibleModule.load_file_common_arguments() gives; no SELinux on Debian's default.
        return dict(owner=self.owner, group=self.group, mode=f"{self.mode:04o}", secontext=[None, None, None],
                    attributes=None)

    def diffs(self):
        """The diff entries for this file: its content and its attributes, each when it changes."""
        out = []
        if self.content_differs and self.secret:
            out.append(dict(before_header=self.path, after_header=self.path,
                            before="" if self.live is None else SECRET_BEFORE, after=SECRET_AFTER))
        elif self.content_differs:
            out.append(dict(before_header=self.path, after_header=self.path,
                            before=to_text(self.live or b"", errors="surrogate_or_strict"), after=self.content))
        if self.attributes_differ:
            uid, gid, mode = self.live_attributes
            header = f"{self.path} (owner, group, mode)"
            out.append(dict(before_header=header, after_header=header,
                            before=describe(uid, gid, mode), after=describe(self.uid, self.gid, self.mode)))
        return out


def describe(uid, gid, mode):
    owner, group = name_of(uid, pwd.getpwuid, "pw_name"), name_of(gid, grp.getgrgid, "gr_name")
    return f"owner {owner}, group {group}, mode {mode:04o}\n"


def stage(module, files):
    """Lay the whole set out in staging_dir, over a copy of root if asked."""
    params = module.params
    staging = params["staging_dir"]
    try:
        if os.path.lexists(staging):
            shutil.rmtree(staging)
        os.makedirs(os.path.dirname(staging), mode=0o755, exist_ok=True)
        if params["stage_copy_of_root"]:
            # Links are copied as what they point to: a checker that sees a
            # link leaving its directory warns (Debian's /etc/postfix/makedefs.out
            # -> /usr/share/postfix), and the live link is never written.
            shutil.copytree(params["root"], staging, symlinks=False, ignore_dangling_symlinks=True)
            os.chmod(staging, 0o700)
        else:
            os.makedirs(staging, mode=0o700)
        for wanted in files:
            target = os.path.join(staging, wanted.rel)
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            with open(target, "wb") as f:
                f.write(wanted.data)
    except OSError as exc:
        module.fail_json(msg=f"cannot stage the configuration in {staging}: {exc}")


def run_checks(module):
    """Run each check against the staged set; return the complaints (empty: all accepted)."""
    staging = module.params["staging_dir"]
    complaints = []
    for command in module.params["check"]:
        argv = [part.replace(STAGING_PLACEHOLDER, staging) for part in shlex.split(command)]
        rc, out, err = module.run_command(argv, check_rc=False)
        warned = module.params["check_stderr"] == "fail" and err.strip()
        if rc != 0 or warned:
            lines = dict.fromkeys(line.strip() for line in (err + "\n" + out).splitlines() if line.strip())
            said = "; ".join(lines) or "no output"
            complaints.append(f"`{' '.join(argv)}` {'exited with ' + str(rc) if rc else 'warned'}: {said}")
    return complaints


def make_directories(module, root, rel):
    """Create the missing directories of ``rel`` below ``root``, root-owned and 0755."""
    path = root
    for part in [p for p in rel.split(os.sep) if p]:
        path = os.path.join(path, part)
        if not os.path.isdir(path):
            try:
                os.mkdir(path, 0o755)
                os.chmod(path, 0o755)  # noqa: S103 - a configuration directory, readable by the daemons
            except OSError as exc:
                module.fail_json(msg=f"cannot create the directory {path}: {exc}")


def remove(module, paths):
    """Remove files or whole directories that the configuration no longer uses."""
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError as exc:
            module.fail_json(msg=f"cannot remove {path} (obsolete): {exc}")


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    problems = validate(params)
    if problems:
        module.fail_json(msg="; ".join(problems))

    # Ansible's own no_log masking, for what only this module knows is secret.
    for item in params["files"]:
        if item["secret"]:
            module.no_log_values.add(item["content"])
            module.no_log_values.update(
                line for line in item["content"].splitlines() if len(line.strip()) >= SECRET_LINE_MIN
            )
    files = [Wanted(params, item) for item in params["files"]]
    if not os.path.isdir(params["root"]):
        module.fail_json(msg=f"root {params['root']} does not exist: install the daemon first")
    for wanted in files:
        wanted.read_live(module)
    changes = [wanted for wanted in files if wanted.content_differs or wanted.attributes_differ]

    result = dict(changed=bool(changes), changed_files=[wanted.path for wanted in changes], checked=False)
    if changes and not module.check_mode:
        if params["check"]:
            stage(module, files)
            complaints = run_checks(module)
            result["checked"] = True
            if complaints:
                module.fail_json(
                    msg=(f"The configuration in {params['root']} was not put live; the running one keeps serving. "
                         f"{' / '.join(complaints)}. The rejected files are in {params['staging_dir']}."
                         + (f" {params['hint']}" if params["hint"] else "")),
                    changed=False, changed_files=[], checked=True,
                )
        for wanted in changes:
            make_directories(module, params["root"], os.path.dirname(wanted.rel))
            write_atomically(module, wanted.path, wanted.data, wanted.file_args)
    result["removed"] = [path for path in params["obsolete"] if os.path.lexists(path)]
    if result["removed"]:
        result["changed"] = True
        if not module.check_mode:
            remove(module, result["removed"])
    if module._diff:
        result["diff"] = [entry for wanted in changes for entry in wanted.diffs()] + [
            dict(before_header=path, after_header=path, before=f"{path} exists\n", after="")
            for path in result["removed"]
        ]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
