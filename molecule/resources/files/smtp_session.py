#!/usr/bin/python3
"""Run scripted SMTP sessions and compare every reply with what is expected.

Runs on a client host with nothing but Python's standard library. Reads a
JSON document on stdin:

    {"token": "run id", "checks": [CHECK, ...], "parallel": false}

With "parallel": true the checks run side by side (each check's own steps,
and its repeats, stay in order).

A CHECK names the server and a list of steps, each with the reply it
expects (the code, and text that must appear in the reply):

    {"id": "relay-denied", "title": "...", "host": "mx.example.org",
     "port": 25, "tls": "none" | "starttls" | "implicit",
     "cafile": "/path/ca.pem",
     "steps": [
        {"ehlo": "client.example", "has": ["STARTTLS"], "lacks": ["AUTH"]},
        {"starttls": true},
        {"auth": {"user": "u", "password": "p"}, "code": 235},
        {"mail": "a@example.org", "code": 250},
        {"rcpt": "b@example.org", "code": 554, "text": "Relay access denied"},
        {"data": true, "code": 250}]}

A step with "show": true is the one the result row reports when the whole
session went as expected (by default, the last step).

More steps and options:
  {"ehlo": "name", "mechanisms": ["LOGIN", "PLAIN"]}  AUTH offers exactly these
  {"auth_raw": "ANONYMOUS dGVzdA==", "code": 535}      AUTH with any argument
  "min_seconds": 1.5 on any step                        the reply took that long
  {"smuggle": {"eod": "\n.\n", "rcpt": "carol@example.org"}, "code": 250}
      DATA whose body carries a fake end-of-data sequence followed by a
      second, smuggled transaction; passes only if the server saw one
      message: the reply after the real end of data is the last one before
      QUIT's 221 (a server fooled by the fake one answers the smuggled
      commands too).
Check options:
  "repeat": N       run the whole session N times, each in a new connection
  "refused": true   the connection itself must fail (a ban); no steps
  "timeout": S      seconds to wait for the server (default 20)

A "starttls" step, or tls "implicit", verifies the server certificate
against cafile for the host name and records its SHA-256 fingerprint.

Prints one JSON document: for each check the replies of the steps that ran,
whether it passed, and the expectation and reply of the deciding step.
Passwords are never printed.
"""

import base64
import concurrent.futures
import hashlib
import json
import smtplib
import socket
import ssl
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid

TIMEOUT = 20


def tls_context(cafile):
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def fingerprint(sock):
    der = sock.getpeercert(binary_form=True)
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def reply_text(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(value.split())


def expectation(step):
    if "mechanisms" in step:
        return "AUTH " + " ".join(sorted(step["mechanisms"]))
    if "has" in step or "lacks" in step:
        parts = [f"offers {x}" for x in step.get("has", [])] + [f"no {x}" for x in step.get("lacks", [])]
        return ", ".join(parts)
    if "code" in step:
        return f"{step['code']} {step.get('text', '')}".strip()
    return "ok"


def message_for(check, token):
    msg = EmailMessage()
    sender = next(s["mail"] for s in check["steps"] if "mail" in s)
    rcpts = [s["rcpt"] for s in check["steps"] if "rcpt" in s]
    msg["From"] = sender
    msg["To"] = ", ".join(rcpts)
    msg["Subject"] = f"authsmtp check {check['id']} {token}"
    msg["Message-ID"] = make_msgid(domain=sender.split("@")[-1] or "localhost")
    msg.set_content(f"Sent by the authsmtp test client, check {check['id']}, run {token}.\n")
    return msg.as_bytes()


def run_step(smtp, step, check, token, state):
    """Do one step; return (code or None, reply text)."""
    if "ehlo" in step:
        code, text = smtp.ehlo(step["ehlo"])
        state["features"] = sorted(k.upper() for k in smtp.esmtp_features)
        state["mechanisms"] = sorted(smtp.esmtp_features.get("auth", "").upper().split())
        return code, reply_text(text)
    if "starttls" in step:
        code, text = smtp.starttls(context=tls_context(check.get("cafile")))
        state["fingerprint"] = fingerprint(smtp.sock)
        state["tls_version"] = smtp.sock.version()
        smtp.ehlo(check.get("ehlo_name", "client.test"))
        state["features_after_tls"] = sorted(k.upper() for k in smtp.esmtp_features)
        return code, reply_text(text)
    if "auth" in step:
        creds = step["auth"]
        blob = base64.b64encode(f"\0{creds['user']}\0{creds['password']}".encode()).decode()
        code, text = smtp.docmd("AUTH", "PLAIN " + blob)
        return code, reply_text(text)
    if "auth_raw" in step:
        code, text = smtp.docmd("AUTH", step["auth_raw"])
        return code, reply_text(text)
    if "smuggle" in step:
        return smuggle(smtp, step["smuggle"], check, token, state)
    if "mail" in step:
        code, text = smtp.docmd("MAIL", f"FROM:<{step['mail']}>")
        return code, reply_text(text)
    if "rcpt" in step:
        code, text = smtp.docmd("RCPT", f"TO:<{step['rcpt']}>")
        return code, reply_text(text)
    if "data" in step:
        try:
            code, text = smtp.data(message_for(check, token))
        except smtplib.SMTPDataError as err:
            code, text = err.smtp_code, err.smtp_error
        return code, reply_text(text)
    raise ValueError(f"unknown step {sorted(step)}")


def smuggle(smtp, spec, check, token, state):
    """DATA with a fake end-of-data (spec["eod"]) and a smuggled second
    transaction to spec["rcpt"] after it, then the real end of data."""
    code, text = smtp.docmd("DATA")
    if code != 354:
        return code, reply_text(text)
    sender = next(s["mail"] for s in check["steps"] if "mail" in s)
    outer = (f"From: <{sender}>\r\nSubject: authsmtp check {check['id']} {token}\r\n\r\n"
             "The next lines try to end this message early and start another.")
    inner = (f"MAIL FROM:<{sender}>\r\nRCPT TO:<{spec['rcpt']}>\r\nDATA\r\n"
             f"From: <{sender}>\r\nSubject: authsmtp smuggled {check['id']} {token}\r\n\r\n"
             "If you can read this as a message of its own, smuggling worked.")
    payload = outer + spec["eod"] + inner + "\r\n.\r\n"
    smtp.send(payload.encode())
    code, text = smtp.getreply()
    # Whatever the server answers until QUIT's 221 are replies to commands
    # it found inside the message body.
    smtp.send(b"QUIT\r\n")
    extra = []
    while True:
        try:
            more_code, more_text = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError):
            break
        if more_code == 221:
            break
        extra.append(f"{more_code} {reply_text(more_text)}")
        if len(extra) > 10:
            break
    smtp.close()
    state["smuggled_replies"] = extra
    if extra:
        return code, reply_text(text) + " | then " + " | ".join(extra)
    return code, reply_text(text)


def step_passed(step, code, text, state):
    if "mechanisms" in step:
        return state.get("mechanisms") == sorted(m.upper() for m in step["mechanisms"])
    if "smuggle" in step and state.get("smuggled_replies"):
        return False
    if "has" in step or "lacks" in step:
        offered = state.get("features", [])
        return all(x in offered for x in step.get("has", [])) and not any(x in offered for x in step.get("lacks", []))
    if "code" in step and code != step["code"]:
        return False
    return step.get("text", "") in text


STEPS = ("ehlo", "starttls", "auth_raw", "auth", "smuggle", "mail", "rcpt", "data")


def run_check(check, token):
    """Run a check, repeated if it says so; the first failing round decides."""
    for round_number in range(1, int(check.get("repeat", 1)) + 1):
        result = run_session(check, token)
        if check.get("repeat"):
            result["got"] = f"round {round_number}/{check['repeat']}: {result['got']}"
        if not result["passed"]:
            break
    return result


def refused(check):
    """A check that expects the connection itself to fail (a ban)."""
    result = {"id": check["id"], "title": check.get("title", check["id"]), "host": check["host"],
              "port": check["port"], "steps": [], "expected": "connection refused or dropped"}
    try:
        with socket.create_connection((check["host"], check["port"]), timeout=check.get("timeout", TIMEOUT)) as sock:
            banner = sock.recv(512).decode("utf-8", "replace").strip()
        result.update(passed=False, got=f"connected: {banner or '(no banner)'}")
    except OSError as err:
        result.update(passed=True, got=f"{type(err).__name__}: {err}")
    return result


def run_session(check, token):
    if check.get("refused"):
        return refused(check)
    timeout = check.get("timeout", TIMEOUT)
    result = {"id": check["id"], "title": check.get("title", check["id"]), "host": check["host"],
              "port": check["port"], "steps": [], "passed": False}
    state = {}
    smtp = None
    decisive = None
    try:
        if check.get("tls") == "implicit":
            smtp = smtplib.SMTP_SSL(check["host"], check["port"], timeout=timeout,
                                    context=tls_context(check.get("cafile")))
            state["fingerprint"] = fingerprint(smtp.sock)
            state["tls_version"] = smtp.sock.version()
        else:
            smtp = smtplib.SMTP(check["host"], check["port"], timeout=timeout)
        for step in check["steps"]:
            started = time.monotonic()
            code, text = run_step(smtp, step, check, token, state)
            took = time.monotonic() - started
            ok = step_passed(step, code, text, state) and took >= step.get("min_seconds", 0)
            name = next(k for k in STEPS if k in step)
            if name != "ehlo":
                shown = f"{code} {text}"
            elif "mechanisms" in step:
                shown = "AUTH " + " ".join(state.get("mechanisms", []))
            else:
                shown = "offers " + " ".join(state.get("features", []))
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
                decisive["shown"] = True
                break
        else:
            result["passed"] = True
    except (OSError, smtplib.SMTPException, ssl.SSLError) as err:
        decisive = {"expected": expectation(check["steps"][len(result["steps"])])
                    if len(result["steps"]) < len(check["steps"]) else "ok",
                    "got": f"{type(err).__name__}: {err}"}
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
    decisive = decisive or {"expected": "", "got": ""}
    decisive.pop("shown", None)
    result.update(decisive)
    result.update({k: v for k, v in state.items()})
    result["subject"] = f"authsmtp check {check['id']} {token}"
    return result


def main():
    spec = json.load(sys.stdin)
    socket.setdefaulttimeout(TIMEOUT)
    if spec.get("parallel"):
        # Independent checks (one per server, say) side by side; results
        # keep the order of the checks.
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda check: run_check(check, spec["token"]), spec["checks"]))
    else:
        results = [run_check(check, spec["token"]) for check in spec["checks"]]
    json.dump({"results": results, "passed": all(r["passed"] for r in results)}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
