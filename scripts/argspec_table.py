#!/usr/bin/env python3
"""Render each role's meta/argument_specs.yml as a Markdown variable table.

    scripts/argspec_table.py            print every role's tables
    scripts/argspec_table.py --update   rewrite them in roles/<role>/README.md
                                        between the <!-- variables:begin/end --> marks
    scripts/argspec_table.py --check    fail if a role's README.md is out of date

Each role README is written by hand (what the role does, requirements, an
example playbook); only the part between the marks is generated.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
COLLECTION = "mailops.authsmtp"
BEGIN, END = "<!-- variables:begin -->", "<!-- variables:end -->"

# Ansible doc markup -> Markdown.
MARKUP = [
    (re.compile(r"\bL\(([^,)]*),\s*([^)]*)\)"), r"[\1](\2)"),
    (re.compile(r"\bU\(([^)]*)\)"), r"<\1>"),
    (re.compile(r"\bB\(([^)]*)\)"), r"**\1**"),
    (re.compile(r"\b[ICMOVEP]\(([^)]*)\)"), r"`\1`"),
]


def cell(text):
    text = str(text)
    for pattern, repl in MARKUP:
        text = pattern.sub(repl, text)
    return text.replace("|", "\\|").replace("\n", " ")


def default_of(spec):
    if spec.get("required"):
        return "**required**"
    if "default" not in spec:
        return ""
    value = spec["default"]
    return f"`{yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}`"


def rows(options, prefix=""):
    for name, opt in options.items():
        opt = opt or {}
        desc = opt.get("description", "")
        desc = " ".join(desc) if isinstance(desc, list) else str(desc)
        if opt.get("choices"):
            desc += " Choices: " + ", ".join(f"`{c}`" for c in opt["choices"]) + "."
        kind = opt.get("type", "str") + (f" of {opt['elements']}" if opt.get("elements") else "")
        yield f"| `{prefix}{name}` | {kind} | {cell(default_of(opt))} | {cell(desc)} |"
        if opt.get("options"):
            # Suboptions: the keys of each list element, or of the dict.
            sep = "[]." if opt.get("type") == "list" else "."
            yield from rows(opt["options"], f"{prefix}{name}{sep}")


def role_tables(specs_file):
    """The generated part of one role's README: a table per entry point, main first."""
    entries = yaml.safe_load(specs_file.read_text())["argument_specs"]
    out = []
    for entry in sorted(entries, key=lambda e: (e != "main", e)):
        spec = entries[entry] or {}
        if entry != "main":
            out.append(f"### Entry point `{entry}`: {spec.get('short_description', '')}\n")
        out.append("| variable | type | default | description |")
        out.append("|---|---|---|---|")
        out.extend(rows(spec.get("options") or {}))
        out.append("")
    return "\n".join(out).rstrip("\n")


def role_dirs(root):
    roles = root / "roles"
    if not roles.is_dir():
        return []
    return [p for p in sorted(roles.iterdir()) if (p / "meta" / "argument_specs.yml").is_file()]


def splice(readme, table):
    """readme with the generated part replaced, or None when the marks are missing."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        return None
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n\n{table}\n\n{END}{tail}"


def run(root, mode):
    """Check or update every role README; returns the problems found (one line each)."""
    problems = []
    for role in role_dirs(root):
        rel = role.relative_to(root) / "README.md"
        readme_file = role / "README.md"
        try:
            table = role_tables(role / "meta" / "argument_specs.yml")
        except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"{rel}: cannot read meta/argument_specs.yml ({' '.join(str(exc).split())})")
            continue
        if not readme_file.is_file():
            problems.append(f"{rel}: missing; write it by hand with the marks {BEGIN} and {END}, then run --update")
            continue
        readme = readme_file.read_text()
        updated = splice(readme, table)
        if updated is None:
            problems.append(f"{rel}: needs exactly one {BEGIN} followed by one {END}")
        elif updated != readme:
            if mode == "update":
                readme_file.write_text(updated)
            else:
                problems.append(f"{rel}: variable table is out of date: run scripts/argspec_table.py --update")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--update", action="store_true", help="rewrite the tables in roles/*/README.md")
    group.add_argument("--check", action="store_true", help="fail if a roles/*/README.md is out of date")
    parser.add_argument("--root", type=Path, default=REPO, help="collection root (default: this checkout)")
    args = parser.parse_args(argv)
    if not (args.update or args.check):
        for role in role_dirs(args.root):
            spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
            title = (spec.get("main") or {}).get("short_description", "")
            print(f"## `{COLLECTION}.{role.name}`: {title}\n")
            print(role_tables(role / "meta" / "argument_specs.yml") + "\n")
        return 0
    problems = run(args.root, "update" if args.update else "check")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
