"""scripts/argspec_table.py: per-role README tables, --update and --check, on fake roles."""

from __future__ import annotations

import argspec_table
import pytest

BEGIN, END = argspec_table.BEGIN, argspec_table.END

OPTIONS = {
    "authsmtp_hostname": {"type": "str", "required": True, "description": "Name of I(the) host."},
    "authsmtp_x_mode": {
        "type": "str",
        "default": "a",
        "choices": ["a", "b"],
        "description": ["First C(line).", "Second | line."],
    },
    "authsmtp_x_names": {"type": "list", "elements": "str", "default": [], "description": "Names."},
    "authsmtp_x_key": {"type": "path", "description": "Defaults to C(key) under I(authsmtp_x_dir)."},
}

HAND_WRITTEN = "# mailops.authsmtp.x\n\nWhat it does.\n\n## Variables\n\n"


def readme(role, between="", tail="\nAfter the table.\n"):
    path = role / "README.md"
    path.write_text(f"{HAND_WRITTEN}{BEGIN}\n{between}{END}{tail}")
    return path


def test_cell_converts_doc_markup_and_escapes():
    assert argspec_table.cell("I(a) C(b) M(mailops.authsmtp.sasl_user) O(x=y) V(z)") == (
        "`a` `b` `mailops.authsmtp.sasl_user` `x=y` `z`"
    )
    assert argspec_table.cell("B(bold), U(https://e.org), L(text, https://e.org/t)") == (
        "**bold**, <https://e.org>, [text](https://e.org/t)"
    )
    assert argspec_table.cell("a | b\nc") == "a \\| b c"
    # Only markup at a word start: SHA(x) is text.
    assert argspec_table.cell("SHA(x)") == "SHA(x)"


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ({"required": True, "default": 1}, "**required**"),
        ({}, ""),
        ({"default": []}, "`[]`"),
        ({"default": ["plain", "login"]}, "`[plain, login]`"),
        ({"default": "selfsigned"}, "`selfsigned`"),
        ({"default": ""}, "`''`"),
        ({"default": False}, "`false`"),
        ({"default": 52428800}, "`52428800`"),
    ],
)
def test_default_of(spec, shown):
    assert argspec_table.default_of(spec) == shown


def test_table_rows(tmp_path, make_role):
    role = make_role("x", OPTIONS)
    table = argspec_table.role_tables(role / "meta" / "argument_specs.yml").splitlines()
    assert table == [
        "| variable | type | default | description |",
        "|---|---|---|---|",
        "| `authsmtp_hostname` | str | **required** | Name of `the` host. |",
        "| `authsmtp_x_mode` | str | `a` | First `line`. Second \\| line. Choices: `a`, `b`. |",
        "| `authsmtp_x_names` | list of str | `[]` | Names. |",
        "| `authsmtp_x_key` | path |  | Defaults to `key` under `authsmtp_x_dir`. |",
    ]


def test_suboptions_and_other_entry_points(tmp_path, make_role):
    users = {
        "type": "list",
        "elements": "dict",
        "default": [],
        "description": "Users.",
        "options": {"name": {"type": "str", "required": True, "description": "Login."}},
    }
    role = make_role(
        "x",
        {"authsmtp_users": users, "authsmtp_x_map": {"type": "dict", "options": {"k": {"type": "int"}}}},
        entry_points={"cleanup": {"authsmtp_x_keep": {"type": "int", "default": 2, "description": "Kept."}}},
    )
    table = argspec_table.role_tables(role / "meta" / "argument_specs.yml")
    assert "| `authsmtp_users[].name` | str | **required** | Login. |" in table
    assert "| `authsmtp_x_map.k` | int |  |  |" in table
    main, _mark, cleanup = table.partition("### Entry point `cleanup`: cleanup of x\n")
    assert "authsmtp_x_keep" not in main
    assert "| `authsmtp_x_keep` | int | `2` | Kept. |" in cleanup


def test_update_writes_each_role_readme_and_check_then_passes(tmp_path, make_role):
    paths = [readme(make_role(name, OPTIONS)) for name in ("a", "b")]
    top = tmp_path / "README.md"
    top.write_text(f"top\n{BEGIN}\nold\n{END}\n")

    assert argspec_table.main(["--root", str(tmp_path), "--check"]) == 1
    assert argspec_table.main(["--root", str(tmp_path), "--update"]) == 0
    for path in paths:
        text = path.read_text()
        assert text.startswith(HAND_WRITTEN + BEGIN + "\n\n| variable | type | default | description |\n")
        assert text.endswith("| Defaults to `key` under `authsmtp_x_dir`. |\n\n" + END + "\nAfter the table.\n")
    # The top-level README is no longer the script's business.
    assert top.read_text() == f"top\n{BEGIN}\nold\n{END}\n"

    assert argspec_table.main(["--root", str(tmp_path), "--check"]) == 0
    before = [p.read_text() for p in paths]
    assert argspec_table.main(["--root", str(tmp_path), "--update"]) == 0
    assert [p.read_text() for p in paths] == before


def test_check_names_the_stale_readme(tmp_path, make_role, capsys):
    role = make_role("x", OPTIONS)
    readme(role)
    argspec_table.main(["--root", str(tmp_path), "--update"])
    spec = role / "meta" / "argument_specs.yml"
    spec.write_text(spec.read_text().replace("Names.", "Other names."))
    capsys.readouterr()
    assert argspec_table.main(["--root", str(tmp_path), "--check"]) == 1
    assert capsys.readouterr().out == (
        "roles/x/README.md: variable table is out of date: run scripts/argspec_table.py --update\n"
    )


def test_check_does_not_write(tmp_path, make_role):
    path = readme(make_role("x", OPTIONS))
    before = path.read_text()
    assert argspec_table.main(["--root", str(tmp_path), "--check"]) == 1
    assert path.read_text() == before


def test_missing_readme_fails_both_modes(tmp_path, make_role, capsys):
    make_role("x", OPTIONS)
    for mode in ("--check", "--update"):
        assert argspec_table.main(["--root", str(tmp_path), mode]) == 1
        assert capsys.readouterr().out.startswith("roles/x/README.md: missing; write it by hand")
    assert not (tmp_path / "roles" / "x" / "README.md").exists()


@pytest.mark.parametrize(
    "text",
    ["# x\nno marks\n", f"# x\n{BEGIN}\n", f"# x\n{END}\n{BEGIN}\n", f"# x\n{BEGIN}\n{END}\n{BEGIN}\n{END}\n"],
)
def test_marks_must_be_there_once_and_in_order(tmp_path, make_role, capsys, text):
    role = make_role("x", OPTIONS)
    (role / "README.md").write_text(text)
    assert argspec_table.main(["--root", str(tmp_path), "--update"]) == 1
    assert "needs exactly one" in capsys.readouterr().out
    assert (role / "README.md").read_text() == text


def test_roles_without_argument_specs_are_skipped(tmp_path, make_role):
    make_role("x", None)
    assert argspec_table.main(["--root", str(tmp_path), "--check"]) == 0


def test_without_arguments_prints_every_role(tmp_path, make_role, capsys):
    make_role("x", OPTIONS)
    assert argspec_table.main(["--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## `mailops.authsmtp.x`: The x role\n\n| variable |")
