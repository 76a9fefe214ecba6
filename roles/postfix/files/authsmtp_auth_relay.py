# SPDX-License-Identifier: GPL-3.0-or-later
"""Relay Postfix's SASL requests to Dovecot's auth service, and make Dovecot's temporary failures temporary.

Installed by mailops.authsmtp.postfix where the users are in the shared store
(authsmtp_user_store: postgresql). When the store cannot be asked, Dovecot
answers an AUTH with FAIL and code=temp_fail (2.3 and 2.4). Postfix's
Dovecot client (src/xsasl/xsasl_dovecot_server.c) answers every FAIL with
"535 5.7.8 authentication failed", the reply that tells a client its
password is wrong, and only a lost connection to the auth server with
"454 4.7.0 Temporary authentication failure". This relay sits on the socket
smtpd connects to, passes every line unchanged both ways, and when Dovecot
answers a request with a temporary failure it closes that smtpd's connection
instead of passing the FAIL on: smtpd then answers 454 4.7.0, the client
keeps its mail and retries, and smtpd connects again for its next request.
A wrong password (a FAIL without a temporary code) passes through as it is.

Standard library only; one asyncio task pair per smtpd connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

# Dovecot's marks of a temporary failure in a FAIL reply: code=temp_fail
# (2.3 and 2.4), and the bare "temp" of older versions.
TEMPORARY = (b"code=temp_fail", b"temp")
# Dovecot's lines are short; a request with a large initial response is the longest.
LINE_LIMIT = 1 << 20


def is_temporary_failure(line):
    """Whether a line from Dovecot is ``FAIL <id> ...`` with a temporary-failure field."""
    fields = line.rstrip(b"\r\n").split(b"\t")
    return fields[0] == b"FAIL" and any(field in TEMPORARY for field in fields[2:])


def log(message):
    print(message, file=sys.stderr, flush=True)


async def to_dovecot(postfix, dovecot):
    """Everything smtpd sends, as it comes."""
    while data := await postfix.read(65536):
        dovecot.write(data)
        await dovecot.drain()


async def to_postfix(dovecot, postfix):
    """Dovecot's replies, line by line, until one is a temporary failure (then the connection ends)."""
    while line := await dovecot.readline():
        if is_temporary_failure(line):
            request = line.split(b"\t")[1].decode("ascii", "replace") if b"\t" in line else "?"
            log(
                f"request {request}: Dovecot could not check the password (temporary failure); "
                "closing the connection so that smtpd answers 454 4.7.0"
            )
            return
        postfix.write(line)
        await postfix.drain()


async def serve(postfix_reader, postfix_writer, upstream):
    try:
        dovecot_reader, dovecot_writer = await asyncio.open_unix_connection(upstream, limit=LINE_LIMIT)
    except OSError as exc:
        # smtpd answers 454 4.7.0 for an auth server it cannot reach.
        log(f"cannot reach Dovecot at {upstream}: {exc}")
        postfix_writer.close()
        return
    tasks = [
        asyncio.ensure_future(to_dovecot(postfix_reader, dovecot_writer)),
        asyncio.ensure_future(to_postfix(dovecot_reader, postfix_writer)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for writer in (postfix_writer, dovecot_writer):
            writer.close()


async def main_loop(listen, upstream):
    if os.path.exists(listen):
        os.unlink(listen)
    server = await asyncio.start_unix_server(lambda r, w: serve(r, w, upstream), path=listen, limit=LINE_LIMIT)
    os.chmod(listen, 0o660)
    log(f"relaying {listen} to {upstream}")
    async with server:
        await server.serve_forever()


def main(argv=None):  # pragma: no cover - the service's entry point
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="the socket smtpd connects to (smtpd_sasl_path)")
    parser.add_argument("--upstream", required=True, help="Dovecot's auth socket for this relay")
    args = parser.parse_args(argv)
    os.umask(0o007)
    asyncio.run(main_loop(args.listen, args.upstream))


if __name__ == "__main__":  # pragma: no cover
    main()
