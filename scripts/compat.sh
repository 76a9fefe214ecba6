#!/bin/bash
# The lowest ansible-core that meta/runtime.yml's requires_ansible admits,
# on the controller side (make compat; needs `make package` first, and PyPI):
#   - a virtualenv .cache/compat/ansible-core-<version> with that ansible-core
#     and the test requirements, pinned as in requirements.txt
#   - ansible-doc for every module, filter and role of the installed tarball
#     (.cache/artifact), and --syntax-check of its playbooks, with
#     COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH=error
#   - the unit tests that do not need ansible-core 2.19's test helpers: the
#     filters, module_utils, and real runs of playbooks/client_config.yml on
#     localhost (tests/unit/plugins/modules use patch_module_args, new in 2.19)
# What it cannot cover: the server roles against real hosts, which only the
# Molecule scenario does, with the ansible-core of requirements.txt.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
artifact="$repo/.cache/artifact"
installed="$artifact/ansible_collections/mailops/authsmtp"
say() { echo "compat: $*"; }
fail() { echo "compat: FAILED: $*" >&2; exit 1; }

[ -f "$installed/MANIFEST.json" ] || fail "no installed tarball in ${artifact#"$repo"/}: run make package first"
version="$(.venv/bin/python scripts/check_requires_ansible.py --lower-bound)"
venv="$repo/.cache/compat/ansible-core-$version"
pin() { grep -i "^$1==" requirements.txt; }
if [ ! -x "$venv/bin/ansible-playbook" ] || ! "$venv/bin/python" -c "import xdist" 2>/dev/null; then
    say "creating ${venv#"$repo"/}"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$version" \
        -r tests/unit/requirements.txt "$(pin PyYAML)" "$(pin pytest-xdist)" "$(pin execnet)" >"$repo/.cache/compat/pip.log" 2>&1 \
        || { tail -n 20 "$repo/.cache/compat/pip.log" >&2; fail "pip install ansible-core==$version"; }
fi
"$venv/bin/python" -c 'import sys; from ansible.release import __version__ as v; sys.exit(v != sys.argv[1])' "$version" \
    || fail "${venv#"$repo"/} does not have ansible-core $version"

# The collections it depends on come from the `ansible` package in .venv.
site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
export ANSIBLE_COLLECTIONS_PATH="$artifact:$site"
export ANSIBLE_COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH=error ANSIBLE_NOCOLOR=1
unset ANSIBLE_CONFIG
work="$repo/.cache/compat/work"
rm -rf "$work" && mkdir -p "$work"
cd "$work"
count=0
for kind in module filter role; do
    names="$("$venv/bin/ansible-doc" -t "$kind" -l mailops.authsmtp --json \
        | "$venv/bin/python" -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin))))')"
    for name in $names; do
        "$venv/bin/ansible-doc" -t "$kind" "$name" >/dev/null 2>"$work/doc.err" \
            || { cat "$work/doc.err" >&2; fail "ansible-doc -t $kind $name with ansible-core $version"; }
        count=$((count + 1))
    done
done
say "ansible-core $version: ansible-doc renders all $count modules, filters and roles"
printf 'smtp_servers:\n  hosts:\n    mx1.example.test:\n      ansible_connection: local\n' >"$work/inventory.yml"
for playbook in "$installed"/playbooks/*.yml; do
    name="mailops.authsmtp.$(basename "$playbook" .yml)"
    "$venv/bin/ansible-playbook" -i "$work/inventory.yml" --syntax-check "$name" >"$work/syntax.log" 2>&1 \
        || { cat "$work/syntax.log" >&2; fail "--syntax-check $name with ansible-core $version"; }
done
say "ansible-core $version: --syntax-check of every playbook passes"
cd "$repo"
"$venv/bin/python" -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests/unit/playbooks tests/unit/plugins/filter \
    tests/unit/plugins/module_utils >"$work/pytest.log" 2>&1 \
    || { tail -n 40 "$work/pytest.log" >&2; fail "unit tests with ansible-core $version"; }
say "ansible-core $version: unit tests: $(tail -n 1 "$work/pytest.log")"
