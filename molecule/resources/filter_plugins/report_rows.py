# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Report rows of the Molecule scenarios (test only, not part of the collection).

Each filter turns what a scenario registered (command results, smtp_session
and smtp_probe results, facts of other hosts) into report rows
{host, check, expected, got, status}, as the collection's report_table
prints them. Status is PASS only when the check held, computed here as a
real boolean: a truthy value (a string, say) never passes a row.

Filters that read facts of several hosts take `hostvars` (or any mapping of
host name to its variables) and the names of the hosts; a missing fact
reads as empty and fails its row rather than dropping it.
"""

from __future__ import annotations

import base64
import json
import os.path
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

# Jinja's truncate() keeps text up to this much longer than asked for.
_TRUNCATE_LEEWAY = 5
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----")
_BANNED_LIST = re.compile(r"Banned IP list:(.*)")


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _row(host, check, expected, got, ok, port=None):
    """One row. `ok` must be a real boolean: anything else is a bug here."""
    if not isinstance(ok, bool):
        raise AnsibleFilterError(f"report_rows: the check {check!r} was judged {ok!r}, not true or false")
    row = {"host": str(host)}
    if port is not None:
        row["port"] = str(port)
    row.update(check=str(check), expected=str(expected), got=str(got), status="PASS" if ok else "FAIL")
    return row


def _get(value, *keys, default=None):
    """value[key][key]..., or `default` where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return value


def _results(registered):
    """The `results` of a looped task's registered result, or []."""
    results = _get(registered, "results", default=[])
    if not isinstance(results, list):
        raise AnsibleFilterError(f"report_rows: expected a looped task's results, got {type(results).__name__}")
    return results


def _list(value, what):
    if not isinstance(value, list):
        raise AnsibleFilterError(f"report_rows: {what} must be a list, not {type(value).__name__}")
    return value


def _text(value):
    return "" if value is None else str(value)


def _group(text, pattern):
    """The first group of the first match of `pattern` in `text`, or ''."""
    match = re.search(pattern, _text(text))
    return match.group(1) if match else ""


def _truncate(text, length):
    """Jinja's truncate(length): cut at a word boundary and end with '...'."""
    if len(text) <= length + _TRUNCATE_LEEWAY:
        return text
    return text[: length - 3].rsplit(" ", 1)[0] + "..."


def _fold(value):
    return value.lower() if isinstance(value, str) else value


def _unique(items):
    """Jinja's unique: first occurrences, in order, strings compared ignoring case."""
    seen, out = set(), []
    for item in items:
        if _fold(item) not in seen:
            seen.add(_fold(item))
            out.append(item)
    return out


def _sort(items):
    """Jinja's sort: strings compared ignoring case."""
    return sorted(items, key=_fold)


def _int(value, default=0):
    """Ansible's int filter: the number, or `default` if there is none."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _server_of(server_of, name):
    if name not in server_of:
        raise AnsibleFilterError(f"report_rows: no server in the inventory has authsmtp_hostname {name!r}")
    return server_of[name]


# --------------------------------------------------------------------------
# molecule/resources: the default scenario's verify and side effects
# --------------------------------------------------------------------------


def session_rows(results, server_of):
    """One row per smtp_session result: its title, what its deciding step
    expected and got, PASS only if the module said passed=true."""
    return [
        _row(
            _server_of(server_of, r.get("host")),
            r.get("title"),
            r.get("expected"),
            r.get("got"),
            r.get("passed") is True,
        )
        for r in _list(results, "session_rows' input (the smtp_session results)")
    ]


def negative_verify_row(negative, host):
    """The verify role, run with a wrong expectation (modern TLS, only PLAIN),
    must fail, with exactly the three rows that differ and eight skipped (seven
    that need the test account it is not given, and the last backup's age:
    the scenario's servers have no backup repository).
    `negative` is {failed: bool, rows: the role's rows}."""
    rows = _list(_get(negative, "rows", default=[]), "the negative run's rows")
    failed = [r for r in rows if _get(r, "status") == "FAIL"]
    skipped = [r for r in rows if _get(r, "status") == "SKIP"]
    did_fail = _get(negative, "failed") is True
    differ = "; ".join(_truncate(_text(_get(r, "got", default="")), 40) for r in failed)
    got = f"{'fails' if did_fail else 'does not fail'}; {len(failed)} rows differ ({differ}), {len(skipped)} skipped"
    ok = all(
        [
            did_fail,
            len([r for r in failed if re.search("auth_mechanisms", _text(_get(r, "got")))]) == 2,
            len([r for r in failed if re.search("TLS 1.2", _text(_get(r, "check")))]) == 1,
            len(failed) == 3,
            len(skipped) == 8,
        ]
    )
    return _row(
        host,
        "playbooks/verify.yml fails when the server differs (expects modern TLS, only PLAIN)",
        "fails; 3 rows differ (TLS 1.2, AUTH on 587 and 465), 8 skipped",
        got,
        ok,
    )


def delivery_rows(servers, hostvars):
    """Per server, per message its Maildir search found by Message-ID
    (__maildir, "N cop(y|ies); by ... with ..."): exactly one copy, and the
    Received line this server added says how the client came in."""
    rows = []
    for mx in servers:
        for d in _results(_get(hostvars, mx, "__maildir")):
            if _get(d, "skipped"):
                continue
            item = _get(d, "item", default={})
            if _int(_get(item, "port")) != 25:
                sub = "ESMTPSA"
            elif _get(item, "tls", default="none") != "none":
                sub = "ESMTPS"
            else:
                sub = "ESMTP"
            stdout = _text(_get(d, "stdout"))
            rows.append(
                _row(
                    mx,
                    f"  ...arrives once in {_get(item, 'deliver_to')}'s Maildir",
                    f"1 copy; Received: ... with {sub}",
                    stdout,
                    stdout.startswith("1 copy; ") and f" with {sub} " in stdout,
                )
            )
    return rows


def sending_limit_rows(servers, hostvars):
    """Per server: each message of the sending limits side effect counted in
    its recipient's Maildir by Message-ID (__limit_counts, "SESSION WANT
    GOT" lines: a 250 arrives once, a 450 never), and postfwd's log naming
    the login it held (__limit_log, the matching journal lines)."""
    rows = []
    for mx in servers:
        for line in _text(_get(hostvars, mx, "__limit_counts", "stdout")).splitlines():
            session, want, got = (line.split() + ["", "", ""])[:3]
            rows.append(
                _row(
                    mx,
                    f"  ...{session.replace('-', ' ', 1)}: " + ("arrives once" if want == "1" else "never arrives"),
                    f"{want} cop{'y' if want == '1' else 'ies'} in bob's Maildir (by Message-ID)",
                    f"{got} cop{'y' if got == '1' else 'ies'}",
                    want != "" and want == got,
                )
            )
        logged = _text(_get(hostvars, mx, "__limit_log", "stdout")).splitlines()
        rows.append(
            _row(
                mx,
                "postfwd logs the login it held, and the limit",
                "user=erin@example.test ... action=450 4.7.1 Sending limit reached",
                (logged[0][:120] if logged else "no such line"),
                bool(logged),
            )
        )
    return rows


def smuggling_rows(servers, hostvars):
    """Per server, per smuggling attempt (__smuggled, "OUTER INNER" counts):
    one message, nothing in the smuggled recipient's Maildir."""
    rows = []
    for mx in servers:
        for d in _results(_get(hostvars, mx, "__smuggled")):
            if _get(d, "skipped"):
                continue
            counts = _text(_get(d, "stdout")).split()
            if len(counts) == 2:
                got = f"{counts[0]} message(s), {counts[1]} smuggled"
            else:
                got = f"cannot read the counts: {_text(_get(d, 'stdout'))!r}"
            rows.append(
                _row(
                    mx,
                    f"  ...exactly one message; nothing smuggled to {_get(d, 'item', 'smuggled_to')}",
                    "1 message, 0 smuggled",
                    got,
                    counts == ["1", "0"],
                )
            )
    return rows


_ZONE_TXT = re.compile(r'^(\S+)\s+\d+\s+IN\s+TXT\s+((?:"(?:[^"\\]|\\.)*"\s*)+)$')
_ZONE_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _zone_txt(text):
    """TXT records of a zone file's text: name (as written) -> joined value."""
    records = {}
    for line in _text(text).splitlines():
        match = _ZONE_TXT.match(line.strip())
        if match:
            records[match.group(1)] = "".join(_ZONE_STRING.findall(match.group(2)))
    return records


def dkim_zone_rows(servers, hostvars, before, rotated, printed):
    """What playbooks/dns_records.yml printed, per server and domain: before
    the rotation the DKIM record of its selector <label>-k1; during it, the
    new <label>-k2 with another key and <label>-k1 unchanged. Per domain, the
    SPF suggestion names every server and a DMARC suggestion is there; and
    the playbook printed what it wrote."""
    before, rotated = _zone_txt(before), _zone_txt(rotated)
    rows, domains = [], {}
    for mx in servers:
        hostname = _text(_get(hostvars, mx, "authsmtp_hostname"))
        label = hostname.split(".")[0]
        for domain in _get(hostvars, mx, "authsmtp_domains", default=[]) or []:
            domains.setdefault(domain, []).append(hostname)
            old, new = f"{label}-k1._domainkey.{domain}.", f"{label}-k2._domainkey.{domain}."
            key = before.get(old, "")
            rows.append(
                _row(
                    mx,
                    f"dns_records.yml prints the DKIM record {old}",
                    "v=DKIM1; k=rsa; p=<2048-bit key>",
                    _truncate(key, 40) or "no such record",
                    key.startswith("v=DKIM1; k=rsa; p=") and len(key) > 300,
                )
            )
            kept = rotated.get(old) == key
            fresh = rotated.get(new, "").startswith("v=DKIM1; k=rsa; p=") and rotated.get(new) != key
            rows.append(
                _row(
                    mx,
                    f"  ...during the rotation, {label}-k2 (a new key) and {label}-k1 (unchanged)",
                    "both records, k1 as before, k2 another key",
                    f"k1 {'unchanged' if kept else 'changed or missing'}, k2 {'a new key' if fresh else 'missing'}",
                    kept and fresh,
                )
            )
    for domain, hostnames in sorted(domains.items()):
        spf, dmarc = rotated.get(f"{domain}.", ""), rotated.get(f"_dmarc.{domain}.", "")
        named = all(f"a:{h}" in spf.split() for h in hostnames)
        rows.append(
            _row(
                "localhost",
                f"dns_records.yml suggests SPF and DMARC for {domain}",
                "v=spf1 " + " ".join(f"a:{h}" for h in sorted(hostnames)) + " ...; v=DMARC1; ...",
                f"{spf or 'no SPF'}; {_truncate(dmarc, 30) or 'no DMARC'}",
                spf.startswith("v=spf1 ") and named and dmarc.startswith("v=DMARC1;"),
            )
        )
    shown = bool(rotated) and all(name in _text(printed) for name in rotated)
    rows.append(
        _row(
            "localhost",
            "dns_records.yml prints the records it writes",
            f"{len(rotated)} records in its output",
            "all of them" if shown else "some missing",
            shown,
        )
    )
    return rows


def dkim_signature_rows(lines, sessions, server_of):
    """Per session with dkim_selector: files/dkim_verify.py's answer
    ("ID COPIES RESULT d=... s=...") must be one copy at the sink whose
    signature dkimpy verified, by the From: domain and the selector expected.
    A session signed during the rotation is also verified against the records
    printed before it ("ID-unpublished"), where its key is not: that must
    fail, or the verifier proves nothing."""
    answers = {line.split(" ", 1)[0]: line for line in _list(lines, "the verifier's lines") if line.strip()}
    rows = []
    for session in _list(sessions, "the DKIM sessions"):
        selector = _get(session, "dkim_selector")
        if not selector:
            continue
        session_id = _text(_get(session, "id"))
        want = f"1 pass d=example.test s={selector}"
        got = answers.get(session_id, f"{session_id} no answer").split(" ", 1)[-1]
        rows.append(
            _row(
                _server_of(server_of, _get(session, "host")),
                f"  ...at the sink once, DKIM verified ({_get(session, 'dkim_zone')} records, dkimpy)",
                want,
                got,
                got == want,
            )
        )
        if _get(session, "dkim_zone") == "rotated":
            got = answers.get(f"{session_id}-unpublished", "x no answer").split(" ", 1)[-1]
            rows.append(
                _row(
                    _server_of(server_of, _get(session, "host")),
                    f"  ...and fails against the records printed before {selector} was made",
                    f"1 fail d=example.test s={selector} (dkimpy: ...)",
                    got,
                    got.startswith(f"1 fail d=example.test s={selector} "),
                )
            )
    return rows


def dkim_unsigned_rows(servers, hostvars):
    """Per server: the message from outside on port 25, in bob's Maildir once
    and without a DKIM-Signature header ("ID COPIES SIGNATURES")."""
    rows = []
    for mx in servers:
        for result in _results(_get(hostvars, mx, "__dkim_unsigned")):
            _id, copies, signatures = (_text(_get(result, "stdout")).split() + ["", "", ""])[:3]
            rows.append(
                _row(
                    mx,
                    "  ...arrives once in bob's Maildir, unsigned",
                    "1 copy, 0 DKIM-Signature headers",
                    f"{copies or 0} cop{'y' if copies == '1' else 'ies'}, {signatures or '?'} DKIM-Signature headers",
                    copies == "1" and signatures == "0",
                )
            )
    return rows


def sink_rows(found, server_of):
    """Per [session, answer] pair of the sink, found by Message-ID: the message
    arrived there exactly once if the session has deliver_to_sink, and nothing
    arrived otherwise."""
    rows = []
    for pair in _list(found, "sink_rows' input (the [session, answer] pairs)"):
        session, answer = pair
        answer = _text(answer)
        want = boolean(_get(session, "deliver_to_sink", default=False), strict=False)
        rows.append(
            _row(
                _server_of(server_of, _get(session, "host")),
                f"  ...{'arrives once at' if want else 'never reaches'} the external.test sink",
                "1 copy; X-RcptTo: ..." if want else "nothing arrived",
                answer,
                answer.startswith("1 copy; X-RcptTo:") if want else answer == "nothing arrived",
            )
        )
    return rows


def cert_rows(results, server_of, hostvars):
    """One row per server and TLS port (not 25) that a passed session reached:
    the certificate served is the one deployed (deployed_fingerprint)."""
    rows, seen = [], set()
    for r in _list(results, "cert_rows' input (the smtp_session results)"):
        fingerprint = _get(r, "fingerprint")
        port = _text(_get(r, "port"))
        if not fingerprint or _int(port) == 25 or _get(r, "passed") is not True:
            continue
        mx = _server_of(server_of, _get(r, "host"))
        if (mx, port) in seen:
            continue
        seen.add((mx, port))
        deployed = _text(_get(hostvars, mx, "deployed_fingerprint"))
        rows.append(
            _row(
                mx,
                f"certificate on {port} verifies for {_get(r, 'host')} and is the deployed one",
                f"{deployed[:29]}...",
                f"{fingerprint[:29]}... {_get(r, 'tls_version')}",
                bool(deployed) and fingerprint == deployed,
                port=port,
            )
        )
    return rows


def secret_row(scanned, markers, label):
    """Whether the output of a command (its registered result) shows any of
    `markers`, the scenario's passwords and the marks of hashes."""
    markers = [_text(m) for m in _list(markers, "the secret markers")]
    output = _text(_get(scanned, "stdout")) + _text(_get(scanned, "stderr"))
    found = [m for m in markers if m in output]
    if markers:
        got = ", ".join(found) if found else "none found"
    else:
        got = "no secrets to look for: test_secret_markers is empty"
    return _row(
        "all",
        f"{label} prints no password or hash",
        f"none of {len(markers)} secrets",
        got,
        bool(markers) and not found,
    )


_FAILURE_LINE = re.compile(r"^(?:fatal|failed): \[")


def bad_input_message(run):
    """The message of the first task failure a bad-input converge printed
    (`run`: its command or async_status result; the default callback with
    ANSIBLE_CALLBACK_RESULT_FORMAT=json prints one line per failure, its
    result after ' => '), whitespace folded; 'no failure reported' when it
    printed none."""
    lines = _text(_get(run, "stdout")).splitlines() + _text(_get(run, "stderr")).splitlines()
    for line in lines:
        if _FAILURE_LINE.match(line):
            try:
                message = _get(json.loads(line.partition(" => ")[2]), "msg")
            except ValueError:
                return f"unreadable failure line: {line}"
            return re.sub(r"\s+", " ", _text(message))
    return "no failure reported"


def bad_input_row(bad_runs, target, case_file, case_text, before, after, messages):
    """One bad-input case: every converge run failed with the message of the
    case's "# expect:" line, and the live configuration's fingerprint did
    not change."""
    codes = [_get(r, "rc") for r in _results(bad_runs)]
    messages = [_text(m) for m in _list(messages, "the failure messages")]
    expect = _group(case_text, "# expect: (.*)")
    unchanged = _text(_get(before, "stdout")) == _text(_get(after, "stdout"))
    name = os.path.splitext(os.path.basename(_text(case_file)))[0]
    runs = "/".join(_text(c) for c in codes)
    got = f"rc={runs}, {'unchanged' if unchanged else 'CHANGED'}: {' / '.join(_unique(messages))}"
    ok = all(
        [
            len(codes) > 0,
            0 not in codes,
            # An empty expectation would match any message.
            expect != "",
            len([m for m in messages if re.search(re.escape(expect), m)]) == len(codes),
            unchanged,
        ]
    )
    return _row(
        target,
        f"bad input {name} fails{' twice' if len(codes) > 1 else ''}, config untouched",
        f"fails: {expect}",
        got,
        ok,
    )


def key_type_rows(found, chain, types, label, host, tls_dir="/etc/authsmtp/tls"):
    """The certificate directory holds the files of exactly `types` (a
    directory and a served file each: the `find` result `found`), and
    Postfix's smtpd_tls_chain_files (the `postconf -h` result `chain`) names
    exactly their served files."""
    types = [_text(t) for t in _list(types, "the key types")]
    want_files = _sort(t + suffix for t in types for suffix in ("", ".pem"))
    got_files = _sort(os.path.basename(_text(_get(f, "path"))) for f in _get(found, "files", default=[]))
    want_chain = _sort(f"{tls_dir}/{t}.pem" for t in types)
    got_chain = _sort(re.findall(r"[^, ]+", _text(_get(chain, "stdout"))))
    return [
        _row(
            host,
            f"{label}: certificate directory holds the files of these key types, no others",
            ", ".join(want_files),
            ", ".join(got_files),
            got_files == want_files,
        ),
        _row(
            host,
            f"{label}: Postfix serves exactly these files",
            ", ".join(want_chain),
            ", ".join(got_chain),
            got_chain == want_chain,
        ),
    ]


def _recap_changed(stdout, host):
    """`changed=N` of `host` in a PLAY RECAP, or None. Colour codes are ignored: Molecule run by hand forces
    colour (ANSIBLE_FORCE_COLOR) even into the playbooks a side effect runs."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", _text(stdout))
    match = re.search(re.escape(host) + r"\s+:.*?changed=([0-9]+)", plain)
    return int(match.group(1)) if match else None


def drift_rows(files, before, edited, after, converges, host="mx12"):
    """Per hand-edited file (`files`, in the order of the fingerprint lines
    of `before`, `edited` and `after`): the edit changed its fingerprint and
    the converge put it back. Then: of the two converges (`converges`, their
    registered results), the first changed something and the second nothing."""
    rows = []
    lines = [_get(r, "stdout_lines", default=[]) for r in (before, edited, after)]
    for index, f in enumerate(_list(files, "the drift files")):
        was, then, now = (ls[index] if index < len(ls) else None for ls in lines)
        rows.append(
            _row(
                host,
                f"hand edit ({_get(f, 'edit')}) put back by converge: {_get(f, 'path')}",
                f"{was} (edited: {then})",
                now,
                None not in (was, then, now) and then != was and now == was,
            )
        )
    changed = [_recap_changed(_get(r, "stdout"), host) for r in _list(converges, "the converge results")]
    rows.append(
        _row(
            host,
            "converge after hand edits reports changes, the next one none",
            "changed>0, then changed=0",
            "changed=" + ", then changed=".join("?" if c is None else str(c) for c in changed),
            len(changed) == 2 and None not in changed and changed[0] > 0 and changed[1] == 0,
        )
    )
    return rows


def _banned(status):
    """The addresses of `fail2ban-client status JAIL`'s banned list, or None without one."""
    match = _BANNED_LIST.search(_text(status))
    return match.group(1).strip() if match else None


def ban_rows(servers, hostvars, address, fact="__banned", title="fail2ban jail authsmtp-sasl bans the intruder"):
    """Per server: fail2ban's authsmtp-sasl jail status (the registered `fact`) lists `address`."""
    rows = []
    for mx in servers:
        listed = _banned(_get(hostvars, mx, fact, "stdout")) or ""
        rows.append(
            _row(
                mx,
                title,
                f"{address} in the banned list",
                f"banned: {listed or 'nobody'}",
                bool(address) and address in listed.split(),
            )
        )
    return rows


def expiry_rows(servers, hostvars, address, fact="__expired"):
    """Per server: once the ban time passed, the jail's status (`fact`) no longer lists `address`."""
    rows = []
    for mx in servers:
        listed = _banned(_get(hostvars, mx, fact, "stdout"))
        rows.append(
            _row(
                mx,
                "the ban lifts by itself after authsmtp_fail2ban_bantime",
                f"{address} no longer banned",
                "no banned list in the jail's status" if listed is None else f"banned: {listed or 'nobody'}",
                listed is not None and bool(address) and address not in listed.split(),
            )
        )
    return rows


def unban_rows(servers, hostvars, address):
    """Per server: `fail2ban-client set authsmtp-sasl unbanip` (__unban)
    succeeded, and the jail's status afterwards (__unbanned) has a banned
    list without `address`."""
    rows = []
    for mx in servers:
        rc = _get(hostvars, mx, "__unban", "rc")
        listed = _banned(_get(hostvars, mx, "__unbanned", "stdout"))
        if listed is None:
            got = f"rc {rc}, no banned list in the jail's status"
        else:
            got = f"rc {rc}, banned: {listed or 'nobody'}"
        rows.append(
            _row(
                mx,
                "fail2ban-client set authsmtp-sasl unbanip lifts the ban",
                f"{address} no longer banned",
                got,
                rc == 0 and listed is not None and bool(address) and address not in listed.split(),
            )
        )
    return rows


def client_config_rows(render_run, parsed_run, msmtp_results, hostvars):
    """playbooks/client_config.yml ran (`render_run`); the rows of
    files/check_client_config.py (`parsed_run`, its JSON rows judged by their
    `passed`); per server, msmtp sent with bob's rendered msmtprc
    (`msmtp_results`, looped with loop_var mx) and the message arrived in
    carol's Maildir authenticated (__msmtp_delivery)."""
    rc = _get(render_run, "rc")
    changed = " ".join(re.findall(r"changed=[0-9]+", _text(_get(render_run, "stdout"))))
    rows = [_row("all", "playbooks/client_config.yml renders the client files", "rc 0", f"rc {rc}, {changed}", rc == 0)]
    try:
        parsed = json.loads(_text(_get(parsed_run, "stdout")))
    except ValueError as exc:
        raise AnsibleFilterError(f"client_config_rows: check_client_config.py printed no JSON rows: {exc}") from exc
    for index, r in enumerate(_list(parsed, "check_client_config.py's rows")):
        if not isinstance(r, Mapping):
            raise AnsibleFilterError(f"client_config_rows: check_client_config.py's row {index} is not a dict")
        rows.append(_row(r.get("host"), r.get("check"), r.get("expected"), r.get("got"), r.get("passed") is True))
    for r in _list(msmtp_results, "the msmtp results"):
        mx, sent = _get(r, "mx"), _get(r, "rc")
        last_error = "".join(_get(r, "stderr_lines", default=[])[-1:])
        rows.append(
            _row(
                mx,
                "msmtp with bob's rendered msmtprc sends to carol",
                "exit 0",
                f"exit {sent}" + (f" {last_error}" if sent else ""),
                sent == 0,
            )
        )
        arrived = _text(_get(hostvars, mx, "__msmtp_delivery", "stdout"))
        rows.append(
            _row(
                mx,
                "  ...arrives once in carol's Maildir, authenticated",
                "1 copy; Received: ... with ESMTPSA",
                arrived,
                arrived.startswith("1 copy; ") and " with ESMTPSA " in arrived,
            )
        )
    return rows


# testssl.sh's cipher categories that no submission port may offer; the
# last is called cipherlist_OBSOLETED by older versions.
_WEAK_CATEGORIES = (
    "cipherlist_NULL",
    "cipherlist_aNULL",
    "cipherlist_EXPORT",
    "cipherlist_LOW",
    "cipherlist_3DES_IDEA",
)


def tls_scan_rows(scans, hostvars):
    """Per testssl.sh scan (the slurped JSON files, looped over scans
    {mx, port, starttls, submission}): old protocols not offered, TLS 1.2 as
    the server's authsmtp_tls_profile wants and TLS 1.3 offered; on
    submission ports also no weak cipher category and forward secrecy on
    every suite."""
    rows = []
    for r in _list(scans, "tls_scan_rows' input (the slurp results)"):
        s = _get(r, "item", default={})
        mx, port, submission = _get(s, "mx"), _get(s, "port"), bool(_get(s, "submission"))
        f = {}
        for finding in json.loads(base64.b64decode(_text(_get(r, "content"))).decode("utf-8")):
            f[finding.get("id")] = finding.get("finding")
        label = f"{port}{' STARTTLS' if _get(s, 'starttls') and _int(port) != 25 else ''} (testssl.sh): "

        old = ["SSLv2", "SSLv3", "TLS1", "TLS1_1"] if submission else ["SSLv2", "SSLv3"]
        got = [_text(f.get(o, "?")) for o in old]
        named = ", ".join(old).replace("TLS1_1", "TLS 1.1").replace("TLS1", "TLS 1.0")
        rows.append(
            _row(mx, f"{label}no {named}", "not offered", ", ".join(_unique(got)), all(g == "not offered" for g in got))
        )

        profile = _text(_get(hostvars, mx, "authsmtp_tls_profile", default="intermediate"))
        want12 = "not offered" if profile == "modern" and submission else "offered"
        got12, got13 = _text(f.get("TLS1_2", "?")), _text(f.get("TLS1_3", "?"))
        ok12 = got12.startswith("offered") if want12 == "offered" else got12 == "not offered"
        rows.append(
            _row(
                mx,
                f"{label}TLS 1.2 {want12}, TLS 1.3 offered" + (f" (profile {profile})" if submission else ""),
                f"TLS 1.2 {want12}, TLS 1.3 offered",
                f"TLS 1.2 {got12}, TLS 1.3 {got13}",
                ok12 and got13.startswith("offered"),
            )
        )

        if submission:
            weak = [*_WEAK_CATEGORIES, "cipherlist_AVERAGE" if "cipherlist_AVERAGE" in f else "cipherlist_OBSOLETED"]
            offered = [f"{w}={_text(f.get(w, '?'))}" for w in weak if _text(f.get(w, "?")) != "not offered"]
            rows.append(
                _row(
                    mx,
                    f"{label}no NULL, anonymous, export, RC4/DES, 3DES or CBC suites",
                    "none of 6 categories offered",
                    ", ".join(offered) if offered else "none offered",
                    not offered,
                )
            )
            # "TLS 1.2   xc02f   ECDHE-RSA-AES128-GCM-SHA256   ECDH 253   AESGCM ...":
            # the fifth field is the key exchange.
            suites = [_text(v) for k, v in f.items() if re.match("cipher-tls", _text(k))]
            kx = _unique(fields[4] if len(fields) > 4 else "?" for fields in (suite.split() for suite in suites))
            rows.append(
                _row(
                    mx,
                    f"{label}forward secrecy on every suite offered",
                    "key exchange ECDH or DH only",
                    f"{len(suites)} suites, key exchange {'/'.join(kx)}",
                    len(suites) > 0 and all(k in ("ECDH", "DH") for k in kx),
                )
            )
    return rows


def handshake_rows(runs):
    """Per `openssl s_client` run (looped over handshakes {mx, title,
    accepted}): the handshake completed if and only if it should."""
    rows = []
    for r in _list(runs, "handshake_rows' input (the openssl s_client results)"):
        item = _get(r, "item", default={})
        ok = _get(r, "rc") == 0
        want = boolean(_get(item, "accepted", default=False), strict=False)
        proto = _group(_get(r, "stdout"), r"Protocol *: *([A-Za-z0-9._-]+)")
        cipher = _group(_get(r, "stdout"), r"Cipher is ([A-Za-z0-9._-]+)")
        alert = re.search(r"(sslv3|tlsv1|tlsv13) alert [a-z ]+", _text(_get(r, "stderr")))
        reason = (alert.group(0) if alert else "") or "".join(_get(r, "stderr_lines", default=[])[:1])
        rows.append(
            _row(
                _get(item, "mx"),
                _get(item, "title"),
                "handshake completes" if want else "handshake refused",
                f"{proto} {cipher}" if ok else f"refused: {reason or 'exit ' + _text(_get(r, 'rc'))}",
                ok == want,
            )
        )
    return rows


# --------------------------------------------------------------------------
# molecule/certs
# --------------------------------------------------------------------------


def renewal_rows(forced, threshold, nothing_due, client, acme, hostvars, servers, account_host="mxacme"):
    """The forced renewal under load. `forced`, `threshold` and `nothing_due`
    are the three converge runs; `client` the client's variables
    (__served_before, __served_after: smtp_probe results per target;
    __load_result: smtp_session's load counts); `acme` the ACME server's
    (__pebble_before, __pebble_after: pebble's log); each server's
    __disk_ecdsa and __delivered, and `account_host`'s __account_before and
    __account_after, come from `hostvars`."""
    rows = []
    forced_rc, forced_out = _get(forced, "rc"), _text(_get(forced, "stdout"))
    rows.append(_row("all", "converge with authsmtp_tls_force_renew=true", "rc 0", f"rc {forced_rc}", forced_rc == 0))
    probed = len(re.findall(r"Port \d+ serves the \w+ certificate", forced_out))
    rows.append(
        _row(
            "all",
            "  ...then probed 465 and 587 for each key type and host",
            "8 served = new on disk",
            f"{probed} served = new on disk",
            probed == 8,
        )
    )

    rc, out = _get(threshold, "rc"), _text(_get(threshold, "stdout"))
    reason = bool(re.search("fewer than authsmtp_tls_renew_days", out))
    probed = len(re.findall(r"Port \d+ serves the \w+ certificate", out))
    rows.append(
        _row(
            account_host,
            "renewed when fewer than authsmtp_tls_renew_days are left",
            "rc 0, reason given, 4 probed",
            f"rc {rc}{', reason given' if reason else ''}, {probed} probed",
            rc == 0 and reason and probed == 4,
        )
    )

    rc = _get(nothing_due, "rc")
    # "PLAY RECAP" lines: host : ok=N changed=N ...
    recap = dict(re.findall(r"\n(\S+)\s+: ok=\d+\s+changed=(\d+)", _text(_get(nothing_due, "stdout"))))
    rows.append(
        _row(
            "all",
            "a run with nothing due changes nothing",
            "rc 0, changed=0 on both",
            f"rc {rc}, {recap}",
            rc == 0 and len(recap) == 2 and sum(int(v) for v in recap.values()) == 0,
        )
    )

    before_results = _results(_get(client, "__served_before"))
    after_results = _results(_get(client, "__served_after"))
    for index, before in enumerate(before_results):
        after = after_results[index] if index < len(after_results) else {}
        mx = _get(before, "item", "mx")
        disk = _text(_get(hostvars, mx, "__disk_ecdsa", "fingerprints", "sha256")).upper()
        served = _get(after, "certificate", "fingerprint_sha256")
        if served is None:
            got = "no certificate read after the renewal"
        else:
            got = "new" if served != _get(before, "certificate", "fingerprint_sha256") else "old"
            got += ", on disk" if served == disk else ", NOT on disk"
        rows.append(
            _row(
                mx,
                f"port {_get(before, 'item', 'port')} serves the renewed certificate (client)",
                "new, on disk",
                got,
                got == "new, on disk",
            )
        )

    targets = _list(_get(client, "__load_result", "targets", default=[]), "the load's targets")
    inventory_name = {_get(hostvars, mx, "authsmtp_hostname"): mx for mx in servers}
    for t in targets:
        failures = _get(t, "failures", default=[])
        sent, accepted = _get(t, "sent"), _get(t, "accepted")
        rows.append(
            _row(
                _server_of(inventory_name, _get(t, "host")),
                f"mail through {_get(t, 'port')} during the renewals",
                "all accepted (at least 20)",
                f"{accepted} of {sent} accepted" + (f", {failures[0]}" if failures else ""),
                not failures and isinstance(sent, int) and accepted == sent and sent >= 20,
            )
        )
    for mx in servers:
        name = _get(hostvars, mx, "authsmtp_hostname")
        accepted = sum(_int(_get(t, "accepted")) for t in targets if _get(t, "host") == name)
        delivered = _int(_get(hostvars, mx, "__delivered", "stdout"))
        rows.append(
            _row(
                mx,
                "  ...every accepted message is in alice's Maildir",
                f"{accepted} delivered",
                f"{delivered} delivered",
                delivered == accepted and accepted > 0,
            )
        )

    key_before = _get(hostvars, account_host, "__account_before", "stat", "checksum", default="none")
    key_after = _get(hostvars, account_host, "__account_after", "stat", "checksum", default="none")
    kept = key_before == key_after and key_before != "none"
    rows.append(
        _row(
            account_host, "the ACME account key is kept and reused", "same key", "same key" if kept else "changed", kept
        )
    )

    # What pebble logged during the renewals: orders it issued, and the
    # HTTP-01 answers it fetched from each name on port 80. Pebble may reuse
    # a name's recent authorization within an order, so not every order
    # validates every name again; each order validates at least one.
    seen = len(_get(acme, "__pebble_before", "stdout_lines", default=[]))
    log = [_text(line) for line in _get(acme, "__pebble_after", "stdout_lines", default=[])[seen:]]
    issued = len([line for line in log if re.search("Issued certificate serial", line)])
    validated = len([line for line in log if re.search("set VALID by completed challenge", line)])
    fetched = len(
        [
            line
            for line in log
            if re.search(r"Attempting to validate w/ HTTP: http://(mxacme|submit)\.example\.test:80/", line)
        ]
    )
    rows.append(
        _row(
            "acme",
            "pebble issued each renewal after HTTP-01 on port 80",
            "4 issued, >= 4 validated over HTTP",
            f"{issued} issued, {validated} validated, {fetched} HTTP fetches",
            issued == 4 and validated >= 4 and fetched >= validated,
        )
    )
    return rows


def _public_key_type(pem):
    """The key type of a PEM certificate, named as community.crypto's
    x509_certificate_info names it (RSA, ECC...)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
    for kind, name in (
        (rsa.RSAPublicKey, "RSA"),
        (dsa.DSAPublicKey, "DSA"),
        (ec.EllipticCurvePublicKey, "ECC"),
        (ed25519.Ed25519PublicKey, "Ed25519"),
        (ed448.Ed448PublicKey, "Ed448"),
        (x25519.X25519PublicKey, "X25519"),
        (x448.X448PublicKey, "X448"),
    ):
        if isinstance(key, kind):
            return name
    return f"unknown ({type(key).__name__})"


def strict_rows(probes, by_type):
    """Strict verification from the client. `probes`: smtp_probe results,
    looped over cases {mx, check, want, login}: the certificate verifies (and
    alice logs in) or fails as the case wants. `by_type`: `openssl s_client
    -sigalgs` results, looped over [name, port, key type, mx]: the port
    serves a verified certificate of that key type."""
    rows = []
    for r in _list(probes, "strict_rows' input (the smtp_probe results)"):
        item = _get(r, "item", default={})
        login = _get(item, "login") is True
        if "error" in r:
            got = _text(r["error"])
        else:
            got = "verified" if _get(r, "certificate", "verified") is True else "not verified"
            if login:
                got += f", AUTH {_get(r, 'auth', 'code')}"
        want = _text(_get(item, "want")) + (", AUTH 235" if login else "")
        rows.append(_row(_get(item, "mx"), _get(item, "check"), want, got, got == want))
    for r in _list(by_type, "the openssl s_client results"):
        _name, _port, kind, mx = _get(r, "item")
        pem = _PEM.search(_text(_get(r, "stdout")))
        rc = _get(r, "rc")
        if pem and rc == 0:
            try:
                got = f"{_public_key_type(pem.group(0))} certificate, verified"
            except ValueError as exc:
                got = f"the certificate served does not parse: {exc}"
        else:
            got = f"rc {rc}: {_truncate(_text(_get(r, 'stderr')).strip(), 60)}"
        want = f"{kind} certificate, verified"
        rows.append(_row(mx, f"serves a verified {kind} certificate when asked for {kind}", want, got, got == want))
    return rows


def check_certs_rows(ok_run, threshold, stale, servers):
    """playbooks/check_certs.yml as cron would run it: `ok_run` passes as
    deployed (10 OK rows), `threshold` fails under a threshold it cannot meet
    and names each of `servers` (their host names) and the days left,
    `stale` fails when mxca serves a certificate no longer on disk."""
    ok_rc = _get(ok_run, "rc")
    # Lines of its report table: OK or FAIL, then the port (or "disk").
    ok_lines = [
        line for line in _get(ok_run, "stdout_lines", default=[]) if re.search(r'"OK +(25|465|587|disk) ', _text(line))
    ]
    rc, out = _get(threshold, "rc"), _text(_get(threshold, "stdout"))
    named = len([s for s in servers if _text(s) in out])
    days = bool(re.search("port 465: [0-9]+ days left", out + _text(_get(threshold, "stderr"))))
    stale_rc = _get(stale, "rc")
    not_on_disk = bool(re.search("not the certificate on disk", _text(_get(stale, "stdout"))))
    return [
        _row(
            "all",
            "check_certs.yml passes as deployed (3 ports + 2 files per host)",
            "rc 0, 10 OK rows",
            f"rc {ok_rc}, {len(ok_lines)} OK rows",
            ok_rc == 0 and len(ok_lines) == 10,
        ),
        _row(
            "all",
            "check_certs.yml fails under the threshold, naming each host",
            "rc 2, both hosts, days left named",
            f"rc {rc}, {named} hosts{', days left named' if days else ''}",
            rc == 2 and named == 2 and days,
        ),
        _row(
            "mxca",
            "check_certs.yml fails when a port serves what is not on disk",
            "rc 2, not the certificate on disk",
            f"rc {stale_rc}{', not the certificate on disk' if not_on_disk else ''}",
            stale_rc == 2 and not_on_disk,
        ),
    ]


def exactly_once_rows(accepted, delivered, host, what, refused=0):
    """Rows for mail counted by Message-ID where it landed: every message
    that got a 250 (`accepted`, its Message-IDs) was delivered exactly once
    (`delivered`, every Message-ID found, one entry per copy); `refused` is
    how many got a 4xx or a connection error instead (reported: a client
    keeps and retries those). A message delivered without an accepted 250
    (its reply was lost with the connection) is reported, not failed."""
    accepted = [str(i) for i in _list(accepted, "accepted")]
    delivered = [str(i) for i in _list(delivered, "delivered")]
    copies = {}
    for message_id in delivered:
        copies[message_id] = copies.get(message_id, 0) + 1
    lost = [i for i in _unique(accepted) if copies.get(i, 0) == 0]
    duplicated = sorted(i for i, n in copies.items() if n > 1)
    unasked = sorted(set(copies) - set(accepted))
    got = (
        f"{len(accepted)} accepted, {len(accepted) - len(lost)} delivered, {len(lost)} lost, "
        f"{len(duplicated)} duplicated; {_int(refused)} got 4xx or a connection error"
        + (f", {len(unasked)} of those delivered anyway" if unasked else "")
    )
    if lost:
        got += f"; lost: {', '.join(lost[:3])}"
    if duplicated:
        got += f"; duplicated: {', '.join(duplicated[:3])}"
    ok = bool(accepted) and not lost and not duplicated and len(set(accepted)) == len(accepted)
    return [_row(host, f"{what}: every message with a 250 delivered exactly once", "0 lost, 0 duplicated", got, ok)]


class FilterModule:
    def filters(self):
        return {
            "session_rows": session_rows,
            "negative_verify_row": negative_verify_row,
            "delivery_rows": delivery_rows,
            "smuggling_rows": smuggling_rows,
            "sending_limit_rows": sending_limit_rows,
            "sink_rows": sink_rows,
            "dkim_zone_rows": dkim_zone_rows,
            "dkim_signature_rows": dkim_signature_rows,
            "dkim_unsigned_rows": dkim_unsigned_rows,
            "cert_rows": cert_rows,
            "secret_row": secret_row,
            "bad_input_message": bad_input_message,
            "bad_input_row": bad_input_row,
            "key_type_rows": key_type_rows,
            "drift_rows": drift_rows,
            "ban_rows": ban_rows,
            "expiry_rows": expiry_rows,
            "unban_rows": unban_rows,
            "client_config_rows": client_config_rows,
            "tls_scan_rows": tls_scan_rows,
            "handshake_rows": handshake_rows,
            "renewal_rows": renewal_rows,
            "strict_rows": strict_rows,
            "check_certs_rows": check_certs_rows,
            "exactly_once_rows": exactly_once_rows,
        }
