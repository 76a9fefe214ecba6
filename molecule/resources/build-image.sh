#!/bin/sh
# Build the Debian images the Molecule scenarios boot, once per machine.
# Usage: build-image.sh SUITE   (bookworm or trixie)
#
# localhost/authsmtp-debian:SUITE is a minimal debootstrap with systemd as
# PID 1 and python3 for Ansible: a "bare Debian host", with nothing of the
# collection preinstalled. Every host the collection converges boots it.
#
# localhost/authsmtp-debian-tools:SUITE is that image with the tools of the
# hosts the tests drive (client, sink, vault, ACME server) installed: a
# cache of what the scenarios' prepare installs on them, which then finds
# them present. Its label holds the package list: a changed list builds it
# again.
set -eu
suite="${1:?usage: build-image.sh bookworm|trixie}"
image="localhost/authsmtp-debian:${suite}"
tools_image="localhost/authsmtp-debian-tools:${suite}"
case "$suite" in
    bookworm) tools="testssl.sh openssl msmtp python3-cryptography openssh-server pebble" ;;
    trixie) tools="python3-aiosmtpd python3-dkim" ;;
    *) echo "build-image.sh: unknown suite $suite" >&2; exit 2 ;;
esac
: "${CONTAINERS_CONF:=$(cd "$(dirname "$0")" && pwd)/containers.conf}"
: "${AUTHSMTP_CACHE_DIR:=/var/cache/authsmtp}"
export CONTAINERS_CONF

if podman image exists "$image"; then
    echo "image $image exists"
else
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
    # apt's cache_valid_time sees them as stale and updates them on first
    # use, as on any host whose lists are old.
    rm -rf "$rootfs"/var/lib/apt/lists/*
    touch -d @0 "$rootfs"/var/lib/apt/lists
    tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' - "$image"
    rm -rf "$rootfs"
    trap - EXIT
    echo "built $image"
fi

if [ "$(podman image inspect -f '{{index .Labels "authsmtp.tools"}}' "$tools_image" 2>/dev/null)" = "$tools" ]; then
    echo "image $tools_image exists"
    exit 0
fi
echo "building $tools_image: $tools"
archives="$AUTHSMTP_CACHE_DIR/apt-$suite"
mkdir -p "$archives/partial"
builder="authsmtp-tools-build-$suite"
podman rm --force --ignore "$builder" >/dev/null
# The same list policy as the bare image: none shipped, their directory old.
podman run --name "$builder" --network host -v "$archives:/var/cache/apt/archives:rw" "$image" sh -ec "
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $tools >/tmp/install.log 2>&1 || { tail -n 30 /tmp/install.log; exit 1; }
    rm /tmp/install.log
    rm -rf /var/lib/apt/lists/*
    touch -d @0 /var/lib/apt/lists"
podman commit -q --change 'CMD ["/sbin/init"]' --change "LABEL authsmtp.tools=\"$tools\"" "$builder" "$tools_image" >/dev/null
podman rm "$builder" >/dev/null
echo "built $tools_image"
