"""bench/benchlib.py: statistics, targets, checks, and the collections it builds for ansible-playbook."""

from __future__ import annotations

import os

import benchlib
import pytest


def test_median_percentile_and_paired_ratios():
    assert benchlib.median([3, None, 1, 2]) == 2 and benchlib.median([None]) is None
    assert benchlib.percentile([10, 20, 30, 40], 50) == 25 and benchlib.percentile([10, 20, 30, 40], 95) == 38.5
    assert benchlib.percentile([], 50) is None
    # Repetition 3 has no reference, repetition 2 a failed measurement: neither is paired.
    assert benchlib.paired({1: 2.0, 2: None, 3: 9.0}, {1: 4.0, 2: 1.0}) == {"per_repetition": [0.5], "median": 0.5}


def test_targets_and_checks():
    met = benchlib.target("t", "d", "≤ 1", 0.5, "×", lambda m: m <= 1)
    assert met["met"] is True and "reason" not in met
    assert benchlib.target("t", "d", "≤ 1", 2.0, "×", lambda m: m <= 1)["met"] is False
    missing = benchlib.target("t", "d", "≤ 1", None, "×", lambda m: m <= 1, reason="no run")
    assert missing["met"] is None and missing["reason"] == "no run"
    assert benchlib.check("c", "d", ["x"])["met"] is False and benchlib.check("c", "d", [], False)["met"] is None


def test_int_list():
    assert benchlib.int_list("32,1,8,8") == [1, 8, 32]
    with pytest.raises(Exception, match="positive"):
        benchlib.int_list("1,0")


@pytest.mark.parametrize(("rev", "copy"), [(None, False), (None, True), ("435319e", False)])
def test_collection(rev, copy):
    with benchlib.collection(rev, copy) as base:
        path = os.path.join(base, "ansible_collections", "mailops", "authsmtp")
        assert os.path.islink(path) is (rev is None and not copy)
        assert os.path.isfile(os.path.join(path, "galaxy.yml")) and os.path.isdir(os.path.join(path, "roles"))
        if rev:  # the 0.1.0 release's site.yml asks for become
            assert benchlib.become_off(base) == {"ansible_become": False}
    assert not os.path.exists(base) and os.path.isdir(os.path.join(benchlib.REPO, "roles"))


def test_become_only_where_site_asks(tmp_path):
    site = tmp_path / "ansible_collections" / "mailops" / "authsmtp" / "playbooks" / "site.yml"
    site.parent.mkdir(parents=True)
    site.write_text("- hosts: smtp_servers\n  roles: [x]\n", encoding="utf-8")
    assert benchlib.become_off(str(tmp_path)) == {}
    site.write_text("- hosts: smtp_servers\n  become: true\n", encoding="utf-8")
    assert benchlib.become_off(str(tmp_path)) == {"ansible_become": False}
