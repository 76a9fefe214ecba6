#!/bin/bash
# Build the collection tarball, install it, and prove the installed copy
# works on its own (make package):
#   1. ansible-galaxy collection build        -> .cache/dist/mailops-authsmtp-<version>.tar.gz
#   2. what it ships, and what it leaves out  (scripts/check_artifact.py)
#   3. ansible-galaxy collection install      -> .cache/artifact/ansible_collections/mailops/authsmtp
#      offline and without dependencies: those come with the `ansible`
#      package in .venv, since Galaxy cannot be reached; then verify the
#      installed files against the tarball's checksums
#   4. meta/runtime.yml's requires_ansible admits the running ansible-core,
#      and ansible refuses a copy whose range leaves it out
#   5. ansible-doc renders every module, filter and role of the installed copy
#   6. ansible-playbook --syntax-check of its playbooks
#   7. the execution environment's build context (ansible-builder create,
#      which validates execution-environment.yml), with this tarball in it,
#      and what ansible-builder finds in the installed copy's metadata
# `make molecule` then runs the Molecule scenario against .cache/artifact.
#
# Every ansible command here sees only the installed copy (plus the
# collections of the `ansible` package, which ansible always searches), and
# runs with COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH=error, so a
# requires_ansible that excluded this ansible-core would fail them.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"
dist="$repo/.cache/dist"
artifact="$repo/.cache/artifact"
installed="$artifact/ansible_collections/mailops/authsmtp"
work="$repo/.cache/package-work"

say() { echo "package: $*"; }
fail() { echo "package: FAILED: $*" >&2; exit 1; }

unset ANSIBLE_CONFIG
export ANSIBLE_COLLECTIONS_PATH="$artifact"
export ANSIBLE_COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH=error
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0
export ANSIBLE_LOCAL_TEMP="$work/tmp"

rm -rf "$dist" "$artifact" "$work"
mkdir -p "$dist" "$artifact" "$work/tmp"

# 1. build
ansible-galaxy collection build --output-path "$dist" --force >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; fail "ansible-galaxy collection build"; }
tarball="$(ls "$dist"/mailops-authsmtp-*.tar.gz)"
say "built ${tarball#"$repo"/} ($(du -k "$tarball" | cut -f1) KiB)"

# 2. contents
python scripts/check_artifact.py "$tarball" | sed 's/^artifact: /package: /' || fail "tarball contents"

# 3. install and verify
ansible-galaxy collection install --offline --no-deps --force -p "$artifact" "$tarball" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log" >&2; fail "ansible-galaxy collection install"; }
[ -f "$installed/MANIFEST.json" ] || fail "nothing installed at ${installed#"$repo"/}"
ansible-galaxy collection verify --offline -p "$artifact" mailops.authsmtp >"$work/verify.log" 2>&1 \
    || { cat "$work/verify.log" >&2; fail "installed files differ from the tarball's checksums"; }
say "installed into ${artifact#"$repo"/} and verified against the tarball's checksums"

# 4. requires_ansible
python scripts/check_requires_ansible.py "$installed" | sed 's/^/package: /' || fail "requires_ansible"
outside="$(python scripts/check_requires_ansible.py --outside "$installed")"
mkdir -p "$work/outside/ansible_collections/mailops"
cp -a "$installed" "$work/outside/ansible_collections/mailops/authsmtp"
printf -- '---\nrequires_ansible: "%s"\n' "$outside" >"$work/outside/ansible_collections/mailops/authsmtp/meta/runtime.yml"
cat >"$work/inventory.yml" <<'EOF'
smtp_servers:
  hosts:
    mx1.example.test:
      ansible_connection: local
EOF
# ansible-galaxy installs such a copy without a word; ansible warns when it
# loads it, and refuses it with COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH=error.
outside_run() {
    (cd "$work" && ANSIBLE_COLLECTIONS_PATH="$work/outside" \
        ansible-playbook -i "$work/inventory.yml" --syntax-check mailops.authsmtp.site) >"$work/outside.log" 2>&1
}
ANSIBLE_COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH=warning outside_run \
    || { cat "$work/outside.log" >&2; fail "with mismatch=warning, a copy with requires_ansible \"$outside\" should still run"; }
grep -q "WARNING.*does not support Ansible version" "$work/outside.log" \
    || { cat "$work/outside.log" >&2; fail "no warning for a copy with requires_ansible \"$outside\""; }
if outside_run; then
    fail "ansible ran a copy with requires_ansible \"$outside\" despite mismatch=error"
fi
grep -q "does not support Ansible version" "$work/outside.log" \
    || { cat "$work/outside.log" >&2; fail "no 'does not support Ansible version' error for requires_ansible \"$outside\""; }
say "a copy with requires_ansible \"$outside\": warned by default, refused with mismatch=error"

# 5. ansible-doc, for every plugin and role the installed copy has
cd "$work"
count=0
for dir in "$installed"/plugins/*/; do
    kind="$(basename "$dir")"
    case "$kind" in
        module_utils | plugin_utils | doc_fragments) continue ;;
        modules) kind=module ;;
    esac
    names="$(ansible-doc -t "$kind" -l mailops.authsmtp --json | python -c 'import json, sys; print("\n".join(sorted(json.load(sys.stdin))))')"
    files="$(find "$dir" -maxdepth 1 -name '*.py' ! -name '__init__.py' | wc -l)"
    [ -n "$names" ] || fail "ansible-doc lists no $kind plugin, but ${dir#"$installed"/} has $files file(s)"
    if [ "$kind" = module ] && [ "$(wc -l <<<"$names")" -ne "$files" ]; then
        fail "ansible-doc lists $(wc -l <<<"$names") modules, ${dir#"$installed"/} has $files"
    fi
    for name in $names; do
        ansible-doc -t "$kind" --json "$name" >"$work/doc.json" 2>"$work/doc.err" \
            || { cat "$work/doc.err" >&2; fail "ansible-doc -t $kind $name"; }
        python - "$name" "$installed" "$work/doc.json" <<'EOF' || fail "ansible-doc -t $kind $name"
import json, sys
name, installed, path = sys.argv[1:]
doc = json.load(open(path))[name]["doc"]
if not doc.get("short_description"):
    sys.exit(f"package: {name} has no short_description")
if not doc["filename"].startswith(installed + "/"):
    sys.exit(f"package: {name} comes from {doc['filename']}, not the installed copy")
EOF
        ansible-doc -t "$kind" "$name" >/dev/null 2>"$work/doc.err" \
            || { cat "$work/doc.err" >&2; fail "ansible-doc -t $kind $name (text)"; }
        count=$((count + 1))
    done
    say "ansible-doc -t $kind: $(echo $names | sed 's/mailops\.authsmtp\.//g')"
done
roles="$(ansible-doc -t role -l mailops.authsmtp --json | python -c 'import json, sys; print("\n".join(sorted(json.load(sys.stdin))))')"
for name in $roles; do
    ansible-doc -t role "$name" >/dev/null 2>"$work/doc.err" \
        || { cat "$work/doc.err" >&2; fail "ansible-doc -t role $name"; }
    count=$((count + 1))
done
[ "$(wc -w <<<"$roles")" -eq "$(find "$installed/roles" -mindepth 1 -maxdepth 1 -type d | wc -l)" ] \
    || fail "ansible-doc lists $(wc -w <<<"$roles") roles, roles/ has $(find "$installed/roles" -mindepth 1 -maxdepth 1 -type d | wc -l)"
say "ansible-doc -t role: $(echo $roles | sed 's/mailops\.authsmtp\.//g')"
say "ansible-doc renders all $count from the installed copy"

# 6. the playbooks, by their collection names, from the installed copy
for playbook in "$installed"/playbooks/*.yml; do
    name="mailops.authsmtp.$(basename "$playbook" .yml)"
    ansible-playbook -i "$work/inventory.yml" --syntax-check "$name" >"$work/syntax.log" 2>&1 \
        || { cat "$work/syntax.log" >&2; fail "ansible-playbook --syntax-check $name"; }
    ! grep -q '\[WARNING\]' "$work/syntax.log" || { cat "$work/syntax.log" >&2; fail "warnings in --syntax-check $name"; }
    say "ansible-playbook --syntax-check $name: ok"
done
# 7. execution environment: the build context, not the image (that needs a
# container runtime and registries)
cd "$repo"
ansible-builder create -f execution-environment.yml -c "$work/ee-context" >"$work/ee.log" 2>&1 \
    || { cat "$work/ee.log" >&2; fail "ansible-builder create"; }
[ -f "$work/ee-context/_build/authsmtp/$(basename "$tarball")" ] \
    || fail "the execution environment's build context lacks $(basename "$tarball")"
grep -q 'ansible-galaxy collection install --offline --no-deps .*mailops-authsmtp-\*\.tar\.gz' "$work/ee-context/Containerfile" \
    || fail "the Containerfile does not install the collection tarball"
ansible-builder introspect --sanitize "$artifact" >"$work/introspect.yml" 2>&1 \
    || { cat "$work/introspect.yml" >&2; fail "ansible-builder introspect"; }
python - "$work/introspect.yml" <<'EOF' || fail "ansible-builder does not find meta/ee-requirements.txt in the installed copy"
import sys
from pathlib import Path

import yaml

found = yaml.safe_load(Path(sys.argv[1]).read_text().split("---", 1)[1])
wanted = [line.split("#")[0].strip() for line in Path("meta/ee-requirements.txt").read_text().splitlines()]
wanted = {line for line in wanted if line}
got = {entry.split("#")[0].strip() for entry in found.get("python") or []}
sys.exit(f"package: missing from introspection: {sorted(wanted - got)}" if wanted - got else 0)
EOF
say "execution environment: build context in ${work#"$repo"/}/ee-context (ansible-builder create), collection metadata found by introspect"
say "ok: ${tarball#"$repo"/}"
