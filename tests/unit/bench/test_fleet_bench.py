"""bench/fleet_bench.py: the PLAY RECAP of several servers, the summary per size, targets, checks, and one smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import benchlib
import converge_bench as cb
import fleet_bench as fb
import pytest
import render_benchmarks as render

RECAP = """PLAY RECAP *****
bench1                     : ok=85   changed=26   unreachable=0    failed=0    skipped=17   rescued=0    ignored=0
bench2                     : ok=80   changed=0    unreachable=0    failed=1    skipped=3    rescued=0    ignored=0
bench3                     : ok=2    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0

TASKS RECAP *****
Sunday 29 November 2026  22:20:34 +0000 (0:00:00.040)       0:01:19.922 *******
===============================================================================
mailops.authsmtp.server : Install all packages in one transaction ------ 36.71s
"""


def test_recap_of_several_servers():
    hosts = cb.parse_recap(RECAP, per_host=True)
    assert list(hosts) == ["bench1", "bench2", "bench3"]
    assert hosts["bench1"]["tasks"] == 85 + 17 and (hosts["bench2"]["failed"], hosts["bench3"]["unreachable"]) == (1, 1)
    total = cb.parse_recap(RECAP)
    assert total["ok"] == 167 and total["tasks"] == sum(h["tasks"] for h in hosts.values())
    ok = RECAP.replace("failed=1", "failed=0").replace("unreachable=1", "unreachable=0")
    entry = fb.record(3, "cold", 1, 0, 50.0, ok, "x.log")
    assert entry["ok"] and entry["size"] == 3 and "revision" not in entry and entry["hosts"]["bench1"]["changed"] == 26
    assert not fb.record(4, "cold", 1, 0, 50.0, ok, "x.log")["ok"]  # bench4 is not in the PLAY RECAP
    assert not fb.record(3, "cold", 1, 0, 50.0, RECAP, "x.log")["ok"]
    assert fb.record(2, "cold", 1, 2, 5.0, "fatal\n", "x.log")["hosts"] == {}


def test_runs_and_inventory(tmp_path):
    assert fb.arguments(4, "cold") == ("-e", "authsmtp_rollout_serial=4", "--forks", "5")
    assert fb.arguments(8, "rerun")[-1] == "8"
    assert fb.arguments(4, "rollout") == ("-e", "authsmtp_rollout_serial=1", "-e", "authsmtp_tls_force_renew=true")
    with benchlib.collection() as base:
        path = cb.inventory(str(tmp_path / "inv.json"), fb.fleet(["192.0.2.1", "192.0.2.2"]), "/k", base)
    group = json.loads(Path(path).read_text(encoding="utf-8"))["smtp_servers"]
    assert group["hosts"]["bench2"] == {"ansible_host": "192.0.2.2", "authsmtp_hostname": "bench2.example.test"}
    assert group["vars"]["ansible_user"] == "root" and len(group["vars"]["authsmtp_users"]) == 2


def test_recorded_output_lists_every_server():
    runs = {(r["size"], r["kind"]): r for r in fb.smoke_runs([1, 3])}
    assert all(r["ok"] for r in runs.values()) and sorted(runs[(3, "rerun")]["hosts"]) == ["bench1", "bench2", "bench3"]
    assert runs[(3, "rollout")]["wall_s"] == pytest.approx(3 * runs[(1, "rollout")]["wall_s"])


def run(size, kind, repetition, wall, changed=(0,), ok=True):
    hosts = {f"bench{i}": {"changed": c} for i, c in enumerate(changed * size if len(changed) == 1 else changed, 1)}
    return {"size": size, "kind": kind, "repetition": repetition, "wall_s": wall, "ok": ok, "rc": 0, "hosts": hosts}


def test_summary_targets_and_checks():
    runs = [run(1, "cold", 1, 40.0, (20,)), run(1, "rerun", 1, 10.0), run(1, "rollout", 1, 12.0, (3,)),
            run(4, "cold", 1, 52.0, (20,)), run(4, "rerun", 1, 16.0), run(4, "rollout", 1, 60.0, (3, 3, 0, 3)),
            run(1, "cold", 2, 40.0, (20,)), run(1, "rerun", 2, 8.0, (1,)), run(4, "cold", 2, 80.0, (20,)),
            run(4, "rerun", 2, 20.0, ok=False)]
    small, big = fb.summarize(runs, [1, 4])
    assert big["cold"] == {"seconds": [52.0, 80.0], "median_s": 66.0,
                           "to_smallest": {"per_repetition": [1.3, 2.0], "median": 1.65}}
    assert big["rerun"]["to_smallest"]["per_repetition"] == [1.6]  # the failed re-run of repetition 2 is left out
    assert big["rollout_per_host"]["seconds"] == [15.0] and big["rollout_per_host"]["to_smallest"]["median"] == 1.25
    assert small["rollout"]["median_s"] == 12.0 and small["cold"]["to_smallest"]["median"] == 1.0
    cold, rerun = fb.evaluate_targets([small, big])
    assert (cold["measured"], cold["met"], rerun["measured"], rerun["met"]) == (1.65, False, 1.6, False)
    assert cold["threshold"] == "≤ 1.5 × 1 server" and "of 4 servers in one batch" in cold["description"]
    one = fb.evaluate_targets(fb.summarize(runs, [1]))[0]
    assert one["met"] is None and one["reason"] == "not measured: one size only"
    assert all(t["met"] is None for t in fb.evaluate_targets(fb.summarize([], [1, 4])))
    checks = {c["id"]: c for c in fb.evaluate_checks(runs, 4)}
    assert checks["syntax"]["failed"] == ["rc 4"]
    assert checks["runs_succeeded"]["failed"] == ["2/4/rerun: rc 0, 4 of 4 servers"]
    assert checks["idempotent"]["failed"] == ["2/1: bench1 changed=1"]
    assert checks["rollout_changed"]["failed"] == ["1/4: bench3 changed=0"]
    assert [c["met"] for c in fb.evaluate_checks([], 0)] == [True, None, None, None]


def test_smoke_run(tmp_path):
    path = tmp_path / "fleet.json"
    assert fb.main(["--smoke", "--quiet", "--json", str(path), "--workdir", str(tmp_path), "--sizes", "4,1,2"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["fleet.json"]
    result = json.loads(path.read_text(encoding="utf-8"))
    assert result["format"] == benchlib.FORMAT and result["benchmark"] == "fleet" and result["smoke"] is True
    assert result["title"] == "Fleet converge (mailops.authsmtp.site, 1/2/4 servers)"
    assert result["method"]["syntax_check"] == 0 and result["method"]["sizes"] == [1, 2, 4]
    assert all(c["met"] for c in result["checks"]) and all(t["met"] for t in result["targets"])
    assert [r["size"] for r in result["summary"]] == [1, 2, 4] and len(result["runs"]) == 9
    assert result["method"]["inventory_vars"]["authsmtp_users"][0]["password"] == "********"
    text = render.render([result])
    assert "\n## Fleet converge (mailops.authsmtp.site, 1/2/4 servers) (smoke run)\n" in text
    assert "\n### Wall time by number of servers\n" in text and "| 4 | 39.2 s (39.2 s) |" in text
