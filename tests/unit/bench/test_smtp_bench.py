"""bench/smtp_bench.py and smtp_loadgen.py: the plan, the summary, the hash-bound limit, targets, checks, and the
load generator's parts."""

from __future__ import annotations

import base64
import json

import pytest
import smtp_bench as sb
import smtp_loadgen as lg
from passlib.hash import sha512_crypt


def test_plan_alternates_and_covers_every_server():
    class Options:
        repeat, servers = 2, ["file12", "pg13"]

    steps = sb.plan(Options)
    assert steps[:2] == [(1, "stock", "message", "25", "none"), (1, "stock", "batch", "25", "none")]
    first = [s[1:] for s in steps if s[0] == 1 and s[1] != "stock"]
    second = [s[1:] for s in steps if s[0] == 2 and s[1] != "stock"]
    assert first[0] == ("file12", *sb.SERVER_POINTS[0]) and second[0] == ("pg13", *sb.SERVER_POINTS[-1])
    assert sorted(first) == sorted(second) and len(first) == 2 * len(sb.SERVER_POINTS)


def test_users_both_costs_fixed():
    users = sb.hashed_users()
    assert users == sb.hashed_users() and [u["name"] for u in users] == [u for h in sb.HASHES for u, _ in sb.USERS[h]]
    by_name = {u["name"]: u["password_hash"].removeprefix("{SHA512-CRYPT}") for u in users}
    cheap_user, cheap_pw = sb.USERS["cheap"][0]
    assert sha512_crypt.verify(cheap_pw, by_name[cheap_user])
    assert sha512_crypt.from_string(by_name[cheap_user]).rounds == 1000
    assert sha512_crypt.from_string(by_name[sb.USERS["shipped"][0][0]]).rounds == sb.module_default_rounds() > 1000
    assert sb.server_vars("passwd-file", "/ca")["authsmtp_auth_rate_limit"] == 0
    pg = sb.server_vars("postgresql", "/ca")
    assert pg["authsmtp_user_store_ca_file"] == "/ca" and all(len(p) >= 16 for p in sb.STORE_PASSWORDS.values())
    assert "authsmtp_user_store_host" not in sb.server_vars("passwd-file", "/ca")
    with pytest.raises(ValueError, match="unknown server nope"):
        sb.server_list("file12,nope")


def point(rep, server, kind, port, hashes, rate, failed=0, delivered=None, accepted=10):
    return {"repetition": rep, "server": server, "kind": kind, "port": port, "hashes": hashes,
            "messages_per_s": 0.0 if kind == "auth" else rate, "auths_per_s": rate if kind == "auth" else 0.0,
            "auths_ok": 5, "auths_total": 7, "sessions_failed": failed,
            "errors": {"auth: 535": failed} if failed else {},
            "accepted_total": 0 if kind == "auth" else accepted,
            "delivered": (0 if kind == "auth" else accepted) if delivered is None else delivered,
            "auth_p50_ms": 1.0, "auth_p95_ms": 2.0, "total_p50_ms": 3.0, "total_p95_ms": 4.0}


def test_summary_bounds_targets_checks():
    points = [point(1, "stock", "message", "25", "none", 100.0), point(1, "stock", "batch", "25", "none", 400.0),
              point(1, "file12", "auth", "465", "shipped", 20.0), point(1, "file12", "auth", "465", "cheap", 100.0),
              point(1, "file12", "message", "465", "shipped", 20.0),
              point(1, "file12", "message", "587", "shipped", 15.0),
              point(1, "file12", "message", "465", "cheap", 50.0),
              point(1, "file12", "batch", "465", "shipped", 240.0, failed=1, delivered=9)]
    rows = {(r["server"], r["kind"], r["port"], r["hashes"]): r for r in sb.summarize(points)}
    batch = rows[("file12", "batch", "465", "shipped")]
    assert batch["ratio_to_stock"]["median"] == 0.6 and batch["ratio_to_stock_message"]["median"] == 2.4
    assert rows[("file12", "auth", "465", "shipped")]["unit"] == "AUTH/s"
    assert "ratio_to_stock" not in rows[("file12", "auth", "465", "shipped")]
    assert rows[("file12", "message", "587", "shipped")]["ratio_to_stock"]["median"] == 0.15
    verification = [{"suite": "bookworm", "hashes": "shipped", "verify_ms": 40.0},
                    {"suite": "bookworm", "hashes": "cheap", "verify_ms": 0.0}]
    entries = {e["kind"]: e for e in sb.bounds(points, verification, 2)}
    # auth: 2 / (0.04 + 2 / 100) = 33.3/s; 20 of it is 0.6
    assert round(entries["auth"]["limit_per_s"], 1) == 33.3 and round(entries["auth"]["share"]["median"], 2) == 0.6
    assert entries["auth"]["session_ms"] == 20.0 and entries["message"]["limit_per_s"] == 2 / (0.04 + 0.04)
    targets = {t["id"]: t for t in sb.evaluate_targets(list(rows.values()), list(entries.values()), ["file12"])}
    assert targets["auth_vs_hash_bound"]["met"] is False and targets["auth_vs_hash_bound"]["worst_case"] == "file12"
    assert targets["message_vs_hash_bound"]["met"] is True  # 20 of 25
    assert targets["satellite_vs_stock"]["met"] is True and targets["satellite_vs_stock"]["measured"] == 0.6
    assert targets["submission_vs_stock_8"]["worst_case"] == "file12 587"
    missing = {t["id"]: t for t in sb.evaluate_targets(list(rows.values()), list(entries.values()),
                                                       ["file12", "pg13"])}
    assert all(t["met"] is None for t in missing.values())
    checks = {c["id"]: c for c in sb.evaluate_checks(points)}
    assert checks["no_errors"]["failed"] == ["1/file12/batch/465/shipped: {'auth: 535': 1}"]
    assert checks["all_delivered"]["failed"] == ["1/file12/batch/465/shipped: 9 of 10"]
    assert checks["auth_only_sent_nothing"]["met"] is True
    starved = dict(points[2], auths_ok=0, auths_per_s=0.0)  # no 235 inside the window, 7 in the run: not a failure
    assert {c["id"]: c["met"] for c in sb.evaluate_checks([starved])}["auth_only_sent_nothing"] is True
    refused = dict(starved, auths_total=0)
    assert {c["id"]: c["failed"] for c in sb.evaluate_checks([refused])}["auth_only_sent_nothing"] == [
        "1/file12/auth/465/shipped: 0 messages, 0 AUTH"]


@pytest.mark.parametrize(("line", "done"), [("250 ok", True), ("250", True), ("250-PIPELINING", False), ("", False)])
def test_reply_done(line, done):
    assert lg.reply_done(line) is done


def test_loadgen_parts():
    token = lg.auth_plain("u@x", "p w").split()[-1]
    assert base64.b64decode(token) == b"\0u@x\0p w"
    message = lg.build_message("a@x", "b@x", "1.1", size=600)
    assert message.endswith(b"\r\n.\r\n") and b"\r\n..a line" in message and 500 < len(message) < 700
    assert lg.parse_users("u@x\tpw 1\n\nv@x\tpw2\n") == [("u@x", "pw 1"), ("v@x", "pw2")]
    records = [{"end": 0.5, "ok": True, "auth_s": 0.1, "auth_end": 0.4, "total_s": 0.2, "message_ends": [0.5]},
               {"end": 2.5, "ok": True, "auth_s": None, "auth_end": None, "total_s": 0.3,
                "message_ends": [0.9, 1.5, 2.5]},
               {"end": 2.0, "ok": False, "error": "rcpt: 451", "auth_s": 0.1, "auth_end": 1.2,
                "message_ends": [1.8]},
               {"end": 3.5, "ok": True, "auth_end": 3.4, "message_ends": [3.5]}]
    summary = lg.window_summary(records, 1.0, 3.0)
    assert (summary["messages_ok"], summary["messages_per_s"], summary["sessions_failed"]) == (3, 1.5, 1)
    assert (summary["auths_ok"], summary["auths_per_s"]) == (1, 0.5)
    assert summary["errors"] == {"rcpt: 451": 1} and summary["auth_ms"] == [] and summary["total_ms"] == [300.0]
    with pytest.raises(SystemExit):
        lg.parse_args(["--host", "h", "--port", "465", "--mode", "implicit", "--rcpt", "r@x"])  # TLS needs --cafile
    with pytest.raises(SystemExit):
        lg.parse_args(["--host", "h", "--port", "25", "--mode", "plain", "--rcpt", "r@x", "--auth-only"])
    with pytest.raises(SystemExit):
        lg.parse_args(["--host", "h", "--port", "25", "--mode", "plain", "--rcpt", "r@x", "--messages", "0"])
    with pytest.raises(SystemExit):
        lg.parse_args(["--host", "h", "--port", "25", "--mode", "plain", "--rcpt", "r@x", "--sessions", "0"])
    with pytest.raises(SystemExit):
        sb.main(["--smoke", "--duration", "1"])  # the smoke run counts sessions, it has no window to set


def test_smoke_run(smoke):
    result = json.loads(smoke["smtp"].read_text(encoding="utf-8"))
    expected = {("stock", "message", "25", "none"), ("stock", "batch", "25", "none")}
    expected |= {(s, *p) for s in sb.SMOKE_SERVERS for p in sb.SERVER_POINTS}
    assert {(r["server"], r["kind"], r["port"], r["hashes"]) for r in result["summary"]} == expected
    assert all(c["met"] for c in result["checks"]) and all(t["met"] is not None for t in result["targets"])
    sessions = sb.CONCURRENCY * sb.SMOKE_SESSIONS  # all counted, however slowly the machine ran them
    assert all(m["auths_ok"] == m["auths_total"] == sessions for m in result["measurements"] if m["kind"] == "auth")
    assert all(m["messages_ok"] == m["accepted_total"] == sessions * m["messages"] == m["delivered"]
               for m in result["measurements"] if m["kind"] != "auth")
    batch = [m for m in result["measurements"] if m["kind"] == "batch" and m["server"] != "stock"]
    assert batch and all(m["messages"] == sb.BATCH for m in batch)
    assert {(e["suite"], e["hashes"]) for e in result["method"]["verification"]} == {
        (suite, h) for suite in ("bookworm", "trixie") for h in sb.HASHES}
    assert {(e["server"], e["kind"]) for e in result["method"]["bounds"]} == {
        (s, k) for s in sb.SMOKE_SERVERS for k in ("auth", "message")}
