# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Put a file in place the way every module of this collection does: atomically, with its attributes first.

Shared by sasl_user (the password file) and staged_config (daemon configuration), so that there is one
implementation of "new content never appears half-written or with the wrong owner or mode".
"""

from __future__ import annotations

import os
import tempfile

from ansible.module_utils.common.text.converters import to_bytes


def read_bytes(module, path):
    """Return the content of ``path`` as bytes, or None if it does not exist; fail on anything but a file."""
    b_path = to_bytes(path, errors="surrogate_or_strict")
    if not os.path.lexists(b_path):
        return None
    if not os.path.isfile(b_path):
        module.fail_json(msg=f"{path} exists but is not a regular file")
    try:
        with open(b_path, "rb") as f:
            return f.read()
    except OSError as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}")


def write_atomically(module, path, data, file_args):
    """Replace ``path`` with ``data`` (bytes) in one rename, owner, group and mode set before the rename.

    ``file_args`` is a dict as from ``module.load_file_common_arguments()``: ``owner``, ``group``, ``mode``
    (the ``path`` key is ignored). The temporary file is made in the target's directory, so the rename never
    crosses a file system; it is removed if anything fails.
    """
    directory = os.path.dirname(path) or "."
    try:
        fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as exc:
        module.fail_json(msg=f"cannot create a temporary file in {directory}: {exc}")
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            module.fail_json(msg=f"cannot write the new content of {path}: {exc}")
        # The temporary file gets the final attributes before it replaces the
        # file, so the new content is never visible with the wrong ones.
        module.set_fs_attributes_if_different(dict(file_args, path=tmp_path), False)

        # When it creates the file, atomic_move chmods it to 0666 & ~umask: a
        # strict umask keeps it private until the attributes are applied again.
        old_umask = os.umask(0o077)
        try:
            # keep_dest_attrs=False keeps the temporary file's attributes
            # instead of copying the old file's (ansible-core >= 2.17).
            module.atomic_move(tmp_path, path, keep_dest_attrs=False)
        except Exception as exc:
            module.fail_json(msg=f"cannot replace {path}: {exc}")
        finally:
            os.umask(old_umask)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
    # Needed after creating the file (see above); a no-op otherwise.
    module.set_fs_attributes_if_different(dict(file_args, path=path), False)
