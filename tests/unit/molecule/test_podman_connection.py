"""The scenarios' podman connection (molecule/resources/connection_plugins/podman.py).

It must attach stdin only when there is input (pipelining), never mount the
container per task, and otherwise run what upstream's plugin runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("ansible_collections.containers.podman.plugins.connection.podman")

from ansible.playbook.play_context import PlayContext  # noqa: E402

_PATH = Path(__file__).resolve().parents[3] / "molecule" / "resources" / "connection_plugins" / "podman.py"
_SPEC = importlib.util.spec_from_file_location("authsmtp_test_podman_connection", _PATH)
plugin = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(plugin)


@pytest.fixture
def connection(monkeypatch):
    context = PlayContext()
    context.remote_addr = "mx12"
    conn = plugin.Connection(context, None)
    calls = []

    def fake_podman(cmd, cmd_args=None, in_data=None, use_container_id=True):
        calls.append({"cmd": list(cmd) if not isinstance(cmd, str) else [cmd], "args": cmd_args, "in_data": in_data})
        return 0, b"out", b""

    monkeypatch.setattr(conn, "_podman", fake_podman)
    conn.calls = calls
    return conn


def test_pipelining_is_declared():
    assert plugin.Connection.has_pipelining is True
    assert plugin.Connection.transport == "podman"
    assert plugin.DOCUMENTATION  # upstream's options, so inventory variables still apply


def test_a_piped_module_runs_in_one_exec_with_stdin(connection):
    rc, out, _ = connection.exec_command("/bin/sh -c '/usr/bin/python3 && sleep 0'", in_data=b"module")
    assert (rc, out) == (0, b"out")
    assert connection.calls == [
        {"cmd": ["exec", "-i"], "args": ["/bin/sh", "-c", "/usr/bin/python3 && sleep 0"], "in_data": b"module"}
    ]


def test_a_command_without_input_gets_no_stdin(connection):
    connection.exec_command("/bin/sh -c 'echo ~'")
    assert connection.calls == [{"cmd": ["exec"], "args": ["/bin/sh", "-c", "echo ~"], "in_data": None}]


def test_the_remote_user_is_passed_on(connection):
    connection.user = "vmail"
    connection.exec_command("id", in_data=b"")
    assert connection.calls[0]["cmd"] == ["exec", "-i", "--user", "vmail"]


def test_connecting_mounts_nothing(connection):
    connection._connect()
    assert connection._connected is True
    assert connection._mount_point is None
    assert connection.calls == []
