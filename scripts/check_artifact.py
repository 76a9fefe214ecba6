#!/usr/bin/env python3
"""Check what a built collection tarball ships, and what it leaves out.

    scripts/check_artifact.py .cache/dist/mailops-authsmtp-0.1.0.tar.gz

What users need must be in it; tests, development files, caches and
benchmarks must not (galaxy.yml's build_ignore). Prints one line per
failed rule and exits 1, or one summary line and exits 0.
"""

import json
import re
import sys
import tarfile

# Paths (files, or directories with at least one file) the collection needs.
REQUIRED = [
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "CHANGELOG.md",
    "changelogs/changelog.yaml",
    "meta/runtime.yml",
    "execution-environment.yml",
    "meta/execution-environment.yml",
    "meta/ee-requirements.txt",
    "meta/ee-bindep.txt",
    "meta/ee-galaxy-requirements.yml",
    "roles/",
    "plugins/modules/",
    "plugins/filter/",
    "plugins/module_utils/",
    "playbooks/site.yml",
    "playbooks/verify.yml",
    "playbooks/client_config.yml",
    "playbooks/check_certs.yml",
    "templates/",
    "docs/",
]

# Top-level entries only the checkout needs.
LEFT_OUT_TOP = {
    "tests",
    "molecule",
    "scripts",
    ".ci",
    ".cache",
    ".venv",
    ".git",
    ".ansible",
    ".pytest_cache",
    ".ruff_cache",
    "Makefile",
    "requirements.txt",
    "pyproject.toml",
}
# Anywhere in the tree.
LEFT_OUT_ANYWHERE = re.compile(r"(^|/)(bench|benchmarks?|__pycache__)(/|$)|\.pyc$|(^|/)changelogs/fragments(/|$)")
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
    r"(\+[0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*)?$"
)


def main(tarball):
    with tarfile.open(tarball) as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
        manifest = json.load(tar.extractfile(members["MANIFEST.json"])) if "MANIFEST.json" in members else None
    names = sorted(members)
    problems = []
    for needed in REQUIRED:
        if needed.endswith("/"):
            found = any(n.startswith(needed) for n in names)
        else:
            found = needed in names
        if not found:
            problems.append(f"missing: {needed}")
    for name in names:
        if name.split("/", 1)[0] in LEFT_OUT_TOP or LEFT_OUT_ANYWHERE.search(name):
            problems.append(f"should be left out (galaxy.yml build_ignore): {name}")
    version = manifest["collection_info"]["version"] if manifest else "?"
    if manifest and not SEMVER.match(version):
        problems.append(f"version {version!r} in galaxy.yml is not semantic versioning (MAJOR.MINOR.PATCH)")
    for problem in problems:
        print(f"artifact: {problem}")
    if problems:
        return 1
    print(f"artifact: {len(names)} files, version {version}; nothing of tests, molecule, scripts, caches or benchmarks")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
