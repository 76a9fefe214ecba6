#!/usr/bin/env python3
"""SMTP submission load generator for bench/smtp_bench.py (standard library only).

smtp_bench.py copies this file into the client container and runs it there
with python3 (Debian's); in --smoke mode it runs on the host against servers
on 127.0.0.1. Every session is one message on a new connection:

    connect, [TLS], banner, EHLO, [STARTTLS, EHLO], [AUTH PLAIN], MAIL, RCPT,
    DATA, message, QUIT

--concurrency threads each run sessions back to back (a closed loop): first
for --warmup seconds (not counted), then for --duration seconds (the window).
A session counts when its message was accepted (250 after the final dot)
within the window; the rate is those messages divided by the window's length.
Per session it records the AUTH latency (AUTH command sent to 235 received)
and the submission latency (connection started to the 250 for the message).

The result is one JSON object on stdout; see result() for its keys.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import socket
import ssl
import sys
import threading
import time

FORMAT = "authsmtp-loadgen/1"
MODES = ("plain", "starttls", "implicit")


class SessionError(Exception):
    """A session failed at a stage (connect, tls, banner, ehlo, starttls, auth, mail, rcpt, data, message)."""

    def __init__(self, stage, message):
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.message = message


# --------------------------------------------------------------------------
# Pure parts (unit-tested)
# --------------------------------------------------------------------------


def reply_done(line):
    """True for the last line of a (multi-line) SMTP reply: 'NNN text' or 'NNN', not 'NNN-text'."""
    return len(line) >= 3 and line[:3].isdigit() and (len(line) == 3 or line[3] == " ")


def parse_reply(lines):
    """(code, text) of a complete reply given as its lines (without CRLF)."""
    if not lines:
        raise ValueError("empty reply")
    codes = {line[:3] for line in lines}
    if len(codes) != 1 or not lines[-1][:3].isdigit():
        raise ValueError(f"malformed reply: {lines!r}")
    return int(lines[-1][:3]), "\n".join(line[4:] for line in lines)


def auth_plain(user, password):
    """The AUTH PLAIN command with its initial response (RFC 4616: authzid empty, authcid, password)."""
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    return f"AUTH PLAIN {token}"


def dot_stuff(data):
    """Lines starting with '.' get a second '.' (RFC 5321 4.5.2)."""
    lines = data.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)


def build_message(sender, recipient, serial, size=1024):
    """A message of about ``size`` bytes with CRLF line ends, dot-stuffed, ending in CRLF.CRLF."""
    headers = (
        f"From: <{sender}>\r\n"
        f"To: <{recipient}>\r\n"
        f"Subject: authsmtp benchmark message {serial}\r\n"
        f"Message-ID: <bench.{serial}.{os.getpid()}@loadgen.invalid>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
    ).encode("ascii")
    line = b"The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n"
    body = b""
    while len(headers) + len(body) + len(line) <= size:
        body += line
    body += b".a line that starts with a dot\r\n"
    return dot_stuff(headers + body) + b".\r\n"


def parse_users(text):
    """[(user, password)] from 'user<TAB>password' lines; blank lines and # comments are skipped."""
    users = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition("\t")
        if not sep or not user or not password:
            raise ValueError(f"users file line {number}: expected user<TAB>password")
        users.append((user, password))
    return users


def window_summary(records, window_start, window_end):
    """Sessions that ended inside [window_start, window_end]: counts, rate, latencies, errors.

    Each record is a dict with end (seconds, same clock as the window), ok,
    and for ok records auth_s (or None) and total_s, for failed ones error.
    """
    length = window_end - window_start
    inside = [r for r in records if window_start <= r["end"] <= window_end]
    ok = [r for r in inside if r["ok"]]
    errors = {}
    for record in inside:
        if not record["ok"]:
            errors[record["error"]] = errors.get(record["error"], 0) + 1
    return {
        "window_s": length,
        "messages_ok": len(ok),
        "sessions_failed": len(inside) - len(ok),
        "messages_per_s": len(ok) / length if length > 0 else None,
        "auth_ms": [round(r["auth_s"] * 1000, 3) for r in ok if r.get("auth_s") is not None],
        "total_ms": [round(r["total_s"] * 1000, 3) for r in ok],
        "errors": errors,
        "tls_resumed": sum(1 for r in ok if r.get("resumed")),
        "tls_full": sum(1 for r in ok if r.get("resumed") is False),
    }


# --------------------------------------------------------------------------
# One session
# --------------------------------------------------------------------------


class Session:
    def __init__(self, options, context):
        self.options = options
        self.context = context
        self.sock = None
        self.reader = None

    def _wrap(self, stage, tls_session):
        if self.reader is not None:
            self.reader.close()  # the plain-text reader; the socket itself goes on under TLS
        try:
            self.sock = self.context.wrap_socket(
                self.sock, server_hostname=self.options.server_name, session=tls_session
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise SessionError(stage, f"{type(exc).__name__}: {exc}") from None
        self.reader = self.sock.makefile("rb")

    def reply(self, stage, expect):
        lines = []
        try:
            while True:
                raw = self.reader.readline(2048)
                if not raw:
                    raise SessionError(stage, "connection closed")
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(line)
                if reply_done(line):
                    break
        except (OSError, ssl.SSLError) as exc:
            raise SessionError(stage, f"{type(exc).__name__}: {exc}") from None
        try:
            code, text = parse_reply(lines)
        except ValueError as exc:
            raise SessionError(stage, str(exc)) from None
        if code != expect:
            raise SessionError(stage, f"{code} {text.splitlines()[-1][:80] if text else ''}".strip())
        return code, text

    def send(self, stage, data):
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as exc:
            raise SessionError(stage, f"{type(exc).__name__}: {exc}") from None

    def command(self, stage, line, expect):
        self.send(stage, line.encode("utf-8") + b"\r\n")
        return self.reply(stage, expect)

    def run(self, user, password, sender, recipient, message, tls_session):
        """One message on a new connection; returns the record (ok or the failed stage)."""
        opts = self.options
        started = time.perf_counter()
        record = {"start": started, "ok": False, "auth_s": None, "resumed": None}
        try:
            try:
                self.sock = socket.create_connection((opts.host, opts.port), timeout=opts.timeout)
                # No Nagle: a TLS handshake's last flight followed at once by a
                # command (EHLO after STARTTLS) is two writes before a read, and
                # Nagle would hold the second until the server's delayed ACK.
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                raise SessionError("connect", f"{type(exc).__name__}: {exc}") from None
            if opts.mode == "implicit":
                self._wrap("tls", tls_session)
            else:
                self.reader = self.sock.makefile("rb")
            self.reply("banner", 220)
            self.command("ehlo", f"EHLO {opts.ehlo}", 250)
            if opts.mode == "starttls":
                self.command("starttls", "STARTTLS", 220)
                self._wrap("tls", tls_session)
                self.command("ehlo", f"EHLO {opts.ehlo}", 250)
            if user is not None:
                auth_start = time.perf_counter()
                self.command("auth", auth_plain(user, password), 235)
                record["auth_s"] = time.perf_counter() - auth_start
            self.command("mail", f"MAIL FROM:<{sender}>", 250)
            self.command("rcpt", f"RCPT TO:<{recipient}>", 250)
            self.command("data", "DATA", 354)
            self.send("message", message)
            self.reply("message", 250)
            record["total_s"] = time.perf_counter() - started
            record["end"] = time.perf_counter()
            record["ok"] = True
            if isinstance(self.sock, ssl.SSLSocket):
                record["resumed"] = self.sock.session_reused
                record["session"] = self.sock.session
                record["tls_version"] = self.sock.version()
            try:
                self.command("quit", "QUIT", 221)
            except SessionError:
                pass
        except SessionError as exc:
            record["end"] = time.perf_counter()
            record["error"] = f"{exc.stage}: {exc.message}"[:160]
        finally:
            self.close()
        return record

    def close(self):
        for thing in (self.reader, self.sock):
            if thing is not None:
                try:
                    thing.close()
                except OSError:
                    pass
        self.reader = self.sock = None


# --------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------


def tls_context(options):
    if options.mode == "plain":
        return None
    context = ssl.create_default_context(cafile=options.cafile)
    if options.tls_max:
        context.maximum_version = getattr(ssl.TLSVersion, options.tls_max)
    return context


def worker(index, options, context, users, start_barrier, phases, records, lock):
    if users:
        user, password = users[index % len(users)]
        sender = recipient = user
    else:
        user = password = None
        sender, recipient = options.mail_from, options.rcpt
    if options.rcpt and users:
        recipient = options.rcpt
    tls_session = None
    serial = 0
    start_barrier.wait()
    local = []
    while time.perf_counter() < phases["stop"]:
        serial += 1
        message = build_message(sender, recipient, f"{index}.{serial}", options.size)
        session = Session(options, context)
        record = session.run(user, password, sender, recipient, message, tls_session if options.resume_tls else None)
        if record.get("session") is not None:
            tls_session = record.pop("session")
        else:
            record.pop("session", None)
        local.append(record)
        if not record["ok"]:
            time.sleep(0.05)  # do not spin on a refused connection
    with lock:
        records.extend(local)


def run_load(options, users):
    context = tls_context(options)
    records = []
    lock = threading.Lock()
    barrier = threading.Barrier(options.concurrency + 1)
    phases = {"stop": float("inf")}
    threads = [
        threading.Thread(target=worker, args=(i, options, context, users, barrier, phases, records, lock), daemon=True)
        for i in range(options.concurrency)
    ]
    for thread in threads:
        thread.start()
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    begin = time.perf_counter()
    window_start = begin + options.warmup
    window_end = window_start + options.duration
    phases["stop"] = window_end
    barrier.wait()
    for thread in threads:
        thread.join(options.duration + options.warmup + 4 * options.timeout + 30)
    finished = time.perf_counter()
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    summary = window_summary(records, window_start, window_end)
    accepted_total = sum(1 for r in records if r["ok"])
    versions = {}
    for record in records:
        if record.get("tls_version"):
            versions[record["tls_version"]] = versions.get(record["tls_version"], 0) + 1
    return result(
        options, summary, accepted_total, records, begin, window_start, finished, versions, cpu_start, cpu_end
    )


def result(options, summary, accepted_total, records, begin, window_start, finished, versions, cpu_start, cpu_end):
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    return {
        "format": FORMAT,
        "target": {
            "host": options.host,
            "port": options.port,
            "mode": options.mode,
            "auth": bool(options.users_file),
            "server_name": options.server_name,
            "resume_tls": options.resume_tls,
        },
        "concurrency": options.concurrency,
        "warmup_s": options.warmup,
        "duration_s": options.duration,
        "message_bytes": options.size,
        **summary,
        "warmup_messages_ok": sum(1 for r in records if r["ok"] and r["end"] < window_start),
        "accepted_total": accepted_total,
        "sessions_total": len(records),
        "tls_versions": versions,
        "elapsed_s": round(finished - begin, 3),
        "client_cpu_s": round(cpu, 3),
        "python": sys.version.split()[0],
        "openssl": ssl.OPENSSL_VERSION,
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="One-message-per-connection SMTP load; JSON on stdout.")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--server-name", help="name the certificate must match (default: --host)")
    parser.add_argument("--cafile", help="CA file the server certificate must verify against")
    parser.add_argument("--users-file", help="user<TAB>password lines; AUTH PLAIN with them (round robin)")
    parser.add_argument("--mail-from", default="bench@client.invalid", help="sender without AUTH")
    parser.add_argument("--rcpt", help="recipient (default: the user itself; required without AUTH)")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the measured window")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the window")
    parser.add_argument("--size", type=int, default=1024, help="message size in bytes (about)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per socket operation")
    parser.add_argument("--ehlo", default="client.bench.test")
    parser.add_argument("--resume-tls", action="store_true", help="each connection reuses its TLS session")
    parser.add_argument("--tls-max", choices=("TLSv1_2", "TLSv1_3"), help="highest TLS version offered")
    options = parser.parse_args(argv)
    options.server_name = options.server_name or options.host
    if options.concurrency < 1 or options.duration <= 0 or options.warmup < 0:
        parser.error("need --concurrency >= 1, --duration > 0, --warmup >= 0")
    if options.mode != "plain" and not options.cafile:
        parser.error("TLS modes need --cafile (the certificate is verified)")
    if not options.users_file and not options.rcpt:
        parser.error("without --users-file give --rcpt")
    return options


def main(argv=None):
    options = parse_args(argv)
    users = []
    if options.users_file:
        with open(options.users_file, encoding="utf-8") as f:
            users = parse_users(f.read())
        if not users:
            print("smtp_loadgen: the users file lists nobody", file=sys.stderr)
            return 2
    json.dump(run_load(options, users), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
