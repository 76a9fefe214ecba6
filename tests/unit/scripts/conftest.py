"""Shared set-up of the tests of scripts/.

scripts/ goes first on sys.path, so the tests import the scripts as modules
(``import check_role_inputs``). scripts/ is not part of the collection
tarball: under `ansible-test units` (scripts/sanity.sh tests the tarball's
contents) there is nothing to test and no test module here is collected.

``make_role`` writes a small fake role under ``tmp_path/roles``.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = ROOT / "scripts"

if (SCRIPTS / "check_role_inputs.py").is_file():
    sys.path.insert(0, str(SCRIPTS))
else:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture
def make_role(tmp_path):
    """make_role(name, options=None, defaults=None, entry_points=None, files=None) -> role directory.

    options: the options of entry point main (dict, dumped as YAML).
    defaults: the text of defaults/main.yml (dedented), or None for no file.
    entry_points: more entry points, name -> options.
    files: more files, path relative to the role -> text.
    """

    def make(name, options=None, defaults=None, entry_points=None, files=None):
        role = tmp_path / "roles" / name
        (role / "tasks").mkdir(parents=True)
        (role / "tasks" / "main.yml").write_text("---\n[]\n")
        if options is not None:
            specs = {"main": {"short_description": f"The {name} role", "options": options}}
            for entry, entry_options in (entry_points or {}).items():
                specs[entry] = {"short_description": f"{entry} of {name}", "options": entry_options}
            (role / "meta").mkdir()
            (role / "meta" / "argument_specs.yml").write_text(
                "---\n" + yaml.safe_dump({"argument_specs": specs}, sort_keys=False)
            )
        if defaults is not None:
            (role / "defaults").mkdir()
            (role / "defaults" / "main.yml").write_text(textwrap.dedent(defaults).lstrip("\n"))
        for rel, text in (files or {}).items():
            path = role / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"))
        return role

    return make
