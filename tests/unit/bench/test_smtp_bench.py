"""bench/smtp_bench.py and smtp_loadgen.py: the plan, the summary, targets, checks, and the load generator's parts."""

from __future__ import annotations

import base64
import json

import pytest
import smtp_bench as sb
import smtp_loadgen as lg
from passlib.hash import sha512_crypt


def test_plan_alternates_and_measures_the_goal():
    class Options:
        repeat, concurrency = 2, [1, 8]

    steps = sb.plan(Options)
    assert steps[:2] == [(1, "stock", "stock25", 1), (1, "stock", "stock25", 8)]
    assert [s[1] for s in steps if s[0] == 1][2::4] == ["shipped", "minimum_hash_cost"]
    assert [s[1] for s in steps if s[0] == 2][2] == "minimum_hash_cost"
    assert {s[3] for s in steps if s[1] == "minimum_hash_cost"} == {sb.GOAL_CONCURRENCY}


def test_hashes_are_fixed_per_cost():
    users = sb.hashed_users(1000)
    assert users is sb.hashed_users(1000) and [u["name"] for u in users] == [u for u, _p in sb.USERS]
    digest = users[0]["password_hash"].removeprefix("{SHA512-CRYPT}")
    assert sha512_crypt.verify(sb.USERS[0][1], digest) and sha512_crypt.from_string(digest).rounds == 1000
    assert sb.variant_rounds("shipped") == sb.module_default_rounds() > 1000
    assert sb.server_vars(1000)["authsmtp_auth_rate_limit"] == 0


def point(rep, variant, target, rate, failed=0, delivered=None):
    return {"repetition": rep, "variant": variant, "target": target, "concurrency": 8, "messages_per_s": rate,
            "sessions_failed": failed, "errors": {"auth: 535": failed} if failed else {}, "accepted_total": 10,
            "delivered": 10 if delivered is None else delivered, "auth_p50_ms": 1.0, "auth_p95_ms": 2.0,
            "total_p50_ms": 3.0, "total_p95_ms": 4.0}


def test_summary_targets_checks_and_ceiling():
    points = [point(1, "stock", "stock25", 100.0), point(1, "shipped", "465", 60.0), point(1, "shipped", "587", 40.0),
              point(2, "stock", "stock25", 200.0), point(2, "shipped", "465", 100.0), point(2, "shipped", "587", 120.0),
              point(2, "minimum_hash_cost", "465", 150.0, failed=1, delivered=9)]
    rows = {(r["variant"], r["target"]): r for r in sb.summarize(points)}
    assert rows[("shipped", "587")]["ratio_to_stock"] == {"per_repetition": [0.4, 0.6], "median": 0.5}
    assert rows[("shipped", "465")]["messages_per_s_median"] == 80.0
    assert "ratio_to_stock" not in rows[("stock", "stock25")]
    (goal,) = sb.evaluate_targets(list(rows.values()))
    assert goal["met"] is True and goal["measured"] == 0.5 and goal["worst_case"] == "587"
    (missing,) = sb.evaluate_targets([r for r in rows.values() if r["target"] != "587"])
    assert missing["met"] is None and "both ports" in missing["reason"]
    checks = sb.evaluate_checks(points)
    assert checks[0]["failed"] == ["2/minimum_hash_cost/465/c=8: {'auth: 535': 1}"]
    assert checks[1]["failed"] == ["2/minimum_hash_cost/465/c=8: 9 of 10"]
    (entry,) = sb.price_verification([{"variant": "shipped", "verify_ms": 10.0}], list(rows.values()))
    assert entry["auth_ceiling_per_s"] == 100.0 and entry["best_case"] == "465 c=8" and entry["share_of_ceiling"] == 0.8


@pytest.mark.parametrize(("line", "done"), [("250 ok", True), ("250", True), ("250-PIPELINING", False), ("", False)])
def test_reply_done(line, done):
    assert lg.reply_done(line) is done


def test_loadgen_parts():
    token = lg.auth_plain("u@x", "p w").split()[-1]
    assert base64.b64decode(token) == b"\0u@x\0p w"
    message = lg.build_message("a@x", "b@x", "1.1", size=600)
    assert message.endswith(b"\r\n.\r\n") and b"\r\n..a line" in message and 500 < len(message) < 700
    assert lg.parse_users("u@x\tpw 1\n\nv@x\tpw2\n") == [("u@x", "pw 1"), ("v@x", "pw2")]
    records = [{"end": 0.5, "ok": True, "auth_s": 0.1, "total_s": 0.2}, {"end": 1.5, "ok": True, "auth_s": None,
               "total_s": 0.3}, {"end": 2.0, "ok": False, "error": "auth: 535"}, {"end": 3.5, "ok": True}]
    summary = lg.window_summary(records, 1.0, 3.0)
    assert (summary["messages_ok"], summary["messages_per_s"], summary["sessions_failed"]) == (1, 0.5, 1)
    assert summary["errors"] == {"auth: 535": 1} and summary["auth_ms"] == [] and summary["total_ms"] == [300.0]
    with pytest.raises(SystemExit):
        lg.parse_args(["--host", "h", "--port", "465", "--mode", "implicit", "--rcpt", "r@x"])  # TLS needs --cafile


def test_smoke_run(smoke):
    result = json.loads(smoke["smtp"].read_text(encoding="utf-8"))
    assert {(r["variant"], r["target"]) for r in result["summary"]} == {
        ("stock", "stock25"), ("shipped", "465"), ("shipped", "587"), ("minimum_hash_cost", "465"),
        ("minimum_hash_cost", "587")}
    assert all(c["met"] for c in result["checks"]) and result["targets"][0]["met"] is not None
    assert [e["variant"] for e in result["method"]["verification"]] == ["shipped", "minimum_hash_cost"]
