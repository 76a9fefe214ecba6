"""Smoke test of bench/sasl_user_bench.py and bench/render_benchmarks.py.

The benchmark runs once in --smoke mode (sizes 10 and 50, one repetition,
cheap hash costs) into a temporary JSON file, and the renderer turns
that into a temporary Markdown file. The tests check the structure and the
correctness checks of the runs, never the times: the measurements are not
timed tests.

bench/ is not part of the collection tarball, so under `ansible-test units`
(scripts/sanity.sh, which tests the tarball's contents) there is nothing to
test and conftest.py collects nothing here.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import pytest

render = pytest.importorskip("render_benchmarks", reason="bench/ is not in the collection tarball (ansible-test units)")
bench = pytest.importorskip("sasl_user_bench", reason="bench/ is not in the collection tarball (ansible-test units)")

ROOT = Path(__file__).resolve().parents[3]
BENCH_SCRIPT = ROOT / "bench" / "sasl_user_bench.py"
RENDER_SCRIPT = ROOT / "bench" / "render_benchmarks.py"

RUN_KINDS = ("first", "no_change", "change", "hash_no_change", "hash_change")
SMOKE_CASES = {"SHA512-CRYPT/10", "BLF-CRYPT/10", "ARGON2ID/10", "SHA512-CRYPT/50"}
TARGETS = ("no_change_plaintext_vs_raw", "no_change_hash_10000_users", "change_rewrites_only_changed")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, run_script):
    """(result dict, JSON path, directory) of one smoke run of the benchmark."""
    directory = tmp_path_factory.mktemp("bench")
    json_path = directory / "out" / "sasl_user.json"
    proc = run_script(BENCH_SCRIPT, "--smoke", "--json", json_path, "--workdir", directory)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "target no_change_hash_10000_users: not measured" in proc.stderr
    result = json.loads(json_path.read_text(encoding="utf-8"))
    return result, json_path, directory


def test_smoke_run_leaves_only_the_json(smoke):
    _result, json_path, directory = smoke
    assert sorted(p.name for p in directory.iterdir()) == ["out"]
    assert [p.name for p in json_path.parent.iterdir()] == ["sasl_user.json"]


def test_envelope(smoke):
    result = smoke[0]
    assert result["format"] == "mailops-authsmtp-bench/1"
    assert result["benchmark"] == "sasl_user"
    assert result["smoke"] is True
    assert datetime.datetime.fromisoformat(result["date"]) <= datetime.datetime.fromisoformat(result["finished"])
    machine = result["machine"]
    assert machine["cpu_model"] and machine["cpu_cores"] >= 1
    assert machine["python"] == ".".join(map(str, sys.version_info[:3]))
    assert "libpass" in machine["packages"] or "passlib" in machine["packages"]
    method = result["method"]
    assert method["invocation"] == "in-process"
    assert method["sizes"] == [10, 50] and method["repeat"] == 1
    assert method["cost"]["sha512_rounds"] == 1000 and method["cost_is_module_default"] is False
    assert method["skipped"] == [{"scheme": "BLF-CRYPT", "users": 50}, {"scheme": "ARGON2ID", "users": 50}]
    assert method["module_file"] == str(ROOT / "plugins" / "modules" / "sasl_user.py")
    assert any("SMOKE RUN" in note for note in result["notes"])


def test_cases_have_every_run_and_figure(smoke):
    result = smoke[0]
    assert {case["id"] for case in result["cases"]} == SMOKE_CASES
    for case in result["cases"]:
        assert len(case["raw"]) == 1
        assert case["raw"][0]["verify_s"] > 0 and len(case["raw"][0]["verify_samples_s"]) == 3
        assert case["raw_summary"]["raw_cost_s_median"] == pytest.approx(
            case["users"] * case["raw_summary"]["verify_s_median"]
        )
        assert set(case["runs"]) == set(RUN_KINDS)
        for kind, run in case["runs"].items():
            assert len(run["seconds"]) == 1 and len(run["checks"]) == 1, kind
            assert run["median_s"] > 0
            assert run["ratio_to_raw_median"] == pytest.approx(run["median_s"] / case["raw_summary"]["raw_cost_s"][0])
            assert run["checks_passed"] is True, (case["id"], kind, run["checks"])


def test_change_runs_rewrote_exactly_the_changed_lines(smoke):
    for case in smoke[0]["cases"]:
        # 1 % of 10 or 50 users, but at least one.
        assert case["changed_users"] == 1 and len(case["changed_indices"]) == 1
        for kind in ("change", "hash_change"):
            check = case["runs"][kind]["checks"][0]
            # The first run writes user i on line i, so the changed lines are the changed users.
            assert check["changed_lines"] == case["changed_indices"], (case["id"], kind)
            assert check["lines"] == case["users"]
            assert check["changed_exactly_expected_lines"] is True
            assert check["other_lines_identical"] is True
            assert check["only_password_field_changed"] is True
            assert check["reported_changed"] is True
        for kind in ("no_change", "hash_no_change"):
            assert case["runs"][kind]["checks"][0] == {
                "reported_unchanged": True,
                "file_identical": True,
                "file_not_rewritten": True,
            }


def test_targets_and_checks(smoke):
    result = smoke[0]
    targets = {target["id"]: target for target in result["targets"]}
    assert tuple(targets) == TARGETS
    for target in targets.values():
        assert target["met"] in (True, False, None)
        assert target["description"] and target["threshold"]
    # Timing targets are evaluated on whatever was measured (smoke figures mean nothing) ...
    assert isinstance(targets["no_change_plaintext_vs_raw"]["met"], bool)
    assert len(targets["no_change_plaintext_vs_raw"]["details"]) == len(SMOKE_CASES)
    # ... but 10,000 users were not measured, and that is what the result says.
    assert targets["no_change_hash_10000_users"]["met"] is None
    assert targets["no_change_hash_10000_users"]["details"] == []
    assert "not measured" in targets["no_change_hash_10000_users"]["reason"]
    assert targets["change_rewrites_only_changed"]["met"] is True
    assert len(targets["change_rewrites_only_changed"]["details"]) == 2 * len(SMOKE_CASES)
    assert [check["id"] for check in result["checks"]] == list(RUN_KINDS)
    assert all(check["met"] is True for check in result["checks"])


def test_render_markdown(smoke, run_script):
    result, json_path, directory = smoke
    output = directory / "md" / "benchmarks.md"
    proc = run_script(RENDER_SCRIPT, "--output", output, json_path)
    assert proc.returncode == 0, proc.stderr
    text = output.read_text(encoding="utf-8")
    assert text.startswith("<!-- Generated by `make bench`")
    assert "do not edit it by hand" in text
    assert "**SMOKE RUN** (sasl_user)" in text
    assert f"| CPU | {result['machine']['cpu_model']} |" in text
    assert result["date"] in text
    for heading in ("## Machine", "## User management (sasl_user) — smoke run", "### Targets", "### Runs"):
        assert f"\n{heading}\n" in text
    runs = [line for line in text.splitlines() if line.startswith(("| 10 |", "| 50 |"))]
    # five runs per case, plus one raw-cost line per case
    assert len(runs) == len(SMOKE_CASES) * (len(RUN_KINDS) + 1)
    assert text.count("| not measured |") == 1
    assert "**FAILED**" not in text


def test_renderer_refuses_smoke_results_for_docs(smoke, tmp_path, monkeypatch, capsys):
    docs = tmp_path / "docs" / "benchmarks.md"
    monkeypatch.setattr(render, "DEFAULT_OUTPUT", str(docs))
    assert render.main([str(smoke[1]), "--output", str(docs)]) == 2
    assert "refusing to write smoke results" in capsys.readouterr().err
    assert not docs.exists()
    assert render.main([str(smoke[1]), "--output", str(docs), "--allow-smoke"]) == 0
    assert docs.exists()


def test_renderer_takes_other_benchmarks(smoke, tmp_path):
    """A later benchmark can add its own JSON section with generic tables."""
    other = {
        "format": "mailops-authsmtp-bench/1",
        "benchmark": "zz_example",
        "title": "Example later benchmark",
        "date": "2030-01-01T00:00:00+00:00",
        "machine": smoke[0]["machine"],
        "targets": [{"id": "x", "description": "many messages", "threshold": "> 1", "measured": 2.0, "met": True}],
        "tables": [{"title": "Messages", "columns": ["Clients", "Messages/s"], "rows": [[1, "2.0"], [4, "7.5"]]}],
    }
    (tmp_path / "zz_example.json").write_text(json.dumps(other), encoding="utf-8")
    (tmp_path / "sasl_user.json").write_text(smoke[1].read_text(encoding="utf-8"), encoding="utf-8")
    text = render.render(render.load([str(tmp_path)]))
    assert text.index("## User management (sasl_user)") < text.index("## Example later benchmark")
    assert "| Clients | Messages/s |" in text and "| 4 | 7.5 |" in text
    assert "| many messages | > 1 | 2 | met |" in text
    assert text.count("## Machine") == 1  # same machine: shown once


def test_changed_users_are_spread_evenly():
    assert [bench.changed_count(n, 1) for n in (10, 50, 1000, 10000)] == [1, 1, 10, 100]
    picked = bench.pick_indices(10000, 100)
    assert len(picked) == 100 and picked[0] == 50 and picked[-1] == 9950
    assert {b - a for a, b in zip(picked, picked[1:], strict=False)} == {100}
    assert bench.pick_indices(10, 1) == [5]
