#!/bin/bash
# ansible-test sanity and units for the collection (make sanity).
#
# ansible-test wants the collection at .../ansible_collections/mailops/authsmtp,
# so this installs the tarball of `make package` into
# .cache/ansible-test/ansible_collections/mailops/authsmtp: sanity then checks
# exactly what is shipped. tests/ is left out of the tarball (galaxy.yml
# build_ignore) but ansible-test needs it (the unit tests, and
# tests/sanity/ignore-*.txt), so it is copied in next to it.
#
# ansible-test runs each sanity test, and the unit tests, in virtual
# environments of its own (--venv), with its own pinned requirements from PyPI;
# .venv stays as requirements.txt pins it. Its pip bootstrap script cannot be
# downloaded here: scripts/get_pip_ensurepip.py stands in for it (see there).
# Those environments, pip's cache and the stand-in live under
# .cache/ansible-test/home, used as HOME for ansible-test, so nothing is written
# to the real home directory and `make clean` removes them.
#
# Set SANITY_ARGS or UNITS_ARGS to pass more options (such as --test NAME).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"
base="$repo/.cache/ansible-test"
tree="$base/ansible_collections/mailops/authsmtp"
home="$base/home"
python_version="$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

say() { echo "sanity: $*"; }
fail() { echo "sanity: FAILED: $*" >&2; exit 1; }

# The collection as shipped (the tarball `make package` built), plus its tests.
tarball="$(ls "$repo"/.cache/dist/mailops-authsmtp-*.tar.gz 2>/dev/null | tail -n 1)"
[ -n "$tarball" ] || fail "no tarball in .cache/dist: run make package first"
rm -rf "$base/ansible_collections"
mkdir -p "$home"
ANSIBLE_COLLECTIONS_PATH="$base" ansible-galaxy collection install --offline --no-deps --force -p "$base" \
    "$tarball" >"$base/install.log" 2>&1 \
    || { cat "$base/install.log" >&2; fail "ansible-galaxy collection install"; }
# The tests of what the tarball leaves out (bench/, molecule/, scripts/, and
# the links from docs/ into them) stay out too: ansible-test hands pytest
# every test file by name, so a conftest cannot skip them.
git ls-files -z --cached --others --exclude-standard -- tests \
    ':!tests/unit/bench' ':!tests/unit/molecule' ':!tests/unit/scripts' ':!tests/unit/test_docs_links.py' \
    | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -xf - -C "$tree"
# ansible-test lists the files to test with git when it finds a repository
# above the collection: give the tree one of its own, or it would ask this
# checkout, which ignores .cache/. Its results (tests/output) are not content.
git -C "$tree" init -q
echo "tests/output/" >"$tree/.git/info/exclude"
say "collection tree: ${tree#"$repo"/} (tarball contents + tests/)"

# The pip bootstrap stand-in, where ansible-test looks for its cached get-pip.
pip_version="$(python - <<'EOF'
import re
from pathlib import Path

import ansible_test

source = (Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py").read_text()
match = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", source)
print(match[1] if match else "")
EOF
)"
[ -n "$pip_version" ] || fail "cannot tell which pip version ansible-test bootstraps (ansible_test/_internal/python_requirements.py changed?)"
mkdir -p "$home/.ansible/test/cache"
cp scripts/get_pip_ensurepip.py "$home/.ansible/test/cache/get_pip_${pip_version//./_}.py"
say "pip $pip_version bootstrap: scripts/get_pip_ensurepip.py (ensurepip)"

cd "$tree"
export HOME="$home"
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_CONFIG
start=$SECONDS
# shellcheck disable=SC2086
ansible-test sanity --venv --python "$python_version" --color no ${SANITY_ARGS:-} \
    || fail "ansible-test sanity"
say "ansible-test sanity: passed ($((SECONDS - start))s)"
start=$SECONDS
# shellcheck disable=SC2086
ansible-test units --venv --python "$python_version" --color no ${UNITS_ARGS:-} \
    || fail "ansible-test units"
say "ansible-test units: passed ($((SECONDS - start))s)"
