#!/usr/bin/env bash
# One set-up for `npm start` and `npm test` on a fresh Debian machine:
# npm dependencies, PostgreSQL and Redis (installed from Debian and started when DATABASE_URL / REDIS_URL are unset),
# the database and its role, and the tools the media pipeline needs (sox, espeak-ng, ffmpeg).
# Migrations are applied by the server at start and by the test global set-up, so they are not run here.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-start}"
log() { printf '[setup] %s\n' "$*" >&2; }

if [ -f .env ]; then set -a; . ./.env; set +a; fi

# --- npm dependencies -------------------------------------------------------------------------------------------
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  log "installing npm dependencies"
  # npm install, not npm ci: it installs the lockfile's exact versions too, and this npm writes lockfiles holding only
  # the current platform's optional packages (rollup, esbuild, msgpackr), which npm ci then rejects as out of sync
  npm install --no-audit --no-fund
fi

# --- Debian packages --------------------------------------------------------------------------------------------
need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
[ -n "${DATABASE_URL:-}" ] || { ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_pkgs+=(postgresql); }
[ -n "${REDIS_URL:-}" ] || { have redis-server || need_pkgs+=(redis-server); }
have sox || need_pkgs+=(sox)
have espeak-ng || need_pkgs+=(espeak-ng)
have ffmpeg || need_pkgs+=(ffmpeg)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${need_pkgs[*]} — run as root, or install them: apt-get install ${need_pkgs[*]}"; exit 1
  fi
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# --- PostgreSQL -------------------------------------------------------------------------------------------------
PGUSER_APP="${HOTLINE_DB_USER:-hotline}"
PGPASS_APP="${HOTLINE_DB_PASSWORD:-hotline}"
if [ -z "${DATABASE_URL:-}" ]; then
  PGVER=$(ls /usr/lib/postgresql | sort -V | tail -1)
  if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
    log "creating PostgreSQL $PGVER cluster"
    pg_createcluster "$PGVER" main >/dev/null
  fi
  read -r ver name port status _ < <(pg_lsclusters -h | head -1)
  if [ "$status" != online ]; then
    log "starting PostgreSQL $ver/$name on port $port"
    pg_ctlcluster "$ver" "$name" start
  fi
  for i in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.2; done
  psql_su() { runuser -u postgres -- psql -p "$port" -qtAX "$@"; }
  if [ "$(psql_su -c "select 1 from pg_roles where rolname='$PGUSER_APP'")" != 1 ]; then
    log "creating role $PGUSER_APP"
    psql_su -c "create role $PGUSER_APP login createdb password '$PGPASS_APP'"
  fi
  for db in hotline hotline_test; do
    if [ "$(psql_su -c "select 1 from pg_database where datname='$db'")" != 1 ]; then
      log "creating database $db"
      psql_su -c "create database $db owner $PGUSER_APP"
    fi
  done
fi

# --- Redis ------------------------------------------------------------------------------------------------------
if [ -z "${REDIS_URL:-}" ]; then
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis on 127.0.0.1:6379"
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no \
      --logfile /tmp/hotline-redis.log >/dev/null
    for i in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
fi

# --- prompts for the demo flows (TTS at set-up when absent) -----------------------------------------------------
if [ -f scripts/make-prompts.ts ]; then npx tsx scripts/make-prompts.ts; fi

log "ready ($MODE)"
