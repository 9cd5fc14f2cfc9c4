#!/usr/bin/env bash
# The first command from any clone location: a clone inside a 0700 folder owned by root (as under
# /root), which PostgreSQL's unprivileged account cannot enter. Starts the clone's own PostgreSQL
# and Redis on spare ports with `make services env`, then migrates, seeds and serves the clone's
# database with the binary this checkout already built (a second build of the same sources would
# only cost minutes), answers /health and /ready, crashes and restarts PostgreSQL the way the drills
# do, and stops everything. Runs as root (as CI does); for anyone else there is nothing to prove.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROOT="$(pwd)"
KASSA="$ROOT/.build/debug/kassa"
fail() { echo "clone-test: FAIL: $*" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then echo "clone-test: skipped (not root: PostgreSQL runs as this user)"; exit 0; fi

# Below Linux's ephemeral range (32768-60999): a port in it can be taken at any moment as the local
# end of some outgoing connection, and the clone's Redis once failed to bind 56380 so.
export KASSA_PG_PORT=25433 KASSA_REDIS_PORT=26380
PORT=18090
outer="$(mktemp -d /tmp/kassa-clone.XXXXXX)"   # mktemp makes it 0700, owned by root
clone="$outer/kassa"
pid=""
cleanup() {
    stop_server "$pid" 15 "clone's server" "$outer/server.log"
    if [ -d "$clone" ]; then
        local parked; parked="$(readlink -f "$clone/.data/pg" 2>/dev/null || true)"
        make -s -C "$clone" stop >/dev/null 2>&1 || true
        case "$parked" in /var/lib/kassa/*) rm -rf "$(dirname "$parked")" ;; esac
    fi
    rm -rf "$outer"
}
trap cleanup EXIT

git clone -q "$ROOT" "$clone"
# A working tree with changes not yet committed is tested as it is.
git ls-files -m -o --exclude-standard -z | while IFS= read -r -d '' f; do
    mkdir -p "$clone/$(dirname "$f")" && cp -p "$f" "$clone/$f"
done
[ "$(stat -c %a "$outer")" = 700 ] || fail "$outer is not 0700"
owner=postgres; id postgres >/dev/null 2>&1 || owner=kassa-pg
if id "$owner" >/dev/null 2>&1 && runuser -u "$owner" -- test -x "$clone" 2>/dev/null; then
    fail "$owner can enter $clone: the test would prove nothing"
fi

make -s -C "$clone" services env >"$outer/services.log" 2>&1 || { cat "$outer/services.log" >&2; fail "make services"; }
[ -L "$clone/.data/pg" ] || fail ".data/pg is not parked outside the clone"
make -s -C "$clone" status >/dev/null || fail "make status after start"
make -s -C "$clone" services >/dev/null 2>&1 || fail "a second start is not a no-op"

cd "$clone"
set -a; . .data/kassa.env; set +a
export KASSA_PORT="$PORT" KASSA_BASE_URL="http://127.0.0.1:$PORT"
"$KASSA" migrate >/dev/null || fail "migrate"
grep -q demo@kassa.test <<<"$("$KASSA" seed-demo 2>&1)" || fail "seed-demo"
"$KASSA" serve >"$outer/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
grep -q ok <<<"$(curl -fs "http://127.0.0.1:$PORT/health")" || fail "/health"
grep -q '"status":"ready"' <<<"$(curl -fs "http://127.0.0.1:$PORT/ready")" || fail "/ready"

scripts/services.sh crash-postgres || fail "crash-postgres"
for _ in $(seq 1 100); do grep -q '"status":"ready"' <<<"$(curl -s "http://127.0.0.1:$PORT/ready")" && break; sleep 0.1; done
grep -q '"status":"ready"' <<<"$(curl -s "http://127.0.0.1:$PORT/ready")" || fail "/ready after PostgreSQL restarted"
# A stop right after the restart: a worker's query on a connection PostgreSQL closed under it once
# held the shutdown for the worker's whole 60 s deadline.
kill -TERM "$pid"
exits_within "$pid" 15 || fail "the server did not stop within 15 s of SIGTERM after PostgreSQL restarted"
wait "$pid" || fail "the server did not exit cleanly on SIGTERM"
pid=""
cd "$ROOT"
echo "clone-test: 9 passed, 0 failed (clone in a 0700 folder, PostgreSQL as $owner)"
