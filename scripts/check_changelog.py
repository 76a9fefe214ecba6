#!/usr/bin/env python3
"""Check the changelog (make lint).

  - the fragments in changelogs/fragments/ and changelogs/changelog.yaml pass
    `antsibull-changelog lint` and `lint-changelog-yaml`;
  - CHANGELOG.md is what antsibull-changelog renders from changelog.yaml;
  - galaxy.yml's version is semantic versioning and not older than the
    latest release in changelog.yaml. While it is that release, every
    fragment must be in it (the tarball ships CHANGELOG.md); once galaxy.yml
    names a newer version, fragments may wait for it.

To add a change: write a fragment (see changelogs/config.yaml for the
sections), then, while galaxy.yml's version is not published yet,
    antsibull-changelog release --version <galaxy.yml version> --update-existing
and for a new version, set it in galaxy.yml and run
    antsibull-changelog release
(both need ansible-doc to find the collection: run them through `make`, or
with ANSIBLE_COLLECTIONS_PATH=.cache/collections).
"""

import filecmp
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
CHANGELOGS = REPO / "changelogs"
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)


def antsibull(*args):
    """Run antsibull-changelog next to this Python; return (rc, output)."""
    command = [str(Path(sys.executable).parent / "antsibull-changelog"), *args]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)  # noqa: S603 - fixed command
    return done.returncode, (done.stdout + done.stderr).strip()


def main():
    problems = []
    for args in (["lint"], ["lint-changelog-yaml", "changelogs/changelog.yaml"]):
        rc, output = antsibull(*args)
        if rc or output:
            problems.append(f"antsibull-changelog {' '.join(args)}:\n{output}")

    with tempfile.TemporaryDirectory() as tmp:
        rendered = Path(tmp) / "CHANGELOG.md"
        rc, output = antsibull("generate", "--output", str(rendered), "--output-format", "md")
        if rc:
            problems.append(f"antsibull-changelog generate:\n{output}")
        elif not filecmp.cmp(rendered, REPO / "CHANGELOG.md", shallow=False):
            problems.append(
                "CHANGELOG.md is not what antsibull-changelog renders from changelogs/changelog.yaml; "
                "do not edit it by hand: write a fragment and run antsibull-changelog release"
            )

    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    changes = yaml.safe_load((CHANGELOGS / "changelog.yaml").read_text())
    releases = changes.get("releases") or {}
    if not SEMVER.match(str(version)):
        problems.append(f"galaxy.yml: version {version!r} is not semantic versioning (MAJOR.MINOR.PATCH)")
    elif releases:
        latest = max(releases, key=Version)
        if Version(version) < Version(latest):
            problems.append(f"galaxy.yml: version {version} is older than {latest}, the latest in changelog.yaml")
        elif version == latest:
            released = {name for release in releases.values() for name in release.get("fragments", [])}
            pending = sorted(
                p.name
                for p in (CHANGELOGS / "fragments").iterdir()
                if p.suffix in (".yml", ".yaml") and p.name not in released
            )
            if pending:
                problems.append(
                    f"fragments not in release {version}, so not in CHANGELOG.md: {', '.join(pending)}; run "
                    f"antsibull-changelog release --version {version} --update-existing "
                    "(or set the next version in galaxy.yml)"
                )

    for problem in problems:
        print(f"changelog: {problem}")
    if problems:
        return 1
    print(f"changelog: fragments lint clean, CHANGELOG.md up to date, galaxy.yml version {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
