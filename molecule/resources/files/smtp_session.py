#!/usr/bin/python3
"""Run scripted SMTP sessions and compare every reply with what is expected.

Runs on a client host with nothing but Python's standard library. Reads a
JSON document on stdin:

    {"token": "run id", "checks": [CHECK, ...]}

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

A "starttls" step, or tls "implicit", verifies the server certificate
against cafile for the host name and records its SHA-256 fingerprint.

Prints one JSON document: for each check the replies of the steps that ran,
whether it passed, and the expectation and reply of the deciding step.
Passwords are never printed.
"""

import base64
import hashlib
import json
import smtplib
import socket
import ssl
import sys
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


def step_passed(step, code, text, state):
    if "has" in step or "lacks" in step:
        offered = state.get("features", [])
        return all(x in offered for x in step.get("has", [])) and not any(x in offered for x in step.get("lacks", []))
    if "code" in step and code != step["code"]:
        return False
    return step.get("text", "") in text


def run_check(check, token):
    result = {"id": check["id"], "title": check.get("title", check["id"]), "host": check["host"],
              "port": check["port"], "steps": [], "passed": False}
    state = {}
    smtp = None
    decisive = None
    try:
        if check.get("tls") == "implicit":
            smtp = smtplib.SMTP_SSL(check["host"], check["port"], timeout=TIMEOUT,
                                    context=tls_context(check.get("cafile")))
            state["fingerprint"] = fingerprint(smtp.sock)
            state["tls_version"] = smtp.sock.version()
        else:
            smtp = smtplib.SMTP(check["host"], check["port"], timeout=TIMEOUT)
        for step in check["steps"]:
            code, text = run_step(smtp, step, check, token, state)
            ok = step_passed(step, code, text, state)
            name = next(k for k in ("ehlo", "starttls", "auth", "mail", "rcpt", "data") if k in step)
            shown = f"{code} {text}" if name != "ehlo" else ("offers " + " ".join(state.get("features", [])))
            result["steps"].append({"step": name, "code": code, "reply": text, "passed": ok})
            # The table shows the last step, or the one marked "show" (the
            # point of the check) when the session went as expected.
            if not ok or step.get("show") or not (decisive or {}).get("shown"):
                decisive = {"expected": expectation(step), "got": shown, "shown": bool(step.get("show"))}
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
    results = [run_check(check, spec["token"]) for check in spec["checks"]]
    json.dump({"results": results, "passed": all(r["passed"] for r in results)}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
