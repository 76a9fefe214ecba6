"""bench/converge_bench.py: reading ansible-playbook output, the before/after summary, targets and checks."""

from __future__ import annotations

import json
from pathlib import Path

import benchlib
import converge_bench as cb
import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECAP = """PLAY RECAP *****
bench                      : ok=85   changed=26   unreachable=0    failed=0    skipped=17   rescued=0    ignored=0
other                      : ok=3    changed=0    unreachable=1    failed=1    skipped=0    rescued=0    ignored=0

TASKS RECAP *****
Sunday 29 November 2026  22:20:34 +0000 (0:00:00.040)       0:01:19.922 *******
===============================================================================
mailops.authsmtp.server : Install all packages in one transaction ------ 36.71s
mailops.authsmtp.tls : A very long task name that fills the whole width of the terminal and more of it  0.50s
Gathering Facts --------------------------------------------------------- 0.40s
mailops.authsmtp.sasl : Name - with a dash ------------------------------ 0.02s
"""


def test_parse_output():
    counts = cb.parse_recap(RECAP)
    assert (counts["ok"], counts["changed"], counts["failed"], counts["tasks"]) == (88, 26, 1, 88 + 17 + 1 + 1)
    assert cb.parse_profile_tasks(RECAP) == [
        ("mailops.authsmtp.server : Install all packages in one transaction", 36.71),
        ("mailops.authsmtp.tls : A very long task name that fills the whole width of the terminal and more of it", 0.5),
        ("Gathering Facts", 0.4), ("mailops.authsmtp.sasl : Name - with a dash", 0.02)]
    for text, what in (("fatal: x\n", "PLAY RECAP"), ("PLAY RECAP\n", "TASKS RECAP")):
        with pytest.raises(benchlib.BenchError, match=what):
            cb.parse_recap(text) if what == "PLAY RECAP" else cb.parse_profile_tasks(text)
    assert not cb.record("after", "cold", 1, 0, 1.0, RECAP, "x.log")["ok"]  # a failed task
    assert "parse_error" in cb.record("after", "cold", 1, 0, 1.0, "PLAY RECAP\n", "x.log")


def test_recorded_output_parses():
    cold, rerun = (cb.smoke_runs()[i] for i in (0, 1))
    assert cold["ok"] and rerun["ok"] and cold["counts"]["changed"] > 0 and rerun["counts"]["changed"] == 0
    assert len(cold["tasks"]) == 12 and cold["wall_s"] > rerun["wall_s"]


def run(revision, kind, repetition, wall, changed=0, ok=True):
    return {"revision": revision, "kind": kind, "repetition": repetition, "wall_s": wall, "ok": ok, "rc": 0,
            "counts": {"tasks": 10, "changed": changed, "skipped": 2},
            "tasks": [["r : slow", wall * 0.6], ["s : fast", wall * 0.1], ["r : slow", wall * 0.1]]}


def test_summary_targets_and_checks():
    runs = [run("before", "cold", 1, 60.0), run("before", "rerun", 1, 30.0), run("after", "cold", 1, 40.0),
            run("after", "rerun", 1, 8.0), run("after", "cold", 2, 50.0), run("after", "rerun", 2, 15.0, changed=1),
            run("before", "cold", 2, 100.0), run("before", "rerun", 2, 50.0, ok=False)]
    summary = cb.summarize(runs)
    after = summary["after"]
    assert after["cold"]["median_s"] == 45.0 and after["rerun_to_cold"]["per_repetition"] == [0.2, 0.3]
    assert summary["after_to_before"]["cold"]["per_repetition"] == [40 / 60, 0.5]
    assert summary["after_to_before"]["rerun"]["per_repetition"] == [8 / 30]  # before's failed re-run is left out
    # Equally named tasks add up within a run; roles sum their tasks.
    assert after["cold"]["slowest_tasks"][0] == {"name": "r : slow", "median_s": 31.5, "seconds": [28.0, 35.0]}
    assert [r["name"] for r in after["cold"]["time_by_role"]] == ["r", "s"]
    rerun, cold = cb.evaluate_targets(summary)
    assert rerun["measured"] == 0.25 and rerun["met"] is True and (cold["measured"], cold["met"]) == (45.0, True)
    checks = {c["id"]: c for c in cb.evaluate_checks(runs, {"before": 0, "after": 4})}
    assert checks["syntax"]["failed"] == ["after: rc 4"] and checks["runs_succeeded"]["failed"][0].startswith("2/bef")
    assert checks["idempotent"]["failed"] == ["2/after: changed=1"]
    empty = cb.evaluate_targets(cb.summarize([]))
    assert [t["met"] for t in empty] == [None, None] and all("not measured" in t["reason"] for t in empty)


def test_inventory_connects_as_root(tmp_path):
    with benchlib.collection(cb.BASELINE) as base:
        path = cb.inventory(str(tmp_path / "inv.json"), "192.0.2.1", "/k", base)
    group = json.loads(Path(path).read_text(encoding="utf-8"))["smtp_servers"]
    assert group["hosts"] == {"bench": {"ansible_host": "192.0.2.1"}}
    assert group["vars"]["ansible_user"] == "root" and group["vars"]["ansible_become"] is False
    assert group["vars"]["authsmtp_tls_source"] == "selfsigned" and len(group["vars"]["authsmtp_users"]) == 2


def test_smoke_run(smoke):
    result = json.loads(smoke["converge"].read_text(encoding="utf-8"))
    assert result["method"]["syntax_check"] == {"before": 0, "after": 0}
    assert all(c["met"] for c in result["checks"]) and len(result["runs"]) == 4
    assert result["summary"]["after_to_before"]["cold"]["median"] == 1.0
