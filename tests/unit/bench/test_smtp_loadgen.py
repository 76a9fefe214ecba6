"""The pure parts of bench/smtp_loadgen.py and the statistics of bench/benchlib.py.

The load generator itself runs for real (against aiosmtpd on loopback) in
test_smtp_bench.py's smoke run.
"""

from __future__ import annotations

import base64

import pytest

benchlib = pytest.importorskip("benchlib", reason="bench/ is not in the collection tarball (ansible-test units)")
loadgen = pytest.importorskip("smtp_loadgen", reason="bench/ is not in the collection tarball (ansible-test units)")


@pytest.mark.parametrize(
    ("line", "done"),
    [("250 OK", True), ("250-PIPELINING", False), ("250", True), ("2", False), ("abc def", False), ("354 go", True)],
)
def test_reply_done(line, done):
    assert loadgen.reply_done(line) is done


def test_parse_reply_multi_line():
    code, text = loadgen.parse_reply(["250-bench.example.test", "250-SIZE 52428800", "250 AUTH PLAIN LOGIN"])
    assert code == 250
    assert text.splitlines() == ["bench.example.test", "SIZE 52428800", "AUTH PLAIN LOGIN"]


@pytest.mark.parametrize("lines", [[], ["250-a", "354 b"], ["xyz"]])
def test_parse_reply_refuses_malformed(lines):
    with pytest.raises(ValueError):
        loadgen.parse_reply(lines)


def test_auth_plain_is_rfc4616():
    command = loadgen.auth_plain("bench1@example.test", "pa:ss wörd")
    verb, mechanism, token = command.split(" ")
    assert (verb, mechanism) == ("AUTH", "PLAIN")
    assert base64.b64decode(token) == b"\0bench1@example.test\0" + "pa:ss wörd".encode()


def test_dot_stuff():
    assert loadgen.dot_stuff(b".a\r\nb\r\n..c\r\n") == b"..a\r\nb\r\n...c\r\n"
    assert loadgen.dot_stuff(b"no dots\r\n") == b"no dots\r\n"


def test_build_message():
    message = loadgen.build_message("a@example.test", "b@example.test", "3.7", size=1024)
    assert message.endswith(b"\r\n.\r\n")
    body = message[: -len(b".\r\n")]
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert b"\r\n..a line that starts with a dot\r\n" in body
    assert b"Subject: authsmtp benchmark message 3.7\r\n" in body
    assert 900 <= len(message) <= 1200
    assert len(loadgen.build_message("a@x", "b@x", 1, size=4096)) > 3900


def test_parse_users():
    text = "# comment\n\nbench1@example.test\tsecret one\nbench2@example.test\tp\tq\n"
    assert loadgen.parse_users(text) == [("bench1@example.test", "secret one"), ("bench2@example.test", "p\tq")]
    with pytest.raises(ValueError, match="line 1"):
        loadgen.parse_users("no-tab-here\n")


def test_window_summary_counts_only_the_window():
    records = [
        {"end": 0.5, "ok": True, "auth_s": 0.01, "total_s": 0.1, "resumed": False},  # warm-up
        {"end": 1.0, "ok": True, "auth_s": 0.02, "total_s": 0.2, "resumed": True},
        {"end": 1.5, "ok": False, "error": "auth: 535 nope"},
        {"end": 2.0, "ok": True, "auth_s": None, "total_s": 0.3, "resumed": None},
        {"end": 2.5, "ok": False, "error": "auth: 535 nope"},
        {"end": 3.5, "ok": True, "auth_s": 0.04, "total_s": 0.4},  # after the window
    ]
    summary = loadgen.window_summary(records, 1.0, 3.0)
    assert summary["messages_ok"] == 2
    assert summary["sessions_failed"] == 2
    assert summary["messages_per_s"] == pytest.approx(1.0)
    assert summary["auth_ms"] == [20.0]
    assert summary["total_ms"] == [200.0, 300.0]
    assert summary["errors"] == {"auth: 535 nope": 2}
    assert (summary["tls_resumed"], summary["tls_full"]) == (1, 0)


def test_parse_args_needs_a_ca_for_tls():
    with pytest.raises(SystemExit):
        loadgen.parse_args(["--host", "h", "--port", "465", "--mode", "implicit", "--users-file", "u"])
    options = loadgen.parse_args(["--host", "h", "--port", "25", "--mode", "plain", "--rcpt", "r@h"])
    assert options.server_name == "h" and options.concurrency == 1


# --------------------------------------------------------------------------
# benchlib statistics
# --------------------------------------------------------------------------


def test_percentile_interpolates_linearly():
    values = [4, 1, 3, 2]
    assert benchlib.percentile(values, 0) == 1
    assert benchlib.percentile(values, 50) == pytest.approx(2.5)
    assert benchlib.percentile(values, 95) == pytest.approx(3.85)
    assert benchlib.percentile(values, 100) == 4
    assert benchlib.percentile([7.0], 95) == 7.0
    assert benchlib.percentile([], 50) is None
    assert benchlib.percentile([None, 2.0], 50) == 2.0
    with pytest.raises(ValueError):
        benchlib.percentile(values, 101)


def test_summarize_and_ratio():
    summary = benchlib.summarize([1.0, 2.0, 3.0, None])
    assert summary["n"] == 3 and summary["p50"] == 2.0 and summary["mean"] == 2.0
    assert benchlib.summarize([])["p95"] is None
    assert benchlib.ratio(1, 4) == 0.25
    assert benchlib.ratio(None, 4) is None and benchlib.ratio(1, 0) is None
    assert benchlib.median([None, 3, 1]) == 2


def test_podman_prefix_must_be_the_benchmarks_own():
    with pytest.raises(ValueError):
        benchlib.Podman("mx12", print)
    assert benchlib.Podman("authsmtp-bench-x-", print).name("server") == "authsmtp-bench-x-server"
