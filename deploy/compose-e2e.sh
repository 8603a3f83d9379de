#!/usr/bin/env bash
# The compose deployment on this host, for real: Debian-built base images (docker/local-base.sh), the api and worker
# images built from this checkout, and docker-compose.yml + docker/compose.local.yml brought up on the host network
# with loopback addresses only (PostgreSQL, RabbitMQ, the api and two CPU workers). As root, with dockerd running.
#   deploy/compose-e2e.sh up      build what is missing or changed, start, wait until the api is healthy and both
#                                 workers consume; prints the api's URL
#   deploy/compose-e2e.sh build   only the images (timings on stderr)
#   deploy/compose-e2e.sh down    stop and remove the containers (volumes kept); `down -v` removes them too
#   deploy/compose-e2e.sh compose ARGS...   docker-compose with this run's files, project and secrets
# tests/deploy/test_compose_up.py drives the rest (grading, kill, restart, backup/restore/upgrade).
# State (the run's secrets, mode 600): $LABGRADER_E2E_DIR (default .compose-e2e/ in the checkout, git-ignored).
# MNIST: $LABGRADER_MNIST_NPZ, else ../shared/datasets/mnist.npz beside the checkout, is served on loopback to the
# worker build; without either the build downloads the canonical file.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
log() { echo "compose-e2e: $*" >&2; }
die() { echo "compose-e2e: error: $*" >&2; exit 1; }

STATE="${LABGRADER_E2E_DIR:-$REPO/.compose-e2e}"
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-labgrader-e2e}"
export LABGRADER_LOCAL_PG_PORT="${LABGRADER_LOCAL_PG_PORT:-15432}"
export LABGRADER_LOCAL_AMQP_PORT="${LABGRADER_LOCAL_AMQP_PORT:-15673}"
export LABGRADER_LOCAL_API_PORT="${LABGRADER_LOCAL_API_PORT:-18000}"
export LABGRADER_VERSION="${LABGRADER_VERSION:-0.1.0}"
MNIST_PORT="${LABGRADER_E2E_MNIST_PORT:-18081}"

secrets() {
  mkdir -p "$STATE"
  chmod 700 "$STATE"  # the secrets, and compose.yml: the merged configuration, secrets interpolated
  if [ ! -s "$STATE/.env" ]; then
    (umask 077; cat > "$STATE/.env" <<SECRETS
POSTGRES_PASSWORD=$(openssl rand -hex 24)
RABBITMQ_PASSWORD=$(openssl rand -hex 24)
LABGRADER_SECRET_KEY=$(openssl rand -hex 32)
SECRETS
    )
  fi
  set -a
  # shellcheck disable=SC1091
  . "$STATE/.env"
  set +a
}

mnist_file() {
  for candidate in "${LABGRADER_MNIST_NPZ:-}" "$REPO/../shared/datasets/mnist.npz"; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then echo "$candidate"; return; fi
  done
}

# docker-compose with this run's files, project and secrets. Builds go through the docker CLI with BuildKit (cache
# mounts): the buildx plugin, or else Debian's docker.io client (20.10 has BuildKit built in), put first on PATH.
# A local MNIST is served on a fixed loopback port while compose runs, so every build passes the same MNIST_URL and
# reuses the cached layers (an upgrade's `docker compose build` too).
compose() {
  local server_pid="" mnist status=0
  export COMPOSE_DOCKER_CLI_BUILD=1 DOCKER_BUILDKIT=1
  if ! docker buildx version >/dev/null 2>&1 && [ -x /usr/bin/docker ] \
      && /usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | grep -q '^20\.'; then
    mkdir -p "$STATE/bin"
    ln -sf /usr/bin/docker "$STATE/bin/docker"
    export PATH="$STATE/bin:$PATH"
  fi
  mnist="$(mnist_file)"
  if [ -n "$mnist" ]; then
    export LABGRADER_MNIST_URL="http://127.0.0.1:$MNIST_PORT/$(basename "$mnist")"
    LABGRADER_MNIST_SHA256="$(sha256sum "$mnist" | cut -d' ' -f1)"
    export LABGRADER_MNIST_SHA256
    if [ "${1:-}" = build ]; then
      python3 -m http.server --bind 127.0.0.1 --directory "$(dirname "$mnist")" "$MNIST_PORT" >/dev/null 2>&1 &
      server_pid=$!
      sleep 1
    fi
  fi
  # Docker drops published ports under host networking, but compose 1.29 refuses them outright, and an override
  # cannot remove a list the base file sets (v2's `!reset` can): run the merged configuration without them.
  docker-compose --project-directory "$REPO" -f "$REPO/docker-compose.yml" -f "$REPO/docker/compose.local.yml" \
    --profile cpu config > "$STATE/compose.yml.tmp"
  python3 -c '
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
for service in config["services"].values():
    if service.get("network_mode") == "host":
        service.pop("ports", None)
yaml.safe_dump(config, open(sys.argv[1], "w"), sort_keys=False)' "$STATE/compose.yml.tmp"
  mv "$STATE/compose.yml.tmp" "$STATE/compose.yml"
  docker-compose --project-directory "$REPO" -f "$STATE/compose.yml" --profile cpu "$@" || status=$?
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  return $status
}

build() {
  docker info >/dev/null 2>&1 || die "no Docker daemon answers (start dockerd, see docs/operator.md)"
  docker/local-base.sh
  local started image mnist
  mnist="$(mnist_file)"
  if [ -n "$mnist" ]; then
    log "MNIST for the worker image: $mnist, served on 127.0.0.1:$MNIST_PORT"
  else
    log "no local MNIST (LABGRADER_MNIST_NPZ, $REPO/../shared/datasets/mnist.npz): the worker build downloads the canonical file (a host without Internet: set LABGRADER_MNIST_NPZ)"
  fi
  for service in api worker-cpu; do
    started=$(date +%s)
    compose build "$service" >&2 || die "building $service failed (output above)"
    image="labgrader/${service%%-*}:$LABGRADER_VERSION"
    log "built $image in $(( $(date +%s) - started )) s, $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.2f GB", $1 / 1e9}')"
  done
}

wait_ready() {
  local deadline=$(( $(date +%s) + ${LABGRADER_E2E_UP_TIMEOUT_S:-600} ))
  local url="http://127.0.0.1:$LABGRADER_LOCAL_API_PORT/healthz"
  until python3 -c "import json, sys, urllib.request; sys.exit(json.load(urllib.request.urlopen('$url', timeout=4))['status'] != 'ok')" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { compose ps >&2; compose logs --tail 40 >&2; die "the api did not become healthy at $url"; }
    sleep 2
  done
  for worker in worker-cpu worker-cpu-2; do
    until compose logs "$worker" 2>/dev/null | grep -q "ready\."; do
      [ "$(date +%s)" -lt "$deadline" ] || { compose logs --tail 60 "$worker" >&2; die "$worker did not start consuming"; }
      sleep 2
    done
  done
}

command="${1:-up}"
shift || true
case "$command" in
  build) secrets; build ;;
  up)
    secrets
    build
    started=$(date +%s)
    compose up -d --no-build postgres rabbitmq api worker-cpu worker-cpu-2 >&2
    wait_ready
    log "up and healthy in $(( $(date +%s) - started )) s"
    echo "http://127.0.0.1:$LABGRADER_LOCAL_API_PORT"
    ;;
  down) secrets; compose down "$@" >&2 ;;
  compose) secrets; compose "$@" ;;
  *) die "unknown command $command: up, build, down [-v], compose ARGS..." ;;
esac
