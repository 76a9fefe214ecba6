"""Shared set-up of the tests of the Molecule scenarios' own modules.

molecule/resources/library goes first on sys.path, so the tests import the
modules by name (``import smtp_session``), as Ansible finds them next to the
playbooks. molecule/ is not part of the collection tarball: under
`ansible-test units` (scripts/sanity.sh tests the tarball's contents) there is
nothing to test and no test module here is collected.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = ROOT / "molecule" / "resources" / "library"

if (LIBRARY / "smtp_session.py").is_file():
    sys.path.insert(0, str(LIBRARY))
else:
    collect_ignore_glob = ["test_*.py"]
