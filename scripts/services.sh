#!/usr/bin/env bash
# Local PostgreSQL and Redis for Kassa, with their data under .data/.
#   scripts/services.sh start|stop|status|install|env|prune|crash-postgres|stop-redis
# Idempotent: a second `start` finds both running and does nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/.data"
PG_PORT="${KASSA_PG_PORT:-5433}"
REDIS_PORT="${KASSA_REDIS_PORT:-6380}"
PG_USER_DB="kassa"
PGDATA="$DATA/pg"
PG_RUN="$DATA/run"
REDIS_DIR="$DATA/redis"

# When the clone sits under a folder PostgreSQL's account cannot enter (a root user's home, any
# 0700 folder), .data/pg and .data/run are links to a folder under /var/lib/kassa. initdb and
# pg_ctl run as that account, so they must be given the real folders, never the links: the
# account cannot walk through the clone's path to follow them.
resolve_pg_paths() {
    if [ -L "$DATA/pg" ]; then PGDATA="$(readlink -f "$DATA/pg")"; fi
    if [ -L "$DATA/run" ]; then PG_RUN="$(readlink -f "$DATA/run")"; fi
}
resolve_pg_paths

log() { printf 'services: %s\n' "$*" >&2; }

find_pg_bin() {
    local d
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

apt_updated=0
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        log "missing packages: $* — run as root or install them: apt-get install $*"
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Installs whatever of the toolchain's native needs is missing.
install_missing() {
    local missing=()
    find_pg_bin >/dev/null || missing+=(postgresql postgresql-contrib)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    [ -f /usr/include/hiredis/hiredis.h ] || missing+=(libhiredis-dev)
    [ -f /usr/include/argon2.h ] || missing+=(libargon2-dev)
    [ -f /usr/include/qrencode.h ] || missing+=(libqrencode-dev)
    # The browser test: Debian's Chromium and its driver, and venv for Selenium from PyPI.
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    # The alert rules' checks (promtool, in Debian's prometheus package).
    command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
}

# initdb refuses root: PostgreSQL runs as an unprivileged account.
pg_owner() {
    if [ "$(id -u)" != 0 ]; then
        id -un
        return
    fi
    if id postgres >/dev/null 2>&1; then
        echo postgres
    else
        useradd --system --no-create-home --shell /usr/sbin/nologin kassa-pg >/dev/null 2>&1 || true
        echo kassa-pg
    fi
}

# Runs a command as PostgreSQL's account, from / : the account may not be able to enter the
# current folder (initdb and postgres refuse to start from a folder they cannot access).
as_pg() {
    local owner="$1"
    shift
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u "$owner" -- "$@")
    else
        "$@"
    fi
}

pg_running() {
    local bin owner
    bin="$(find_pg_bin)" || return 1
    [ -f "$PGDATA/PG_VERSION" ] || return 1
    owner="$(pg_owner)"
    as_pg "$owner" "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

redis_running() {
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
}

start_pg() {
    local bin owner
    bin="$(find_pg_bin)"
    owner="$(pg_owner)"
    mkdir -p "$DATA"
    if [ "$(id -u)" = 0 ]; then
        # The account must reach .data/ through every parent folder.
        if ! runuser -u "$owner" -- test -x "$DATA"; then
            local elsewhere="/var/lib/kassa/$(echo -n "$ROOT" | sha256sum | cut -c1-12)"
            log "$owner cannot reach $DATA; keeping PostgreSQL's files in $elsewhere (linked from .data/pg)"
            mkdir -p "$elsewhere"
            chown "$owner" "$elsewhere"
            [ -L "$DATA/pg" ] || ln -sfn "$elsewhere/pg" "$DATA/pg"
            [ -L "$DATA/run" ] || ln -sfn "$elsewhere/run" "$DATA/run"
            mkdir -p "$elsewhere/pg" "$elsewhere/run"
            chown "$owner" "$elsewhere/pg" "$elsewhere/run"
            resolve_pg_paths
        fi
    fi
    mkdir -p "$PGDATA" "$PG_RUN"
    if [ "$(id -u)" = 0 ]; then chown "$owner" "$PGDATA" "$PG_RUN"; fi
    chmod 700 "$PGDATA"
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        log "initdb in $PGDATA (as $owner)"
        as_pg "$owner" "$bin/initdb" -D "$PGDATA" -U "$PG_USER_DB" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null 2>&1 \
            || as_pg "$owner" "$bin/initdb" -D "$PGDATA" -U "$PG_USER_DB" --auth=trust --encoding=UTF8 --locale=C >/dev/null
        cat >> "$PGDATA/postgresql.conf" <<CONF

# Kassa development settings (scripts/services.sh)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 500
shared_buffers = 512MB
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
    fi
    # After a crash, sync the data directory with one syncfs() instead of an fsync() per file
    # (seconds instead of minutes when many test databases exist).
    grep -q '^recovery_init_sync_method' "$PGDATA/postgresql.conf" 2>/dev/null \
        || as_pg "$owner" sh -c "echo 'recovery_init_sync_method = syncfs' >> '$PGDATA/postgresql.conf'"
    # The tests' fifty-odd suites each pool a few connections at once: clusters made with 300 get 500
    # (the later line wins; it takes effect at the next start).
    grep -q '^max_connections = 500' "$PGDATA/postgresql.conf" 2>/dev/null \
        || as_pg "$owner" sh -c "echo 'max_connections = 500' >> '$PGDATA/postgresql.conf'"
    if ! pg_running; then
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        as_pg "$owner" "$bin/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >/dev/null
    fi
    # The application database, owned by the superuser made by initdb.
    if ! psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER_DB" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_USER_DB'" | grep -q 1; then
        psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER_DB" -d postgres -qc "CREATE DATABASE $PG_USER_DB" >/dev/null
    fi
}

start_redis() {
    mkdir -p "$REDIS_DIR"
    if ! redis_running; then
        log "starting Redis on 127.0.0.1:$REDIS_PORT (AOF in $REDIS_DIR)"
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
            --appendonly yes --appendfsync everysec --daemonize yes \
            --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
            --save "" --protected-mode yes >/dev/null
        for _ in $(seq 1 50); do
            redis_running && break
            sleep 0.1
        done
        redis_running || { log "Redis did not start; see $REDIS_DIR/redis.log"; exit 1; }
    fi
}

stop_all() {
    if redis_running; then
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
        log "Redis stopped"
    fi
    if pg_running; then
        as_pg "$(pg_owner)" "$(find_pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
        log "PostgreSQL stopped"
    fi
    # The tests' replica pair (scripts/swift-test.sh), when it runs.
    local dir
    for dir in "$DATA"/replica-pair/pg-replica "$DATA"/replica-pair/pg-primary; do
        dir="$(readlink -f "$dir" 2>/dev/null || true)"
        [ -n "$dir" ] && [ -f "$dir/postmaster.pid" ] && as_pg "$(pg_owner)" "$(find_pg_bin)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    done
}

print_env() {
    echo "KASSA_DATABASE_URL=postgres://$PG_USER_DB@127.0.0.1:$PG_PORT/$PG_USER_DB"
    echo "KASSA_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

status() {
    local rc=0
    if pg_running; then echo "postgresql: running on 127.0.0.1:$PG_PORT (data $PGDATA)"; else echo "postgresql: stopped"; rc=1; fi
    if redis_running; then echo "redis: running on 127.0.0.1:$REDIS_PORT (data $REDIS_DIR)"; else echo "redis: stopped"; rc=1; fi
    return $rc
}

# Run, not sourced (scripts/cluster.sh sources this file for its functions).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
case "${1:-}" in
    install) install_missing ;;
    start)
        install_missing
        start_pg
        start_redis
        status
        ;;
    stop) stop_all ;;
    status) status ;;
    env) print_env ;;
    # For the drills: PostgreSQL crashes and recovers (immediate mode: no shutdown checkpoint, WAL
    # replay on start), Redis goes away (its clients see refused connections) until `start`.
    crash-postgres)
        as_pg "$(pg_owner)" "$(find_pg_bin)/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null
        as_pg "$(pg_owner)" "$(find_pg_bin)/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >/dev/null
        ;;
    # The test databases (each test clones its own from a template and leaves it; see
    # Tests/Support/TestServices.swift). Without FORCE: a database some running test is connected to
    # stays. Eight at a time: each DROP DATABASE waits for a checkpoint, and drops waiting together
    # share one.
    prune)
        psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER_DB" -d postgres -tAc \
            "SELECT datname FROM pg_database WHERE datname LIKE 'kassa\_t\_%' OR datname LIKE 'kassa\_m\_%'" |
            xargs -r -P 8 -I{} psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER_DB" -d postgres -qc "DROP DATABASE IF EXISTS {}" >/dev/null 2>&1 || true
        ;;
    stop-redis) redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true ;;
    *)
        echo "usage: $0 start|stop|status|install|env|prune|crash-postgres|stop-redis" >&2
        exit 2
        ;;
esac
fi
