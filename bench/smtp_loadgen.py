#!/usr/bin/env python3
"""SMTP load generator for bench/smtp_bench.py (standard library only; runs with the client container's python3).

A session is a new connection: connect, [TLS], banner, EHLO, [STARTTLS, EHLO],
[AUTH PLAIN], then --messages transactions (MAIL, RCPT, DATA, message; 1 by
default, a satellite's case with more), or none with --auth-only, then QUIT.
--concurrency threads run sessions back to back (a closed loop), for --warmup
seconds (not counted) and then --duration seconds (the window); with --sessions N
instead, each thread runs N sessions and the window spans all of them (the smoke
run's mode: its rates mean nothing, but a starved machine cannot leave the window
empty). A message counts
when its 250 arrived within the window, an AUTH when its 235 did. Per session it
records the AUTH latency (AUTH sent to 235) and the submission latency (TCP
connect to the 250 for its first message). Prints one JSON object (see run_load()).
"""

from __future__ import annotations

import argparse
import base64
import json
import resource
import socket
import ssl
import sys
import threading
import time


class SessionError(Exception):
    """A session failed at a stage: connect, tls, banner, ehlo, starttls, auth, mail, rcpt, data, message."""


def reply_done(line):
    """True for the last line of an SMTP reply ('250 ok' or '250'), not a continuation ('250-...')."""
    return len(line) >= 3 and line[:3].isdigit() and (len(line) == 3 or line[3] == " ")


def auth_plain(user, password):
    """AUTH PLAIN with its initial response (RFC 4616: empty authzid, authcid, password)."""
    return "AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")


def build_message(sender, recipient, serial, size=1024):
    """About size bytes, CRLF line ends, dot-stuffed, ending in CRLF.CRLF."""
    head = f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: authsmtp benchmark {serial}\r\n\r\n"
    line = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n"
    body = line * max(0, (size - len(head)) // len(line)) + "..a line that starts with a dot\r\n"
    return (head + body + ".\r\n").encode("ascii")


def parse_users(text):
    """[(user, password)] from user<TAB>password lines."""
    return [tuple(line.split("\t", 1)) for line in text.splitlines() if "\t" in line]


def window_summary(records, start, end):
    """Rates, latencies and errors within [start, end]: messages and AUTHs by the time of their reply,
    sessions (failures, latencies) by the time they ended."""
    inside = [r for r in records if start <= r["end"] <= end]
    ok = [r for r in inside if r["ok"]]
    errors = {}
    for r in inside:
        if not r["ok"]:
            errors[r["error"]] = errors.get(r["error"], 0) + 1
    messages = sum(1 for r in records for t in r.get("message_ends", ()) if start <= t <= end)
    auths = sum(1 for r in records if r.get("auth_end") is not None and start <= r["auth_end"] <= end)
    return {
        "messages_ok": messages,
        "messages_per_s": messages / (end - start),
        "auths_ok": auths,
        "auths_per_s": auths / (end - start),
        "sessions_failed": len(inside) - len(ok),
        "errors": errors,
        "auth_ms": [round(r["auth_s"] * 1000, 3) for r in ok if r["auth_s"] is not None],
        "total_ms": [round(r["total_s"] * 1000, 3) for r in ok if r.get("total_s") is not None],
    }


class Session:
    def __init__(self, options, context):
        self.options, self.context, self.sock, self.reader = options, context, None, None

    def tls(self):
        try:
            self.sock = self.context.wrap_socket(self.sock, server_hostname=self.options.server_name)
        except (OSError, ValueError) as exc:
            raise SessionError(f"tls: {exc}") from None
        self.reader = self.sock.makefile("rb")

    def command(self, stage, line, expect):
        """Send line (None: only read), read the reply, raise unless its code is expect."""
        lines = []
        try:
            if line is not None:
                self.sock.sendall(line if isinstance(line, bytes) else line.encode() + b"\r\n")
            while not lines or not reply_done(lines[-1]):
                raw = self.reader.readline(2048)
                if not raw:
                    raise SessionError(f"{stage}: connection closed")
                lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except OSError as exc:
            raise SessionError(f"{stage}: {type(exc).__name__}") from None
        if int(lines[-1][:3]) != expect:
            raise SessionError(f"{stage}: {lines[-1][:80]}")

    def run(self, user, password, sender, recipient, messages):
        """One session; messages: the encoded messages to send in it, one transaction each (none: AUTH only)."""
        opts = self.options
        started = time.perf_counter()
        record = {"ok": False, "auth_s": None, "auth_end": None, "message_ends": []}
        try:
            try:
                self.sock = socket.create_connection((opts.host, opts.port), timeout=opts.timeout)
            except OSError as exc:
                raise SessionError(f"connect: {type(exc).__name__}") from None
            # No Nagle: after STARTTLS the handshake's last flight and EHLO are two writes before a read.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if opts.mode == "implicit":
                self.tls()
            else:
                self.reader = self.sock.makefile("rb")
            self.command("banner", None, 220)
            self.command("ehlo", f"EHLO {opts.ehlo}", 250)
            if opts.mode == "starttls":
                self.command("starttls", "STARTTLS", 220)
                self.reader.close()
                self.tls()
                self.command("ehlo", f"EHLO {opts.ehlo}", 250)
            if user is not None:
                auth_start = time.perf_counter()
                self.command("auth", auth_plain(user, password), 235)
                record["auth_end"] = time.perf_counter()
                record["auth_s"] = record["auth_end"] - auth_start
            for message in messages:
                self.command("mail", f"MAIL FROM:<{sender}>", 250)
                self.command("rcpt", f"RCPT TO:<{recipient}>", 250)
                self.command("data", "DATA", 354)
                self.command("message", message, 250)
                record["message_ends"].append(time.perf_counter())
                if len(record["message_ends"]) == 1:
                    record["total_s"] = record["message_ends"][0] - started
            if not messages:
                record["total_s"] = time.perf_counter() - started
            record["ok"] = True
            try:
                self.command("quit", "QUIT", 221)
            except SessionError:
                pass
        except SessionError as exc:
            record["error"] = str(exc)[:160]
        finally:
            for thing in (self.reader, self.sock):
                if thing is not None:
                    try:
                        thing.close()
                    except OSError:
                        pass
        record["end"] = time.perf_counter()
        return record


def run_load(options, users):
    context = ssl.create_default_context(cafile=options.cafile) if options.mode != "plain" else None
    records, lock = [], threading.Lock()
    barrier = threading.Barrier(options.concurrency + 1)
    begin = [0.0]

    def worker(index):
        user, password = users[index % len(users)] if users else (None, None)
        sender, recipient = (user, options.rcpt or user) if users else (options.mail_from, options.rcpt)
        local, serial = [], 0
        barrier.wait()
        while (serial < options.sessions if options.sessions
               else time.perf_counter() < begin[0] + options.warmup + options.duration):
            serial += 1
            messages = [build_message(sender, recipient, f"{index}.{serial}.{n}", options.size)
                        for n in range(0 if options.auth_only else options.messages)]
            local.append(Session(options, context).run(user, password, sender, recipient, messages))
            if not local[-1]["ok"]:
                time.sleep(0.05)  # do not spin on a refused connection
        with lock:
            records.extend(local)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(options.concurrency)]
    for thread in threads:
        thread.start()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    begin[0] = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join(None if options.sessions else options.warmup + options.duration + 4 * options.timeout + 30)
    used = resource.getrusage(resource.RUSAGE_SELF)
    if options.sessions:
        start, end = begin[0], max([begin[0] + 1e-6, *(r["end"] for r in records)])
    else:
        start = begin[0] + options.warmup
        end = start + options.duration
    return {
        **window_summary(records, start, end),
        "concurrency": options.concurrency,
        "messages": 0 if options.auth_only else options.messages,
        "accepted_total": sum(len(r["message_ends"]) for r in records),
        "auths_total": sum(1 for r in records if r.get("auth_end") is not None),
        "client_cpu_s": round(used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime, 3),
        "openssl": ssl.OPENSSL_VERSION,
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="SMTP load, a new connection per session; JSON on stdout.")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=("plain", "starttls", "implicit"), required=True)
    p.add_argument("--server-name", help="name the certificate must match (default: --host)")
    p.add_argument("--cafile", help="CA file the server's certificate is verified against")
    p.add_argument("--users-file", help="user<TAB>password lines: AUTH PLAIN with them, round robin")
    p.add_argument("--mail-from", default="bench@client.invalid", help="sender without AUTH")
    p.add_argument("--rcpt", help="recipient (default: the user itself; required without AUTH)")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the window")
    p.add_argument("--sessions", type=int, help="instead of a timed window and warm-up: N sessions per thread, "
                                                "all of them counted")
    p.add_argument("--messages", type=int, default=1, help="messages per session (a satellite's case: many)")
    p.add_argument("--auth-only", action="store_true", help="no message: connect, [TLS], AUTH, QUIT")
    p.add_argument("--size", type=int, default=1024, help="message size in bytes (about)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per socket operation")
    p.add_argument("--ehlo", default="client.bench.test")
    options = p.parse_args(argv)
    options.server_name = options.server_name or options.host
    if options.mode != "plain" and not options.cafile:
        p.error("TLS modes need --cafile: the certificate is always verified")
    if not options.users_file and not options.rcpt:
        p.error("without --users-file give --rcpt")
    if options.auth_only and not options.users_file:
        p.error("--auth-only needs --users-file")
    if options.sessions is not None and options.sessions < 1:
        p.error("--sessions must be 1 or more")
    if options.messages < 1:
        p.error("--messages must be 1 or more (--auth-only for none)")
    return options


def main(argv=None):
    options = parse_args(argv)
    users = []
    if options.users_file:
        with open(options.users_file, encoding="utf-8") as f:
            users = parse_users(f.read())
    json.dump(run_load(options, users), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
