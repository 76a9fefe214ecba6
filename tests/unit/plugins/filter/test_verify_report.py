"""Rows of the verify role and the printed table: a check that did not run is
SKIP, never PASS, and the summary counts it apart."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.mailops.authsmtp.plugins.filter import verify_report

HOST = "mx1.example.org"
TLS_EXPECT = {
    "banner_code": 220,
    "ehlo_before_tls_has": ["STARTTLS"],
    "ehlo_before_tls_lacks": ["AUTH"],
    "cert_verified": True,
    "cert_names_include": [HOST],
    "tls_version": ["TLSv1.2", "TLSv1.3"],
    "auth_mechanisms": ["PLAIN", "LOGIN"],
}


def check(**overrides):
    item = {
        "id": "c",
        "title": "587 AUTH with the test account gets 235",
        "mode": "starttls",
        "show": "auth",
        "expect": {"auth_code": 235},
    }
    item.update(overrides)
    return item


def probe(item, **result):
    return {"item": item, "changed": False, "mismatches": [], "expect_skipped": [], **result}


def skipped(item):
    return {
        "item": item,
        "changed": False,
        "skipped": True,
        "skip_reason": "Conditional result was False",
        "false_condition": "not (item.account | default(false) and __authsmtp_verify_skip_account)",
    }


def one_row(result, **kwargs):
    (row,) = verify_report.verify_rows([result], HOST, **kwargs)
    assert set(row) == {"host", "check", "expected", "got", "status"}
    assert row["host"] == HOST
    return row


def test_check_without_account_is_skipped_with_the_reason():
    row = one_row(skipped(check(account=True)), no_account="no authsmtp_verify_account")
    assert row["status"] == "SKIP"
    assert row["got"] == "skipped: no authsmtp_verify_account"
    assert row["expected"] == "AUTH 235"


def test_check_that_sends_is_skipped_when_sending_is_off():
    item = check(
        account=True,
        show="data",
        send={"mail_from": "a@x.org", "rcpt_to": ["a@x.org"], "data": True},
        expect={"auth_code": 235, "mail_code": 250, "rcpt_code": 250, "data_code": 250},
    )
    row = one_row(skipped(item), no_send="authsmtp_verify_send is false")
    assert (row["status"], row["got"]) == ("SKIP", "skipped: authsmtp_verify_send is false")
    assert row["expected"] == "AUTH 235, MAIL 250, RCPT 250, DATA 250"


def test_account_reason_wins_when_both_apply():
    item = check(account=True, send={"data": True})
    row = one_row(skipped(item), no_account="no authsmtp_verify_account", no_send="authsmtp_verify_send is false")
    assert row["got"] == "skipped: no authsmtp_verify_account"


def test_skip_for_an_unnamed_reason_still_says_why():
    row = one_row(skipped(check()))
    assert row["status"] == "SKIP"
    assert row["got"].startswith("skipped: not (item.account")


def test_data_unchecked_in_check_mode_is_not_a_pass():
    item = check(show="data", expect={"mail_code": 250, "rcpt_code": 250, "data_code": 250})
    result = probe(
        item,
        send={
            "mail": {"code": 250, "text": "2.1.0 Ok"},
            "rcpt": [{"code": 250, "text": "2.1.5 Ok"}],
            "data": None,
            "data_skipped": "check mode",
        },
        expect_skipped=["data_code: not checked in check mode, DATA is never sent"],
    )
    row = one_row(result)
    assert (row["status"], row["got"]) == ("SKIP", "skipped: data_code: not checked in check mode, DATA is never sent")


def test_failed_probe_is_fail_with_its_mismatches():
    mismatches = ["auth_code: expected 235, got 535 (5.7.8 Error: authentication failed)", "mail_code: expected 553"]
    row = one_row(probe(check(), error="expectation_failed", msg="2 expectations failed", mismatches=mismatches))
    assert row["status"] == "FAIL"
    assert row["got"] == "; ".join(mismatches)


def test_failed_probe_without_mismatches_shows_its_message():
    row = one_row(probe(check(), error="connection_refused", msg="Connection refused\nby mx1"))
    assert (row["status"], row["got"]) == ("FAIL", "Connection refused by mx1")


def test_expected_error_that_happens_passes():
    item = check(show="tls", expect={}, expect_error="tls_handshake_failed", tls_max_version="TLSv1.2")
    row = one_row(probe(item, error="tls_handshake_failed", msg="TLS handshake failed", tls=None))
    assert row == {
        "host": HOST,
        "check": item["title"],
        "expected": "error tls_handshake_failed",
        "got": "tls_handshake_failed: TLS handshake failed",
        "status": "PASS",
    }


def test_expected_error_that_does_not_happen_fails():
    item = check(show="tls", expect={}, expect_error="tls_handshake_failed")
    row = one_row(probe(item, tls={"version": "TLSv1.2", "cipher": "ECDHE-RSA-AES256-GCM-SHA384"}))
    assert (row["status"], row["got"]) == ("FAIL", "no error: TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384")


def test_other_error_than_the_expected_one_fails():
    item = check(expect={}, expect_error="tls_handshake_failed")
    row = one_row(probe(item, error="timeout", msg="timed out"))
    assert (row["status"], row["got"]) == ("FAIL", "timeout: timed out")


@pytest.mark.parametrize(
    ("show", "expect", "result", "expected", "got"),
    [
        (
            "tls",
            TLS_EXPECT,
            {"tls": {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384"}, "auth_mechanisms": ["PLAIN", "LOGIN"]},
            f"banner 220, STARTTLS offered, no AUTH before TLS, certificate verifies for {HOST}, TLSv1.2 or TLSv1.3, "
            "AUTH LOGIN PLAIN",
            "TLSv1.3 TLS_AES_256_GCM_SHA384, certificate verified, AUTH PLAIN LOGIN",
        ),
        (
            "tls",
            {"tls_version": "TLSv1.2", "cert_verified": True},
            {"tls": {"version": "TLSv1.2", "cipher": "ECDHE-RSA-AES256-GCM-SHA384"}, "auth_mechanisms": ["PLAIN"]},
            "TLSv1.2, certificate verifies",
            "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384, certificate verified, AUTH PLAIN",
        ),
        (
            "ehlo",
            {"ehlo_before_tls_has": ["STARTTLS"], "ehlo_before_tls_lacks": ["AUTH"], "ehlo_lacks": ["AUTH"]},
            {},
            "STARTTLS offered, no AUTH before TLS, no AUTH after TLS",
            "STARTTLS offered; no AUTH before or after TLS",
        ),
        (
            "auth",
            {"auth_code": 535},
            {"auth": {"code": 535, "text": "5.7.8 Error: authentication failed"}},
            "AUTH 535",
            "535 5.7.8 Error: authentication failed",
        ),
        (
            "mail",
            {"auth_code": 235, "mail_code": 553},
            {"send": {"mail": {"code": 553, "text": "5.7.1 <p@x.org>: Sender address rejected"}, "rcpt": []}},
            "AUTH 235, MAIL 553",
            "553 5.7.1 <p@x.org>: Sender address rejected",
        ),
        (
            "rcpt",
            {"rcpt_code": 554},
            {
                "send": {
                    "mail": {"code": 250, "text": "2.1.0 Ok"},
                    "rcpt": [{"address": "n@r.invalid", "code": 554, "text": "5.7.1 Relay access denied"}],
                }
            },
            "RCPT 554",
            "554 5.7.1 Relay access denied",
        ),
        (
            "data",
            {"mail_code": 250, "rcpt_code": 250, "data_code": 250},
            {"send": {"data": {"code": 250, "text": "2.0.0 Ok: queued as 92FC"}, "data_skipped": None}},
            "MAIL 250, RCPT 250, DATA 250",
            "250 2.0.0 Ok: queued as 92FC",
        ),
    ],
)
def test_passed_check_per_show_kind(show, expect, result, expected, got):
    row = one_row(probe(check(show=show, expect=expect), **result))
    assert (row["status"], row["expected"], row["got"]) == ("PASS", expected, got)


@pytest.mark.parametrize(
    ("expect", "mode", "words"),
    [
        ({"ehlo_has": ["AUTH", "PIPELINING"]}, "starttls", "AUTH and PIPELINING offered after TLS"),
        ({"ehlo_lacks": ["AUTH"]}, "plain", "no AUTH"),
        ({"ehlo_before_tls_has": ["PIPELINING"]}, "starttls", "PIPELINING offered before TLS"),
        (
            {"cert_names_include": ["a.org"], "cert_verified": False},
            "implicit",
            "certificate does not verify, certificate names include a.org",
        ),
        ({"cert_names_include": ["a.org", "b.org"]}, "implicit", "certificate names include a.org and b.org"),
        ({"auth_mechanisms": []}, "starttls", "no AUTH offered"),
        ({"rcpt_code": [250, 550]}, "plain", "RCPT 250 550"),
        (
            {"tls_cipher": ["A", "B"], "cert_days_left_min": 14},
            "implicit",
            "cipher A or B, at least 14 days left on the certificate",
        ),
        ({}, "starttls", "no error"),
    ],
)
def test_expected_text(expect, mode, words):
    assert verify_report.expected_text(expect, mode) == words


def test_rows_keep_the_order_of_the_results():
    results = [probe(check(title="one")), skipped(check(title="two", account=True))]
    rows = verify_report.verify_rows(results, HOST, no_account="no authsmtp_verify_account")
    assert [(r["check"], r["status"]) for r in rows] == [("one", "PASS"), ("two", "SKIP")]


ACCOUNT = {"user": "probe@example.org", "password": "Verify-s3cret"}
BATCH_CHECKS = [
    check(id="tls", title="tls", port=587, expect={"tls_version": ["TLSv1.3"]}),
    check(id="auth", title="auth", account=True, port=587, auth="right", expect={"auth_code": 235}),
    check(id="wrong", title="wrong", account=True, port=587, auth="wrong", expect={"auth_code": 535}),
    check(
        id="send",
        title="send",
        account=True,
        port=465,
        mode="implicit",
        auth="right",
        show="data",
        send={"mail_from": "probe@example.org", "rcpt_to": ["probe@example.org"], "data": True},
        expect={"data_code": 250},
    ),
    check(id="tls12", title="tls12", tls_max_version="TLSv1.2", expect={}, expect_error="tls_handshake_failed"),
]


def test_verify_probes_turns_the_checks_into_probes():
    probes = verify_report.verify_probes(BATCH_CHECKS, ACCOUNT)
    assert probes == [
        {"port": 587, "mode": "starttls", "expect": {"tls_version": ["TLSv1.3"]}},
        {"port": 587, "mode": "starttls", "expect": {"auth_code": 235}, **ACCOUNT},
        {
            "port": 587,
            "mode": "starttls",
            "expect": {"auth_code": 535},
            "user": ACCOUNT["user"],
            "password": "authsmtp-verify-wrong-password",
        },
        {
            "port": 465,
            "mode": "implicit",
            "expect": {"data_code": 250},
            **ACCOUNT,
            "send": {"mail_from": "probe@example.org", "rcpt_to": ["probe@example.org"]},
        },
        {"mode": "starttls", "tls_max_version": "TLSv1.2", "expect": {}},
    ]


def test_verify_probes_leaves_out_what_cannot_run():
    assert [p["expect"] for p in verify_report.verify_probes(BATCH_CHECKS, {}, no_account="no account")] == [
        {"tls_version": ["TLSv1.3"]},
        {},
    ]
    without_data = verify_report.verify_probes(BATCH_CHECKS, ACCOUNT, no_send="sending is off")
    assert len(without_data) == 4 and all("send" not in p for p in without_data)


def test_verify_probes_names_a_missing_account():
    with pytest.raises(AnsibleFilterError, match="check auth logs in, but the account has no user and password"):
        verify_report.verify_probes(BATCH_CHECKS, {})


def test_rows_of_one_run_with_probes():
    ran = {"failed": True, "msg": "2 of 4 probes failed", "changed": True}
    ran["probes"] = [
        {"tls": {"version": "TLSv1.3"}, "mismatches": [], "expect_skipped": [], "failed": False},
        {"mismatches": ["auth_code: expected 235, got 535"], "error": "expectation_failed", "failed": True},
        {"auth": {"code": 535, "text": "5.7.8 no"}, "mismatches": [], "expect_skipped": [], "failed": False},
        {"error": "tls_handshake_failed", "msg": "handshake failed", "mismatches": [], "failed": True},
    ]
    rows = verify_report.verify_rows(ran, HOST, checks=BATCH_CHECKS, no_send="authsmtp_verify_send is false")
    assert [(r["check"], r["status"]) for r in rows] == [
        ("tls", "PASS"),
        ("auth", "FAIL"),
        ("wrong", "PASS"),
        ("send", "SKIP"),
        ("tls12", "PASS"),
    ]
    assert rows[1]["got"] == "auth_code: expected 235, got 535"
    assert rows[3]["got"] == "skipped: authsmtp_verify_send is false"


def test_rows_when_the_module_did_not_run():
    ran = {"failed": True, "msg": "Unsupported parameters for (smtp_probe) module: probes"}
    rows = verify_report.verify_rows(ran, HOST, checks=BATCH_CHECKS, no_account="no authsmtp_verify_account")
    assert [r["status"] for r in rows] == ["FAIL", "SKIP", "SKIP", "SKIP", "FAIL"]
    assert rows[0]["got"] == "Unsupported parameters for (smtp_probe) module: probes"


def test_rows_refuse_results_that_do_not_match_the_checks():
    with pytest.raises(AnsibleFilterError, match="1 probe results for 5 checks that ran"):
        verify_report.verify_rows({"probes": [{}]}, HOST, checks=BATCH_CHECKS)
    with pytest.raises(AnsibleFilterError, match="expects the result of one smtp_probe run"):
        verify_report.verify_rows([], HOST, checks=BATCH_CHECKS)


@pytest.mark.parametrize("results", ["not a list", [{"no": "item"}]])
def test_verify_rows_refuses_other_input(results):
    with pytest.raises(AnsibleFilterError):
        verify_report.verify_rows(results, HOST)


ROWS = [
    {"host": "mx1", "check": "587 AUTH gets 235", "expected": "AUTH 235", "got": "235 2.7.0 Ok", "status": "PASS"},
    {
        "host": "mx1",
        "check": "587 TLS 1.2",
        "expected": "error tls_handshake_failed",
        "got": "no error: TLSv1.2",
        "status": "FAIL",
    },
    {
        "host": "mx1",
        "check": "465 sends",
        "expected": "DATA 250",
        "got": "skipped: no authsmtp_verify_account",
        "status": "SKIP",
    },
    {"host": "all", "check": "client files", "expected": "rc 0", "got": "rc 0", "passed": True},
    {"host": "all", "check": "msmtp", "expected": "exit 0", "got": "exit 1", "passed": "False"},
]


def test_report_table_lines():
    lines = verify_report.report_table(ROWS)
    assert lines[0].split() == ["host", "check", "expected", "got"]
    assert lines[1].startswith("      -----  " + "-" * 64 + "  " + "-" * 42 + "  ")
    assert [line[:4] for line in lines[2:-1]] == ["PASS", "FAIL", "SKIP", "PASS", "FAIL"]
    assert lines[2] == "PASS  mx1    " + "587 AUTH gets 235".ljust(64) + "  " + "AUTH 235".ljust(42) + "  235 2.7.0 Ok"
    assert lines[-1] == "checks: 2 passed, 2 failed, 1 skipped"


def test_skip_never_counts_as_passed():
    lines = verify_report.report_table([dict(ROWS[2], passed=True)])
    assert lines[-1] == "checks: 0 passed, 0 failed, 1 skipped"


def test_empty_table_still_ends_with_the_summary():
    assert verify_report.report_table([])[-1] == "checks: 0 passed, 0 failed, 0 skipped"


def test_report_table_cuts_long_columns():
    got = "x" * 200
    row = {"host": "mx1", "check": "c" * 80, "expected": "e" * 50, "got": got, "status": "PASS"}
    line = verify_report.report_table([row])[2]
    assert "c" * 64 + "  " in line and "c" * 65 not in line
    assert "e" * 42 + "  " in line and "e" * 43 not in line
    assert line.endswith("x" * 87 + "...")
    # Up to the leeway of Jinja's truncate, nothing is cut.
    assert verify_report.report_table([dict(row, got="y" * 95)])[2].endswith("  " + "y" * 95)


def test_a_failed_row_cut_short_is_followed_by_all_it_got():
    got = (
        "rc 0; mx rebuilt in 201 s: snapshot 761af705 checked and restored 18 s;"
        " keys and users restored, deployed 171 s"
    )
    row = {"host": "mx", "check": "rebuild", "expected": "rc 0, under 180 s", "got": got, "status": "FAIL"}
    lines = verify_report.report_table([row, dict(row, status="PASS"), dict(row, got="rc 1")])
    assert lines[2].startswith("FAIL  mx ") and lines[2].endswith("...")
    assert lines[3] == "      got, in full: " + got
    # Passed rows, and failed ones shown whole, keep one line each.
    assert [line[:4] for line in lines[4:-1]] == ["PASS", "FAIL"]
    assert lines[-1] == "checks: 1 passed, 2 failed, 0 skipped"


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({"check": "c", "status": "OK"}, "not PASS, FAIL or SKIP"),
        ({"check": "c", "passed": "maybe"}, "has passed"),
        ({"check": "c"}, "neither status nor passed"),
        ("row", "is not a dict"),
    ],
)
def test_report_table_refuses_rows_without_a_verdict(row, fragment):
    with pytest.raises(AnsibleFilterError, match=fragment):
        verify_report.report_table([row])


@pytest.mark.parametrize("item", [check(), check(expect={}, expect_error="tls_handshake_failed")])
def test_probe_that_never_ran_fails(item):
    # failed_when: false hides `failed`; a module that did not run has no `error` and no `mismatches`.
    result = {
        "item": item,
        "changed": False,
        "failed": False,
        "failed_when_result": False,
        "msg": "Module result deserialization failed: No start of json char found",
        "module_stderr": "\npyenv: python3.13: command not found\n\nmore",
        "rc": 127,
    }
    row = one_row(result)
    assert row["status"] == "FAIL"
    assert row["got"] == (
        "Module result deserialization failed: No start of json char found (pyenv: python3.13: command not found)"
    )
