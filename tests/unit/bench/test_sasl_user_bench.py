"""bench/sasl_user_bench.py: which users change, the checks of a run, the targets, and one smoke run."""

from __future__ import annotations

import json
import os

import pytest
import sasl_user_bench as sb

LINES = [b"a@x:{SHA512-CRYPT}$6$old-a::::::", b"b@x:{SHA512-CRYPT}$6$old-b::::::", b"c@x:{SHA512-CRYPT}$6$c::::::"]


def test_changed_users_are_spread_evenly():
    assert [sb.changed_count(n, 1) for n in (10, 50, 1000, 10000)] == [1, 1, 10, 100]
    picked = sb.pick_indices(10000, 100)
    assert len(picked) == 100 and picked[0] == 50 and {b - a for a, b in zip(picked, picked[1:], strict=False)} == {100}


def run_check(tmp_path, new_lines, result, expected):
    """check_run() after the file went from LINES to new_lines (None: left alone)."""
    path = tmp_path / "users"
    path.write_bytes(b"\n".join(LINES) + b"\n")
    before = {"lines": list(LINES), "stat": (os.stat(path).st_ino, os.stat(path).st_mtime_ns)}
    if new_lines is not None:
        (tmp_path / "new").write_bytes(b"\n".join(new_lines) + b"\n")
        os.replace(tmp_path / "new", path)
    base = {"changed": bool(expected), "users_added": [], "users_updated": sorted(expected), "users_removed": []}
    return sb.check_run({**base, **result}, before, str(path), expected)


def test_check_run_accepts_exactly_the_expected_change(tmp_path):
    new = [LINES[0], b"b@x:{SHA512-CRYPT}$6$new-b::::::", LINES[2]]
    assert run_check(tmp_path, new, {}, {"b@x": "{SHA512-CRYPT}$6$new-b"}) == []
    assert run_check(tmp_path, new, {}, {"b@x": None}) == []
    assert run_check(tmp_path, None, {}, {}) == []


def test_check_run_finds_what_went_wrong(tmp_path):
    new = [b"a@x:{SHA512-CRYPT}$6$new-a::::1000::", b"b@x:{SHA512-CRYPT}$6$new-b::::::", LINES[2]]
    problems = run_check(tmp_path, new, {"users_updated": ["a@x", "b@x"]}, {"b@x": "{SHA512-CRYPT}$6$other"})
    assert problems == ["reported other users than the changed ones", "more than the password field changed for a@x",
                        "2 lines changed, expected 1", "b@x: not the given hash"]
    assert run_check(tmp_path, LINES, {"counts": {"updated": 1}}, {}) == [
        "counts.updated 1 != 0", "file rewritten without a change"]
    assert run_check(tmp_path, LINES[:2], {}, {})[-1] == "3 lines became 2"


def case(users, no_change_s, hash_s, ok=True):
    runs = {k: {"seconds": [s], "problems": [[] if ok else ["wrong"]]}
            for k, s in (("no_change", no_change_s), ("change", 1.0), ("hash_no_change", hash_s), ("hash_change", 1))}
    return sb.summarize_case({"id": f"X/{users}", "users": users, "raw_verify_s": [0.001], "runs": runs})


def test_targets():
    cases = [case(10, 0.011, 0.001), case(10000, 12.0, 1.5)]
    assert cases[1]["runs"]["no_change"]["ratio_to_raw"]["median"] == pytest.approx(1.2)
    ratio, hashes, changes = sb.evaluate_targets(cases, 1)
    assert (ratio["met"], ratio["worst_case"], hashes["met"], changes["met"]) == (True, "X/10000", True, True)
    ratio, hashes, changes = sb.evaluate_targets([case(10, 0.02, 0.001, ok=False)], 1)
    assert ratio["met"] is False and hashes["met"] is None and "10,000" in hashes["reason"] and changes["met"] is False
    assert sb.evaluate_checks([case(10, 0.02, 0.001, ok=False) | {"initial_problems": []}])[2]["met"] is False


def test_smoke_run(smoke):
    result = json.loads(smoke["sasl_user"].read_text(encoding="utf-8"))
    assert [c["id"] for c in result["cases"]] == ["SHA512-CRYPT/10", "BLF-CRYPT/10", "ARGON2ID/10", "SHA512-CRYPT/50"]
    assert result["method"]["skipped"] == ["BLF-CRYPT/50", "ARGON2ID/50"]
    assert all(c["met"] for c in result["checks"]) and result["targets"][2]["met"] is True
