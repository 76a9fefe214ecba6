"""Filters that turn probe results into report rows, and rows into the printed
table. A row is {host, check, expected, got, status}, status one of PASS,
FAIL, SKIP: a check that did not run is never reported as passed."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

STATUSES = ("PASS", "FAIL", "SKIP")

# The table's columns: status, host, check, expected, got.
_LINE = "%-4s  %-5s  %-64s  %-42s  %s"
_CHECK_WIDTH = 64
_EXPECTED_WIDTH = 42
# Like Jinja's truncate(90, true, '...') with Ansible's leeway of 5.
_GOT_WIDTH = 90
_GOT_LEEWAY = 5
# A failed row whose "got" was cut is followed by this line with all of it:
# the end of a log then says why, not only that.
_FULL_GOT = "      got, in full: %s"


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _either(values):
    return " or ".join(str(v) for v in _as_list(values))


def _both(values):
    return " and ".join(str(v) for v in _as_list(values))


def _keywords(key, values, mode):
    """EHLO keyword expectations in words. The last EHLO is the one after TLS
    unless the mode is plain; `*_before_tls_*` only means something with
    STARTTLS, which itself is only ever offered before TLS."""
    before = key.startswith("ehlo_before_tls_")
    words = _as_list(values)
    if key.endswith("_has"):
        text = f"{_both(words)} offered"
    else:
        text = f"no {_either(words)}"
    if mode == "starttls" and [str(w).upper() for w in words] != ["STARTTLS"]:
        text += " before TLS" if before else " after TLS"
    return text


def _certificate(expect):
    verified = expect.get("cert_verified")
    names = _as_list(expect.get("cert_names_include"))
    if verified is None:
        return f"certificate names include {_both(names)}"
    if not boolean(verified, strict=False):
        text = "certificate does not verify"
        return f"{text}, certificate names include {_both(names)}" if names else text
    return f"certificate verifies for {_both(names)}" if names else "certificate verifies"


def expected_text(expect, mode="starttls"):
    """smtp_probe's `expect` in words, in the order of its keys, such as
    `AUTH 235, MAIL 553`."""
    phrases = []
    for key, value in (expect or {}).items():
        if key in ("cert_verified", "cert_names_include"):
            if "certificate" not in phrases:
                phrases.append("certificate")  # once, where the first of the two is
            continue
        if key == "banner_code":
            phrases.append(f"banner {value}")
        elif key == "banner_contains":
            phrases.append(f"banner contains '{value}'")
        elif key in ("ehlo_has", "ehlo_lacks", "ehlo_before_tls_has", "ehlo_before_tls_lacks"):
            phrases.append(_keywords(key, value, mode))
        elif key == "tls_version":
            phrases.append(_either(value))
        elif key == "tls_cipher":
            phrases.append(f"cipher {_either(value)}")
        elif key == "cert_subject_contains":
            phrases.append(f"certificate subject contains '{value}'")
        elif key == "cert_issuer_contains":
            phrases.append(f"certificate issuer contains '{value}'")
        elif key == "cert_fingerprint":
            phrases.append(f"certificate SHA-256 {value}")
        elif key == "cert_days_left_min":
            phrases.append(f"at least {value} days left on the certificate")
        elif key == "auth_mechanisms":
            mechanisms = sorted(str(m).upper() for m in _as_list(value))
            phrases.append("AUTH " + " ".join(mechanisms) if mechanisms else "no AUTH offered")
        elif key == "auth_text_contains":
            phrases.append(f"AUTH reply contains '{value}'")
        elif key in ("auth_code", "mail_code", "rcpt_code", "data_code"):
            codes = " ".join(str(c) for c in _as_list(value))
            phrases.append(f"{key[: -len('_code')].upper()} {codes}")
        else:
            phrases.append(f"{key} {value}")
    phrases = [_certificate(expect) if p == "certificate" else p for p in phrases]
    return ", ".join(phrases) or "no error"


def _reply(reply):
    reply = reply or {}
    return f"{reply.get('code')} {reply.get('text', '')}".strip()


def _shown(show, result):
    """The reply a passed check shows, by the check's `show`."""
    if show == "tls":
        tls = result.get("tls") or {}
        mechanisms = " ".join(result.get("auth_mechanisms") or [])
        return f"{tls.get('version')} {tls.get('cipher')}, certificate verified, AUTH {mechanisms}"
    if show == "ehlo":
        return "STARTTLS offered; no AUTH before or after TLS"
    if show == "auth":
        return _reply(result.get("auth"))
    send = result.get("send") or {}
    if show == "mail":
        return _reply(send.get("mail"))
    if show == "rcpt":
        rcpt = send.get("rcpt") or []
        return _reply(rcpt[0]) if rcpt else "no RCPT reply"
    if send.get("data"):
        return _reply(send["data"])
    return f"DATA skipped: {send.get('data_skipped')}"


def _skip_reason(check, result, no_account, no_send):
    if check.get("account") and no_account:
        return no_account
    if (check.get("send") or {}).get("data") and no_send:
        return no_send
    # Skipped for a reason the caller did not name: Ansible's false condition.
    condition = result.get("false_condition")
    return f"{condition} is false" if condition else "condition false"


def _no_result(result):
    """Why a probe that returned neither an error code nor its expectations
    failed: the module did not run (no Python on the probing host, bad
    parameters), so nothing was checked."""
    text = result.get("msg") or "smtp_probe returned no result"
    stderr = [line for line in str(result.get("module_stderr") or "").splitlines() if line.strip()]
    return f"{text} ({stderr[0].strip()})" if stderr else text


def _judge(check, result, no_account, no_send):
    """(status, got) of one probe result."""
    if result.get("skipped"):
        return "SKIP", "skipped: " + _skip_reason(check, result, no_account, no_send)
    error = result.get("error")
    # smtp_probe always returns `mismatches`, unless the module never ran.
    ran = error or "mismatches" in result
    expect_error = check.get("expect_error") or ""
    if not ran:
        return "FAIL", _no_result(result)
    if expect_error:
        if error:
            got = f"{error}: {result.get('msg', '')}"
        else:
            tls = result.get("tls") or {}
            got = f"no error: {tls.get('version') or '?'} {tls.get('cipher') or ''}".rstrip()
        return ("PASS" if error == expect_error else "FAIL"), got
    if error:
        return "FAIL", "; ".join(result.get("mismatches") or []) or result.get("msg") or error
    if result.get("expect_skipped"):
        # The probe ran, but not the part this check is about (DATA in check mode).
        return "SKIP", "skipped: " + "; ".join(result["expect_skipped"])
    return "PASS", _shown(check.get("show"), result)


def _runs(check, no_account, no_send):
    """Whether roles/verify runs the check: not one that logs in without a
    test account (no_account: why not), nor one that sends DATA when sending
    is off (no_send: why not)."""
    return not ((check.get("account") and no_account) or ((check.get("send") or {}).get("data") and no_send))


def verify_probes(checks, account, no_account="", no_send=""):
    """smtp_probe's `probes` for the checks of roles/verify that run, in order:
    a check's connection, login (`auth: right` logs in with `account`, `wrong`
    with a wrong password), envelope (without `data` unless it is true) and
    expectations."""
    if not isinstance(checks, list) or not all(isinstance(check, Mapping) for check in checks):
        raise AnsibleFilterError("verify_probes expects the list of checks of roles/verify")
    probes = []
    for check in checks:
        if not _runs(check, no_account, no_send):
            continue
        options = {key: check[key] for key in ("port", "mode", "tls_max_version", "expect") if key in check}
        if "auth" in check:
            if not isinstance(account, Mapping) or not account.get("user") or not account.get("password"):
                raise AnsibleFilterError(
                    f"verify_probes: check {check.get('id', '?')} logs in, but the account has no user and password"
                    " (pass no_account= to leave such checks out)"
                )
            options["user"] = account["user"]
            options["password"] = account["password"] if check["auth"] == "right" else "authsmtp-verify-wrong-password"
        if "send" in check:
            options["send"] = {key: value for key, value in check["send"].items() if key != "data"}
        probes.append(options)
    return probes


def verify_rows(results, host, no_account="", no_send="", checks=None):
    """One row per check of roles/verify. Either `results` is the `results`
    list of a looped smtp_probe (each with its check as `item`), or it is the
    result of one smtp_probe run with `probes` (verify_probes) and `checks` is
    the list of checks: the checks that ran take the results of `probes` in
    order, the others are SKIP rows."""
    if checks is not None:
        results = _batch_results(results, checks, no_account, no_send)
    if not isinstance(results, list):
        raise AnsibleFilterError("verify_rows expects the `results` list of a looped smtp_probe task")
    rows = []
    for index, result in enumerate(results):
        if not isinstance(result, Mapping) or not isinstance(result.get("item"), Mapping):
            raise AnsibleFilterError(f"verify_rows: results[{index}] is not a loop result with the check as `item`")
        check = result["item"]
        status, got = _judge(check, result, no_account, no_send)
        expect_error = check.get("expect_error") or ""
        expected = f"error {expect_error}" if expect_error else expected_text(check.get("expect"), check.get("mode"))
        rows.append(
            {
                "host": host,
                "check": str(check.get("title", check.get("id", f"check {index}"))),
                "expected": expected,
                "got": str(got).replace("\n", " "),
                "status": status,
            }
        )
    return rows


def _batch_results(run, checks, no_account, no_send):
    """The loop-like results of one smtp_probe run with `probes`: when the
    module did not run at all (no `probes` in its result), every check that
    should have run gets the run's own result, which fails it."""
    if not isinstance(run, Mapping):
        raise AnsibleFilterError("verify_rows with checks= expects the result of one smtp_probe run with probes")
    runs = [_runs(check, no_account, no_send) for check in checks]
    probed = run.get("probes")
    if probed is not None and len(probed) != sum(runs):
        raise AnsibleFilterError(f"verify_rows: {len(probed)} probe results for {sum(runs)} checks that ran")
    outcomes = iter(probed if probed is not None else [run] * sum(runs))
    return [
        dict(next(outcomes), item=check) if ran else {"skipped": True, "item": check}
        for check, ran in zip(checks, runs, strict=True)
    ]


def row_status(row, index=0):
    """PASS, FAIL or SKIP: the row's `status`, or for rows that only say
    `passed`, PASS or FAIL from it."""
    if not isinstance(row, Mapping):
        raise AnsibleFilterError(f"report_table: row {index} is not a dict")
    if "status" in row:
        status = str(row["status"]).upper()
        if status not in STATUSES:
            raise AnsibleFilterError(f"report_table: row {index} has status {row['status']!r}, not PASS, FAIL or SKIP")
        return status
    if "passed" in row:
        try:
            return "PASS" if boolean(row["passed"], strict=True) else "FAIL"
        except TypeError as err:
            raise AnsibleFilterError(f"report_table: row {index} has passed {row['passed']!r}: {err}") from err
    raise AnsibleFilterError(f"report_table: row {index} ({row.get('check', '?')}) has neither status nor passed")


def _truncate(text):
    if len(text) <= _GOT_WIDTH + _GOT_LEEWAY:
        return text
    return text[: _GOT_WIDTH - 3] + "..."


def report_table(rows):
    """The table's lines: a header, one line per row (a failed row whose
    "got" was cut, followed by all of it), and the summary last."""
    if not isinstance(rows, list):
        raise AnsibleFilterError("report_table expects a list of rows")
    lines = [
        _LINE % ("", "host", "check", "expected", "got"),
        _LINE % ("", "-----", "-" * _CHECK_WIDTH, "-" * _EXPECTED_WIDTH, "-" * 40),
    ]
    counts = dict.fromkeys(STATUSES, 0)
    for index, row in enumerate(rows):
        status = row_status(row, index)
        counts[status] += 1
        got = str(row.get("got", "")).replace("\n", " ")
        shown = _truncate(got)
        lines.append(
            _LINE
            % (
                status,
                row.get("host", ""),
                str(row.get("check", ""))[:_CHECK_WIDTH],
                str(row.get("expected", ""))[:_EXPECTED_WIDTH],
                shown,
            )
        )
        if status == "FAIL" and shown != got:
            lines.append(_FULL_GOT % got)
    lines.append(f"checks: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return lines


class FilterModule:
    def filters(self):
        return {"verify_rows": verify_rows, "verify_probes": verify_probes, "report_table": report_table}
