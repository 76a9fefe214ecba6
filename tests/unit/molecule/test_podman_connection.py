"""The scenarios' podman connection (molecule/resources/connection_plugins/podman.py).

It must attach stdin only when there is input (pipelining), never mount the
container per task, and otherwise run what upstream's plugin runs; where runc
runs the container and the controller is root, it asks runc to exec instead.
"""

from __future__ import annotations

import importlib.util
import json
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
    # Through podman, whatever containers this machine runs (runc: the tests below).
    monkeypatch.setattr(plugin, "runc_target", lambda name: None)
    conn.calls = calls
    return conn


class FakePopen:
    """subprocess.Popen for runc: records the argv and stdin, answers rc 0."""

    started = []

    def __init__(self, argv, **kwargs):
        assert kwargs["stdin"] == plugin.subprocess.PIPE
        self.argv, self.returncode = [a.decode() for a in argv], 0
        FakePopen.started.append(self)

    def communicate(self, input=None):  # noqa: A002 - subprocess's own name
        self.input = input
        return b"out", b""


@pytest.fixture
def runc_connection(connection, monkeypatch):
    monkeypatch.setattr(plugin, "runc_target", lambda name: ("/usr/sbin/runc", "c0ffee") if name == "mx12" else None)
    FakePopen.started = []
    monkeypatch.setattr(plugin.subprocess, "Popen", FakePopen)
    return connection


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


def test_with_runc_a_piped_module_runs_in_one_runc_exec_with_stdin(runc_connection):
    rc, out, _ = runc_connection.exec_command("/bin/sh -c '/usr/bin/python3 && sleep 0'", in_data=b"module")
    assert (rc, out) == (0, b"out")
    (run,) = FakePopen.started
    assert run.argv == ["/usr/sbin/runc", "--root", "/run/runc", "exec", "c0ffee",
                        "/bin/sh", "-c", "/usr/bin/python3 && sleep 0"]
    assert run.input == b"module"
    assert runc_connection.calls == []


def test_with_runc_files_are_written_private_by_cat(runc_connection, tmp_path):
    source = tmp_path / "AnsiballZ_copy.py"
    source.write_bytes(b"payload")
    runc_connection.put_file(str(source), "/root/.ansible/tmp/x/AnsiballZ_copy.py")
    (run,) = FakePopen.started
    assert run.argv[5:] == ["/bin/sh", "-c", 'umask 077 && cat > "$1"', "sh", "/root/.ansible/tmp/x/AnsiballZ_copy.py"]
    assert run.input == b"payload"


def test_another_user_goes_through_podman(runc_connection):
    runc_connection.user = "vmail"
    runc_connection.exec_command("id")
    assert FakePopen.started == []
    assert runc_connection.calls[0]["cmd"] == ["exec", "--user", "vmail"]


@pytest.fixture
def podman_storage(tmp_path, monkeypatch):
    storage = tmp_path / "overlay-containers"
    storage.mkdir()
    (storage / "containers.json").write_text(json.dumps([
        {"id": "c0ffee", "names": ["mx12"]}, {"id": "dead00", "names": ["stopped"]}]))
    (tmp_path / "runc" / "c0ffee").mkdir(parents=True)
    (tmp_path / "runc" / "c0ffee" / "state.json").write_text("{}")
    monkeypatch.setattr(plugin, "STORAGE_CONTAINERS", str(tmp_path / "*-containers" / "containers.json"))
    monkeypatch.setattr(plugin, "RUNC_ROOT", str(tmp_path / "runc"))
    monkeypatch.setattr(plugin.os, "geteuid", lambda: 0)
    monkeypatch.setattr(plugin.shutil, "which", lambda name: "/usr/sbin/runc")
    return tmp_path


def test_runc_target_is_a_running_container_that_runc_knows(podman_storage, monkeypatch):
    assert plugin.runc_target("mx12") == ("/usr/sbin/runc", "c0ffee")
    assert plugin.runc_target("c0ffee") == ("/usr/sbin/runc", "c0ffee")
    assert plugin.runc_target("stopped") is None  # no runc state: another runtime, or not running
    assert plugin.runc_target("unknown") is None
    monkeypatch.setattr(plugin.os, "geteuid", lambda: 1000)
    assert plugin.runc_target("mx12") is None  # rootless podman keeps its own runc root
