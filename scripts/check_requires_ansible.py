#!/usr/bin/env python3
"""Check meta/runtime.yml's requires_ansible against the running ansible-core.

    scripts/check_requires_ansible.py [COLLECTION_DIR]
    scripts/check_requires_ansible.py --outside [COLLECTION_DIR]
    scripts/check_requires_ansible.py --lower-bound [COLLECTION_DIR]

Without --outside: fail unless requires_ansible is a valid version range
with a lower bound, and the ansible-core that runs here is inside it.

With --outside: print a requires_ansible value that the running ansible-core
is NOT inside (same lower bound, upper bound below the running version), so
that scripts/package.sh can check that ansible refuses such a collection.

With --lower-bound: print the lowest ansible-core version the range admits
(for scripts/compat.sh, which tests the collection with it).
"""

import sys
from pathlib import Path

import yaml
from ansible.release import __version__ as ansible_core_version
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version


def requirement(collection_dir):
    runtime = yaml.safe_load((Path(collection_dir) / "meta" / "runtime.yml").read_text()) or {}
    value = runtime.get("requires_ansible")
    if not value:
        raise SystemExit("requires_ansible: missing in meta/runtime.yml")
    try:
        spec = SpecifierSet(value)
    except InvalidSpecifier as err:
        raise SystemExit(f"requires_ansible: {value!r} is not a version range: {err}") from None
    if not any(s.operator in (">=", ">", "~=", "==") for s in spec):
        raise SystemExit(f"requires_ansible: {value!r} has no lower bound")
    return value, spec


def main(argv):
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    collection_dir = args[0] if args else Path(__file__).resolve().parent.parent
    value, spec = requirement(collection_dir)
    running = Version(ansible_core_version)
    if "--outside" in flags:
        print(f"{value},<{running}")
        return 0
    if "--lower-bound" in flags:
        bounds = [Version(s.version) for s in spec if s.operator in (">=", "~=", "==")]
        lowest = max(bounds) if bounds else None
        if lowest is None or lowest not in spec:
            raise SystemExit(f"requires_ansible: cannot tell the lowest version {value!r} admits")
        print(lowest)
        return 0
    if running not in spec:
        print(f"requires_ansible: ansible-core {running} is outside {value!r} (meta/runtime.yml)")
        return 1
    print(f"requires_ansible {value}: ansible-core {running} is inside")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
