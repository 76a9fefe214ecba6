"""Make this checkout importable as ``ansible_collections.mailops.authsmtp``.

At import time (once per pytest session) this builds
``<tmp>/ansible_collections/mailops/authsmtp``, a symlink to the collection
root derived from this file's location, and prepends ``<tmp>`` to sys.path.
``ansible_collections`` is a namespace package, so this coexists with the
collections installed by the ``ansible`` package.
"""

from __future__ import annotations

import atexit
import grp
import os
import pwd
import shutil
import sys
import tempfile

import pytest

# tests/unit/conftest.py -> collection root
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _link_collection():
    base = tempfile.mkdtemp(prefix="mailops-authsmtp-units-")
    namespace_dir = os.path.join(base, "ansible_collections", "mailops")
    os.makedirs(namespace_dir)
    link = os.path.join(namespace_dir, "authsmtp")
    os.symlink(COLLECTION_ROOT, link)

    def cleanup():
        # Remove the symlink itself first so nothing can ever recurse into the checkout.
        if os.path.islink(link):
            os.unlink(link)
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(cleanup)
    sys.path.insert(0, base)


_link_collection()


@pytest.fixture
def current_ids():
    """(owner, group) names of the running process, so tests work as root or not."""
    try:
        owner = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        owner = str(os.getuid())
    try:
        group = grp.getgrgid(os.getgid()).gr_name
    except KeyError:
        group = str(os.getgid())
    return owner, group
