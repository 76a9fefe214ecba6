"""The benchmark tests import the scripts in bench/ as modules, as the scripts import benchlib.

bench/ is not in the collection tarball: under `ansible-test units` there is nothing to test here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"

if (BENCH / "benchlib.py").is_file():
    sys.path.insert(0, str(BENCH))
else:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """{benchmark: JSON path} of one smoke run of each script, run in-process (no container)."""
    import converge_bench
    import sasl_user_bench
    import smtp_bench

    directory = tmp_path_factory.mktemp("bench-smoke")
    paths = {}
    for name, script in (("sasl_user", sasl_user_bench), ("converge", converge_bench), ("smtp", smtp_bench)):
        paths[name] = directory / f"{name}.json"
        assert script.main(["--smoke", "--quiet", "--json", str(paths[name]), "--workdir", str(directory)]) == 0
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in paths.values())
    return paths
