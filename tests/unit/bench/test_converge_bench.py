"""bench/converge_bench.py: reading ansible-playbook output, the variants, the summary, and its smoke mode.

The smoke mode reads recorded output of a real run (fixtures/converge-*.log,
from `converge_bench.py --quick` against the committed collection) and
syntax-checks the generated playbooks; no container is started. The
figures are not checked: the measurements are not timed tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

cb = pytest.importorskip("converge_bench", reason="bench/ is not in the collection tarball (ansible-test units)")

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "bench" / "converge_bench.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


RECAP = """
PLAY RECAP *********************************************************************
bench                      : ok=85   changed=26   unreachable=0    failed=0    skipped=17   rescued=0    ignored=0
other                      : ok=3    changed=0    unreachable=1    failed=1    skipped=0    rescued=0    ignored=0

TASKS RECAP ********************************************************************
Sunday 29 November 2026  22:20:34 +0000 (0:00:00.040)       0:01:19.922 *******
===============================================================================
mailops.authsmtp.server : Install all packages in one transaction ------ 36.71s
mailops.authsmtp.postfix : Render the lookup tables --------------------- 3.35s
mailops.authsmtp.postfix : Validate the staged configuration with postfix check and postconf -n --- 1.39s
mailops.authsmtp.tls : A very long task name that fills the whole width of the terminal and more of it  0.50s
Gathering Facts --------------------------------------------------------- 0.40s
mailops.authsmtp.sasl : Name - with a dash ------------------------------ 0.02s
"""


def test_parse_recap():
    recap = cb.parse_recap(RECAP)
    assert recap["bench"] == dict(ok=85, changed=26, unreachable=0, failed=0, skipped=17, rescued=0, ignored=0)
    counts = cb.recap_counts({"bench": recap["bench"]})
    assert counts["tasks"] == 85 + 17 and counts["changed"] == 26
    both = cb.recap_counts(recap)
    assert both["failed"] == 1 and both["tasks"] == 85 + 17 + 3 + 1 + 1


def test_parse_recap_without_recap():
    with pytest.raises(cb.BenchError, match="PLAY RECAP"):
        cb.parse_recap("PLAY [x] ***\nfatal: something\n")


def test_parse_profile_tasks():
    tasks = cb.parse_profile_tasks(RECAP)
    assert tasks == [
        ("mailops.authsmtp.server : Install all packages in one transaction", 36.71),
        ("mailops.authsmtp.postfix : Render the lookup tables", 3.35),
        ("mailops.authsmtp.postfix : Validate the staged configuration with postfix check and postconf -n", 1.39),
        (
            "mailops.authsmtp.tls : A very long task name that fills the whole width of the terminal and more of it",
            0.5,
        ),
        ("Gathering Facts", 0.4),
        ("mailops.authsmtp.sasl : Name - with a dash", 0.02),
    ]
    assert cb.parse_profile_total(RECAP) == pytest.approx(79.922)
    with pytest.raises(cb.BenchError, match="TASKS RECAP"):
        cb.parse_profile_tasks("PLAY RECAP ***\n")


def test_roles_and_slowest_tasks():
    assert cb.role_of("mailops.authsmtp.postfix : Install Postfix") == "mailops.authsmtp.postfix"
    assert cb.role_of("Gathering Facts") == "(play)"
    runs = [
        [("r : a", 3.0), ("r : b", 1.0), ("s : c", 0.5), ("r : b", 1.0)],
        [("r : a", 5.0), ("r : b", 1.0)],
        [("r : a", 4.0), ("r : b", 3.0), ("s : c", 0.5)],
    ]
    top = cb.slowest_tasks(runs, top=2)
    assert [t["name"] for t in top] == ["r : a", "r : b"]
    assert top[0]["median_s"] == 4.0 and top[0]["seconds"] == [3.0, 5.0, 4.0]
    # Tasks included twice in one run add up; a task missing from a run counts 0 there.
    assert top[1]["seconds"] == [2.0, 1.0, 3.0]
    assert cb.slowest_tasks(runs, top=10)[-1] == {
        "name": "s : c",
        "role": "s",
        "median_s": 0.5,
        "seconds": [0.5, 0.0, 0.5],
        "share_median": pytest.approx(0.5 / 7.5),
    }
    roles = cb.time_by_role(runs)
    assert [(r["role"], r["median_s"]) for r in roles] == [("r", 6.0), ("s", 0.5)]


def test_variant_playbooks():
    assert cb.playbook("tuned", "cold") is None
    assert cb.playbook("no_pipelining", "idempotent") is None
    facts = cb.playbook("full_facts", "idempotent")
    assert facts[0]["gather_facts"] is True and facts[0]["tasks"] == []
    assert facts[-1] == {
        "name": "The collection's playbook",
        "ansible.builtin.import_playbook": "mailops.authsmtp.site",
    }
    # Batching only matters when packages are installed: a re-run is not wrapped for it.
    assert cb.playbook("unbatched", "idempotent") is None
    unbatched = cb.playbook("unbatched", "cold")
    tasks = unbatched[0]["tasks"]
    assert unbatched[0]["gather_facts"] is False
    assert tasks[0]["ansible.builtin.debconf"]["value"] == "No configuration"
    installs = [t["ansible.builtin.apt"]["name"] for t in tasks[1:]]
    assert len(installs) == 4 and "postfix" in installs[1] and "dovecot-core" in installs[2]
    untuned = cb.playbook("untuned", "cold")
    assert len(untuned) == 2 and untuned[0]["gather_facts"] is True and len(untuned[0]["tasks"]) == 5
    assert len(cb.playbook("untuned", "idempotent")) == 2


def test_ansible_cfg():
    tuned = cb.ansible_cfg("tuned", "/w", "ssh", "/w/cp1")
    assert "pipelining = True" in tuned and "control_path_dir = /w/cp1" in tuned
    assert "callbacks_enabled = ansible.posix.profile_tasks" in tuned and "task_output_limit = all" in tuned
    assert "pipelining = False" in cb.ansible_cfg("untuned", "/w", "ssh", "/w/cp1")
    assert "control_path_dir" not in cb.ansible_cfg("tuned", "/w", "podman", "/w/cp1")


def test_inventory_masks_nothing_but_the_record():
    inventory = cb.inventory("ssh", "10.0.0.2", "/k")
    host_vars = inventory["smtp_servers"]["vars"]
    assert inventory["smtp_servers"]["hosts"] == {"bench": {"ansible_host": "10.0.0.2"}}
    assert host_vars["ansible_become"] is False and host_vars["ansible_user"] == "root"
    assert host_vars["authsmtp_users"][0]["password"] != "********"
    assert all(u["password"] == "********" for u in cb.public_inventory_vars()["authsmtp_users"])
    assert cb.inventory("podman", "c", None)["smtp_servers"]["vars"]["ansible_connection"] == "containers.podman.podman"


def run(variant, kind, repetition, wall, changed=0, ok=True, rerun=1):
    counts = dict(tasks=10, ok=8, changed=changed, skipped=2, failed=0, unreachable=0)
    return dict(
        variant=variant,
        kind=kind,
        repetition=repetition,
        rerun=rerun,
        wall_s=wall,
        ok=ok,
        counts=counts,
        tasks=[["r : slow", wall * 0.6], ["s : fast", wall * 0.1]],
    )


def test_summary_targets_and_checks():
    runs = [
        run("tuned", "cold", 1, 100.0),
        run("tuned", "idempotent", 1, 30.0),
        run("untuned", "idempotent", 1, 60.0),
        run("untuned", "cold", 1, 150.0),
        run("tuned", "cold", 2, 120.0),
        run("tuned", "idempotent", 2, 60.0, changed=2),
        run("untuned", "idempotent", 2, 90.0),
        run("untuned", "cold", 2, 200.0, ok=False),
    ]
    summary = cb.summarize(runs, ["tuned", "untuned"], ["tuned", "untuned"], 2)
    assert summary["cold"]["tuned"]["median_s"] == 110.0
    assert summary["cold"]["untuned"]["seconds"] == [150.0]
    assert summary["idempotent_to_cold"]["per_repetition"] == [0.3, 0.5]
    ratios = {entry["id"]: entry for entry in summary["before_after"]}
    assert ratios["cold/untuned"]["ratio_per_repetition"] == [1.5]
    assert ratios["idempotent/untuned"]["ratio_per_repetition"] == [2.0, 1.5]
    assert summary["slowest_tasks"]["cold"][0]["name"] == "r : slow"
    (target,) = cb.evaluate_targets(summary)
    assert target["measured"] == pytest.approx(0.4) and target["met"] is True
    checks = {c["id"]: c for c in cb.evaluate_checks(runs)}
    assert checks["runs_succeeded"]["failed"] == ["2/cold/untuned"]
    assert checks["idempotent"]["met"] is False and checks["idempotent"]["failed"] == ["2/tuned/1: changed=2"]


def test_target_not_measured_without_a_pair():
    summary = cb.summarize([run("tuned", "cold", 1, 100.0)], ["tuned"], ["tuned"], 1)
    (target,) = cb.evaluate_targets(summary)
    assert target["met"] is None and "not measured" in target["reason"]


def test_recorded_output_parses():
    for (kind, _variant), name in cb.SMOKE_FIXTURES.items():
        analysis = cb.analyze_output((FIXTURES / name).read_text(encoding="utf-8"))
        assert analysis["counts"]["failed"] == 0 and analysis["counts"]["unreachable"] == 0
        assert analysis["tasks_profiled"] > 20
        assert analysis["ansible_elapsed_s"] > 0
        if kind == "idempotent":
            assert analysis["counts"]["changed"] == 0
        else:
            assert analysis["counts"]["changed"] > 0


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, run_script):
    directory = tmp_path_factory.mktemp("converge")
    json_path = directory / "converge.json"
    proc = run_script(SCRIPT, "--smoke", "--json", json_path, "--workdir", directory, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(json_path.read_text(encoding="utf-8")), directory


def test_smoke_report(smoke):
    result, directory = smoke
    assert sorted(p.name for p in directory.iterdir()) == ["converge.json"]
    assert result["format"] == "mailops-authsmtp-bench/1" and result["benchmark"] == "converge"
    assert result["smoke"] is True and any("SMOKE RUN" in note for note in result["notes"])
    assert {(r["kind"], r["variant"]) for r in result["runs"]} == set(cb.SMOKE_FIXTURES)
    assert all(r["recorded"] for r in result["runs"])
    syntax = result["method"]["syntax_checked"]
    assert {e["playbook"] for e in syntax} >= {"mailops.authsmtp.site", "playbook-untuned-cold.yml"}
    assert all(e["rc"] == 0 for e in syntax), syntax
    assert all(check["met"] for check in result["checks"]), result["checks"]
    assert result["targets"][0]["met"] in (True, False)
    assert len(result["summary"]["slowest_tasks"]["cold"]) == cb.TOP_TASKS
