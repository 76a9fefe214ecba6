#!/bin/sh
# Install everything `make test` and `make demo` need on a Debian 12 or 13
# machine, as root, and skip what is already there:
#   - Debian packages: podman with runc, debootstrap, make, openssl
#   - a Python virtualenv with the pinned requirements.txt, linked as .venv
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

# The virtualenv is built once per machine for each requirements.txt and
# Python (in the cache below, like the images), and .venv links to it: a
# clean clone (CI) finds it ready instead of installing the same pins again.
cache="${AUTHSMTP_CACHE_DIR:-/var/cache/authsmtp}"
want="$( { cat requirements.txt; python3 -VV; } | sha256sum | cut -d' ' -f1)"
venv="$cache/venv/$want"
if [ ! -f "$venv/.complete" ]; then
    echo "bootstrap: creating ${venv} from requirements.txt"
    mkdir -p "$cache/venv" .cache
    rm -rf "$venv"
    python3 -m venv "$venv"
    if ! "$venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt >.cache/pip-install.log 2>&1; then
        tail -n 30 .cache/pip-install.log >&2
        rm -rf "$venv"
        exit 1
    fi
    "$venv/bin/pip" check
    touch "$venv/.complete"
fi
# A .venv of an earlier bootstrap is a directory: replaced by the link.
if [ "$(readlink .venv 2>/dev/null)" != "$venv" ]; then
    rm -rf .venv
    ln -s "$venv" .venv
fi

# Molecule and ansible-playbook find the collection under this path.
mkdir -p .cache/collections/ansible_collections/mailops
ln -sfn "$repo" .cache/collections/ansible_collections/mailops/authsmtp

# Downloaded .deb files are shared by the test hosts of a release. apt
# does not wait for another host's lock on the directory, so two hosts of
# one release that install at the same moment use two of them (-2).
for dir in apt-bookworm apt-trixie apt-bookworm-2 apt-trixie-2; do
    mkdir -p "$cache/$dir/partial"
done

molecule/resources/build-image.sh bookworm
molecule/resources/build-image.sh trixie
