#!/usr/bin/env python3
"""Render the roles' meta/argument_specs.yml as Markdown variable tables.

    scripts/argspec_table.py            print the tables
    scripts/argspec_table.py --update   rewrite them in README.md between
                                        the <!-- variables:begin/end --> marks
    scripts/argspec_table.py --check    fail if README.md is out of date
"""

import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
ROLES = ["server", "tls", "sasl", "postfix", "fail2ban", "verify"]
BEGIN, END = "<!-- variables:begin -->", "<!-- variables:end -->"


def cell(text):
    # Ansible doc markup I(x), C(x), M(x) -> Markdown code.
    text = re.sub(r"\b[ICM]\(([^)]*)\)", r"`\1`", str(text))
    return text.replace("|", "\\|").replace("\n", " ")


def default_of(spec):
    if spec.get("required"):
        return "**required**"
    if "default" not in spec:
        return ""
    value = spec["default"]
    return f"`{yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}`"


def tables():
    out = []
    for role in ROLES:
        specs_file = REPO / "roles" / role / "meta" / "argument_specs.yml"
        spec = yaml.safe_load(specs_file.read_text())["argument_specs"]["main"]
        out.append(f"### `mailops.authsmtp.{role}`: {spec['short_description']}\n")
        out.append("| variable | type | default | description |")
        out.append("|---|---|---|---|")
        for name, opt in spec.get("options", {}).items():
            desc = opt.get("description", "")
            desc = " ".join(desc) if isinstance(desc, list) else desc
            if opt.get("choices"):
                desc += " Choices: " + ", ".join(f"`{c}`" for c in opt["choices"]) + "."
            kind = opt.get("type", "str") + (f" of {opt['elements']}" if opt.get("elements") else "")
            out.append(f"| `{name}` | {kind} | {cell(default_of(opt))} | {cell(desc)} |")
        out.append("")
    return "\n".join(out)


def main():
    rendered = tables()
    if len(sys.argv) == 1:
        print(rendered)
        return 0
    readme = (REPO / "README.md").read_text()
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    updated = f"{head}{BEGIN}\n{rendered}\n{END}{tail}"
    if sys.argv[1] == "--check":
        if updated != readme:
            print("README.md variable tables are out of date: run scripts/argspec_table.py --update")
            return 1
        return 0
    (REPO / "README.md").write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
