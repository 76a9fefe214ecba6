#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: smtp_session
short_description: Scripted SMTP sessions, and mail under load, for the Molecule scenarios (test only)
description:
  - A test helper of the Molecule scenarios, not part of the collection. It runs on a test client and speaks SMTP
    with the collection's own client (C(SmtpClient) in the collection's C(smtp_probe) module utilities), which
    Ansible ships to the client together with the module.
  - With O(mode=sessions) it runs the sessions of O(checks) and compares every reply with the one expected; a
    session that differs is reported in RV(results), it does not fail the module.
  - With O(mode=load) it keeps submitting authenticated mail to each of O(targets) until O(stop_file) appears or
    O(max_seconds) have passed, and counts what was accepted. Run it with C(async) and C(poll=0) to send while
    other tasks run.
  - Passwords never appear in a result.
options:
  mode:
    description:
      - V(sessions) runs O(checks); V(load) sends to O(targets).
    type: str
    choices: [sessions, load]
    default: sessions
  token:
    description:
      - Marks this run's messages. V(sessions) puts it in each message's subject,
        C(authsmtp check <id> <token>); V(load) in the header C(X-Authsmtp-Load) and the subject.
    type: str
    required: true
  checks:
    description:
      - "The sessions to run (O(mode=sessions)). Each is a dictionary:
        C(id) and C(host) (required); C(port) (required); C(title) (defaults to C(id));
        C(tls): V(none) (the default), V(starttls) (a C(starttls) step upgrades the connection) or V(implicit)
        (TLS right after connecting); C(cafile), the only CA trusted for C(host)'s certificate (the system's
        store without it); C(timeout) in seconds (default 20); C(repeat), run the whole session that many
        times, each in a new connection, until one round fails; C(vary_password=true), each round's C(auth)
        password gets C(-N) appended (round N), as a guesser tries a new one each time; C(refused=true), the
        connection itself must fail or never be greeted (a ban), with no steps; C(ehlo_name), the name of the
        C(EHLO) sent after a successful C(STARTTLS) (default the name of the last C(ehlo) step, else
        V(client.test)); C(steps), the list of steps. Other keys (C(deliver_to), C(smuggled_to)...) are left
        for the playbooks that read the results."
      - "Each step is one of: C(ehlo: NAME), with C(has) and C(lacks) (EHLO keywords that must, or must not,
        be offered) or C(mechanisms) (exactly the AUTH mechanisms offered); C(starttls: true) (verifies the
        certificate for C(host) against C(cafile) and records its fingerprint, then sends C(EHLO) again);
        C(auth: {user, password}) (AUTH PLAIN); C(auth_raw: ARGUMENTS) (C(AUTH) with any argument);
        C(mail: ADDRESS) (an empty ADDRESS is the null sender); C(rcpt: ADDRESS); C(data: true) (a short
        message to the check's recipients, C(From:) the envelope sender), or C(data: {headers, bdat}):
        C(headers) is a list of raw header lines sent instead of C(From:), as they are (two C(From:) lines,
        folding, encoded words, lower case names), and C(bdat=true) sends the message with C(BDAT ... LAST)
        (RFC 3030) instead of C(DATA);
        C(smuggle: {eod, rcpt}) (C(DATA) whose body carries the fake end of data C(eod) and a second,
        smuggled transaction to C(rcpt); it passes only if the server answers nothing but the real end of
        data before C(QUIT)'s 221)."
      - "A step may carry C(code) and C(text) (the reply code expected, or a list of codes any of which will
        do, and text the reply must contain),
        C(min_seconds) (the reply must take at least that long) and C(show=true) (this step is the one the
        result reports when the whole session went as expected; by default the last)."
    type: list
    elements: dict
    default: []
  parallel:
    description:
      - Run the checks side by side (up to 8 at once). Each check's steps, and its repeats, stay in order; the
        results keep the order of O(checks).
    type: bool
    default: false
  targets:
    description:
      - "Where to send (O(mode=load)), each a dictionary: C(host), C(port), C(tls) (V(implicit) or
        V(starttls)), C(cafile) (the only CA trusted for C(host)'s certificate; the system's store without
        it), C(timeout) (seconds, default 30). Other keys are ignored."
      - One thread per target; each message is a new connection with a new TLS handshake, verified strictly
        for C(host).
    type: list
    elements: dict
  user:
    description:
      - The account that logs in (AUTH PLAIN, or LOGIN if only that is offered) and sends to itself
        (O(mode=load)).
    type: str
  password:
    description:
      - The password of O(user).
    type: str
  stop_file:
    description:
      - O(mode=load) stops sending when this file exists.
    type: path
  max_seconds:
    description:
      - O(mode=load) stops sending after this many seconds at the latest.
    type: float
    default: 600
  interval:
    description:
      - Seconds to wait after each message, per target (O(mode=load)).
    type: float
    default: 0.2
  max_accepted:
    description:
      - O(mode=load) stops sending to a target once it has accepted this many messages (C(0), never). A poller
        that only needs to see a server accept mail again then stops loading it.
    type: int
    default: 0
attributes:
  check_mode:
    support: none
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - C(changed) is V(true) when a server accepted a message. The scenarios' tasks set C(changed_when=false),
    as sending test mail changes nothing they deploy.
  - The password of an C(auth) step, and O(password), are masked wherever they would appear in the task's result.
  - Only Python's standard library is needed on the client, besides the module utilities Ansible sends along.
author:
  - mailops.authsmtp maintainers (@mailops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Relay from the untrusted client is refused
  smtp_session:
    token: "{{ __token }}"
    checks:
      - id: mx1-25-relay
        title: 25 unauthenticated relay gets 554
        host: mx1.example.test
        port: 25
        steps:
          - { ehlo: client.test, has: [STARTTLS], lacks: [AUTH] }
          - { mail: someone@elsewhere.test, code: 250 }
          - { rcpt: victim@external.test, code: 554, text: Relay access denied, show: true }
  register: __run

- name: Submit in the background until the stop file appears
  smtp_session:
    mode: load
    token: renewal-1
    user: alice@example.test
    password: "{{ test_password }}"
    stop_file: /tmp/authsmtp-load-stop
    max_seconds: 900
    targets:
      - { host: mx1.example.test, port: 465, tls: implicit, cafile: /etc/authsmtp-test/ca.pem }
      - { host: mx1.example.test, port: 587, tls: starttls, cafile: /etc/authsmtp-test/ca.pem }
  async: 1200
  poll: 0
  register: __load_job
"""

RETURN = r"""
passed:
  description: Whether every check passed (O(mode=sessions)).
  returned: mode is sessions
  type: bool
results:
  description: One result per check, in the order of O(checks).
  returned: mode is sessions
  type: list
  elements: dict
  contains:
    id:
      description: The check's C(id).
      type: str
    title:
      description: The check's C(title), or its C(id).
      type: str
    host:
      description: The check's C(host).
      type: str
    port:
      description: The check's C(port), as given.
      type: raw
    steps:
      description: The steps that ran, each with C(step) (its kind), C(code), C(reply) (whitespace folded) and
        C(passed).
      type: list
      elements: dict
    passed:
      description: Whether every step went as expected (for C(refused), whether the connection failed).
      type: bool
    expected:
      description: What the deciding step expected, such as C(554 Relay access denied) or C(offers STARTTLS, no AUTH).
        The deciding step is the first that failed, else the one marked C(show), else the last.
      type: str
    got:
      description: What the deciding step got, or why the session could not go on. With C(repeat), prefixed by
        C(round N/M:).
      type: str
    subject:
      description: The subject of the check's messages. Not returned for C(refused) checks.
      type: str
    message_id:
      description:
        - The Message-ID of the check's message (C(<authsmtp-ID-TOKEN@domain>)), for counting where it lands.
        - Only for checks that send C(MAIL); the smuggling step's outer message carries it too.
      type: str
    features:
      description: The EHLO keywords offered in reply to the last C(ehlo) step, sorted.
      type: list
      elements: str
      returned: when an ehlo step ran
    mechanisms:
      description: The AUTH mechanisms offered in reply to the last C(ehlo) step, sorted.
      type: list
      elements: str
      returned: when an ehlo step ran
    features_after_tls:
      description: The EHLO keywords offered after C(STARTTLS), sorted.
      type: list
      elements: str
      returned: after a starttls step
    fingerprint:
      description: SHA-256 fingerprint of the server certificate, upper-case hexadecimal pairs joined by colons.
      type: str
      returned: when TLS was negotiated
    tls_version:
      description: The TLS version negotiated, such as C(TLSv1.3).
      type: str
      returned: when TLS was negotiated
    smuggled_replies:
      description: The replies the server gave to commands it found inside a C(smuggle) step's message.
      type: list
      elements: str
      returned: after a smuggle step
token:
  description: O(token).
  returned: mode is load
  type: str
targets:
  description:
    - "Per target of O(targets), in their order, C(host), C(port), C(sent) (messages tried),
      C(accepted) (250 after the end of data), C(accepted_ids) (the Message-ID of each of those, where the scenarios
      count them), C(failures) (C(#N: reason) for each message that was not) and C(first_accepted_at) (when the
      first 250 came, in seconds since the epoch; null if none did)."
  returned: mode is load
  type: list
  elements: dict
  sample: [{"host": "mx1.example.test", "port": 465, "sent": 42, "accepted": 42, "failures": []}]
"""

# Ansible modules keep their documentation first, hence the late imports.
import concurrent.futures  # noqa: E402
import os  # noqa: E402
import ssl  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from email.message import EmailMessage  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.mailops.authsmtp.plugins.module_utils.smtp_probe import (  # noqa: E402
    CertificateNotVerified,
    ProbeError,
    SmtpClient,
    auth_mechanisms,
    authenticate,
    choose_mechanism,
    fingerprint_sha256,
    parse_ehlo,
    scrub,
    secret_forms,
)

STEPS = ("ehlo", "starttls", "auth_raw", "auth", "smuggle", "mail", "rcpt", "data")
TLS_MODES = ("none", "starttls", "implicit")
SESSION_TIMEOUT = 20
LOAD_TIMEOUT = 30
EHLO_NAME = "client.test"
PARALLEL = 8
# A smuggling server answers the smuggled MAIL, RCPT, DATA and end of data; more than that is noise.
MAX_SMUGGLED_REPLIES = 10


def argument_spec():
    return dict(
        mode=dict(type="str", choices=["sessions", "load"], default="sessions"),
        token=dict(type="str", required=True),
        checks=dict(type="list", elements="dict", default=[]),
        parallel=dict(type="bool", default=False),
        targets=dict(type="list", elements="dict"),
        user=dict(type="str"),
        password=dict(type="str", no_log=True),
        stop_file=dict(type="path"),
        max_seconds=dict(type="float", default=600),
        interval=dict(type="float", default=0.2),
        max_accepted=dict(type="int", default=0),
    )


class SessionError(Exception):
    """The session cannot go on; the message says why and becomes the result's ``got``."""


def reply_text(text):
    """A reply's text on one line, whitespace folded."""
    return " ".join(text.split())


def tls_context(cafile):
    """Verify the certificate and the name, trusting ``cafile`` only (or the system's store)."""
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise SessionError(f"cannot load CA certificates from {cafile}: {exc}") from None


class Connection:
    """One SMTP connection of a session or of the load: SmtpClient plus what it learnt."""

    def __init__(self, host, port, timeout, cafile):
        self.host = host
        self.cafile = cafile
        self.client = SmtpClient(host, int(port), float(timeout))
        self.fingerprint = None
        self.tls_version = None
        self.ehlo_name = None
        self.extensions = None  # of the last EHLO: None before the first, {} if it was refused

    def open(self, implicit):
        self.client.connect()
        if implicit:
            self.handshake()
        greeting = self.client.read_reply("the server's greeting")
        if greeting["code"] != 220:
            raise SessionError(f"greeted with {greeting['code']} {reply_text(greeting['text'])}")

    def handshake(self):
        try:
            tls_sock = self.client.start_tls(tls_context(self.cafile), self.host)
        except CertificateNotVerified as exc:
            raise SessionError(f"the certificate does not verify for {self.host}: {exc.verify_error}") from None
        self.fingerprint = fingerprint_sha256(tls_sock.getpeercert(binary_form=True))
        self.tls_version = tls_sock.version()

    def ehlo(self, name):
        reply = self.client.command(f"EHLO {name}")
        self.ehlo_name = name
        self.extensions = parse_ehlo(reply)["extensions"] if reply["code"] == 250 else {}
        return reply

    def features(self):
        return sorted(self.extensions or {})

    def mechanisms(self):
        return sorted(auth_mechanisms({"extensions": self.extensions or {}}))

    def starttls(self, ehlo_name):
        """STARTTLS, the handshake and EHLO again; the reply to STARTTLS."""
        if self.extensions is None:
            self.ehlo(ehlo_name)
        if "STARTTLS" not in self.extensions:
            raise SessionError("the server did not offer STARTTLS in its EHLO reply")
        reply = self.client.command("STARTTLS")
        if reply["code"] == 220:
            self.handshake()
            self.ehlo(ehlo_name)
        return reply

    def close(self):
        self.client.quit()
        self.client.close()


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------


def validate_checks(checks):
    """What is wrong with ``checks``, as readable strings."""
    problems = []
    for index, check in enumerate(checks):
        where = f"checks[{index}] ({check.get('id', 'no id')})"
        for key in ("id", "host", "port"):
            if check.get(key) in (None, ""):
                problems.append(f"{where}: {key} is required")
        try:
            if not 1 <= int(check.get("port", 0)) <= 65535:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"{where}: port {check.get('port')!r} is not a port number")
        if (check.get("tls") or "none") not in TLS_MODES:
            problems.append(f"{where}: tls must be one of {', '.join(TLS_MODES)}, not {check['tls']!r}")
        steps = check.get("steps", [])
        if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
            problems.append(f"{where}: steps must be a list of dictionaries")
            continue
        if not steps and not check.get("refused"):
            problems.append(f"{where}: give steps, or refused: true")
        for number, step in enumerate(steps, 1):
            kinds = [k for k in STEPS if k in step]
            if len(kinds) != 1:
                problems.append(f"{where}: step {number} must have exactly one of {', '.join(STEPS)}, has {kinds}")
            elif kinds == ["auth"] and not {"user", "password"} <= set(step["auth"] or {}):
                problems.append(f"{where}: step {number}: auth needs user and password")
            elif kinds == ["data"] and isinstance(step["data"], dict) and set(step["data"]) - {"headers", "bdat"}:
                problems.append(f"{where}: step {number}: data takes headers and bdat only")
            elif kinds[0] in ("data", "smuggle") and not any("mail" in s for s in steps):
                problems.append(f"{where}: step {number}: {kinds[0]} needs a mail step for the sender")
            codes = step.get("code") if isinstance(step.get("code"), list) else [step.get("code", 0)]
            if not codes or not all(str(code).isdigit() for code in codes):
                problems.append(f"{where}: step {number}: code {step['code']!r} is not a reply code or a list of them")
    return problems


def expectation(step):
    if "mechanisms" in step:
        return "AUTH " + " ".join(sorted(step["mechanisms"]))
    if "has" in step or "lacks" in step:
        parts = [f"offers {x}" for x in step.get("has", [])] + [f"no {x}" for x in step.get("lacks", [])]
        return ", ".join(parts)
    if "code" in step:
        codes = step["code"] if isinstance(step["code"], list) else [step["code"]]
        return f"{' or '.join(str(c) for c in codes)} {step.get('text', '')}".strip()
    return "ok"


def step_passed(step, code, text, state):
    if "mechanisms" in step:
        return state.get("mechanisms") == sorted(m.upper() for m in step["mechanisms"])
    if "smuggle" in step and state.get("smuggled_replies"):
        return False
    if "has" in step or "lacks" in step:
        offered = state.get("features", [])
        return all(x in offered for x in step.get("has", [])) and not any(x in offered for x in step.get("lacks", []))
    if "code" in step:
        codes = step["code"] if isinstance(step["code"], list) else [step["code"]]
        if code not in [int(c) for c in codes]:
            return False
    return step.get("text", "") in text


def subject_of(check, token):
    return f"authsmtp check {check['id']} {token}"


def message_id_of(check, token):
    """The Message-ID of a check's message: unique per check and run, so where it lands can be counted."""
    domain = sender_of(check).split("@")[-1] or "localhost"
    return f"<authsmtp-{check['id']}-{token}@{domain}>"


def sender_of(check):
    return next(s["mail"] for s in check["steps"] if "mail" in s)


def message_for(check, token, headers=None):
    """The check's message; ``headers`` (raw lines) replace its From: header, byte for byte."""
    msg = EmailMessage()
    sender = sender_of(check)
    if headers is None:
        msg["From"] = sender
    msg["To"] = ", ".join(s["rcpt"] for s in check["steps"] if "rcpt" in s)
    msg["Subject"] = subject_of(check, token)
    msg["Message-ID"] = message_id_of(check, token)
    msg.set_content(f"Sent by the authsmtp test client, check {check['id']}, run {token}.\n")
    data = msg.as_bytes()
    if headers:
        data = "".join(f"{line}\r\n" for line in headers).encode() + data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class Session:
    """One connection that plays a check's steps."""

    def __init__(self, check, token, round_number=1):
        self.check = check
        self.token = token
        self.round = round_number
        self.conn = Connection(check["host"], check["port"], check.get("timeout", SESSION_TIMEOUT), check.get("cafile"))
        self.state = {}

    def open(self):
        self.conn.open(implicit=self.check.get("tls") == "implicit")
        if self.conn.tls_version:
            self.state.update(fingerprint=self.conn.fingerprint, tls_version=self.conn.tls_version)

    def run_step(self, step):
        """Do one step; return (reply code, reply text)."""
        conn, client = self.conn, self.conn.client
        if "ehlo" in step:
            reply = conn.ehlo(step["ehlo"])
            self.state.update(features=conn.features(), mechanisms=conn.mechanisms())
        elif "starttls" in step:
            name = self.check.get("ehlo_name") or conn.ehlo_name or EHLO_NAME
            reply = conn.starttls(name)
            if reply["code"] == 220:
                self.state.update(
                    fingerprint=conn.fingerprint, tls_version=conn.tls_version, features_after_tls=conn.features()
                )
        elif "auth" in step:
            creds = step["auth"]
            password = str(creds["password"])
            if self.check.get("vary_password"):
                password = f"{password}-{self.round}"
            reply = authenticate(client, "PLAIN", str(creds["user"]), password)
        elif "auth_raw" in step:
            reply = client.command(f"AUTH {step['auth_raw']}", shown="AUTH")
        elif "smuggle" in step:
            return self.smuggle(step["smuggle"])
        elif "mail" in step:
            reply = client.command(f"MAIL FROM:<{step['mail']}>")
        elif "rcpt" in step:
            reply = client.command(f"RCPT TO:<{step['rcpt']}>")
        else:
            spec = step["data"] if isinstance(step["data"], dict) else {}
            message = message_for(self.check, self.token, spec.get("headers"))
            if spec.get("bdat"):
                client.send_raw(f"BDAT {len(message)} LAST\r\n".encode() + message, "BDAT with the message")
                reply = client.read_reply("the reply to BDAT LAST")
            else:
                reply = client.command("DATA")
                if reply["code"] == 354:
                    reply = client.send_data(message)
        return reply["code"], reply_text(reply["text"])

    def smuggle(self, spec):
        """DATA with a fake end of data (spec["eod"]) and a smuggled second
        transaction to spec["rcpt"] after it, then the real end of data."""
        client = self.conn.client
        reply = client.command("DATA")
        if reply["code"] != 354:
            return reply["code"], reply_text(reply["text"])
        check, token, sender = self.check, self.token, sender_of(self.check)
        outer = (
            f"From: <{sender}>\r\nSubject: {subject_of(check, token)}\r\n"
            f"Message-ID: {message_id_of(check, token)}\r\n\r\n"
            "The next lines try to end this message early and start another."
        )
        inner = (
            f"MAIL FROM:<{sender}>\r\nRCPT TO:<{spec['rcpt']}>\r\nDATA\r\n"
            f"From: <{sender}>\r\nSubject: authsmtp smuggled {check['id']} {token}\r\n\r\n"
            "If you can read this as a message of its own, smuggling worked."
        )
        # Raw on purpose: dot-stuffing and CRLF normalisation would defuse the fake end of data.
        client.send_raw((outer + spec["eod"] + inner + "\r\n.\r\n").encode(), "the smuggling message")
        reply = client.read_reply("the reply to the end of the message")
        # Whatever the server answers until QUIT's 221 are replies to commands
        # it found inside the message body.
        client.send_line("QUIT")
        extra = []
        while len(extra) <= MAX_SMUGGLED_REPLIES:
            try:
                more = client.read_reply("the replies after the message")
            except ProbeError:
                break
            if more["code"] == 221:
                break
            extra.append(f"{more['code']} {reply_text(more['text'])}")
        client.close()
        self.state["smuggled_replies"] = extra
        text = reply_text(reply["text"])
        if extra:
            text += " | then " + " | ".join(extra)
        return reply["code"], text

    def run(self):
        check = self.check
        result = {
            "id": check["id"],
            "title": check.get("title", check["id"]),
            "host": check["host"],
            "port": check["port"],
            "steps": [],
            "passed": False,
        }
        decisive = None
        try:
            self.open()
            for step in check["steps"]:
                started = time.monotonic()
                code, text = self.run_step(step)
                took = time.monotonic() - started
                ok = step_passed(step, code, text, self.state) and took >= float(step.get("min_seconds", 0))
                name = next(k for k in STEPS if k in step)
                if name != "ehlo":
                    shown = f"{code} {text}"
                elif "mechanisms" in step:
                    shown = "AUTH " + " ".join(self.state.get("mechanisms", []))
                else:
                    shown = "offers " + " ".join(self.state.get("features", []))
                if "min_seconds" in step:
                    shown += f" after {took:.1f} s"
                result["steps"].append({"step": name, "code": code, "reply": text, "passed": ok})
                # The table shows the last step, or the one marked "show" (the
                # point of the check) when the session went as expected.
                if not ok or step.get("show") or not (decisive or {}).get("shown"):
                    wanted = expectation(step)
                    if "min_seconds" in step:
                        wanted += f" after >= {step['min_seconds']} s"
                    decisive = {"expected": wanted, "got": shown, "shown": bool(step.get("show"))}
                if not ok:
                    break
            else:
                result["passed"] = True
        except (ProbeError, SessionError, OSError) as exc:
            done = len(result["steps"])
            decisive = {
                "expected": expectation(check["steps"][done]) if done < len(check["steps"]) else "ok",
                "got": exc.msg if isinstance(exc, ProbeError) else str(exc),
            }
        finally:
            self.conn.close()
        decisive = decisive or {"expected": "", "got": ""}
        decisive.pop("shown", None)
        result.update(decisive)
        result.update(self.state)
        result["subject"] = subject_of(check, self.token)
        if any("mail" in step for step in check["steps"]):
            result["message_id"] = message_id_of(check, self.token)
        return result


def refused(check):
    """A check that expects the connection itself to fail, or never to be greeted (a ban)."""
    result = {
        "id": check["id"],
        "title": check.get("title", check["id"]),
        "host": check["host"],
        "port": check["port"],
        "steps": [],
        "expected": "connection refused or dropped",
    }
    client = SmtpClient(check["host"], int(check["port"]), float(check.get("timeout", SESSION_TIMEOUT)))
    try:
        client.connect()
        greeting = client.read_reply("the server's greeting")
    except ProbeError as exc:
        # A name that does not resolve, or a server that hangs up, is not a ban.
        banned = exc.error in ("connection_refused", "connection_failed", "timeout")
        result.update(passed=banned, got=exc.msg if banned else f"{exc.error}: {exc.msg}")
    else:
        result.update(passed=False, got=f"connected: {greeting['code']} {reply_text(greeting['text'])}")
    finally:
        client.close()
    return result


def run_check(check, token):
    """Run a check, repeated if it says so; the first failing round decides."""
    rounds = int(check.get("repeat") or 1)
    for number in range(1, rounds + 1):
        result = refused(check) if check.get("refused") else Session(check, token, number).run()
        if check.get("repeat"):
            result["got"] = f"round {number}/{rounds}: {result['got']}"
        if not result["passed"]:
            break
    return result


def run_sessions(checks, token, parallel=False):
    if parallel:
        # Independent checks (one per server, say) side by side; results
        # keep the order of the checks.
        with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            return list(pool.map(lambda check: run_check(check, token), checks))
    return [run_check(check, token) for check in checks]


def accepted_a_message(results):
    return any(
        s["step"] in ("data", "smuggle") and isinstance(s["code"], int) and 200 <= s["code"] < 300
        for r in results
        for s in r["steps"]
    )


# --------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------


def validate_targets(targets):
    problems = []
    for index, target in enumerate(targets):
        where = f"targets[{index}]"
        for key in ("host", "port", "tls"):
            if target.get(key) in (None, ""):
                problems.append(f"{where}: {key} is required")
        if target.get("tls") not in (None, "", "implicit", "starttls"):
            problems.append(f"{where}: tls must be implicit or starttls, not {target['tls']!r}")
    return problems


def load_message_id(params, target, serial):
    return f"<load-{params['token']}-{target['host']}-{target['port']}-{serial}@client.test>"


def load_message(params, target, serial):
    msg = EmailMessage()
    msg["Message-ID"] = load_message_id(params, target, serial)
    msg["From"] = params["user"]
    msg["To"] = params["user"]
    msg["Subject"] = f"load {params['token']} {target['host']}:{target['port']} #{serial}"
    msg["X-Authsmtp-Load"] = params["token"]
    msg.set_content("Sent while the certificate is renewed.\n")
    return msg.as_bytes()


def expect_reply(reply, codes, what):
    if reply["code"] not in codes:
        raise SessionError(f"{what}: {reply['code']} {reply_text(reply['text'])}")


def send_one(params, target, serial):
    """One message in a new connection: TLS verified for the host, AUTH, MAIL, RCPT, DATA to the user itself."""
    conn = Connection(target["host"], target["port"], target.get("timeout", LOAD_TIMEOUT), target.get("cafile"))
    client, user = conn.client, params["user"]
    try:
        conn.open(implicit=target["tls"] == "implicit")
        expect_reply(conn.ehlo(EHLO_NAME), (250,), "EHLO")
        if target["tls"] == "starttls":
            expect_reply(conn.starttls(EHLO_NAME), (220,), "STARTTLS")
        auth = authenticate(client, choose_mechanism(conn.mechanisms()), user, params["password"])
        expect_reply(auth, (235,), "AUTH")
        expect_reply(client.command(f"MAIL FROM:<{user}>"), (250,), "MAIL")
        expect_reply(client.command(f"RCPT TO:<{user}>"), (250, 251), "RCPT")
        expect_reply(client.command("DATA"), (354,), "DATA")
        expect_reply(client.send_data(load_message(params, target, serial)), (250,), "end of data")
    finally:
        conn.close()


def run_target(params, target, deadline):
    accepted, accepted_ids, failures, serial, first_accepted_at = 0, [], [], 0, None
    while time.monotonic() < deadline and not os.path.exists(params["stop_file"]):
        if params["max_accepted"] and accepted >= params["max_accepted"]:
            break
        serial += 1
        try:
            send_one(params, target, serial)
            accepted += 1
            accepted_ids.append(load_message_id(params, target, serial))
            if first_accepted_at is None:
                first_accepted_at = time.time()
        except ProbeError as exc:
            failures.append(f"#{serial}: {exc.msg}")
        except (SessionError, OSError) as exc:
            failures.append(f"#{serial}: {exc}")
        time.sleep(params["interval"])
    return {"host": target["host"], "port": target["port"], "sent": serial, "accepted": accepted,
            "accepted_ids": accepted_ids, "failures": failures, "first_accepted_at": first_accepted_at}


def run_load(params):
    """One thread per target until the stop file appears or max_seconds pass; the counts, in target order."""
    deadline = time.monotonic() + params["max_seconds"]
    results = [None] * len(params["targets"])

    def work(index, target):
        results[index] = run_target(params, target, deadline)

    threads = [threading.Thread(target=work, args=item) for item in enumerate(params["targets"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# --------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------


def secrets_of(params):
    """Every password the module was given, in every form it could take on the wire."""
    pairs = [(params["user"], params["password"])]
    for check in params["checks"]:
        for step in check.get("steps") or []:
            if isinstance(step, dict) and isinstance(step.get("auth"), dict):
                pairs.append((step["auth"].get("user"), step["auth"].get("password")))
    forms = set()
    for user, password in pairs:
        if password not in (None, ""):
            forms.update(secret_forms(None if user is None else str(user), str(password)))
    return sorted(forms, key=len, reverse=True)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("mode", "load", ("targets", "user", "password", "stop_file"))],
        supports_check_mode=False,
    )
    params = module.params
    # The checks carry passwords in free-form dictionaries that the argument
    # spec cannot mark no_log: mask them like no_log options, in the
    # invocation and everywhere else in the result.
    secrets = secrets_of(params)
    module.no_log_values.update(secrets)

    if params["mode"] == "load":
        problems = validate_targets(params["targets"])
        if problems:
            module.fail_json(msg="; ".join(problems))
        targets = scrub(run_load(params), secrets)
        module.exit_json(changed=any(t["accepted"] for t in targets), token=params["token"], targets=targets)

    problems = validate_checks(params["checks"])
    if problems:
        module.fail_json(msg="; ".join(problems))
    results = scrub(run_sessions(params["checks"], params["token"], params["parallel"]), secrets)
    module.exit_json(changed=accepted_a_message(results), results=results, passed=all(r["passed"] for r in results))


if __name__ == "__main__":
    main()
