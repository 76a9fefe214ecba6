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
"""

from __future__ import annotations

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.containers.podman.plugins.connection import podman as upstream

DOCUMENTATION = upstream.DOCUMENTATION


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

    def exec_command(self, cmd, in_data=None, sudoable=False):
        """Run cmd in the container, with stdin attached when there is input."""
        # The base class of upstream's Connection only logs and checks here.
        super(upstream.Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        args = ["exec"] + (["-i"] if in_data is not None else [])
        if self.user:
            args += ["--user", self.user]
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)
