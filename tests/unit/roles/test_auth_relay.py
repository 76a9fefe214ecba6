# SPDX-License-Identifier: GPL-3.0-or-later
"""The auth relay passes Dovecot's replies through, but ends the connection on a temporary failure."""

from __future__ import annotations

import asyncio
import importlib.util
import os

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "postfix", "files", "authsmtp_auth_relay.py")
_SPEC = importlib.util.spec_from_file_location("authsmtp_auth_relay", _PATH)
relay = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(relay)


@pytest.mark.parametrize(
    ("line", "temporary"),
    [
        (b"FAIL\t3\tuser=alice@example.test\tcode=temp_fail\n", True),
        (b"FAIL\t3\ttemp\n", True),
        (b"FAIL\t3\tuser=alice@example.test\n", False),
        (b"FAIL\t3\tuser=alice@example.test\treason=code=temp_fail\n", False),
        (b"OK\t3\tuser=alice@example.test\n", False),
        (b"CONT\t3\tcode=temp_fail\n", False),
    ],
)
def test_only_a_fail_with_a_temporary_code_is_temporary(line, temporary):
    assert relay.is_temporary_failure(line) is temporary


def _run(tmp_path, answers):
    """A fake Dovecot that answers each request line with the next of `answers`; returns what smtpd read."""
    upstream, listen = str(tmp_path / "dovecot"), str(tmp_path / "relay")

    async def dovecot(reader, writer):
        writer.write(b"VERSION\t1\t2\nDONE\n")
        for answer in answers:
            if not await reader.readline():
                break
            writer.write(answer)
            await writer.drain()
        writer.close()

    async def scenario():
        fake = await asyncio.start_unix_server(dovecot, path=upstream)
        task = asyncio.ensure_future(relay.main_loop(listen, upstream))
        while not os.path.exists(listen):
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_unix_connection(listen)
        writer.write(b"VERSION\t1\t1\nCPID\t1\n")
        got = [await reader.readline(), await reader.readline()]
        for number in range(1, len(answers) + 1):
            writer.write(f"AUTH\t{number}\tPLAIN\tservice=smtp\n".encode())
            await writer.drain()
            try:
                got.append(await reader.readline())
            except ConnectionResetError:
                # As smtpd sees it too: the end of the connection (vstream EOF).
                got.append(b"")
        writer.close()
        task.cancel()
        fake.close()
        return got, oct(os.stat(listen).st_mode & 0o777)

    return asyncio.run(scenario())


def test_replies_pass_through_unchanged(tmp_path):
    got, mode = _run(tmp_path, [b"FAIL\t1\tuser=alice@example.test\n", b"OK\t2\tuser=alice@example.test\n"])
    assert got == [
        b"VERSION\t1\t2\n",
        b"DONE\n",
        b"FAIL\t1\tuser=alice@example.test\n",
        b"OK\t2\tuser=alice@example.test\n",
    ]
    assert mode == "0o660"


def test_a_temporary_failure_ends_the_connection_instead(tmp_path):
    got, _mode = _run(tmp_path, [b"FAIL\t1\tuser=alice@example.test\tcode=temp_fail\n"])
    # smtpd reads the end of the stream where the FAIL would have been: it answers 454 4.7.0.
    assert got[2:] == [b""]
