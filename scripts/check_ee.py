#!/usr/bin/env python3
"""Check the execution environment definition against the pinned versions (make lint).

  - execution-environment.yml passes ansible-builder's own validation
    (schema version 3, the files it names exist);
  - ansible-core there is the version requirements.txt pins, ansible-runner
    (only needed in the image) is pinned exactly;
  - every Python requirement in meta/ee-requirements.txt, and in
    tests/unit/requirements.txt (for ansible-test units), is pinned with ==
    to exactly the version requirements.txt pins;
  - meta/ee-galaxy-requirements.yml names exactly galaxy.yml's dependencies,
    each pinned to a version inside galaxy.yml's range and equal to the one
    installed in .venv by the `ansible` package (the one the tests use);
  - meta/ee-bindep.txt parses as bindep, and meta/execution-environment.yml
    (what ansible-builder reads from the installed collection) names the
    same files.

Building the image needs a container runtime and registries, so it does not
happen here; scripts/package.sh renders the build context with
`ansible-builder create` from the built tarball.
"""

import importlib.util
import json
import re
import sys
from pathlib import Path

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
EE_FILE = REPO / "execution-environment.yml"
PINS_FILES = ["meta/ee-requirements.txt", "tests/unit/requirements.txt"]


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path):
    """[(line number, Requirement)] of a pip requirements file."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if line:
            found.append((number, Requirement(line)))
    return found


def exact_pin(requirement):
    """The version of a `name==X` requirement, or None."""
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
        return specs[0].version
    return None


def installed_collection_version(fqcn):
    spec = importlib.util.find_spec("ansible_collections")
    for location in spec.submodule_search_locations if spec else []:
        manifest = Path(location, *fqcn.split("."), "MANIFEST.json")
        if manifest.is_file():
            return json.loads(manifest.read_text())["collection_info"]["version"]
    return None


def check_definition(problems):
    try:
        from ansible_builder.exceptions import DefinitionError
        from ansible_builder.user_definition import UserDefinition
    except ImportError:
        problems.append("ansible-builder is not installed (pip install -r requirements.txt)")
        return None
    try:
        definition = UserDefinition(str(EE_FILE))
        definition.validate()
    except DefinitionError as err:
        problems.append(f"execution-environment.yml: {err}")
        return None
    raw = yaml.safe_load(EE_FILE.read_text())
    if raw.get("version") != 3:
        problems.append("execution-environment.yml: must be ansible-builder format version 3")
    if not ((raw.get("images") or {}).get("base_image") or {}).get("name"):
        problems.append("execution-environment.yml: images.base_image.name is missing")
    return raw


def main():
    problems = []
    pinned = {}
    for _, req in requirements(REPO / "requirements.txt"):
        pinned[normalize(req.name)] = exact_pin(req)

    raw = check_definition(problems)
    if raw:
        deps = raw.get("dependencies") or {}
        core = (deps.get("ansible_core") or {}).get("package_pip", "")
        if core != f"ansible-core=={pinned.get('ansible-core')}":
            problems.append(
                f"execution-environment.yml: ansible_core is {core!r}, "
                f"requirements.txt pins ansible-core=={pinned.get('ansible-core')}"
            )
        runner = (deps.get("ansible_runner") or {}).get("package_pip", "")
        try:
            runner_req = Requirement(runner)
        except InvalidRequirement:
            runner_req = None
        if runner_req is None or normalize(runner_req.name) != "ansible-runner" or not exact_pin(runner_req):
            problems.append(f"execution-environment.yml: pin ansible_runner as ansible-runner==X, not {runner!r}")
        expected = {
            "python": "meta/ee-requirements.txt",
            "system": "meta/ee-bindep.txt",
            "galaxy": "meta/ee-galaxy-requirements.yml",
        }
        for key, path in expected.items():
            if deps.get(key) != path:
                problems.append(f"execution-environment.yml: dependencies.{key} should be {path}, not {deps.get(key)}")

    collection_ee = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text()) or {}
    collection_deps = collection_ee.get("dependencies") or {}
    for key, path in (("python", "meta/ee-requirements.txt"), ("system", "meta/ee-bindep.txt")):
        if collection_deps.get(key) != path:
            problems.append(f"meta/execution-environment.yml: dependencies.{key} should be {path}")

    count = 0
    for relative in PINS_FILES:
        try:
            reqs = requirements(REPO / relative)
        except InvalidRequirement as err:
            problems.append(f"{relative}: {err}")
            continue
        for number, req in reqs:
            count += 1
            name = normalize(req.name)
            version = exact_pin(req)
            if not version:
                problems.append(f"{relative}:{number}: {req} is not pinned with ==")
            elif name not in pinned:
                problems.append(f"{relative}:{number}: {req.name} is not in requirements.txt; pin it there too")
            elif pinned[name] != version:
                problems.append(f"{relative}:{number}: {req.name}=={version}, but requirements.txt pins {pinned[name]}")

    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    wanted = galaxy.get("dependencies") or {}
    listed = (yaml.safe_load((REPO / "meta" / "ee-galaxy-requirements.yml").read_text()) or {}).get("collections") or []
    names = [entry.get("name") for entry in listed]
    for missing in sorted(set(wanted) - set(names)):
        problems.append(f"meta/ee-galaxy-requirements.yml: {missing} (a dependency in galaxy.yml) is missing")
    for extra in sorted(set(names) - set(wanted)):
        problems.append(f"meta/ee-galaxy-requirements.yml: {extra} is not a dependency in galaxy.yml")
    for entry in listed:
        name, version = entry.get("name"), str(entry.get("version", ""))
        if name not in wanted:
            continue
        if not version.startswith("==") or "," in version:
            problems.append(f"meta/ee-galaxy-requirements.yml: {name} must be pinned as \"==X.Y.Z\", not {version!r}")
            continue
        version = version[2:]
        if Version(version) not in SpecifierSet(wanted[name]):
            problems.append(f"meta/ee-galaxy-requirements.yml: {name} {version} is outside galaxy.yml's {wanted[name]}")
        tested = installed_collection_version(name)
        if tested != version:
            problems.append(
                f"meta/ee-galaxy-requirements.yml: {name} is pinned to {version}, "
                f"but the tests run with {tested or 'none'} (from the ansible package in .venv)"
            )

    try:
        from bindep.depends import Depends

        Depends((REPO / "meta" / "ee-bindep.txt").read_text())
    except ImportError:
        problems.append("bindep is not installed (it comes with ansible-builder: pip install -r requirements.txt)")
    except Exception as err:  # bindep raises parsley's ParseError, among others
        problems.append(f"meta/ee-bindep.txt does not parse as bindep: {err}")

    for problem in problems:
        print(f"ee: {problem}")
    if problems:
        return 1
    print(
        f"ee: execution-environment.yml valid (ansible-builder v3); {count} Python pins match requirements.txt; "
        f"{len(names)} collections match galaxy.yml and the tested versions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
