#!/usr/bin/env bash
# Build, from Debian's packages alone, the images that docker-compose.yml otherwise pulls from a registry, for hosts
# that cannot reach one (docs/operator.md, "Hosts without an image registry"). As root, on Debian/Ubuntu, idempotent:
# an image that already exists is kept (--force rebuilds all three).
#   labgrader/debian-python:3.11-bookworm   debootstrap --variant=minbase bookworm + Python 3.11 (bookworm's) with
#                                           venv, pip and ca-certificates: the stand-in for python:3.11.14-slim-bookworm
#                                           (build the service images with --build-arg BASE_IMAGE=<this>)
#   labgrader/local-postgres:15-bookworm    bookworm's PostgreSQL 15 on that base, with the official image's
#                                           POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB first-start contract
#   labgrader/local-rabbitmq:3.10-bookworm  bookworm's RabbitMQ 3.10 on that base (RABBITMQ_DEFAULT_USER/PASS/VHOST
#                                           are read by RabbitMQ itself)
# docker/compose.local.yml runs them on the host network with loopback addresses.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "local-base: $*" >&2; }

BASE="${LABGRADER_LOCAL_BASE:-labgrader/debian-python:3.11-bookworm}"
POSTGRES="${LABGRADER_LOCAL_POSTGRES:-labgrader/local-postgres:15-bookworm}"
RABBITMQ="${LABGRADER_LOCAL_RABBITMQ:-labgrader/local-rabbitmq:3.10-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# debootstrap keeps the .deb files it fetched here (on the host, outside Docker): a rebuild (--force, or after
# `docker system prune`) downloads nothing the mirror has not changed since
DEBS="${LABGRADER_DEBOOTSTRAP_CACHE:-/var/cache/labgrader/debootstrap}"
force=0
[ "${1:-}" = "--force" ] && force=1

# BuildKit needs a client that has it: the buildx plugin, or Debian's docker.io client (20.10, built in)
docker_build_cli() {
  if docker buildx version >/dev/null 2>&1; then echo docker
  elif [ -x /usr/bin/docker ] && /usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | grep -q '^20\.'; then
    echo /usr/bin/docker
  else echo docker; fi
}

exists() { [ "$force" = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }

command -v debootstrap >/dev/null || { log "installing debootstrap"; apt-get install -y -qq debootstrap >/dev/null; }

if exists "$BASE"; then
  log "$BASE is there (--force rebuilds)"
else
  base_started=$(date +%s)
  root="$(mktemp -d /var/tmp/labgrader-base.XXXXXX)"
  trap 'rm -rf "$root"' EXIT
  log "debootstrap bookworm into $root (minutes)"
  mkdir -p "$DEBS"
  debootstrap --variant=minbase --cache-dir="$DEBS" --include=ca-certificates,netbase,tzdata,python3.11,python3.11-venv,python3-pip,python-is-python3 \
    bookworm "$root" "$MIRROR" >/dev/null
  # what python:*-slim does too: no apt lists or caches in the image, security updates in sources
  cat > "$root/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main
SOURCES
  # The certificate authorities this host added (a TLS-intercepting proxy's, a company's): without them nothing in
  # the image reaches Debian's or PyPI's mirrors through that proxy. Debian's pip trusts the system bundle.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
    log "trusting this host's $(ls /usr/local/share/ca-certificates/*.crt | wc -l) local certificate authorities"
  fi
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  # python:*-slim ships no PEP 668 marker; Debian's makes `pip install` outside a venv refuse. Images use venvs.
  rm -f "$root"/usr/lib/python3.11/EXTERNALLY-MANAGED
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$BASE" >/dev/null
  rm -rf "$root"
  trap - EXIT
  log "made $BASE in $(( $(date +%s) - base_started )) s ($(docker run --rm --network none "$BASE" python --version))"
fi

build() {  # image dockerfile
  if exists "$1"; then log "$1 is there (--force rebuilds)"; return; fi
  log "building $1"
  local started
  started=$(date +%s)
  DOCKER_BUILDKIT=1 "$(docker_build_cli)" build --network host --build-arg BASE_IMAGE="$BASE" -t "$1" -f "$2" docker/local >/dev/null
  log "built $1 in $(( $(date +%s) - started )) s"
}
build "$POSTGRES" docker/local/Dockerfile.postgres
build "$RABBITMQ" docker/local/Dockerfile.rabbitmq
