"""Shared set-up of the benchmark tests.

bench/ goes first on sys.path, so the tests import its scripts as modules
(``import converge_bench``), as the scripts import ``benchlib`` themselves.
bench/ is not part of the collection tarball: under `ansible-test units`
(scripts/sanity.sh tests the tarball's contents) there is nothing to test and
no test module here is collected.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench"

if (BENCH / "benchlib.py").is_file():
    sys.path.insert(0, str(BENCH))
else:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def run_script():
    """Run a script with this Python from the checkout's root; returns the CompletedProcess."""

    def run(*args, timeout=300):
        return subprocess.run(  # noqa: S603 - fixed command, no shell
            [sys.executable, *map(str, args)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
