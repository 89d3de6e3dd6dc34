#!/usr/bin/env bash
# base-image.sh: make sure the base image every Dockerfile stage starts FROM
# exists. Machines here reach Debian's archive but no container registry, so
# when the image is neither present nor pullable we build it ourselves with
# debootstrap and `docker import` it under the same name.
#
#   scripts/base-image.sh [IMAGE]     (default debian:bookworm-slim, or $BASE_IMAGE)
#   DEBIAN_MIRROR=...                 archive to bootstrap from
#   ENVOI_NO_PULL=1                   skip the registry attempt
set -euo pipefail

IMAGE=${1:-${BASE_IMAGE:-debian:bookworm-slim}}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

log() { echo "base-image: $*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE present"
    exit 0
fi

# A registry may be reachable on some machines: a failed pull costs well under
# a second when DNS for it fails, so trying first is cheap.
if [ "${ENVOI_NO_PULL:-0}" != 1 ] && timeout 120 docker pull -q "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE pulled"
    exit 0
fi

if ! command -v debootstrap >/dev/null; then
    log "debootstrap missing (scripts/install-deps.sh docker installs it)"
    exit 1
fi
[ "$(id -u)" = 0 ] || { log "debootstrap needs root"; exit 1; }

start=$(date +%s)
rootfs=$(mktemp -d /var/tmp/envoi-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
log "building $IMAGE with debootstrap from $MIRROR (takes a few minutes)"

# The slim image's dpkg filter: documentation and translations are never
# installed, so every later `apt-get install` in a Dockerfile stays small too.
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG

if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >/var/tmp/envoi-debootstrap.log 2>&1; then
    tail -20 /var/tmp/envoi-debootstrap.log >&2
    log "debootstrap failed (full log: /var/tmp/envoi-debootstrap.log)"
    exit 1
fi

cat >"$rootfs/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SRC
# Like the registry's image: never keep downloaded .debs or package lists in a layer.
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
echo 'APT::Install-Recommends "false";' >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/var/log/* "$rootfs"/tmp/* \
       "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true

tar --numeric-owner -C "$rootfs" -c . |
    docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
log "$IMAGE imported in $(( $(date +%s) - start ))s: $(docker image inspect -f '{{.Size}}' "$IMAGE") bytes"
