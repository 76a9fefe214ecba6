#!/bin/sh
# Build the bare Debian image the Molecule scenarios boot, once per machine.
# Usage: build-image.sh SUITE   (bookworm or trixie)
# The image is a minimal debootstrap with systemd as PID 1 and python3 for
# Ansible: a "bare Debian host", with nothing of the collection preinstalled.
set -eu
suite="${1:?usage: build-image.sh bookworm|trixie}"
image="localhost/authsmtp-debian:${suite}"
: "${CONTAINERS_CONF:=$(cd "$(dirname "$0")" && pwd)/containers.conf}"
export CONTAINERS_CONF

if podman image exists "$image"; then
    echo "image $image exists"
    exit 0
fi
rootfs="$(mktemp -d /var/tmp/authsmtp-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "building $image with debootstrap (about a minute)"
debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,python3,python3-apt,iproute2,ca-certificates,dbus \
    "$suite" "$rootfs" >"$rootfs.log" 2>&1 || {
    tail -n 30 "$rootfs.log" >&2
    exit 1
}
rm -f "$rootfs.log"
# Ship no package lists, and date their directory to the epoch so that
# apt's cache_valid_time sees them as stale and updates them on first use,
# as on any host whose lists are old.
rm -rf "$rootfs"/var/lib/apt/lists/*
touch -d @0 "$rootfs"/var/lib/apt/lists
tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' - "$image"
echo "built $image"
