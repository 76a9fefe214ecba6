#!/usr/bin/env python3
"""Check that each role's inputs are declared once and agree everywhere.

    scripts/check_role_inputs.py [--root DIR]

For every role in roles/, meta/argument_specs.yml (every entry point) and
defaults/main.yml must tell the same story:

- an optional variable has its default in defaults/main.yml, with a comment
  directly above it; a required one is only documented there, as a comment
  (``# authsmtp_hostname:``);
- every variable of defaults/main.yml is in the spec;
- the spec's ``default:`` is the value of defaults/main.yml, compared as YAML
  data; a templated default (``{{ ... }}``) cannot be expressed in a spec, so
  the spec then has no ``default:`` and its description says what it is;
- a required option has no ``default:``.

Across roles, a variable that several roles read has one default (one fact,
one value). And no file under roles/, playbooks/ or templates/ reads a public
``authsmtp_`` variable through ``| default(...)`` or ``| d(...)``: the role's
defaults say what it reads.

Prints one line per problem, naming the role (or file), the variable and the
fix, and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

# Where `| default(` on a public variable is looked for, and what is skipped.
SCANNED_DIRS = ("roles", "playbooks", "templates")
SKIPPED_PARTS = {"molecule", "tests", "bench"}
# Not preceded by a letter, digit or underscore: __authsmtp_x is internal.
DEFAULT_FILTER = re.compile(r"(?<![A-Za-z0-9_])(authsmtp_[a-z0-9_]+)\s*\|\s*(?:default|d)\(")


@dataclass
class Role:
    name: str
    path: Path
    # entry point -> options (name -> option spec); None when there is no spec file
    specs: dict | None = None
    defaults: dict = field(default_factory=dict)
    # defaults/main.yml: 0-based line of each top-level key, and the raw lines
    default_lines: dict = field(default_factory=dict)
    defaults_text: str = ""
    has_defaults_file: bool = False
    load_errors: list = field(default_factory=list)


def show(value):
    """A value as it would be written in YAML flow style, on one line."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000).strip()
    return text.removesuffix("...").strip()


def same(a, b):
    """Equal as YAML data, types included (yes: true is not 1, "587" is not 587)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def one_line(exc):
    return " ".join(str(exc).split())


def templated(value):
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(templated(k) or templated(v) for k, v in value.items())
    if isinstance(value, list):
        return any(templated(v) for v in value)
    return False


def description_text(opt):
    desc = opt.get("description", "")
    return " ".join(map(str, desc)) if isinstance(desc, list) else str(desc)


def load_role(path: Path) -> Role:
    role = Role(name=path.name, path=path)
    spec_file = path / "meta" / "argument_specs.yml"
    if spec_file.is_file():
        try:
            data = yaml.safe_load(spec_file.read_text()) or {}
            entries = data.get("argument_specs") or {}
            role.specs = {ep: (body or {}).get("options") or {} for ep, body in entries.items()}
        except (yaml.YAMLError, AttributeError) as exc:
            role.load_errors.append(
                f"{role.name}: meta/argument_specs.yml cannot be read ({one_line(exc)}); fix: repair it"
            )
            role.specs = {}
    defaults_file = path / "defaults" / "main.yml"
    if defaults_file.is_file():
        role.has_defaults_file = True
        role.defaults_text = defaults_file.read_text()
        try:
            node = yaml.compose(role.defaults_text)
            role.defaults = yaml.safe_load(role.defaults_text) or {}
        except yaml.YAMLError as exc:
            role.load_errors.append(f"{role.name}: defaults/main.yml cannot be read ({one_line(exc)}); fix: repair it")
            return role
        if not isinstance(role.defaults, dict):
            role.load_errors.append(f"{role.name}: defaults/main.yml is not a mapping; fix: make it name: value pairs")
            role.defaults = {}
            return role
        if node is not None and isinstance(node, yaml.MappingNode):
            role.default_lines = {key.value: key.start_mark.line for key, _ in node.value}
    return role


def load_roles(root: Path) -> list[Role]:
    roles_dir = root / "roles"
    if not roles_dir.is_dir():
        return []
    return [
        load_role(p)
        for p in sorted(roles_dir.iterdir())
        if p.is_dir() and ((p / "tasks").is_dir() or (p / "meta").is_dir())
    ]


def documented_as_comment(role: Role, name: str) -> bool:
    return re.search(rf"^\s*#\s*{re.escape(name)}\s*:", role.defaults_text, re.MULTILINE) is not None


def check_role(role: Role) -> list[str]:
    problems = list(role.load_errors)
    r = role.name
    if role.specs is None:
        return problems + [f"{r}: the role has no meta/argument_specs.yml; fix: add one with entry point main"]
    if "main" not in role.specs:
        problems.append(f"{r}: meta/argument_specs.yml has no entry point main; fix: add argument_specs.main")
    lines = role.defaults_text.splitlines()

    for entry, options in role.specs.items():
        where = "" if entry == "main" else f" (entry point {entry})"
        for name, opt in options.items():
            opt = opt or {}
            required = bool(opt.get("required"))
            has_spec_default = "default" in opt
            in_defaults = name in role.defaults
            if required:
                if has_spec_default:
                    problems.append(
                        f"{r}: {name}{where}: required in meta/argument_specs.yml but has default: "
                        f"{show(opt['default'])}; fix: drop default: from the spec, or required: true"
                    )
                if in_defaults:
                    problems.append(
                        f"{r}: {name}{where}: required, yet set in defaults/main.yml; fix: remove it from "
                        f"defaults/main.yml and leave it there as a comment only (# {name}:), or make it optional"
                    )
                elif not documented_as_comment(role, name):
                    problems.append(
                        f"{r}: {name}{where}: required, but defaults/main.yml does not document it; fix: add "
                        f"a comment there saying what it is, with the commented-out line # {name}:"
                    )
                problems += suboption_problems(r, name, where, opt)
                continue

            if not in_defaults:
                fix = (
                    f"set it in roles/{r}/defaults/main.yml to {show(opt['default'])}, with a comment"
                    if has_spec_default
                    else f"set it in roles/{r}/defaults/main.yml, with a comment, and give the spec the same "
                    "default:, or mark it required: true"
                )
                problems.append(f"{r}: {name}{where}: optional, but defaults/main.yml does not set it; fix: {fix}")
                problems += suboption_problems(r, name, where, opt)
                continue

            value = role.defaults[name]
            if templated(value):
                if has_spec_default:
                    problems.append(
                        f"{r}: {name}{where}: defaults/main.yml gives a template ({show(value)}), which a spec "
                        f"default cannot express; fix: remove default: from the spec and say in its description "
                        "what it defaults to"
                    )
                elif not re.search(r"\bdefault", description_text(opt), re.IGNORECASE):
                    problems.append(
                        f"{r}: {name}{where}: its default is a template ({show(value)}) and the spec's description "
                        "does not say what it defaults to; fix: add that to the description (Defaults to ...)"
                    )
            elif not has_spec_default:
                problems.append(
                    f"{r}: {name}{where}: meta/argument_specs.yml has no default: but defaults/main.yml sets "
                    f"{show(value)}; fix: add default: {show(value)} to the spec"
                )
            elif not same(opt["default"], value):
                problems.append(
                    f"{r}: {name}{where}: meta/argument_specs.yml says default: {show(opt['default'])}, "
                    f"defaults/main.yml says {show(value)}; fix: make them the same value"
                )
            problems += suboption_problems(r, name, where, opt)

    spec_names = {name for options in role.specs.values() for name in options}
    for name, line in role.default_lines.items():
        if name not in spec_names:
            problems.append(
                f"{r}: {name}: set in defaults/main.yml but not in meta/argument_specs.yml; fix: add it to the spec "
                "(type, default, description) or remove it from defaults/main.yml"
            )
        if not commented(lines, line):
            problems.append(
                f"{r}: {name}: defaults/main.yml line {line + 1} has no comment directly above it; fix: add a "
                "comment above it that says what it is for (and an example)"
            )
    return problems


def commented(lines, line):
    """Whether a comment leads the block of variables (no blank line between them) that ``line`` is in.

    Variables that belong together (findtime and bantime, the two submission ports) may share one comment.
    """
    above = line - 1
    while above >= 0 and lines[above].strip() and not lines[above].lstrip().startswith("#"):
        above -= 1
    return above >= 0 and lines[above].lstrip().startswith("#")


def suboption_problems(r, parent, where, opt):
    """A required suboption with a default (e.g. authsmtp_users[].name)."""
    problems = []
    for name, sub in (opt.get("options") or {}).items():
        sub = sub or {}
        full = f"{parent}.{name}"
        if sub.get("required") and "default" in sub:
            problems.append(
                f"{r}: {full}{where}: required in meta/argument_specs.yml but has default: "
                f"{show(sub['default'])}; fix: drop default: from the spec, or required: true"
            )
        problems += suboption_problems(r, full, where, sub)
    return problems


def check_shared_defaults(roles: list[Role]) -> list[str]:
    """One variable, one default, in every role that sets it."""
    seen: dict[str, list[tuple[str, object]]] = {}
    for role in roles:
        for name, value in role.defaults.items():
            seen.setdefault(name, []).append((role.name, value))
    problems = []
    for name, pairs in sorted(seen.items()):
        first = pairs[0][1]
        if any(not same(first, value) for _, value in pairs[1:]):
            listed = ", ".join(f"{role}: {show(value)}" for role, value in pairs)
            problems.append(
                f"{'/'.join(role for role, _ in pairs)}: {name}: defaults/main.yml values differ ({listed}); "
                "fix: give it the same default in every role (one fact, one value)"
            )
    return problems


def scanned_files(root: Path):
    for top in SCANNED_DIRS:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not SKIPPED_PARTS.intersection(rel.parts):
                yield path, rel


def check_default_filters(root: Path, roles: list[Role]) -> list[str]:
    defaults = {role.name: role.defaults for role in roles}
    problems = []
    for path, rel in scanned_files(root):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for match in DEFAULT_FILTER.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            name = match.group(1)
            if rel.parts[0] == "roles" and len(rel.parts) > 2:
                role = rel.parts[1]
                if name in defaults.get(role, {}):
                    fix = (
                        f"roles/{role}/defaults/main.yml already sets it: drop the default "
                        f"(for an empty value write '{name} or omit')"
                    )
                else:
                    fix = f"set {name} in roles/{role}/defaults/main.yml (and its spec) and drop the default"
            else:
                fix = f"give {name} one default (a role's defaults or the play's vars) and drop the default"
            snippet = " ".join(match.group(0).split())
            problems.append(f"{rel}:{line}: {name}: reads a public variable through '{snippet}...)'; fix: {fix}")
    return problems


def check(root: Path) -> list[str]:
    roles = load_roles(root)
    problems = []
    for role in roles:
        problems += check_role(role)
    problems += check_shared_defaults(roles)
    problems += check_default_filters(root, roles)
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="collection root (default: this checkout)")
    args = parser.parse_args(argv)
    problems = check(args.root)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
