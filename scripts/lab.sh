#!/usr/bin/env bash
# lab.sh up|down|demo|logs|ps|exec: the lab stack of docker-compose.yml.
#   up    docker engine + base image (install-deps.sh docker), build envoi:lab
#         once from docker/Dockerfile, `compose up -d`, wait until every
#         container is healthy (fails with their logs otherwise)
#   down  stop and remove the stack, its networks and volumes
#   demo  send one message with swaks into the published port 25 and print
#         what arrived in the sink's Maildir
# Environment: ENVOI_BIND (published address, default 127.0.0.1),
# COMPOSE_PROJECT_NAME (default envoi), ENVOI_UP_TIMEOUT (seconds, 180),
# ENVOI_BUILD_CONTEXT (directory the image is built from, default the repo).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-envoi}
export ENVOI_BIND=${ENVOI_BIND:-127.0.0.1}
IMAGE=envoi:lab
UP_TIMEOUT=${ENVOI_UP_TIMEOUT:-180}

log() { echo "lab: $*" >&2; }

compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -f "$ROOT/docker-compose.yml" "$@"
    else
        docker-compose -f "$ROOT/docker-compose.yml" "$@"
    fi
}

# Every container of the project: "name status" where status is the health
# when the container has a healthcheck, else its state.
states() {
    local ids
    ids=$(compose ps -q 2>/dev/null || true)
    [ -n "$ids" ] || return 0
    # shellcheck disable=SC2086
    docker inspect -f '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' $ids
}

wait_healthy() {
    local deadline=$(( $(date +%s) + UP_TIMEOUT )) s bad
    while :; do
        s=$(states)
        if [ -n "$s" ] && ! grep -qvE ' (healthy|running)$' <<<"$s"; then
            log "all healthy:"; sed 's/^\//  /' <<<"$s" >&2
            return 0
        fi
        bad=$(grep -E ' (unhealthy|exited|dead)$' <<<"$s" || true)
        if [ -n "$bad" ] || [ "$(date +%s)" -ge "$deadline" ]; then
            log "stack not healthy:"; sed 's/^\//  /' <<<"$s" >&2
            compose logs --no-color --tail=40 >&2 || true
            return 1
        fi
        sleep 1
    done
}

# The lab's own CA and one certificate per public TLS name, made once with
# openssl on the host into build/lab/tls (mounted read-only as /tls). Lab
# keys only: never the way a production deployment gets its certificates.
TLS_DIR=$ROOT/build/lab/tls
CA_DIR=$ROOT/build/lab/ca
TLS_NAMES="smtp.envoi.test mx.envoi.test"
lab_tls() {
    mkdir -p "$TLS_DIR" "$CA_DIR"
    local d=$TLS_DIR ca=$CA_DIR name
    if [ ! -s "$ca/ca.pem" ] || [ ! -s "$ca/ca.key" ]; then
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
            -keyout "$ca/ca.key" -out "$ca/ca.pem" -days 3650 -subj "/CN=envoi lab CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            2>/dev/null
        chmod 600 "$ca/ca.key"
        rm -f "$d"/*.pem "$d"/*.key
    fi
    cp "$ca/ca.pem" "$d/ca.pem"
    for name in $TLS_NAMES; do
        [ -s "$d/$name.pem" ] && [ -s "$d/$name.key" ] && continue
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
            -keyout "$d/$name.key" -out "$ca/$name.csr" -subj "/CN=$name" 2>/dev/null
        printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$name" >"$ca/$name.ext"
        openssl x509 -req -in "$ca/$name.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -CAcreateserial \
            -days 825 -extfile "$ca/$name.ext" -out "$d/$name.pem" 2>/dev/null
        rm -f "$ca/$name.csr" "$ca/$name.ext"
    done
    # The services run as uid 2525 (docker/Dockerfile): their keys must be
    # readable by that uid inside the container.
    if chown 2525:2525 "$d"/*.key 2>/dev/null; then
        chmod 600 "$d"/*.key
    else
        chmod 644 "$d"/*.key
    fi
}

up() {
    local t0=$SECONDS
    "$ROOT/scripts/install-deps.sh" docker
    lab_tls
    # The image trains its default spam database on the SpamAssassin corpus
    # (as the seed bakes its database into the unikernel); fetched once.
    "$ROOT/scripts/fetch-spam-corpus.sh" "$ROOT/build/corpus" >/dev/null
    # One builder stage feeds every envoi service; the git server is its own
    # small stage. The legacy builder prints a deprecation notice: not ours.
    local target tag out
    for target in runtime:"$IMAGE" git:envoi-git:lab nsd:envoi-nsd:lab postfix:envoi-postfix:lab; do
        tag=${target#*:}; target=${target%%:*}
        log "building $tag"
        if ! out=$(docker build -q --force-rm -f "$ROOT/docker/Dockerfile" --target "$target" -t "$tag" \
                   "${ENVOI_BUILD_CONTEXT:-$ROOT}" 2>&1); then
            grep -vE 'DEPRECATED|buildx|^ *$' <<<"$out" >&2
            log "image build failed: $tag"
            return 1
        fi
    done
    log "starting the stack (project $COMPOSE_PROJECT_NAME)"
    compose up -d --remove-orphans
    wait_healthy
    log "up in $(( SECONDS - t0 ))s; published on $ENVOI_BIND: $(compose ps | grep -oE '[0-9.]+:[0-9]+->[0-9]+/(tcp|udp)' | sort -u | tr '\n' ' ')"
}

down() {
    docker info >/dev/null 2>&1 || { log "no docker engine: nothing to stop"; return 0; }
    compose down -v --remove-orphans --timeout 10
}

demo() {
    command -v swaks >/dev/null || "$ROOT/scripts/install-deps.sh" docker
    local tag
    tag="demo-$(date +%s)-$$"
    log "sending a message to alice@envoi.test via $ENVOI_BIND:25"
    swaks --server "$ENVOI_BIND" --port 25 --helo demo.gmail.test \
        --from bob@gmail.test --to alice@envoi.test \
        --header "Subject: envoi demo $tag" --header "Message-Id: <$tag@gmail.test>" \
        --body "Hello Alice, this went through the envoi lab ($tag)." \
        --silent 2
    log "sent; what arrived at the sink:"
    for _ in $(seq 1 20); do
        if compose exec -T sink sh -c "grep -l -r -F '$tag' /data/maildir 2>/dev/null | head -1 | xargs -r cat" | grep -q .; then
            compose exec -T sink sh -c "f=\$(grep -l -r -F '$tag' /data/maildir | head -1); echo \"==> \$f\"; cat \"\$f\""
            return 0
        fi
        sleep 0.5
    done
    log "message $tag not found in the sink's Maildir"
    return 1
}

case "${1:-}" in
up) up ;;
down) down ;;
demo) demo ;;
logs) shift; compose logs --no-color "$@" ;;
exec) shift; compose exec -T "$@" ;;
ps) compose ps ;;
*) echo "usage: $0 up|down|demo|logs [SVC]|ps|exec SVC CMD..." >&2; exit 2 ;;
esac
