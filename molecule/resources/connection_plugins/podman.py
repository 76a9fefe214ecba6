"""The podman connection of the test hosts, with pipelining (tests only).

Molecule's podman driver connects to its containers with ``podman``, which
ansible-core routes to ``containers.podman.podman``. That plugin runs
``podman exec`` without ``-i``, so it cannot pipeline: every task on every
host copies its module into the container and runs four or five ``podman``
commands (mkdir, copy, chmod, run, rm), plus a ``podman mount`` per task.
On the project's 2-core machine that was over half of the time of a
converge that changes nothing.

This plugin, found first by its short name through
``ANSIBLE_CONNECTION_PLUGINS`` (set in each scenario's molecule.yml), is the
same connection with stdin attached when there is input: a module is piped
to ``python3`` in one ``podman exec -i``, as ssh pipelining does on a real
host (``pipelining = true`` in the scenarios' ansible.cfg, which the upstream
plugin ignores). Files that must be copied (``template``, ``copy``, async
wrappers) go through ``podman cp``. Nothing the collection does on a host
changes; only how the test controller reaches it.

Each ``podman exec`` (and ``podman cp``) costs about 0.1 s of podman's own
work before the command starts (an exec session, a conmon process), on
every task of every host. Where the controller is root and the container
runs under runc, as on the project's machines (containers.conf), the
command is started with ``runc exec`` instead, which is what podman itself
asks runc to do: the same namespaces, cgroup, capabilities, user and
environment, without the session around it. runc refuses a paused
container, as podman does. Anything else (another runtime, a non-root
controller, a container runc does not know) goes through podman as above.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import shutil
import subprocess

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.utils.display import Display
from ansible_collections.containers.podman.plugins.connection import podman as upstream

DOCUMENTATION = upstream.DOCUMENTATION

display = Display()

# Where rootful podman keeps its containers' names and IDs, and where runc
# keeps the state of the containers podman runs with it.
STORAGE_CONTAINERS = "/var/lib/containers/storage/*-containers/containers.json"
RUNC_ROOT = "/run/runc"


def runc_target(name):
    """(runc, container ID) for the container `name` if runc runs it and may be
    used directly from here; None otherwise."""
    runc = shutil.which("runc")
    if os.geteuid() != 0 or runc is None:
        return None
    for path in glob.glob(STORAGE_CONTAINERS):
        try:
            with open(path, encoding="utf-8") as f:
                containers = json.load(f)
        except (OSError, ValueError):
            continue
        for container in containers:
            if name in (container.get("names") or []) or container.get("id") == name:
                if os.path.isfile(os.path.join(RUNC_ROOT, container["id"], "state.json")):
                    return runc, container["id"]
    return None


class Connection(upstream.Connection):
    """containers.podman.podman with pipelining and without a mount per task."""

    transport = "podman"
    has_pipelining = True

    def _connect(self):
        # Upstream mounts the container's file system on every task to copy
        # files with shutil; with no mount point, put_file and fetch_file use
        # `podman cp`, which the pipelined tasks rarely need.
        self._connected = True
        return self

    def _runc(self, argv, in_data=None):
        """Run argv in the container with runc exec; None if runc cannot be used."""
        target = runc_target(self._container_id) if self.user in (None, "", "root", "0") else None
        if target is None:
            return None
        runc, container_id = target
        local_cmd = [runc, "--root", RUNC_ROOT, "exec", container_id] + argv
        display.vvv(f"RUN {local_cmd}", host=self._container_id)
        process = subprocess.Popen(  # noqa: S603 - runc and an argv, no shell
            [to_bytes(arg, errors="surrogate_or_strict") for arg in local_cmd],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = process.communicate(input=in_data)
        return process.returncode, stdout, stderr

    def exec_command(self, cmd, in_data=None, sudoable=False):
        """Run cmd in the container, with stdin attached when there is input."""
        # The base class of upstream's Connection only logs and checks here.
        super(upstream.Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        argv = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        ran = self._runc(argv, in_data)
        if ran is not None:
            return ran
        args = ["exec"] + (["-i"] if in_data is not None else [])
        if self.user:
            args += ["--user", self.user]
        return self._podman(args, argv, in_data)

    def put_file(self, in_path, out_path):
        """Copy a file into the container: through runc exec where it can be used, else `podman cp`."""
        super(upstream.Connection, self).put_file(in_path, out_path)
        with open(in_path, "rb") as f:
            data = f.read()
        # As private as `podman cp` keeps Ansible's temporary files (0600).
        ran = self._runc(["/bin/sh", "-c", 'umask 077 && cat > "$1"', "sh", out_path], data)
        if ran is None:
            return super().put_file(in_path, out_path)
        rc, _, stderr = ran
        if rc != 0:
            raise AnsibleError(f"failed to copy {in_path} to {out_path} in {self._container_id}: {to_native(stderr)}")
        return None
