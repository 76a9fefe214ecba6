"""The Molecule scenarios' report rows (molecule/resources/filter_plugins/report_rows.py).

Every filter gets what the playbooks register (command results, smtp_session
and smtp_probe results, other hosts' facts), once as a run that went right
and once as one that did not: each row's texts, and PASS only when the check
held. A truthy value that is not true, such as the string 'True"', never
passes a row.
"""

from __future__ import annotations

import base64
import datetime
import importlib.util
import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PLUGIN = Path(__file__).resolve().parents[3] / "molecule" / "resources" / "filter_plugins" / "report_rows.py"
_spec = importlib.util.spec_from_file_location("report_rows", PLUGIN)
report_rows = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report_rows)

FP12 = ":".join(["AB"] * 32)
FP13 = ":".join(["CD"] * 32)
SERVER_OF = {"mx12.example.test": "mx12", "mx13.example.test": "mx13"}
SERVERS = ["mx12", "mx13"]


def statuses(rows):
    return [row["status"] for row in rows]


def fail2ban_status(ips):
    return (
        "Status for the jail: authsmtp-sasl\n|- Filter\n|  |- Currently failed:\t0\n"
        f"`- Actions\n   |- Currently banned:\t{len(ips.split())}\n   `- Banned IP list:\t{ips}"
    )


def test_every_filter_is_offered():
    filters = report_rows.FilterModule().filters()
    assert sorted(filters) == sorted(
        [
            "session_rows", "negative_verify_row", "delivery_rows", "smuggling_rows", "sink_rows", "cert_rows",
            "secret_row", "bad_input_message", "bad_input_row", "key_type_rows", "drift_rows", "ban_rows",
            "unban_rows", "expiry_rows",
            "client_config_rows", "tls_scan_rows", "handshake_rows", "renewal_rows", "strict_rows",
            "check_certs_rows", "exactly_once_rows", "sending_limit_rows", "dkim_zone_rows",
            "dkim_signature_rows", "dkim_unsigned_rows",
        ]
    )  # fmt: skip
    assert all(callable(f) for f in filters.values())


def test_a_row_judged_by_anything_but_a_boolean_is_a_bug():
    with pytest.raises(AnsibleFilterError, match="not true or false"):
        report_rows._row("mx12", "check", "x", "x", 'True"')


# --------------------------------------------------------------------------
# verify.yml and the side effects
# --------------------------------------------------------------------------


def session(host="mx12.example.test", passed=True, **extra):
    result = {
        "id": "mx12-587-auth",
        "title": "587 AUTH PLAIN with alice gets 235",
        "host": host,
        "port": 587,
        "steps": [{"step": "auth", "code": 235, "reply": "2.7.0 Authentication successful", "passed": passed}],
        "passed": passed,
        "expected": "235",
        "got": "235 2.7.0 Authentication successful" if passed else "535 5.7.8 Error: authentication failed",
        "subject": "authsmtp check mx12-587-auth tok",
    }
    result.update(extra)
    return result


def test_session_rows_say_what_the_module_found():
    rows = report_rows.session_rows([session(), session(host="mx13.example.test", passed=False)], SERVER_OF)
    assert rows == [
        {"host": "mx12", "check": "587 AUTH PLAIN with alice gets 235", "expected": "235",
         "got": "235 2.7.0 Authentication successful", "status": "PASS"},
        {"host": "mx13", "check": "587 AUTH PLAIN with alice gets 235", "expected": "235",
         "got": "535 5.7.8 Error: authentication failed", "status": "FAIL"},
    ]  # fmt: skip


def test_session_rows_pass_only_on_a_real_true():
    assert statuses(report_rows.session_rows([session(passed="True")], SERVER_OF)) == ["FAIL"]


def test_session_rows_name_an_unknown_server():
    with pytest.raises(AnsibleFilterError, match="mx99.example.test"):
        report_rows.session_rows([session(host="mx99.example.test")], SERVER_OF)


def verify_role_rows(differ=3, skipped=8):
    """authsmtp_verify_rows of roles/verify run against mx12 expecting modern TLS and only PLAIN."""
    failed = [
        {"host": "mx12", "check": "587 STARTTLS refuses TLS 1.2 (profile modern)",
         "expected": "error tls_handshake_failed", "got": "no error: TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384",
         "status": "FAIL"},
        {"host": "mx12", "check": "587 offers AUTH PLAIN after STARTTLS", "expected": "AUTH PLAIN",
         "got": "auth_mechanisms: expected ['PLAIN'], got ['LOGIN', 'PLAIN']", "status": "FAIL"},
        {"host": "mx12", "check": "465 offers AUTH PLAIN", "expected": "AUTH PLAIN",
         "got": "auth_mechanisms: expected ['PLAIN'], got ['LOGIN', 'PLAIN']", "status": "FAIL"},
    ][:differ]  # fmt: skip
    skips = [
        {
            "host": "mx12",
            "check": f"587 check {n} with the test account",
            "expected": "AUTH 235",
            "got": "skipped: no test account",
            "status": "SKIP",
        }
        for n in range(skipped)
    ]
    passes = [{"host": "mx12", "check": "25 offers STARTTLS", "expected": "banner 220", "got": "220", "status": "PASS"}]
    return passes + failed + skips


NEGATIVE_CHECK = "playbooks/verify.yml fails when the server differs (expects modern TLS, only PLAIN)"
NEGATIVE_EXPECTED = "fails; 3 rows differ (TLS 1.2, AUTH on 587 and 465), 8 skipped"


def test_negative_verify_row_passes_when_the_role_fails_as_it_should():
    row = report_rows.negative_verify_row({"failed": True, "rows": verify_role_rows()}, "mx12")
    assert row == {
        "host": "mx12",
        "check": NEGATIVE_CHECK,
        "expected": NEGATIVE_EXPECTED,
        "got": "fails; 3 rows differ (no error: TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384; "
        "auth_mechanisms: expected ['PLAIN'],...; auth_mechanisms: expected ['PLAIN'],...), 8 skipped",
        "status": "PASS",
    }


def test_negative_verify_row_fails_when_the_role_does_not_fail():
    """The row that could never fail: its `passed` was the string 'True"', truthy whatever happened."""
    row = report_rows.negative_verify_row({"failed": False, "rows": verify_role_rows()}, "mx12")
    assert row["got"].startswith("does not fail; 3 rows differ")
    assert row["status"] == "FAIL"


@pytest.mark.parametrize(
    "negative",
    [
        {"failed": 'True"', "rows": verify_role_rows()},
        {"failed": True, "rows": verify_role_rows(differ=2)},
        {"failed": True, "rows": verify_role_rows(skipped=7)},
        {"failed": True, "rows": []},
    ],
    ids=["failed-is-a-string", "two-rows-differ", "seven-skipped", "no-rows"],
)
def test_negative_verify_row_fails_on_anything_else(negative):
    assert report_rows.negative_verify_row(negative, "mx12")["status"] == "FAIL"


def maildir(deliver_to, port, tls, stdout, mx="mx12.example.test"):
    return {
        "item": {"id": f"{deliver_to}-{port}", "host": mx, "port": port, "tls": tls, "deliver_to": deliver_to},
        "stdout": stdout,
        "rc": 0,
        "changed": False,
    }


BY_MX12 = "by mx12.example.test (Postfix)"


def test_delivery_rows_want_one_copy_and_the_received_line_of_how_the_client_came_in():
    hostvars = {
        "mx12": {
            "__maildir": {
                "results": [
                    maildir("alice@example.test", 587, "starttls", f"1 copy; {BY_MX12} with ESMTPSA id 4X"),
                    maildir("bob@example.test", 25, "none", f"1 copy; {BY_MX12} with ESMTPS id 4Y"),
                    maildir("carol@example.test", "25", "starttls", f"1 copy; {BY_MX12} with ESMTPS id 4Z"),
                    maildir("dave@example.test", 465, "implicit", f"2 copies; {BY_MX12} with ESMTPSA id 5"),
                    {"item": {"id": "skipped"}, "skipped": True, "skip_reason": "Conditional result was False"},
                ]
            }
        },
        # The sink's play also registers __maildir, skipped; a server may have no such message at all.
        "mx13": {"__maildir": {"results": [], "skipped": True, "skipped_reason": "No items in the list"}},
    }
    rows = report_rows.delivery_rows(SERVERS, hostvars)
    assert [(r["check"], r["expected"], r["status"]) for r in rows] == [
        ("  ...arrives once in alice@example.test's Maildir", "1 copy; Received: ... with ESMTPSA", "PASS"),
        ("  ...arrives once in bob@example.test's Maildir", "1 copy; Received: ... with ESMTP", "FAIL"),
        ("  ...arrives once in carol@example.test's Maildir", "1 copy; Received: ... with ESMTPS", "PASS"),
        ("  ...arrives once in dave@example.test's Maildir", "1 copy; Received: ... with ESMTPSA", "FAIL"),
    ]
    assert rows[1] == {
        "host": "mx12",
        "check": "  ...arrives once in bob@example.test's Maildir",
        "expected": "1 copy; Received: ... with ESMTP",
        "got": "1 copy; by mx12.example.test (Postfix) with ESMTPS id 4Y",
        "status": "FAIL",
    }


def test_delivery_rows_fail_a_message_not_delivered():
    hostvars = {"mx12": {"__maildir": {"results": [maildir("alice@example.test", 465, "implicit", "0 copies in /x")]}}}
    assert statuses(report_rows.delivery_rows(["mx12"], hostvars)) == ["FAIL"]


def smuggled(stdout, to="eve@example.test"):
    return {"item": {"id": f"smuggle-{to}", "smuggled_to": to, "port": 587}, "stdout": stdout, "rc": 0}


def test_smuggling_rows_want_one_message_and_nothing_smuggled():
    hostvars = {
        "mx12": {"__smuggled": {"results": [smuggled("1 0"), smuggled("1 1", "mallory@example.test")]}},
        "mx13": {"__smuggled": {"results": [smuggled("")]}},
    }
    rows = report_rows.smuggling_rows(SERVERS, hostvars)
    assert rows[0] == {
        "host": "mx12",
        "check": "  ...exactly one message; nothing smuggled to eve@example.test",
        "expected": "1 message, 0 smuggled",
        "got": "1 message(s), 0 smuggled",
        "status": "PASS",
    }
    assert (rows[1]["got"], rows[1]["status"]) == ("1 message(s), 1 smuggled", "FAIL")
    assert (rows[2]["got"], rows[2]["status"]) == ("cannot read the counts: ''", "FAIL")


def test_sink_rows_want_one_copy_of_what_should_arrive_and_nothing_else():
    found = [
        [{"id": "a", "host": "mx12.example.test", "deliver_to_sink": True}, "1 copy; X-RcptTo: someone@external.test"],
        [{"id": "b", "host": "mx13.example.test", "expect_at_sink": False}, "nothing arrived"],
        [{"id": "c", "host": "mx13.example.test", "deliver_to_sink": True}, "nothing arrived"],
        [{"id": "d", "host": "mx12.example.test", "expect_at_sink": False}, "1 copy; X-RcptTo: relayed@external.test"],
        [{"id": "e", "host": "mx12.example.test", "deliver_to_sink": True}, "2 copies; X-RcptTo: a@external.test"],
    ]
    rows = report_rows.sink_rows(found, SERVER_OF)
    assert rows[0] == {
        "host": "mx12",
        "check": "  ...arrives once at the external.test sink",
        "expected": "1 copy; X-RcptTo: ...",
        "got": "1 copy; X-RcptTo: someone@external.test",
        "status": "PASS",
    }
    assert rows[1] == {
        "host": "mx13",
        "check": "  ...never reaches the external.test sink",
        "expected": "nothing arrived",
        "got": "nothing arrived",
        "status": "PASS",
    }
    assert statuses(rows[2:]) == ["FAIL", "FAIL", "FAIL"]


def test_cert_rows_compare_each_tls_port_once_with_the_deployed_certificate():
    results = [
        session(port=587, fingerprint=FP12, tls_version="TLSv1.3"),
        session(port="587", fingerprint=FP12, tls_version="TLSv1.3"),  # the same port again
        session(port=465, fingerprint=FP12, tls_version="TLSv1.2", passed=False),  # a failed session
        session(host="mx13.example.test", port=465, fingerprint=FP12, tls_version="TLSv1.3"),
        session(host="mx13.example.test", port=25, fingerprint=FP13, tls_version="TLSv1.3"),  # opportunistic
        session(host="mx13.example.test", port=587),  # no TLS
    ]
    hostvars = {"mx12": {"deployed_fingerprint": FP12}, "mx13": {"deployed_fingerprint": FP13}}
    rows = report_rows.cert_rows(results, SERVER_OF, hostvars)
    assert rows == [
        {"host": "mx12", "port": "587",
         "check": "certificate on 587 verifies for mx12.example.test and is the deployed one",
         "expected": FP12[:29] + "...", "got": FP12[:29] + "... TLSv1.3", "status": "PASS"},
        {"host": "mx13", "port": "465",
         "check": "certificate on 465 verifies for mx13.example.test and is the deployed one",
         "expected": FP13[:29] + "...", "got": FP12[:29] + "... TLSv1.3", "status": "FAIL"},
    ]  # fmt: skip


def test_cert_rows_fail_without_a_deployed_fingerprint():
    rows = report_rows.cert_rows([session(fingerprint=FP12, tls_version="TLSv1.3")], SERVER_OF, {"mx12": {}})
    assert statuses(rows) == ["FAIL"]


MARKERS = ["Alice-s3cret-Passphrase", "Bob-s3cret-Passphrase", "$6$", "$2b$", "$2y$", "$argon2", "6hOYPScK8Itjtw7"]


def command(stdout="", stderr="", rc=0):
    return {
        "cmd": ["ansible-playbook"],
        "rc": rc,
        "stdout": stdout,
        "stderr": stderr,
        "stdout_lines": stdout.splitlines(),
        "stderr_lines": stderr.splitlines(),
        "changed": False,
    }


def test_secret_row_passes_when_no_secret_shows():
    row = report_rows.secret_row(command("ok: [mx12]", "[WARNING]: x"), MARKERS, "converge --check --diff -vvv")
    assert row == {
        "host": "all",
        "check": "converge --check --diff -vvv prints no password or hash",
        "expected": "none of 7 secrets",
        "got": "none found",
        "status": "PASS",
    }


def test_secret_row_fails_on_a_secret_in_either_stream():
    row = report_rows.secret_row(command("password: Bob-s3cret-Passphrase", "hash $6$rounds"), MARKERS, "converge")
    assert (row["got"], row["status"]) == ("Bob-s3cret-Passphrase, $6$", "FAIL")


def test_secret_row_fails_with_nothing_to_look_for():
    row = report_rows.secret_row(command("anything"), [], "converge")
    assert (row["expected"], row["status"]) == ("none of 0 secrets", "FAIL")


CASE_TEXT = (
    "# The domain list is a string.\n# expect: authsmtp_domains must be a list\nauthsmtp_domains: example.test\n"
)


def bad_input(codes, messages, before="1a2b  -", after="1a2b  -", text=CASE_TEXT, name="domains_not_a_list"):
    return dict(
        bad_runs={"results": [dict(command(rc=rc), item=n) for n, rc in enumerate(codes)], "changed": False},
        target="mx12",
        case_file=f"/work/main/molecule/resources/bad_input/{name}.yml",
        case_text=text,
        before=command(before),
        after=command(after),
        messages=messages,
    )


NOT_JSON = "fatal: [mx12]: FAILED! => not json"
FAILURE = 'fatal: [mx12]: FAILED! => {"changed": false, "msg": "authsmtp_domains must be\\n  a list"}'


@pytest.mark.parametrize(
    "run, message",
    [
        (command(stdout=f"PLAY [x]\n{FAILURE}\n", rc=2), "authsmtp_domains must be a list"),
        (command(stderr=FAILURE.replace("fatal", "failed"), rc=2), "authsmtp_domains must be a list"),
        (command(stdout="PLAY RECAP\n", rc=0), "no failure reported"),
        ({"finished": 1, "rc": 2, "stdout": FAILURE}, "authsmtp_domains must be a list"),
        (command(stdout=NOT_JSON, rc=2), f"unreadable failure line: {NOT_JSON}"),
        ({}, "no failure reported"),
    ],
    ids=["stdout", "stderr", "none", "async-status", "not-json", "never-ran"],
)
def test_bad_input_message(run, message):
    assert report_rows.bad_input_message(run) == message


def test_bad_input_row_passes_when_the_run_fails_as_expected_and_changes_nothing():
    args = bad_input([2], ["authsmtp_domains must be a list, not a string (example.test)"])
    assert report_rows.bad_input_row(**args) == {
        "host": "mx12",
        "check": "bad input domains_not_a_list fails, config untouched",
        "expected": "fails: authsmtp_domains must be a list",
        "got": "rc=2, unchanged: authsmtp_domains must be a list, not a string (example.test)",
        "status": "PASS",
    }


def test_bad_input_row_runs_twice_and_lists_each_message_once():
    message = "authsmtp_domains must be a list, not a string"
    row = report_rows.bad_input_row(**bad_input([2, 2], [message, message.upper()]))
    assert row["check"] == "bad input domains_not_a_list fails twice, config untouched"
    assert (row["got"], row["status"]) == (f"rc=2/2, unchanged: {message}", "FAIL")  # the second says it otherwise


@pytest.mark.parametrize(
    "args",
    [
        bad_input([2, 0], ["authsmtp_domains must be a list", "no failure reported"]),
        bad_input([2], ["authsmtp_domains must be a list"], after="9f9f  -"),
        bad_input([2], ["authsmtp_users must be a list"]),
        bad_input([2], ["anything at all"], text="authsmtp_domains: example.test\n"),
        bad_input([], []),
    ],
    ids=["second-run-passes", "config-changed", "other-message", "no-expect-line", "never-ran"],
)
def test_bad_input_row_fails(args):
    assert report_rows.bad_input_row(**args)["status"] == "FAIL"


def test_bad_input_row_says_when_the_config_changed():
    row = report_rows.bad_input_row(**bad_input([2], ["authsmtp_domains must be a list"], after="9f9f  -"))
    assert row["got"] == "rc=2, CHANGED: authsmtp_domains must be a list"


def found_files(*names):
    return {"files": [{"path": f"/etc/authsmtp/tls/{n}", "mode": "0750"} for n in names], "matched": len(names)}


def test_key_type_rows_want_exactly_the_served_types():
    rows = report_rows.key_type_rows(
        found_files("rsa.pem", "ecdsa", "rsa", "ecdsa.pem"),
        command("/etc/authsmtp/tls/rsa.pem, /etc/authsmtp/tls/ecdsa.pem"),
        types=["rsa", "ecdsa"],
        label="with authsmtp_tls_key_type both",
        host="mx12",
    )
    assert rows == [
        {"host": "mx12",
         "check": "with authsmtp_tls_key_type both: "
                  "certificate directory holds the files of these key types, no others",
         "expected": "ecdsa, ecdsa.pem, rsa, rsa.pem", "got": "ecdsa, ecdsa.pem, rsa, rsa.pem", "status": "PASS"},
        {"host": "mx12", "check": "with authsmtp_tls_key_type both: Postfix serves exactly these files",
         "expected": "/etc/authsmtp/tls/ecdsa.pem, /etc/authsmtp/tls/rsa.pem",
         "got": "/etc/authsmtp/tls/ecdsa.pem, /etc/authsmtp/tls/rsa.pem", "status": "PASS"},
    ]  # fmt: skip


def test_key_type_rows_fail_on_left_over_files():
    rows = report_rows.key_type_rows(
        found_files("rsa.pem", "ecdsa", "rsa", "ecdsa.pem"),
        command("/etc/authsmtp/tls/rsa.pem, /etc/authsmtp/tls/ecdsa.pem"),
        types=["rsa"],
        label="back to authsmtp_tls_key_type rsa",
        host="mx12",
    )
    assert [(r["expected"], r["got"], r["status"]) for r in rows] == [
        ("rsa, rsa.pem", "ecdsa, ecdsa.pem, rsa, rsa.pem", "FAIL"),
        ("/etc/authsmtp/tls/rsa.pem", "/etc/authsmtp/tls/ecdsa.pem, /etc/authsmtp/tls/rsa.pem", "FAIL"),
    ]


DRIFT_FILES = [
    {"path": "/etc/postfix/main.cf", "edit": "content"},
    {"path": "/etc/postfix/master.cf", "edit": "mode"},
]


def recap(changed, host="mx12"):
    return command(f"PLAY RECAP *****\n{host}                       : ok=80   changed={changed}    unreachable=0")


def test_drift_rows_pass_when_converge_puts_back_every_edit():
    rows = report_rows.drift_rows(
        DRIFT_FILES,
        before=command("5c1e0f2a9b3d 644 root root\n0a1b2c3d4e5f 644 root root"),
        edited=command("77aa0f2a9b3d 644 root root\n0a1b2c3d4e5f 600 root root"),
        after=command("5c1e0f2a9b3d 644 root root\n0a1b2c3d4e5f 644 root root"),
        converges={"results": [recap(5), recap(0)]}["results"],
    )
    assert rows == [
        {"host": "mx12", "check": "hand edit (content) put back by converge: /etc/postfix/main.cf",
         "expected": "5c1e0f2a9b3d 644 root root (edited: 77aa0f2a9b3d 644 root root)",
         "got": "5c1e0f2a9b3d 644 root root", "status": "PASS"},
        {"host": "mx12", "check": "hand edit (mode) put back by converge: /etc/postfix/master.cf",
         "expected": "0a1b2c3d4e5f 644 root root (edited: 0a1b2c3d4e5f 600 root root)",
         "got": "0a1b2c3d4e5f 644 root root", "status": "PASS"},
        {"host": "mx12", "check": "converge after hand edits reports changes, the next one none",
         "expected": "changed>0, then changed=0", "got": "changed=5, then changed=0", "status": "PASS"},
    ]  # fmt: skip


def test_drift_rows_fail_when_an_edit_stays_or_the_second_converge_changes():
    rows = report_rows.drift_rows(
        DRIFT_FILES,
        before=command("5c1e0f2a9b3d 644 root root\n0a1b2c3d4e5f 644 root root"),
        edited=command("77aa0f2a9b3d 644 root root\n0a1b2c3d4e5f 644 root root"),  # the mode edit did nothing
        after=command("77aa0f2a9b3d 644 root root"),  # main.cf not put back; no line for master.cf
        converges=[recap(5), recap(2)],
    )
    assert statuses(rows) == ["FAIL", "FAIL", "FAIL"]
    assert rows[1]["got"] == "None"
    assert rows[2]["got"] == "changed=5, then changed=2"


def test_drift_rows_read_a_coloured_recap():
    coloured = "\x1b[0;33mmx12\x1b[0m                       : \x1b[0;32mok=62  \x1b[0m \x1b[0;33mchanged=6   \x1b[0m"
    rows = report_rows.drift_rows([], before={}, edited={}, after={}, converges=[command(coloured), recap(0)])
    assert (rows[0]["got"], rows[0]["status"]) == ("changed=6, then changed=0", "PASS")


def test_drift_rows_fail_without_a_recap():
    rows = report_rows.drift_rows([], before={}, edited={}, after={}, converges=[recap(5), command("ERROR!")])
    assert (rows[0]["got"], rows[0]["status"]) == ("changed=5, then changed=?", "FAIL")


def test_ban_rows_want_the_intruder_banned():
    hostvars = {
        "mx12": {"__banned": command(fail2ban_status("10.89.0.7"))},
        "mx13": {"__banned": command(fail2ban_status(""))},
    }
    rows = report_rows.ban_rows(SERVERS, hostvars, "10.89.0.7")
    assert rows == [
        {"host": "mx12", "check": "fail2ban jail authsmtp-sasl bans the intruder",
         "expected": "10.89.0.7 in the banned list", "got": "banned: 10.89.0.7", "status": "PASS"},
        {"host": "mx13", "check": "fail2ban jail authsmtp-sasl bans the intruder",
         "expected": "10.89.0.7 in the banned list", "got": "banned: nobody", "status": "FAIL"},
    ]  # fmt: skip


def test_ban_rows_fail_when_the_wait_never_ran():
    assert statuses(report_rows.ban_rows(["mx12"], {"mx12": {}}, "10.89.0.7")) == ["FAIL"]


def test_ban_rows_of_a_second_ban_read_their_own_fact():
    second = command(fail2ban_status("10.89.0.7"))
    hostvars = {"mx12": {"__banned": command(fail2ban_status("")), "__banned_again": second}}
    (row,) = report_rows.ban_rows(["mx12"], hostvars, "10.89.0.7", "__banned_again", "banned again")
    assert (row["check"], row["status"]) == ("banned again", "PASS")


def test_expiry_rows_want_the_intruder_gone_without_a_command():
    hostvars = {
        "mx12": {"__expired": command(fail2ban_status(""))},
        "mx13": {"__expired": command(fail2ban_status("10.89.0.7"))},
        "mx14": {"__expired": command("Sorry but the jail does not exist")},
    }
    rows = report_rows.expiry_rows([*SERVERS, "mx14"], hostvars, "10.89.0.7")
    assert statuses(rows) == ["PASS", "FAIL", "FAIL"]
    assert rows[0]["check"] == "the ban lifts by itself after authsmtp_fail2ban_bantime"
    assert rows[2]["got"] == "no banned list in the jail's status"


def test_unban_rows_want_the_intruder_gone_from_the_list():
    hostvars = {
        "mx12": {"__unban": command("1", rc=0), "__unbanned": command(fail2ban_status(""))},
        "mx13": {"__unban": command("0", rc=0), "__unbanned": command(fail2ban_status("10.89.0.7 10.89.0.9"))},
    }
    rows = report_rows.unban_rows(SERVERS, hostvars, "10.89.0.7")
    assert rows == [
        {"host": "mx12", "check": "fail2ban-client set authsmtp-sasl unbanip lifts the ban",
         "expected": "10.89.0.7 no longer banned", "got": "rc 0, banned: nobody", "status": "PASS"},
        {"host": "mx13", "check": "fail2ban-client set authsmtp-sasl unbanip lifts the ban",
         "expected": "10.89.0.7 no longer banned", "got": "rc 0, banned: 10.89.0.7 10.89.0.9", "status": "FAIL"},
    ]  # fmt: skip


def test_unban_rows_fail_without_a_banned_list():
    hostvars = {"mx12": {"__unban": command(rc=0), "__unbanned": command("Sorry but the jail does not exist")}}
    row = report_rows.unban_rows(["mx12"], hostvars, "10.89.0.7")[0]
    assert (row["got"], row["status"]) == ("rc 0, no banned list in the jail's status", "FAIL")


def client_config(parsed_rows, msmtp_rcs, delivered):
    render = command("PLAY RECAP *****\nlocalhost                  : ok=12   changed=4    unreachable=0")
    parsed = command(json.dumps(parsed_rows))
    msmtp = [
        dict(command(rc=rc, stderr="" if rc == 0 else "msmtp: authentication failed\nmsmtp: could not send mail"),
             mx=mx, ansible_loop_var="mx")
        for mx, rc in zip(SERVERS, msmtp_rcs, strict=True)
    ]  # fmt: skip
    hostvars = {mx: {"__msmtp_delivery": command(stdout)} for mx, stdout in zip(SERVERS, delivered, strict=True)}
    return render, parsed, msmtp, hostvars


AUTOCONFIG_ROW = {
    "host": "mx12",
    "check": "autoconfig for example.test (XML): both submission ports",
    "expected": "465 SSL, 587 STARTTLS",
    "got": "465 SSL, 587 STARTTLS",
}


def test_client_config_rows_pass_when_msmtp_sends_with_the_rendered_file():
    received = "1 copy; by mx12.example.test (Postfix) with ESMTPSA id 4X"
    render, parsed, msmtp, hostvars = client_config([dict(AUTOCONFIG_ROW, passed=True)], [0, 0], [received] * 2)
    rows = report_rows.client_config_rows(render, parsed, msmtp, hostvars)
    assert rows[:4] == [
        {"host": "all", "check": "playbooks/client_config.yml renders the client files", "expected": "rc 0",
         "got": "rc 0, changed=4", "status": "PASS"},
        dict(AUTOCONFIG_ROW, status="PASS"),
        {"host": "mx12", "check": "msmtp with bob's rendered msmtprc sends to carol", "expected": "exit 0",
         "got": "exit 0", "status": "PASS"},
        {"host": "mx12", "check": "  ...arrives once in carol's Maildir, authenticated",
         "expected": "1 copy; Received: ... with ESMTPSA", "got": received, "status": "PASS"},
    ]  # fmt: skip
    assert statuses(rows) == ["PASS"] * 6


def test_client_config_rows_fail_when_msmtp_or_a_file_check_fails():
    render, parsed, msmtp, hostvars = client_config(
        [dict(AUTOCONFIG_ROW, got="587 STARTTLS", passed=False), dict(AUTOCONFIG_ROW, passed="yes")],
        [0, 78],
        ["by mx12.example.test (Postfix) with ESMTP id 4X", "not delivered to /var/mail/vhosts/example.test/carol/new"],
    )
    rows = report_rows.client_config_rows(render, parsed, msmtp, hostvars)
    assert statuses(rows) == ["PASS", "FAIL", "FAIL", "PASS", "FAIL", "FAIL", "FAIL"]
    assert rows[5]["got"] == "exit 78 msmtp: could not send mail"


def test_client_config_rows_need_the_checker_rows():
    render, _parsed, msmtp, hostvars = client_config([], [0, 0], ["", ""])
    with pytest.raises(AnsibleFilterError, match="no JSON rows"):
        report_rows.client_config_rows(render, command("Traceback ..."), msmtp, hostvars)


# --------------------------------------------------------------------------
# tls_policy.yml
# --------------------------------------------------------------------------

SUITES = {
    "cipher-tls1_2_xc02f": "TLS 1.2   xc02f   ECDHE-RSA-AES128-GCM-SHA256       ECDH 253   AESGCM      128      "
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "cipher-tls1_3_x1302": "TLS 1.3   x1302   TLS_AES_256_GCM_SHA384            ECDH 253   AESGCM      256      "
    "TLS_AES_256_GCM_SHA384",
}
CATEGORIES = ["cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA"]


def scan_result(port, starttls, submission, findings, mx="mx12"):
    """A slurp result of a testssl.sh JSON file, looped over the scans."""
    content = json.dumps([{"id": k, "ip": "mx12.example.test/10.89.0.2", "port": str(port), "severity": "OK",
                           "finding": v} for k, v in findings.items()])  # fmt: skip
    return {
        "item": {"mx": mx, "port": port, "starttls": starttls, "submission": submission},
        "content": base64.b64encode(content.encode()).decode(),
        "encoding": "base64",
        "source": f"/var/tmp/authsmtp-testssl/{mx}-{port}.json",
    }


GOOD_SCAN = {
    "SSLv2": "not offered",
    "SSLv3": "not offered",
    "TLS1": "not offered",
    "TLS1_1": "not offered",
    "TLS1_2": "offered",
    "TLS1_3": "offered with final",
    **dict.fromkeys([*CATEGORIES, "cipherlist_AVERAGE"], "not offered"),
    **SUITES,
}


def test_tls_scan_rows_of_a_submission_port_that_holds_the_policy():
    rows = report_rows.tls_scan_rows([scan_result(587, True, True, GOOD_SCAN)], {"mx12": {}})
    assert rows == [
        {"host": "mx12", "check": "587 STARTTLS (testssl.sh): no SSLv2, SSLv3, TLS 1.0, TLS 1.1",
         "expected": "not offered", "got": "not offered", "status": "PASS"},
        {"host": "mx12",
         "check": "587 STARTTLS (testssl.sh): TLS 1.2 offered, TLS 1.3 offered (profile intermediate)",
         "expected": "TLS 1.2 offered, TLS 1.3 offered", "got": "TLS 1.2 offered, TLS 1.3 offered with final",
         "status": "PASS"},
        {"host": "mx12", "check": "587 STARTTLS (testssl.sh): no NULL, anonymous, export, RC4/DES, 3DES or CBC suites",
         "expected": "none of 6 categories offered", "got": "none offered", "status": "PASS"},
        {"host": "mx12", "check": "587 STARTTLS (testssl.sh): forward secrecy on every suite offered",
         "expected": "key exchange ECDH or DH only", "got": "2 suites, key exchange ECDH", "status": "PASS"},
    ]  # fmt: skip


def test_tls_scan_rows_of_port_25_check_only_the_protocols():
    rows = report_rows.tls_scan_rows(
        [scan_result(25, True, False, GOOD_SCAN)], {"mx12": {"authsmtp_tls_profile": "modern"}}
    )
    assert [(r["check"], r["status"]) for r in rows] == [
        ("25 (testssl.sh): no SSLv2, SSLv3", "PASS"),
        ("25 (testssl.sh): TLS 1.2 offered, TLS 1.3 offered", "PASS"),
    ]


def test_tls_scan_rows_of_a_port_that_breaks_the_policy():
    findings = {
        "SSLv2": "not offered",
        "SSLv3": "Offered",
        "TLS1": "offered (deprecated)",
        "TLS1_2": "offered",
        "cipherlist_LOW": "offered (NOT ok)",
        "cipherlist_OBSOLETED": "offered",
        "cipher-tls1_2_x9d": "TLS 1.2   x9d   AES256-GCM-SHA384   RSA   AESGCM   256   TLS_RSA_WITH_AES_256_GCM_SHA384",
        **SUITES,
    }
    rows = report_rows.tls_scan_rows(
        [scan_result(465, False, True, findings)], {"mx12": {"authsmtp_tls_profile": "modern"}}
    )
    assert statuses(rows) == ["FAIL"] * 4
    assert rows[0]["got"] == "not offered, Offered, offered (deprecated), ?"
    assert rows[1]["check"] == "465 (testssl.sh): TLS 1.2 not offered, TLS 1.3 offered (profile modern)"
    assert rows[1]["got"] == "TLS 1.2 offered, TLS 1.3 ?"
    assert rows[2]["got"] == (
        "cipherlist_NULL=?, cipherlist_aNULL=?, cipherlist_EXPORT=?, cipherlist_LOW=offered (NOT ok), "
        "cipherlist_3DES_IDEA=?, cipherlist_OBSOLETED=offered"
    )
    assert rows[3]["got"] == "3 suites, key exchange RSA/ECDH"


def test_tls_scan_rows_fail_forward_secrecy_without_any_suite():
    findings = {k: v for k, v in GOOD_SCAN.items() if not k.startswith("cipher-")}
    row = report_rows.tls_scan_rows([scan_result(465, False, True, findings)], {"mx12": {}})[3]
    assert (row["got"], row["status"]) == ("0 suites, key exchange ", "FAIL")


def handshake(title, accepted, rc, stdout="", stderr=""):
    return dict(command(stdout, stderr, rc), item={"mx": "mx12", "title": title, "accepted": accepted, "port": 587})


def test_handshake_rows():
    alert = (
        "40C7A1F8:error:0A00042E:SSL routines:ssl3_read_bytes:tlsv1 alert protocol version:"
        "../ssl/record/rec_layer_s3.c:1593:SSL alert number 70"
    )
    completed = "New, TLSv1.2, Cipher is ECDHE-RSA-AES256-GCM-SHA384\nSSL-Session:\n    Protocol  : TLSv1.2\n"
    rows = report_rows.handshake_rows(
        [
            handshake("465 refuses TLS 1.1 (openssl s_client -tls1_1)", False, 1, stderr=alert),
            handshake("587 TLS 1.2 is accepted (profile intermediate)", True, 0, stdout=completed),
            handshake("587 TLS 1.2 is refused (profile modern)", "False", 0, stdout=completed),
            handshake("25 accepts the same CBC suites", True, 124),
            handshake("587 refuses CBC suites over TLS 1.2", False, 1, stderr="connect:errno=111\nmore"),
        ]
    )
    assert rows[0] == {
        "host": "mx12",
        "check": "465 refuses TLS 1.1 (openssl s_client -tls1_1)",
        "expected": "handshake refused",
        "got": "refused: tlsv1 alert protocol version",
        "status": "PASS",
    }
    assert (rows[1]["expected"], rows[1]["got"]) == ("handshake completes", "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384")
    assert (rows[2]["expected"], rows[2]["got"]) == ("handshake refused", "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384")
    assert rows[3]["got"] == "refused: exit 124"
    assert rows[4]["got"] == "refused: connect:errno=111"
    assert statuses(rows) == ["PASS", "PASS", "FAIL", "FAIL", "PASS"]


# --------------------------------------------------------------------------
# molecule/certs
# --------------------------------------------------------------------------

OLD, NEW_CA, NEW_ACME = ":".join(["0A"] * 32), ":".join(["1B"] * 32), ":".join(["2C"] * 32)


def probes(lines, host):
    return "\n".join(f'ok: [{host}] => msg: "Port {p} serves the {k} certificate on disk"' for p, k in lines)


def renewal(**changes):
    """The renewal's inputs as they are after a good run; `changes` replaces some."""
    both = [(465, "rsa"), (465, "ecdsa"), (587, "rsa"), (587, "ecdsa")]
    served_before = [
        {"item": {"mx": mx, "host": f"{mx}.example.test", "port": port, "tls": "implicit"},
         "certificate": {"fingerprint_sha256": OLD}}
        for mx in ("mxca", "mxacme") for port in (465, 587)
    ]  # fmt: skip
    served_after = [{"certificate": {"fingerprint_sha256": new}} for new in (NEW_CA, NEW_CA, NEW_ACME, NEW_ACME)]
    targets = [
        {"host": f"{mx}.example.test", "port": port, "sent": 42, "accepted": 42, "failures": []}
        for mx in ("mxca", "mxacme") for port in (465, 587)
    ]  # fmt: skip
    pebble = ["Pebble running", "Issued certificate serial 1 for order 1"]
    args = {
        "forced": command(probes(both, "mxca") + "\n" + probes(both, "mxacme")),
        "threshold": command("renew: fewer than authsmtp_tls_renew_days (3650) left\n" + probes(both, "mxacme")),
        "nothing_due": command(
            "PLAY RECAP ****\nmxacme                     : ok=44   changed=0    unreachable=0\n"
            "mxca                       : ok=40   changed=0    unreachable=0\n"
        ),
        "client": {"__served_before": {"results": served_before}, "__served_after": {"results": served_after},
                   "__load_result": {"token": "renewal-1", "targets": targets}},
        "acme": {
            "__pebble_before": command("\n".join(pebble)),
            "__pebble_after": command("\n".join(
                pebble + ["Issued certificate serial 9 for order 2"] * 4
                + ["authz 7 set VALID by completed challenge"] * 4
                + ["Attempting to validate w/ HTTP: http://mxacme.example.test:80/.well-known/acme-challenge/x"] * 2
                + ["Attempting to validate w/ HTTP: http://submit.example.test:80/.well-known/acme-challenge/y"] * 3
            )),
        },
        "hostvars": {
            "mxca": {"authsmtp_hostname": "mxca.example.test", "__delivered": command("84"),
                     "__disk_ecdsa": {"fingerprints": {"sha256": NEW_CA.lower()}}},
            "mxacme": {"authsmtp_hostname": "mxacme.example.test", "__delivered": command("84"),
                       "__disk_ecdsa": {"fingerprints": {"sha256": NEW_ACME.lower()}},
                       "__account_before": {"stat": {"exists": True, "checksum": "3f2a"}},
                       "__account_after": {"stat": {"exists": True, "checksum": "3f2a"}}},
        },
        "servers": ["mxca", "mxacme"],
    }  # fmt: skip
    args.update(changes)
    return args


def test_renewal_rows_of_a_good_renewal():
    rows = report_rows.renewal_rows(**renewal())
    assert statuses(rows) == ["PASS"] * len(rows)
    assert [(r["host"], r["check"], r["expected"], r["got"]) for r in rows] == [
        ("all", "converge with authsmtp_tls_force_renew=true", "rc 0", "rc 0"),
        ("all", "  ...then probed 465 and 587 for each key type and host", "8 served = new on disk",
         "8 served = new on disk"),
        ("mxacme", "renewed when fewer than authsmtp_tls_renew_days are left", "rc 0, reason given, 4 probed",
         "rc 0, reason given, 4 probed"),
        ("all", "a run with nothing due changes nothing", "rc 0, changed=0 on both",
         "rc 0, {'mxacme': '0', 'mxca': '0'}"),
        ("mxca", "port 465 serves the renewed certificate (client)", "new, on disk", "new, on disk"),
        ("mxca", "port 587 serves the renewed certificate (client)", "new, on disk", "new, on disk"),
        ("mxacme", "port 465 serves the renewed certificate (client)", "new, on disk", "new, on disk"),
        ("mxacme", "port 587 serves the renewed certificate (client)", "new, on disk", "new, on disk"),
        ("mxca", "mail through 465 during the renewals", "all accepted (at least 20)", "42 of 42 accepted"),
        ("mxca", "mail through 587 during the renewals", "all accepted (at least 20)", "42 of 42 accepted"),
        ("mxacme", "mail through 465 during the renewals", "all accepted (at least 20)", "42 of 42 accepted"),
        ("mxacme", "mail through 587 during the renewals", "all accepted (at least 20)", "42 of 42 accepted"),
        ("mxca", "  ...every accepted message is in alice's Maildir", "84 delivered", "84 delivered"),
        ("mxacme", "  ...every accepted message is in alice's Maildir", "84 delivered", "84 delivered"),
        ("mxacme", "the ACME account key is kept and reused", "same key", "same key"),
        ("acme", "pebble issued each renewal after HTTP-01 on port 80", "4 issued, >= 4 validated over HTTP",
         "4 issued, 4 validated, 5 HTTP fetches"),
    ]  # fmt: skip


def test_renewal_rows_of_a_bad_renewal():
    good = renewal()
    client = dict(good["client"])
    client["__served_after"] = {"results": [{"certificate": {"fingerprint_sha256": OLD}}]}  # one probe, old certificate
    client["__load_result"] = {
        "token": "renewal-1",
        "targets": [{"host": "mxca.example.test", "port": 465, "sent": 42, "accepted": 41,
                     "failures": ["#17: end of data: 451 4.3.0 try again later"]}],
    }  # fmt: skip
    hostvars = {
        "mxca": dict(good["hostvars"]["mxca"], __delivered=command("40")),
        "mxacme": dict(good["hostvars"]["mxacme"], __account_after={"stat": {"exists": False}}),
    }
    rows = report_rows.renewal_rows(
        **renewal(
            forced=command("fatal: [mxca]: FAILED!", rc=2),
            threshold=command(probes([(465, "rsa")], "mxacme")),
            nothing_due=command("PLAY RECAP ****\nmxca                       : ok=40   changed=1    unreachable=0\n"),
            client=client,
            acme={"__pebble_before": command("a"), "__pebble_after": command("a\nIssued certificate serial 9")},
            hostvars=hostvars,
        )
    )
    assert statuses(rows) == ["FAIL"] * len(rows)
    got = {(r["host"], r["check"]): r["got"] for r in rows}
    assert got[("all", "converge with authsmtp_tls_force_renew=true")] == "rc 2"
    assert got[("mxacme", "renewed when fewer than authsmtp_tls_renew_days are left")] == "rc 0, 1 probed"
    assert got[("all", "a run with nothing due changes nothing")] == "rc 0, {'mxca': '1'}"
    assert got[("mxca", "port 465 serves the renewed certificate (client)")] == "old, NOT on disk"
    assert got[("mxca", "port 587 serves the renewed certificate (client)")] == "no certificate read after the renewal"
    assert got[("mxca", "mail through 465 during the renewals")] == (
        "41 of 42 accepted, #17: end of data: 451 4.3.0 try again later"
    )
    assert got[("mxca", "  ...every accepted message is in alice's Maildir")] == "40 delivered"
    assert [(r["expected"], r["got"]) for r in rows if r["host"] == "mxacme" and "Maildir" in r["check"]] == [
        ("0 delivered", "84 delivered")  # nothing was accepted
    ]
    assert got[("mxacme", "the ACME account key is kept and reused")] == "changed"
    assert got[("acme", "pebble issued each renewal after HTTP-01 on port 80")] == (
        "1 issued, 0 validated, 0 HTTP fetches"
    )


def pem_certificate(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mxca.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pems():
    return {
        "RSA": pem_certificate(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "ECC": pem_certificate(ec.generate_private_key(ec.SECP256R1())),
    }


def strict_probe(check, want, login, **result):
    """A looped smtp_probe result; the item is a case of strict.yml's __cases."""
    item = {"mx": "mxca", "connect": "mxca.example.test", "name": "smtp.example.test", "port": 465, "mode": "implicit"}
    return dict(result, item=dict(item, login=login, want=want, check=check))


def s_client(kind, mx, rc, stdout="", stderr=""):
    return dict(command(stdout, stderr, rc), item=[f"{mx}.example.test", "465", kind, mx])


def served(pem):
    return f"CONNECTED(00000003)\n---\nServer certificate\n{pem}subject=CN=mxca.example.test\n---\n"


def test_strict_rows_of_strict_verification(pems):
    rows = report_rows.strict_rows(
        [
            strict_probe("certificate verifies for smtp.example.test:465, AUTH", "verified", True,
                         certificate={"verified": True}, auth={"code": 235}),
            strict_probe("a name it was not issued for is refused", "certificate_verify_failed", False,
                         error="certificate_verify_failed", msg="hostname mismatch", certificate={"verified": False}),
        ],
        [s_client("RSA", "mxca", 0, served(pems["RSA"])), s_client("ECC", "mxacme", 0, served(pems["ECC"]))],
    )  # fmt: skip
    assert rows == [
        {"host": "mxca", "check": "certificate verifies for smtp.example.test:465, AUTH",
         "expected": "verified, AUTH 235", "got": "verified, AUTH 235", "status": "PASS"},
        {"host": "mxca", "check": "a name it was not issued for is refused",
         "expected": "certificate_verify_failed", "got": "certificate_verify_failed", "status": "PASS"},
        {"host": "mxca", "check": "serves a verified RSA certificate when asked for RSA",
         "expected": "RSA certificate, verified", "got": "RSA certificate, verified", "status": "PASS"},
        {"host": "mxacme", "check": "serves a verified ECC certificate when asked for ECC",
         "expected": "ECC certificate, verified", "got": "ECC certificate, verified", "status": "PASS"},
    ]  # fmt: skip


def test_strict_rows_of_lax_verification(pems):
    stderr = (
        "  40F7:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:"
        "../ssl/record/rec_layer_s3.c:1599:SSL alert number 40\n"
    )
    rows = report_rows.strict_rows(
        [
            strict_probe("certificate verifies for smtp.example.test:465, AUTH", "verified", True,
                         certificate={"verified": True}, auth={"code": 535}),
            strict_probe("the other server's CA does not verify it", "certificate_verify_failed", False,
                         certificate={"verified": True}),
            strict_probe("certificate verifies for mxca.example.test:587, AUTH", "verified", True,
                         error="timeout", msg="timed out"),
        ],
        [s_client("ECC", "mxca", 0, served(pems["RSA"])), s_client("RSA", "mxacme", 1, stderr=stderr)],
    )  # fmt: skip
    assert [(r["got"], r["status"]) for r in rows] == [
        ("verified, AUTH 535", "FAIL"),
        ("verified", "FAIL"),
        ("timeout", "FAIL"),
        ("RSA certificate, verified", "FAIL"),
        ("rc 1: 40F7:error:0A000410:SSL routines:ssl3_read_bytes:sslv3...", "FAIL"),
    ]


def test_check_certs_rows_of_a_monitor_that_works():
    ok_lines = [f'        "OK    {port:<5} mxca.example.test  89 days left",' for port in ("25", "465", "587", "disk")]
    rows = report_rows.check_certs_rows(
        dict(command(), stdout_lines=(ok_lines + ok_lines[-1:]) * 2),
        threshold=command("FAIL mxca.example.test port 465: 89 days left\nFAIL mxacme.example.test ...", rc=2),
        stale=command("FAIL mxca.example.test port 465 serves a certificate that is not the certificate on disk", rc=2),
        servers=["mxca.example.test", "mxacme.example.test"],
    )
    assert rows == [
        {"host": "all", "check": "check_certs.yml passes as deployed (3 ports + 2 files per host)",
         "expected": "rc 0, 10 OK rows", "got": "rc 0, 10 OK rows", "status": "PASS"},
        {"host": "all", "check": "check_certs.yml fails under the threshold, naming each host",
         "expected": "rc 2, both hosts, days left named", "got": "rc 2, 2 hosts, days left named", "status": "PASS"},
        {"host": "mxca", "check": "check_certs.yml fails when a port serves what is not on disk",
         "expected": "rc 2, not the certificate on disk", "got": "rc 2, not the certificate on disk",
         "status": "PASS"},
    ]  # fmt: skip


def test_check_certs_rows_of_a_monitor_that_misses_problems():
    rows = report_rows.check_certs_rows(
        dict(command(rc=2), stdout_lines=['        "FAIL  465   mxca.example.test  3 days left",']),
        threshold=command("ok: all certificates have 100000 days left", rc=0),
        stale=command("OK: every port serves what is on disk", rc=0),
        servers=["mxca.example.test", "mxacme.example.test"],
    )
    assert [(r["got"], r["status"]) for r in rows] == [
        ("rc 2, 0 OK rows", "FAIL"),
        ("rc 0, 0 hosts", "FAIL"),
        ("rc 0", "FAIL"),
    ]


def test_exactly_once_passes_only_when_nothing_is_lost_or_duplicated():
    ok = report_rows.exactly_once_rows(["<a>", "<b>"], ["<b>", "<a>"], "fleet", "load", refused=2)
    assert ok[0]["status"] == "PASS"
    assert "2 accepted, 2 delivered, 0 lost, 0 duplicated; 2 got 4xx" in ok[0]["got"]
    lost = report_rows.exactly_once_rows(["<a>", "<b>"], ["<a>"], "fleet", "load")[0]
    assert lost["status"] == "FAIL" and "lost: <b>" in lost["got"]
    twice = report_rows.exactly_once_rows(["<a>"], ["<a>", "<a>"], "fleet", "load")[0]
    assert twice["status"] == "FAIL" and "duplicated: <a>" in twice["got"]
    # Nothing accepted proves nothing.
    assert report_rows.exactly_once_rows([], [], "fleet", "load")[0]["status"] == "FAIL"
    # Delivered although its 250 was lost with the connection: reported, not failed.
    extra = report_rows.exactly_once_rows(["<a>"], ["<a>", "<c>"], "fleet", "load", refused=1)[0]
    assert extra["status"] == "PASS" and "1 of those delivered anyway" in extra["got"]


def test_sending_limit_rows_count_each_message_and_the_log():
    hostvars = {
        "mx12": {
            "__limit_counts": {"stdout": "message-1 1 1\nmessage-3 0 0\nmessage-5 0 1"},
            "__limit_log": {"stdout": "rule=0, id=login1-messages, user=erin@example.test, action=450 4.7.1 ..."},
        },
        "mx13": {"__limit_counts": {"stdout": "message-1 1 2"}, "__limit_log": {"stdout": ""}},
    }
    rows = report_rows.sending_limit_rows(SERVERS, hostvars)
    assert statuses(rows) == ["PASS", "PASS", "FAIL", "PASS", "FAIL", "FAIL"]
    assert rows[0]["check"] == "  ...message 1: arrives once"
    assert rows[5]["got"] == "no such line"


# --------------------------------------------------------------------------
# rotate.yml: DKIM
# --------------------------------------------------------------------------


def zone(*records):
    lines = ["; DNS records"]
    for name, value in records:
        chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
        lines += ["; comment", f"{name} 3600 IN TXT " + " ".join(f'"{c}"' for c in chunks)]
    return "\n".join(lines)


KEY1 = "v=DKIM1; k=rsa; p=" + "A" * 392
KEY2 = "v=DKIM1; k=rsa; p=" + "B" * 392
DKIM_HOSTVARS = {"mx12": {"authsmtp_hostname": "mx12.example.test", "authsmtp_domains": ["example.test"]}}
SPF = ("example.test.", "v=spf1 a:mx12.example.test ~all")
DMARC = ("_dmarc.example.test.", "v=DMARC1; p=none; rua=mailto:postmaster@example.test")


def test_dkim_zone_rows_pass_when_the_old_key_stays_and_a_new_one_joins():
    before = zone(("mx12-k1._domainkey.example.test.", KEY1), SPF, DMARC)
    rotated = zone(("mx12-k1._domainkey.example.test.", KEY1), ("mx12-k2._domainkey.example.test.", KEY2), SPF, DMARC)
    printed = "mx12-k1._domainkey.example.test. mx12-k2._domainkey.example.test. example.test. _dmarc.example.test."
    rows = report_rows.dkim_zone_rows(["mx12"], DKIM_HOSTVARS, before, rotated, printed)
    assert [r["status"] for r in rows] == ["PASS"] * 4, rows
    assert rows[1]["got"] == "k1 unchanged, k2 a new key"


def test_dkim_zone_rows_fail_when_the_old_key_changed_or_records_are_missing():
    before = zone(("mx12-k1._domainkey.example.test.", KEY1))
    rotated = zone(("mx12-k1._domainkey.example.test.", KEY2), ("mx12-k2._domainkey.example.test.", KEY2))
    rows = report_rows.dkim_zone_rows(["mx12"], DKIM_HOSTVARS, before, rotated, "")
    assert [r["status"] for r in rows] == ["PASS", "FAIL", "FAIL", "FAIL"]
    assert rows[1]["got"] == "k1 changed or missing, k2 a new key"
    assert rows[2]["got"].startswith("no SPF")
    empty = report_rows.dkim_zone_rows(["mx12"], DKIM_HOSTVARS, "", "", "")
    assert empty[0]["got"] == "no such record" and {r["status"] for r in empty} == {"FAIL"}


def test_dkim_signature_rows_want_one_copy_verified_for_the_selector():
    sessions = [
        {"id": "mx12-dkim-rotated", "host": "mx12.example.test", "dkim_selector": "mx12-k2", "dkim_zone": "rotated"},
        {"id": "mx12-dkim-signed", "host": "mx12.example.test", "dkim_selector": "mx12-k1", "dkim_zone": "before"},
        {"id": "mx12-dkim-bdat", "host": "mx12.example.test", "dkim_selector": "mx12-k1", "dkim_zone": "before"},
        {"id": "mx12-dkim-port-25", "host": "mx12.example.test", "dkim_unsigned_at": "bob@example.test"},
    ]
    lines = [
        "mx12-dkim-rotated 1 pass d=example.test s=mx12-k2",
        "mx12-dkim-rotated-unpublished 1 fail d=example.test s=mx12-k2 (dkimpy: missing public key)",
        "mx12-dkim-signed 1 fail d=example.test s=mx12-k1 (dkimpy: signature does not verify)",
    ]
    rows = report_rows.dkim_signature_rows(lines, sessions, {"mx12.example.test": "mx12"})
    assert [r["status"] for r in rows] == ["PASS", "PASS", "FAIL", "FAIL"]
    assert rows[0]["expected"] == "1 pass d=example.test s=mx12-k2" and "(rotated records, dkimpy)" in rows[0]["check"]
    assert "before mx12-k2 was made" in rows[1]["check"]
    assert rows[3]["got"] == "no answer"
    # A verifier that passes everything fails the negative row.
    lines[1] = "mx12-dkim-rotated-unpublished 1 pass d=example.test s=mx12-k2"
    rows = report_rows.dkim_signature_rows(lines, sessions, {"mx12.example.test": "mx12"})
    assert rows[1]["status"] == "FAIL"


def test_dkim_unsigned_rows_want_one_copy_without_a_signature():
    hostvars = {
        "mx12": {"__dkim_unsigned": {"results": [{"stdout": "mx12-dkim-port-25 1 0"}]}},
        "mx13": {"__dkim_unsigned": {"results": [{"stdout": "mx13-dkim-port-25 1 1"}, {"stdout": "x 0 missing"}]}},
    }
    rows = report_rows.dkim_unsigned_rows(["mx12", "mx13"], hostvars)
    assert [r["status"] for r in rows] == ["PASS", "FAIL", "FAIL"]
    assert rows[1]["got"] == "1 copy, 1 DKIM-Signature headers"
