"""Shared set-up of the tests that run the collection's playbooks with ansible-playbook.

``collections_path`` puts this checkout on a collections path as
mailops.authsmtp; ``run_ansible`` runs ansible-playbook (or another ansible
command next to this Python) with it, in a clean environment of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory) -> Path:
    """A collections path on which mailops.authsmtp is this checkout."""
    cached = ROOT / ".cache" / "collections"
    link = cached / "ansible_collections" / "mailops" / "authsmtp"
    if link.exists() and link.resolve() == ROOT:
        return cached
    base = tmp_path_factory.mktemp("collections")
    (base / "ansible_collections" / "mailops").mkdir(parents=True)
    (base / "ansible_collections" / "mailops" / "authsmtp").symlink_to(ROOT)
    return base


@pytest.fixture(scope="session")
def run_ansible(collections_path, tmp_path_factory):
    """``run_ansible(*args, cwd=..., command="ansible-playbook")``: the CompletedProcess of that command.

    Output is text, not colored, with the default stdout callback; the result's
    ``output`` is its stdout followed by its stderr. ANSIBLE_CONFIG is unset,
    the local and remote temporary directories are fresh ones, and collections
    come from ``collections_path`` and then, as in scripts/compat.sh, from the
    ANSIBLE_COLLECTIONS_PATH already set (community.crypto, for one, otherwise
    comes from the ``ansible`` package).
    """

    def run(*args: str, cwd: Path, command: str = "ansible-playbook") -> subprocess.CompletedProcess:
        temp = tmp_path_factory.mktemp("ansible-tmp")
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(
                filter(None, [str(collections_path), os.environ.get("ANSIBLE_COLLECTIONS_PATH")])
            ),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_STDOUT_CALLBACK": "default",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCAL_TEMP": str(temp / "local"),
            "ANSIBLE_REMOTE_TEMP": str(temp / "remote"),
            "PWD": str(cwd),
        }
        env.pop("ANSIBLE_CONFIG", None)
        command_line = [str(ANSIBLE_BIN / command), *args]
        result = subprocess.run(  # noqa: S603 - fixed command, no shell
            command_line, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        result.output = result.stdout + result.stderr
        return result

    return run
