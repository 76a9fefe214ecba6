#!/bin/sh
# Install everything `make test` and `make demo` need on a Debian 12 or 13
# machine, as root, and skip what is already there:
#   - Debian packages: podman with runc, debootstrap, make, openssl
#   - a Python virtualenv in .venv with the pinned requirements.txt
#   - the bare Debian 12 and 13 images the test hosts boot
#   - the collection made importable as mailops.authsmtp from this checkout
set -eu
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export CONTAINERS_CONF="$repo/molecule/resources/containers.conf"

need_pkgs=""
for cmd in podman:podman runc:runc debootstrap:debootstrap make:make openssl:openssl python3:python3-venv; do
    bin="${cmd%%:*}"; pkg="${cmd#*:}"
    command -v "$bin" >/dev/null 2>&1 || need_pkgs="$need_pkgs $pkg"
done
python3 -c 'import venv, ensurepip' 2>/dev/null || need_pkgs="$need_pkgs python3-venv"
if [ -n "$need_pkgs" ]; then
    echo "bootstrap: installing Debian packages:$need_pkgs"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_pkgs >/dev/null
fi

stamp=.venv/.requirements.sha256
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: creating .venv from requirements.txt"
    python3 -m venv .venv
    mkdir -p .cache
    if ! .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt >.cache/pip-install.log 2>&1; then
        tail -n 30 .cache/pip-install.log >&2
        exit 1
    fi
    .venv/bin/pip check
    echo "$want" > "$stamp"
fi

# Molecule and ansible-playbook find the collection under this path.
mkdir -p .cache/collections/ansible_collections/mailops
ln -sfn "$repo" .cache/collections/ansible_collections/mailops/authsmtp

# Downloaded .deb files are shared by the test hosts of a release. apt
# does not wait for another host's lock on the directory, so two hosts of
# one release that install at the same moment use two of them (-2).
cache="${AUTHSMTP_CACHE_DIR:-/var/cache/authsmtp}"
for dir in apt-bookworm apt-trixie apt-bookworm-2 apt-trixie-2; do
    mkdir -p "$cache/$dir/partial"
done

molecule/resources/build-image.sh bookworm
molecule/resources/build-image.sh trixie
