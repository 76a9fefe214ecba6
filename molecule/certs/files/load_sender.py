#!/usr/bin/python3
"""Keep submitting authenticated mail until told to stop, and count replies.

Runs on the client during a forced certificate renewal. Reads JSON on stdin:

    {"token": "run id", "stop_file": "/tmp/stop", "max_seconds": 600,
     "interval": 0.2, "user": "alice@example.test", "password": "...",
     "targets": [{"host": "mxca.example.test", "port": 465, "tls": "implicit",
                  "cafile": "/etc/authsmtp-test/ownca.pem"}, ...]}

One thread per target; each message is a new connection (a new TLS
handshake, and a new smtpd on the server), verified strictly against the
target's CA and name, with AUTH, MAIL, RCPT and DATA to the user itself.
Every message carries "X-Authsmtp-Load: <token>" so that the server's
Maildir can be counted. Prints one JSON document: per target, the number
of messages accepted (250 after DATA) and every failure with its reason.
"""

import json
import os
import smtplib
import ssl
import sys
import threading
import time
from email.message import EmailMessage


def send_one(target, spec, serial):
    context = ssl.create_default_context(cafile=target["cafile"])
    msg = EmailMessage()
    msg["From"] = spec["user"]
    msg["To"] = spec["user"]
    msg["Subject"] = f"load {spec['token']} {target['host']}:{target['port']} #{serial}"
    msg["X-Authsmtp-Load"] = spec["token"]
    msg.set_content("Sent while the certificate is renewed.\n")
    if target["tls"] == "implicit":
        client = smtplib.SMTP_SSL(target["host"], target["port"], context=context, timeout=30)
    else:
        client = smtplib.SMTP(target["host"], target["port"], timeout=30)
    try:
        client.ehlo("client.test")
        if target["tls"] == "starttls":
            client.starttls(context=context)
            client.ehlo("client.test")
        client.login(spec["user"], spec["password"])
        refused = client.send_message(msg)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def run_target(target, spec, deadline, results):
    accepted, failures, serial = 0, [], 0
    while time.monotonic() < deadline and not os.path.exists(spec["stop_file"]):
        serial += 1
        try:
            send_one(target, spec, serial)
            accepted += 1
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            failures.append(f"#{serial}: {type(exc).__name__}: {exc}")
        time.sleep(spec.get("interval", 0.2))
    results[f"{target['host']}:{target['port']}"] = {
        "host": target["host"],
        "port": target["port"],
        "sent": serial,
        "accepted": accepted,
        "failures": failures,
    }


def main():
    spec = json.load(sys.stdin)
    deadline = time.monotonic() + spec.get("max_seconds", 600)
    results = {}
    threads = [
        threading.Thread(target=run_target, args=(target, spec, deadline, results)) for target in spec["targets"]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    json.dump({"token": spec["token"], "targets": list(results.values())}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
