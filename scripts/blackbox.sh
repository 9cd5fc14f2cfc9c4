#!/usr/bin/env bash
# Black-box check of the real binary: configuration errors, migrate, serve, signup page,
# health and readiness, and a graceful SIGTERM. Uses its own database.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
KASSA=.build/debug/kassa
PORT="${KASSA_BLACKBOX_PORT:-18080}"
DB="kassa_blackbox_$$"
PSQL=(psql -h 127.0.0.1 -p "${KASSA_PG_PORT:-5433}" -U kassa -d postgres -qtA)
fail() { echo "blackbox: FAIL: $*" >&2; exit 1; }

# A malformed value stops start-up with one line naming the variable.
out=$(KASSA_PORT=abc KASSA_LINK_KEYS=x KASSA_SECRET_KEY=y "$KASSA" serve 2>&1 >/dev/null) && fail "bad config accepted"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "config error is not one line: $out"
grep -q KASSA_PORT <<<"$out" || fail "config error does not name KASSA_PORT: $out"

"${PSQL[@]}" -c "CREATE DATABASE $DB" >/dev/null
trap '"${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
export KASSA_PORT="$PORT" KASSA_BASE_URL="http://127.0.0.1:$PORT"
export KASSA_DATABASE_URL="postgres://kassa@127.0.0.1:${KASSA_PG_PORT:-5433}/$DB"
export KASSA_REDIS_URL="redis://127.0.0.1:${KASSA_REDIS_PORT:-6380}/0" KASSA_REDIS_PREFIX="bb$$:"
export KASSA_LINK_KEYS="bb:$(head -c 32 /dev/urandom | base64 -w0)" KASSA_SECRET_KEY="$(head -c 32 /dev/urandom | base64 -w0)"

# Output is captured first: `cmd | grep -q` under pipefail fails when grep stops reading early.
out=$("$KASSA" migrate 2>&1) && grep -q "applied" <<<"$out" || fail "migrate applied nothing: $out"
out=$("$KASSA" migrate 2>&1) && grep -q "up to date" <<<"$out" || fail "second migrate was not a no-op: $out"
out=$(KASSA_BASE_URL=https://pay.example "$KASSA" seed-demo 2>&1) && fail "seed-demo ran on an https server: $out"
grep -q "for development" <<<"$out" || fail "seed-demo on https did not say why: $out"
out=$("$KASSA" seed-demo 2>&1) && grep -q "demo@kassa.test" <<<"$out" || fail "seed-demo: $out"
grep -q "kassa-demo-merchant" <<<"$out" && fail "the demo merchant has the old shared password: $out"
out2=$(KASSA_DEMO_PASSWORD=chosen-demo-password "$KASSA" seed-demo 2>&1) && grep -q "already there: demo@kassa.test / chosen-demo-password" <<<"$out2" \
  || fail "seed-demo again with a chosen password: $out2"

KASSA_DRAIN_SECONDS=2 "$KASSA" serve --migrate > .data/blackbox-server.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
grep -q ok <<<"$(curl -fs "http://127.0.0.1:$PORT/health")" || fail "/health"
grep -q '"status":"ready"' <<<"$(curl -fs "http://127.0.0.1:$PORT/ready")" || fail "/ready"
grep -q 'name="_csrf"' <<<"$(curl -fs "http://127.0.0.1:$PORT/signup")" || fail "/signup has no form"
curl -fs "http://127.0.0.1:$PORT/css/kassa.css" >/dev/null || fail "static css"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/nope")" = 404 ] || fail "404"
grep -q kassa_http_requests_total <<<"$(curl -fs "http://127.0.0.1:$PORT/metrics")" || fail "/metrics (a development server on loopback serves it without a token)"
# SIGTERM drains: /ready and /health turn 503 at once (a load balancer moves away), requests are
# still served for KASSA_DRAIN_SECONDS, then the server stops cleanly.
kill -TERM "$pid"
sleep 0.3
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ready")" = 503 ] || fail "/ready is not 503 while draining"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 503 ] || fail "/health is not 503 while draining"
grep -q 'name="_csrf"' <<<"$(curl -fs "http://127.0.0.1:$PORT/login")" || fail "not serving while draining"
kill -0 "$pid" 2>/dev/null || fail "the server stopped before its drain time"
exits_within "$pid" 30 || { kill -KILL "$pid"; fail "the server did not stop within 30 s of SIGTERM"; }
wait "$pid" || fail "server did not exit cleanly on SIGTERM"
echo "blackbox: 15 passed, 0 failed"
