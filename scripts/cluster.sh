#!/usr/bin/env bash
# Kassa past one process, on this machine, with the engines operators already run:
#   HAProxy on :8080 (health checks on /ready) in front of three Kassa processes (:8081-8083);
#   a PostgreSQL primary (:5440) and a streaming replica (:5441);
#   Redis (:6390) with two replicas (:6391, :6392) and three Sentinels (:26390-26392).
# Everything lives under .data/cluster/ (PostgreSQL's folders under /var/lib/kassa when its
# account cannot enter the clone, linked from there).
#   scripts/cluster.sh start|stop|status|release
# `pg-pair` starts only a primary and its replica; with KASSA_CLUSTER_DIR, KASSA_CLUSTER_PG_PORTS
# (primary:replica) and KASSA_REPLICA_APPLY_DELAY the tests get their own, delayed pair
# (scripts/swift-test.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/services.sh
CLUSTER="${KASSA_CLUSTER_DIR:-$DATA/cluster}"
PG_PORTS="${KASSA_CLUSTER_PG_PORTS:-5440:5441}"
PRIMARY_PORT="${PG_PORTS%%:*}"
REPLICA_PORT="${PG_PORTS##*:}"
REDIS_PORTS=(6390 6391 6392)
SENTINEL_PORTS=(26390 26391 26392)
KASSA_PORTS=(8081 8082 8083)
HAPROXY_PORT="${KASSA_CLUSTER_PORT:-8080}"
KASSA="${KASSA_BIN:-$ROOT/.build/release/kassa}"
clog() { printf 'cluster: %s\n' "$*" >&2; }

install_cluster_packages() {
    local missing=()
    command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
    command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
    if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# PostgreSQL's folders, where its account can reach them.
pg_dir() {
    local name="$1" owner
    owner="$(pg_owner)"
    mkdir -p "$CLUSTER"
    if [ "$(id -u)" = 0 ] && ! runuser -u "$owner" -- test -x "$CLUSTER"; then
        local elsewhere="/var/lib/kassa/$(basename "$CLUSTER")-$(echo -n "$ROOT" | sha256sum | cut -c1-12)"
        mkdir -p "$elsewhere/$name"
        chown "$owner" "$elsewhere" "$elsewhere/$name"
        [ -L "$CLUSTER/$name" ] || ln -sfn "$elsewhere/$name" "$CLUSTER/$name"
        echo "$elsewhere/$name"
    else
        mkdir -p "$CLUSTER/$name"
        [ "$(id -u)" = 0 ] && chown "$owner" "$CLUSTER/$name"
        echo "$CLUSTER/$name"
    fi
}

# A PostgreSQL program: beside pg_ctl when it is a link into Debian's versioned folder, else there.
pg_tool() {
    local ctl dir
    ctl="$(find_pg_bin)/pg_ctl"
    dir="$(dirname "$(readlink -f "$ctl")")"
    if [ -x "$dir/$1" ]; then echo "$dir/$1"; return; fi
    ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1
}

pg_up() { psql -h 127.0.0.1 -p "$1" -U kassa -d postgres -tAc "SELECT 1" >/dev/null 2>&1; }

# Backups: base backups in base/, the primary's archived WAL in wal/ (KASSA_BACKUP_DIR, default
# .data/cluster/backups), both written by PostgreSQL's account.
backup_dir() {
    local dir owner
    owner="$(pg_owner)"
    if [ -n "${KASSA_BACKUP_DIR:-}" ]; then
        dir="$KASSA_BACKUP_DIR"
        mkdir -p "$dir"
    else
        dir="$(pg_dir backups)"
    fi
    mkdir -p "$dir/wal" "$dir/base"
    [ "$(id -u)" = 0 ] && chown "$owner" "$dir" "$dir/wal" "$dir/base"
    echo "$dir"
}

# WAL archiving on the primary: every finished segment is copied to the backup folder, and a
# segment is finished at least every archive_timeout seconds (the most a disaster can lose).
# Returns 1 when the settings were just added (the primary needs a restart).
ensure_archiving() {
    local primary="$1" wal owner
    wal="$(backup_dir)/wal"
    owner="$(pg_owner)"
    grep -q "^archive_mode = on" "$primary/postgresql.conf" && return 0
    as_pg "$owner" sh -c "cat >> '$primary/postgresql.conf'" <<CONF

# WAL archiving for point-in-time recovery (scripts/cluster.sh backup / restore)
archive_mode = on
archive_command = 'test ! -f $wal/%f && cp %p $wal/%f'
archive_timeout = ${KASSA_ARCHIVE_TIMEOUT:-10}
include_if_exists = 'restore.conf'
CONF
    return 1
}

start_postgres() {
    local bin owner primary replica run
    bin="$(find_pg_bin)"
    owner="$(pg_owner)"
    primary="$(pg_dir pg-primary)"
    replica="$(pg_dir pg-replica)"
    run="$(pg_dir pg-run)"
    chmod 700 "$primary" "$replica"
    if [ ! -f "$primary/PG_VERSION" ]; then
        clog "initdb the primary in $primary"
        as_pg "$owner" "$bin/initdb" -D "$primary" -U kassa --auth=trust --encoding=UTF8 --locale=C >/dev/null
        cat >> "$primary/postgresql.conf" <<CONF

# make cluster (scripts/cluster.sh)
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$run'
max_connections = 300
shared_buffers = 512MB
wal_level = replica
max_wal_senders = 10
hot_standby = on
hot_standby_feedback = on
log_min_messages = warning
CONF
        echo "host replication kassa 127.0.0.1/32 trust" >> "$primary/pg_hba.conf"
    fi
    # The replica streams through a slot, so the primary keeps the WAL it has not received (up to
    # 4 GB: a replica gone longer than that is made again rather than fill the disk).
    grep -q "^max_slot_wal_keep_size" "$primary/postgresql.conf" \
        || as_pg "$owner" sh -c "echo 'max_slot_wal_keep_size = 4GB' >> '$primary/postgresql.conf'"
    if [ "${KASSA_CLUSTER_ARCHIVE:-on}" = on ] && ! ensure_archiving "$primary" && pg_up "$PRIMARY_PORT"; then
        clog "WAL archiving turned on: restarting the primary"
        as_pg "$owner" "$bin/pg_ctl" -D "$primary" -m fast -w restart -l "$primary/server.log" >/dev/null
    fi
    pg_up "$PRIMARY_PORT" || as_pg "$owner" "$bin/pg_ctl" -D "$primary" -l "$primary/server.log" -w -t 60 start >/dev/null
    psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U kassa -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'kassa'" | grep -q 1 \
        || psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U kassa -d postgres -qc "CREATE DATABASE kassa" >/dev/null
    if [ ! -f "$replica/PG_VERSION" ]; then
        clog "the replica: pg_basebackup from the primary into $replica"
        psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U kassa -d postgres -qtAc \
            "SELECT pg_drop_replication_slot('kassa_replica') FROM pg_replication_slots WHERE slot_name = 'kassa_replica'" >/dev/null
        as_pg "$owner" "$(pg_tool pg_basebackup)" -h 127.0.0.1 -p "$PRIMARY_PORT" -U kassa -D "$replica" -R -X stream -c fast \
            -C -S kassa_replica >/dev/null
        as_pg "$owner" sh -c "echo 'port = $REPLICA_PORT' >> '$replica/postgresql.conf'"
        # A replica held back on purpose (the tests' pair): reads that must see a merchant's own
        # write cannot then pass by luck.
        [ -n "${KASSA_REPLICA_APPLY_DELAY:-}" ] \
            && as_pg "$owner" sh -c "echo \"recovery_min_apply_delay = '$KASSA_REPLICA_APPLY_DELAY'\" >> '$replica/postgresql.conf'"
    fi
    pg_up "$REPLICA_PORT" || as_pg "$owner" "$bin/pg_ctl" -D "$replica" -l "$replica/server.log" -w -t 60 start >/dev/null
}

# A replica that no longer streams (made before the slot, or gone longer than the slot keeps WAL):
# made again from the primary.
ensure_replica_streams() {
    local state
    for _ in $(seq 1 50); do
        state="$(psql -h 127.0.0.1 -p "$REPLICA_PORT" -U kassa -d postgres -tAc "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)"
        [ "$state" = streaming ] && return 0
        sleep 0.2
    done
    clog "the replica does not stream from the primary (${state:-no receiver}): making it again"
    local replica
    replica="$(readlink -f "$CLUSTER/pg-replica")"
    as_pg "$(pg_owner)" "$(find_pg_bin)/pg_ctl" -D "$replica" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "${replica:?}"/*
    start_postgres
}

redis_up() { redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }

start_redis_cluster() {
    local index port dir
    # None of them running: the topology starts afresh (:6390 the master); the Sentinels' files
    # from before would name whichever replica they last promoted.
    if ! redis_up "${REDIS_PORTS[0]}" && ! redis_up "${REDIS_PORTS[1]}" && ! redis_up "${REDIS_PORTS[2]}"; then
        rm -f "$CLUSTER"/sentinel-*/sentinel.conf
    fi
    for index in 0 1 2; do
        port="${REDIS_PORTS[$index]}"
        dir="$CLUSTER/redis-$port"
        mkdir -p "$dir"
        redis_up "$port" && continue
        local replica=()
        [ "$index" -gt 0 ] && replica=(--replicaof 127.0.0.1 "${REDIS_PORTS[0]}")
        redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --appendonly yes --appendfsync everysec --daemonize yes \
            --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" "${replica[@]}" >/dev/null
    done
    for port in "${SENTINEL_PORTS[@]}"; do
        dir="$CLUSTER/sentinel-$port"
        mkdir -p "$dir"
        redis_up "$port" && continue
        # Sentinel rewrites its own file as it learns the replicas and follows failovers.
        [ -f "$dir/sentinel.conf" ] || cat > "$dir/sentinel.conf" <<CONF
bind 127.0.0.1
port $port
dir $dir
sentinel monitor kassa 127.0.0.1 ${REDIS_PORTS[0]} 2
sentinel down-after-milliseconds kassa 2000
sentinel failover-timeout kassa 10000
sentinel parallel-syncs kassa 1
CONF
        redis-sentinel "$dir/sentinel.conf" --daemonize yes --pidfile "$dir/sentinel.pid" --logfile "$dir/sentinel.log" >/dev/null
    done
    for port in "${REDIS_PORTS[@]}" "${SENTINEL_PORTS[@]}"; do
        for _ in $(seq 1 50); do redis_up "$port" && break; sleep 0.1; done
        redis_up "$port" || { clog "Redis on $port did not start (see $CLUSTER)"; exit 1; }
    done
}

# The environment every Kassa process of the cluster shares (secrets made once, kept in the folder).
cluster_env() {
    local file="$CLUSTER/kassa.env"
    if [ ! -f "$file" ]; then
        umask 077
        cat > "$file" <<ENV
KASSA_BASE_URL=http://127.0.0.1:$HAPROXY_PORT
KASSA_DATABASE_URL=postgres://kassa@127.0.0.1:$PRIMARY_PORT/kassa
KASSA_DATABASE_REPLICA_URL=postgres://kassa@127.0.0.1:$REPLICA_PORT/kassa
KASSA_REDIS_URL=redis://127.0.0.1:${REDIS_PORTS[0]}/0
KASSA_REDIS_SENTINELS=127.0.0.1:${SENTINEL_PORTS[0]},127.0.0.1:${SENTINEL_PORTS[1]},127.0.0.1:${SENTINEL_PORTS[2]}
KASSA_REDIS_MASTER_NAME=kassa
KASSA_SECRET_KEY=$(head -c 32 /dev/urandom | base64 -w0)
KASSA_LINK_KEYS=c1:$(head -c 32 /dev/urandom | base64 -w0)
KASSA_TRUST_FORWARDED_FOR=true
KASSA_DRAIN_SECONDS=3
KASSA_LOG_LEVEL=info
ENV
    fi
    # A folder made before reads went to the replica gets the setting (not after a failover, when
    # the replica is the primary).
    if grep -q "^KASSA_DATABASE_URL=.*:$PRIMARY_PORT/" "$file" && ! grep -q '^KASSA_DATABASE_REPLICA_URL=' "$file"; then
        echo "KASSA_DATABASE_REPLICA_URL=postgres://kassa@127.0.0.1:$REPLICA_PORT/kassa" >> "$file"
    fi
    echo "$file"
}

kassa_up() { curl -fs "http://127.0.0.1:$1/ready" >/dev/null 2>&1; }

# Starts one Kassa process on its port (its log and pid in the cluster folder), waits for /ready.
start_kassa() {
    local port="$1" env
    env="$(cluster_env)"
    kassa_up "$port" && return 0
    # extra.env: settings a drill adds (scripts/cluster-drills.sh), read after the cluster's own.
    (set -a; . "$env"; [ -f "$CLUSTER/extra.env" ] && . "$CLUSTER/extra.env"; set +a; export KASSA_PORT="$port"
        exec "$KASSA" serve >> "$CLUSTER/kassa-$port.log" 2>&1) &
    echo $! > "$CLUSTER/kassa-$port.pid"
    for _ in $(seq 1 300); do kassa_up "$port" && return 0; sleep 0.1; done
    clog "Kassa on $port did not become ready (see $CLUSTER/kassa-$port.log)"
    return 1
}

stop_kassa() {
    local port="$1" pid signal="${2:-TERM}" seconds="${3:-30}"
    pid="$(cat "$CLUSTER/kassa-$port.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -"$signal" "$pid"
    for _ in $(seq 1 $((seconds * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    clog "Kassa on $port did not stop within $seconds s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

start_haproxy() {
    local config="$CLUSTER/haproxy.cfg"
    cat > "$config" <<CFG
global
    maxconn 4096
    pidfile $CLUSTER/haproxy.pid

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    option forwardfor
    # A request HAProxy could not hand to a process goes to another one.
    retries 3
    option redispatch
    retry-on conn-failure empty-response

frontend kassa
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend kassa

backend kassa
    # On these 2 cores one process already uses the CPU PostgreSQL leaves: spread over three, the
    # checkouts split each group-commit batch three ways and the processes compete for the cores
    # (BENCHMARKS.md). So HAProxy fills the first ready process up to its maxconn and the others are
    # warm standbys, taking over in a second when it fails or drains. With a core pair per process,
    # use balance leastconn.
    balance ${KASSA_CLUSTER_BALANCE:-first}
    # /health: this process only (503 while it drains); PostgreSQL and Redis are shared, so a
    # failover of either must not take every process out.
    option httpchk GET /health
    http-check expect status 200
    default-server inter 1s fall 1 rise 2 maxconn 128
CFG
    for index in 0 1 2; do
        echo "    server k$((index + 1)) 127.0.0.1:${KASSA_PORTS[$index]} check" >> "$config"
    done
    if [ -f "$CLUSTER/haproxy.pid" ] && kill -0 "$(cat "$CLUSTER/haproxy.pid")" 2>/dev/null; then
        haproxy -f "$config" -D -sf "$(cat "$CLUSTER/haproxy.pid")"
    else
        haproxy -f "$config" -D
    fi
}

start() {
    install_missing
    install_cluster_packages
    [ -x "$KASSA" ] || { clog "building the release binary"; swift build -c release --product kassa 2>&1 | tail -1; }
    start_postgres
    ensure_replica_streams
    start_redis_cluster
    local env
    env="$(cluster_env)"
    (set -a; . "$env"; set +a; "$KASSA" migrate) >&2
    local seeded
    seeded="$(set -a; . "$env"; set +a; KASSA_DEMO_PASSWORD="$(cat "$CLUSTER/demo-password" 2>/dev/null || head -c 15 /dev/urandom | base64 | tr -dc 'a-z0-9' | head -c 16)" "$KASSA" seed-demo 2>/dev/null)"
    grep "^demo merchant" <<<"$seeded" | sed -E 's/.* \/ //' > "$CLUSTER/demo-password"
    for port in "${KASSA_PORTS[@]}"; do start_kassa "$port"; done
    start_haproxy
    for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$HAPROXY_PORT/ready" >/dev/null 2>&1 && break; sleep 0.2; done
    echo "Kassa cluster on http://127.0.0.1:$HAPROXY_PORT (HAProxy → ${KASSA_PORTS[*]})"
    echo "demo merchant: demo@kassa.test / $(cat "$CLUSTER/demo-password")"
    status
}

stop() {
    for port in "${KASSA_PORTS[@]}"; do stop_kassa "$port"; done
    [ -f "$CLUSTER/haproxy.pid" ] && kill "$(cat "$CLUSTER/haproxy.pid")" 2>/dev/null || true
    for port in "${SENTINEL_PORTS[@]}" "${REDIS_PORTS[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
    local owner bin
    owner="$(pg_owner)"
    bin="$(find_pg_bin)"
    for name in pg-replica pg-primary; do
        local dir
        dir="$(readlink -f "$CLUSTER/$name" 2>/dev/null || true)"
        [ -n "$dir" ] && [ -f "$dir/PG_VERSION" ] && as_pg "$owner" "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    done
    clog "stopped"
}

status() {
    local port
    for port in "${KASSA_PORTS[@]}"; do
        if kassa_up "$port"; then echo "kassa :$port ready"; else echo "kassa :$port down"; fi
    done
    if pg_up "$PRIMARY_PORT"; then echo "postgresql primary :$PRIMARY_PORT up"; else echo "postgresql primary :$PRIMARY_PORT down"; fi
    if pg_up "$REPLICA_PORT"; then
        echo "postgresql replica :$REPLICA_PORT up, $(psql -h 127.0.0.1 -p "$REPLICA_PORT" -U kassa -d postgres -tAc \
            "SELECT coalesce(round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 1), 0)")s behind"
    else
        echo "postgresql replica :$REPLICA_PORT down"
    fi
    echo "redis master: $(redis-cli -p "${SENTINEL_PORTS[0]}" sentinel get-master-addr-by-name kassa 2>/dev/null | paste -sd: || echo unknown)"
}

# A release without downtime: migrations first (they must be backwards compatible), then each
# process in turn: SIGTERM (it drains: /ready 503, HAProxy takes it out, requests in flight
# finish), start the new binary, wait for /ready, next.
release() {
    local env drain="${1:-30}"
    env="$(cluster_env)"
    (set -a; . "$env"; set +a; "$KASSA" migrate) >&2
    for port in "${KASSA_PORTS[@]}"; do
        clog "releasing :$port"
        stop_kassa "$port" TERM "$drain"
        start_kassa "$port"
        # HAProxy takes it back after two good checks.
        sleep 2.5
    done
    clog "released"
}

# A base backup of the primary (while it serves), then a WAL switch so the archive holds
# everything up to now.
backup() {
    local dir target started
    dir="$(backup_dir)"
    target="$dir/base/$(date -u +%Y%m%dT%H%M%SZ)"
    started=$(date +%s.%N)
    as_pg "$(pg_owner)" "$(pg_tool pg_basebackup)" -h 127.0.0.1 -p "$PRIMARY_PORT" -U kassa -D "$target" -X stream -c fast
    psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U kassa -d postgres -qtAc "SELECT pg_switch_wal()" >/dev/null
    echo "base backup: $target ($(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $started }") s)"
}

# The operator's step when the primary is lost (README): promote the replica, point the processes
# at it (it alone serves reads too), restart them one at a time.
failover() {
    local env
    env="$(cluster_env)"
    as_pg "$(pg_owner)" "$(find_pg_bin)/pg_ctl" -D "$(readlink -f "$CLUSTER/pg-replica")" -w promote >/dev/null
    sed -i "s/:$PRIMARY_PORT\//:$REPLICA_PORT\//; /^KASSA_DATABASE_REPLICA_URL=/d" "$env"
    # Requests waiting on the lost primary cannot finish: 5 s of drain, not 30 (payers retry, and a
    # retried attempt is the same payment).
    release 5
}

# Point-in-time recovery of the primary: to TO (a timestamp with its zone), or with none to the end
# of the archived WAL. The Kassa processes stop first; the old data folder is kept beside the new
# one; the latest base backup taken before TO is restored and the archive replayed; the replica is
# made again from the restored primary; the processes start.
restore() {
    local to="${1:-}" owner bin primary replica dir base stamp started
    owner="$(pg_owner)"
    bin="$(find_pg_bin)"
    primary="$(readlink -f "$CLUSTER/pg-primary")"
    replica="$(readlink -f "$CLUSTER/pg-replica")"
    dir="$(backup_dir)"
    started=$(date +%s.%N)
    # No drain: the database is gone, there is nothing to serve.
    for port in "${KASSA_PORTS[@]}"; do stop_kassa "$port" INT; done
    as_pg "$owner" "$bin/pg_ctl" -D "$replica" -m fast -w stop >/dev/null 2>&1 || true
    as_pg "$owner" "$bin/pg_ctl" -D "$primary" -m fast -w stop >/dev/null 2>&1 || true
    if [ -n "$to" ]; then
        local limit
        limit="$(date -u -d "$to" +%Y%m%dT%H%M%SZ)" || { clog "TO is not a time: $to"; exit 2; }
        base="$(ls -d "$dir"/base/*/ 2>/dev/null | sort | awk -v limit="$limit" -F/ '$(NF-1) <= limit' | tail -1)"
    else
        base="$(ls -d "$dir"/base/*/ 2>/dev/null | sort | tail -1)"
    fi
    [ -n "$base" ] || { clog "no base backup in $dir/base${to:+ before $to}"; exit 1; }
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    [ -e "$primary" ] && mv "$primary" "$primary.before-restore-$stamp"
    mkdir -p "$primary"
    cp -a "$base/." "$primary/"
    [ "$(id -u)" = 0 ] && chown -R "$owner" "$primary"
    chmod 700 "$primary"
    as_pg "$owner" sh -c "cat > '$primary/restore.conf'" <<CONF
restore_command = 'cp $dir/wal/%f %p'
recovery_target_action = 'promote'
${to:+recovery_target_time = '$to'}
CONF
    as_pg "$owner" touch "$primary/recovery.signal"
    clog "restoring $(basename "$base")${to:+ to $to}, replaying the archived WAL"
    as_pg "$owner" "$bin/pg_ctl" -D "$primary" -l "$primary/server.log" -w -t 3600 start >/dev/null
    for _ in $(seq 1 3600); do
        [ "$(psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U kassa -d postgres -tAc "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] && break
        sleep 0.5
    done
    as_pg "$owner" rm -f "$primary/restore.conf"
    # The newest payment write the archive held (before any process writes again).
    echo "last restored commit: $(psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U kassa -d kassa -tAc \
        "SELECT coalesce(max(updated_at), 'epoch') FROM payments") ($(psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U kassa -d kassa -tAc \
        "SELECT coalesce(extract(epoch FROM max(updated_at)), 0) FROM payments") epoch)"
    echo "restored: $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $started }") s to a primary open for writes"
    as_pg "$owner" "$bin/pg_ctl" -D "$primary" -m fast -w restart -l "$primary/server.log" >/dev/null
    # The replica follows the old timeline: make it again from the restored primary.
    [ -e "$replica" ] && mv "$replica" "$replica.before-restore-$stamp"
    start_postgres
    for port in "${KASSA_PORTS[@]}"; do start_kassa "$port"; done
    echo "restore complete in $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $started }") s (the old data folder is $primary.before-restore-$stamp)"
}

case "${1:-}" in
    start) start ;;
    pg-pair) install_missing; start_postgres ;;
    backup) backup ;;
    restore) restore "${2:-}" ;;
    stop) stop ;;
    # The drills pay thousands of times from one address with one card, which the payer limits
    # exist to stop: they are lifted (extra.env) and the cluster starts afresh with them.
    start-for-drills)
        mkdir -p "$CLUSTER"
        cat > "$CLUSTER/extra.env" <<ENV
KASSA_RATE_PAYER_IP=10000000/60
KASSA_RATE_PAYER_LINK=10000000/60
KASSA_RATE_PAYER_CARD=10000000/60
KASSA_RATE_API_KEY=100000/60
KASSA_RATE_API_ACCOUNT=100000/60
KASSA_ISSUER_LATENCY_MS=5
KASSA_RECOVER_AFTER_SECONDS=5
ENV
        stop
        start
        ;;
    # For the drills: the replica stopped and started again.
    stop-replica) as_pg "$(pg_owner)" "$(find_pg_bin)/pg_ctl" -D "$(readlink -f "$CLUSTER/pg-replica")" -m fast -w stop >/dev/null ;;
    start-replica) start_postgres; ensure_replica_streams ;;
    # For the drills: one process killed (SIGKILL) and started again.
    kill-kassa)
        kill -KILL "$(cat "$CLUSTER/kassa-${2:-8081}.pid")" 2>/dev/null || true
        sleep "${3:-2}"
        start_kassa "${2:-8081}"
        ;;
    status) status ;;
    release) release ;;
    failover) failover ;;
    *) echo "usage: $0 start|stop|status|release|backup|restore [TO]" >&2; exit 2 ;;
esac
