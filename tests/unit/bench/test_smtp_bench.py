"""bench/smtp_bench.py: tunings, statistics, targets, the report, and its smoke mode.

The smoke mode runs the real load generator (bench/smtp_loadgen.py, as a
subprocess) against aiosmtpd servers on 127.0.0.1: implicit TLS + AUTH,
STARTTLS + AUTH and plain. No container is started and nothing leaves the
loopback interface. The figures are not checked: the measurements are not
timed tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

render = pytest.importorskip("render_benchmarks", reason="bench/ is not in the collection tarball (ansible-test units)")
sb = pytest.importorskip("smtp_bench", reason="bench/ is not in the collection tarball (ansible-test units)")

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "smtp_bench.py"


def test_all_combines_every_tuning_but_the_trade_off():
    spec = sb.variant_spec("all")
    assert spec["client"] == ["--resume-tls"]
    assert spec["dovecot"] == ["auth_cache_size = 10M", "auth_cache_verify_password_with_worker = yes"]
    # Cheaper password hashes weaken the service: never part of "all".
    assert spec["extra_vars"] == {
        "authsmtp_postfix_main_cf": {"default_process_limit": 200},
        "authsmtp_tls_key_type": "ecdsa",
    }
    assert sb.variant_spec("untuned").get("extra_vars") is None


def test_minimum_hash_cost_is_all_plus_the_cheapest_hashes():
    from passlib.hash import sha512_crypt

    full, spec = sb.variant_spec("all"), sb.variant_spec("minimum_hash_cost_all")
    assert spec["client"] == full["client"] and spec["dovecot"] == full["dovecot"]
    users = spec["extra_vars"].pop("authsmtp_users")
    assert spec["extra_vars"] == full["extra_vars"]
    assert {sha512_crypt.from_string(u["password_hash"].removeprefix("{SHA512-CRYPT}")).rounds for u in users} == {1000}
    assert "1,000 rounds" in spec["description"]
    # A security trade-off: "all" itself keeps the shipped hashes.
    assert "authsmtp_users" not in full["extra_vars"]
    assert sb.hash_rounds_in_use(["untuned", "all", "minimum_hash_cost_all"]) == [100000, 1000]


def test_cheap_hashes_are_precomputed_once():
    from passlib.hash import sha512_crypt

    spec = sb.variant_spec("cheap_password_hashes")
    assert "5,000 rounds" in spec["description"] and "{" not in spec["description"]
    users = spec["extra_vars"]["authsmtp_users"]
    assert [u["name"] for u in users] == [user for user, _password in sb.USERS]
    for user, (_name, password) in zip(users, sb.USERS, strict=True):
        assert set(user) == {"name", "password_hash"}
        digest = user["password_hash"].removeprefix("{SHA512-CRYPT}")
        assert digest.startswith("$6$") and sha512_crypt.verify(password, digest)
        assert sha512_crypt.from_string(digest).rounds == 5000
    # The same hashes in every converge, or each converge would rewrite the passwd-file.
    assert sb.variant_spec("cheap_password_hashes")["extra_vars"] == spec["extra_vars"]


def test_server_vars_switch_the_auth_rate_limit_off():
    base = sb.server_vars()
    assert base["authsmtp_auth_rate_limit"] == 0
    assert base["authsmtp_hostname"] == sb.SERVER_NAME
    assert [u["name"] for u in base["authsmtp_users"]] == [user for user, _password in sb.USERS]
    # Precomputed hashes at the module's own default cost: a later variant cannot inherit another's hashes.
    assert sb.module_default_rounds() == 100000
    assert all(set(u) == {"name", "password_hash"} for u in base["authsmtp_users"])
    assert all("$6$rounds=100000$" in u["password_hash"] for u in base["authsmtp_users"])
    merged = sb.server_vars({"authsmtp_postfix_main_cf": {"a": 1}, "authsmtp_tls_key_type": "ecdsa"})
    assert merged["authsmtp_postfix_main_cf"] == {"a": 1} and merged["authsmtp_tls_key_type"] == "ecdsa"


def test_certificates_only_never_copies_a_key():
    cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    pem = f"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n{cert}\n{cert}\n"
    out = sb.certificates_only(pem)
    assert "PRIVATE" not in out and "secret" not in out
    assert out.count("BEGIN CERTIFICATE") == 2
    assert sb.certificates_only("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n") == ""


def test_parse_postqueue():
    assert sb.parse_postqueue("") == [] and sb.parse_postqueue("\n") == []
    line = '{"queue_name": "deferred", "queue_id": "A1", "recipients": [{"address": "x@y", "delay_reason": "no"}]}'
    assert sb.parse_postqueue(line + "\n" + line)[1]["queue_id"] == "A1"
    with pytest.raises(sb.BenchError):
        sb.parse_postqueue("Mail queue is empty")


def test_plan_order():
    options = sb.parse_args(["--variants", "ecdsa_certificate,all", "--repeat", "2", "--concurrency", "1,8"])
    assert options.variants == ["untuned", "ecdsa_certificate", "all"]
    steps = sb.plan(options)
    first = [s for s in steps if s[0] == 1]
    assert first[:2] == [(1, "stock", "stock25", 1), (1, "stock", "stock25", 8)]
    assert (1, "ecdsa_certificate", "465", 8) in first and (1, "ecdsa_certificate", "465", 1) not in first
    assert (1, "all", "587", 1) in first and (1, "untuned", "465", 1) in first
    assert len(steps) == 2 * len(first)
    second = [s[1] for s in steps if s[0] == 2]
    assert second[0] == "stock" and second[2] == "all" and second[-1] == "untuned"


def test_smoke_takes_no_server_side_tuning():
    with pytest.raises(SystemExit):
        sb.parse_args(["--smoke", "--variants", "dovecot_auth_cache"])


def measurement(repetition, variant, target, concurrency, rate, failed=0, resumed=None):
    stats = {
        "messages_per_s": rate,
        "messages_ok": int(rate * 10),
        "sessions_failed": failed,
        "auth_p50_ms": 10.0,
        "auth_p95_ms": 20.0,
        "total_p50_ms": 30.0,
        "total_p95_ms": 40.0,
        "tls_resumed_share": resumed,
        "client_cpu_s": 1.0,
    }
    result = {"errors": {"auth: 535 x": failed} if failed else {}, "accepted_total": int(rate * 12)}
    return dict(
        repetition=repetition,
        variant=variant,
        target=target,
        concurrency=concurrency,
        stats=stats,
        result=result,
        delivered=int(rate * 12),
    )


def test_summary_ratios_targets_and_checks():
    measurements = [
        measurement(1, "stock", "stock25", 8, 100.0),
        measurement(2, "stock", "stock25", 8, 200.0),
        measurement(1, "untuned", "465", 8, 40.0),
        measurement(2, "untuned", "465", 8, 120.0),
        measurement(1, "untuned", "587", 8, 60.0),
        measurement(2, "untuned", "587", 8, 100.0, failed=3),
        measurement(1, "all", "465", 8, 80.0, resumed=1.0),
        measurement(1, "all", "587", 8, 90.0, resumed=1.0),
    ]
    rows = {
        (r["variant"], r["target"], r["concurrency"]): r for r in sb.summarize(measurements, ["untuned", "all"], [8])
    }
    assert rows[("stock", "stock25", 8)]["messages_per_s_median"] == 150.0
    assert rows[("untuned", "465", 8)]["ratio_to_stock"] == [0.4, 0.6]
    assert rows[("untuned", "465", 8)]["ratio_to_stock_median"] == pytest.approx(0.5)
    assert rows[("untuned", "587", 8)]["errors"] == 3
    assert rows[("all", "465", 8)]["ratio_to_untuned"] == [2.0]
    assert rows[("all", "587", 8)]["tls_resumed_share"] == 1.0
    shipped, tuned = sb.evaluate_targets(list(rows.values()))
    assert shipped["measured"] == pytest.approx(0.5) and shipped["worst_case"] == "465" and shipped["met"] is True
    assert tuned["measured"] == pytest.approx(0.8) and tuned["met"] is True
    checks = {c["id"]: c for c in sb.evaluate_checks(measurements)}
    assert checks["no_errors"]["met"] is False and checks["no_errors"]["failed"] == ["2/untuned/587/8: auth: 535 x ×3"]
    assert checks["all_delivered"]["met"] is True


def test_target_not_measured_without_both_ports():
    rows = sb.summarize(
        [measurement(1, "stock", "stock25", 8, 100.0), measurement(1, "untuned", "465", 8, 40.0)], [], [8]
    )
    shipped, tuned = sb.evaluate_targets(rows)
    assert shipped["met"] is None and tuned["met"] is None and "not measured" in tuned["reason"]


def test_hash_costs_in_use_follow_the_variants():
    assert sb.hash_rounds_in_use(["untuned"]) == [100000]
    assert sb.hash_rounds_in_use(["untuned", "cheap_password_hashes", "all"]) == [100000, 5000]


def test_verification_priced_per_variant():
    rows = sb.summarize(
        [
            measurement(1, "stock", "stock25", 8, 300.0),
            measurement(1, "untuned", "465", 8, 18.0),
            measurement(1, "untuned", "587", 32, 21.0),
            measurement(1, "all", "587", 8, 20.0),
            measurement(1, "cheap_password_hashes", "465", 8, 150.0),
        ],
        ["untuned", "cheap_password_hashes", "all"],
        [8, 32],
    )
    entries = [sb.verification_entry(100000, 40.0, [40.0, 41.0, 39.0]), sb.verification_entry(5000, 2.5, [2.5])]
    assert entries[0]["auth_ceiling_per_s"] == 25.0 and entries[1]["auth_ceiling_per_s"] == 400.0
    slow, cheap = sb.compare_verification(entries, rows, ["untuned", "cheap_password_hashes", "all"], 100000)
    # The stock baseline has no hashes: it is priced by neither entry.
    assert slow["variants"] == ["untuned", "all"] and cheap["variants"] == ["cheap_password_hashes"]
    assert slow["best_messages_per_s"] == 21.0 and slow["best_case"] == "untuned 587 c=32"
    assert slow["best_share_of_ceiling"] == pytest.approx(0.84)
    assert cheap["best_share_of_ceiling"] == pytest.approx(0.375)
    assert sb.verification_entry(1000, 0, [0])["auth_ceiling_per_s"] is None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, run_script):
    directory = tmp_path_factory.mktemp("smtp")
    json_path = directory / "out" / "smtp_throughput.json"
    proc = run_script(SCRIPT, "--smoke", "--quiet", "--json", json_path, "--workdir", directory)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    return json.loads(json_path.read_text(encoding="utf-8")), json_path, directory


def test_smoke_leaves_only_the_json(smoke):
    _result, json_path, directory = smoke
    assert sorted(p.name for p in directory.iterdir()) == ["out"]
    assert [p.name for p in json_path.parent.iterdir()] == ["smtp_throughput.json"]


def test_smoke_measured_every_target(smoke):
    result = smoke[0]
    assert result["benchmark"] == "smtp_throughput" and result["smoke"] is True
    keys = {(m["variant"], m["target"], m["concurrency"]) for m in result["measurements"]}
    assert keys == {
        ("stock", "stock25", 2),
        ("untuned", "465", 2),
        ("untuned", "587", 2),
        ("tls_session_resumption", "465", 2),
        ("tls_session_resumption", "587", 2),
    }
    for m in result["measurements"]:
        loadgen = m["result"]
        assert loadgen["messages_ok"] > 0 and loadgen["sessions_failed"] == 0, loadgen["errors"]
        assert m["delivered"] == loadgen["accepted_total"]
        assert len(loadgen["total_ms"]) == loadgen["messages_ok"]
        if m["target"] == "stock25":
            assert loadgen["auth_ms"] == [] and loadgen["tls_versions"] == {}
        else:
            assert len(loadgen["auth_ms"]) == loadgen["messages_ok"]
            assert set(loadgen["tls_versions"]) <= {"TLSv1.2", "TLSv1.3"}
            resumed = m["stats"]["tls_resumed_share"]
            if m["variant"] == "untuned":
                assert resumed == 0
            else:
                assert resumed > 0.5
    assert all(check["met"] for check in result["checks"]), result["checks"]
    assert [t["met"] for t in result["targets"]] == [None, None]


def test_smoke_renders(smoke):
    text = render.render(render.load([str(smoke[1])]))
    assert "## Submission throughput and authentication latency — smoke run" in text
    assert "### Messages per second and latency" in text and "### Effect of each tuning" in text
    assert "| tls_session_resumption | 465 | 2 |" in text
    assert "### The password hash sets the ceiling" in text
    assert "| SHA512-CRYPT, 1,000 rounds |" in text


def test_smoke_prices_the_hash(smoke):
    (entry,) = smoke[0]["method"]["password_verification"]
    assert entry["rounds"] == sb.SMOKE_VERIFY_ROUNDS and entry["how"].startswith("smoke:")
    assert entry["verify_ms_median"] > 0 and len(entry["samples_ms"]) == 3
    assert entry["variants"] == ["untuned", "tls_session_resumption"] and entry["best_messages_per_s"] > 0
