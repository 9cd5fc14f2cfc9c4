#!/usr/bin/env bash
# make drills: under steady checkout load, (1) SIGKILL the server and start it again, (2) crash and
# restart PostgreSQL, (3) stop Redis for 10 s. Then: every payment a payer was told succeeded is in
# PostgreSQL exactly once, no single-use link was paid twice, the ledger holds (`kassa audit`: every
# money-moving event has exactly one transfer and every transfer an event, each balance is captured
# minus refunded, a ledger rebuilt from the events equals the live one), no deadlock happened, every
# succeeded payment's webhook was delivered, and the server came back by itself after (2) and (3).
#   DRILL_WORKERS (payers at once, 16), DRILL_PHASE_SECONDS (load between faults, 10), KASSA_BIN.
# Restarts the local PostgreSQL and Redis of scripts/services.sh: run it when nothing else uses them.
set -euo pipefail
cd "$(dirname "$0")/.."
KASSA="${KASSA_BIN:-.build/debug/kassa}"
PORT="${KASSA_DRILL_PORT:-18185}"
RECEIVER_PORT="${KASSA_DRILL_RECEIVER_PORT:-18195}"
WORKERS="${DRILL_WORKERS:-16}"
PHASE="${DRILL_PHASE_SECONDS:-10}"
PG_PORT="${KASSA_PG_PORT:-5433}"
REDIS_PORT="${KASSA_REDIS_PORT:-6380}"
DB="kassa_drill"
PSQL=(psql -h 127.0.0.1 -p "$PG_PORT" -U kassa -qtA)
BASE="http://127.0.0.1:$PORT"
WORK=.data/drills
VENV=.data/venv
mkdir -p "$WORK"
rm -f "$WORK"/*
fail() { echo "drills: FAIL: $*" >&2; exit 1; }
say() { printf 'drills: %s\n' "$*"; }

if ! "$VENV/bin/python" -c "import standardwebhooks" >/dev/null 2>&1; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "standardwebhooks>=1.0,<2"
fi
[ -x "$KASSA" ] || swift build --product kassa

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
# Deadlocks as PostgreSQL's log reports them: its statistics do not survive the crash of phase (2).
PG_LOG="$(readlink -f .data/pg)/server.log"
deadlocks() { grep -c "deadlock detected" "$PG_LOG" 2>/dev/null || true; }
deadlocks_before=$(deadlocks)
export KASSA_PORT="$PORT" KASSA_BASE_URL="$BASE" KASSA_DATABASE_URL="postgres://kassa@127.0.0.1:$PG_PORT/$DB"
export KASSA_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" KASSA_REDIS_PREFIX="drill$$:" KASSA_LOG_LEVEL="${KASSA_LOG_LEVEL:-notice}"
export KASSA_LINK_KEYS="d1:$(head -c 32 /dev/urandom | base64 -w0)" KASSA_SECRET_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
export KASSA_WEBHOOKS_ALLOW_PRIVATE=true KASSA_CONSUMER_POLL_MS=200 KASSA_ISSUER_LATENCY_MS=5 KASSA_RECOVER_AFTER_SECONDS=5
export KASSA_RATE_API_KEY=100000/60 KASSA_RATE_API_ACCOUNT=100000/60
# The drills pay thousands of times from one address with a few cards; the payer limits would stop them.
export KASSA_RATE_PAYER_IP=10000000/60 KASSA_RATE_PAYER_LINK=10000000/60 KASSA_RATE_PAYER_CARD=10000000/60

server=""
receiver=""
loadgen=""
start_server() {
    "$KASSA" serve --migrate >> "$WORK/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 300); do curl -fs "$BASE/health" >/dev/null 2>&1 && return; sleep 0.1; done
    fail "server did not start (see $WORK/server.log)"
}
cleanup() {
    touch "$WORK/stop"
    [ -n "$loadgen" ] && kill "$loadgen" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    [ -n "$receiver" ] && kill "$receiver" 2>/dev/null || true
    scripts/services.sh start >/dev/null 2>&1 || true  # whatever a failed drill left stopped
}
trap cleanup EXIT
start_server

. scripts/lib.sh
make_merchant "$BASE" "$DB" "drill@example.com" "payment_links:write,payments:read,webhook_endpoints:write" \
    '[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
secret=$(curl -fs -X POST "$BASE/v1/webhook_endpoints" -H "authorization: Bearer $key" -H 'content-type: application/json' \
    -d "{\"url\":\"http://127.0.0.1:$RECEIVER_PORT/hook\",\"events\":[\"payment.succeeded\"]}" | sed -E 's/.*"secret":"([^"]+)".*/\1/')
[[ "$secret" == whsec_* ]] || fail "no webhook endpoint"
"$VENV/bin/python" Tests/blackbox/webhook_receiver.py "$RECEIVER_PORT" "$secret" 0 "$WORK/webhooks.txt" &
receiver=$!

# One multi-use link and enough single-use links for the whole drill.
new_link_path "$BASE" '{"amount":2500,"currency":"EUR","description":"Drill, many payers","max_uses":1000000,"expires_in":86400}' > "$WORK/links.txt"
for _ in $(seq 1 $((WORKERS * PHASE * 6))); do
    new_link_path "$BASE" '{"amount":1500,"currency":"EUR","description":"Drill, one payer"}' >> "$WORK/links.txt"
done
say "$WORKERS payers at once; $(($(wc -l < "$WORK/links.txt") - 1)) single-use links and one multi-use link"

sent() { grep -c '"kind": "sent"' "$WORK/journal.jsonl" 2>/dev/null || true; }
python3 Tests/blackbox/drill_load.py "$BASE" "$WORK/links.txt" "$WORKERS" "$WORK/stop" "$WORK/journal.jsonl" &
loadgen=$!
sleep "$PHASE"

# 1. SIGKILL: payments in flight are cut off mid-way; a supervisor (here: this script) starts it again.
say "(1) SIGKILL the server after $(sent) submits"
kill -9 "$server"; wait "$server" 2>/dev/null || true
sleep 1
start_server
sleep "$PHASE"

# 2. PostgreSQL crashes (immediate stop, WAL replay on start); the server is not touched.
say "(2) crash and restart PostgreSQL after $(sent) submits"
scripts/services.sh crash-postgres
sleep "$PHASE"
curl -fs "$BASE/health" >/dev/null || fail "the server did not recover from the PostgreSQL restart by itself"

# 3. Redis away for 10 s: checkouts carry on (the database guards duplicates), then it comes back.
say "(3) stop Redis for 10 s after $(sent) submits"
scripts/services.sh stop-redis
sleep 10
scripts/services.sh start >/dev/null
sleep "$PHASE"
curl -fs "$BASE/health" >/dev/null || fail "the server did not recover from the Redis outage by itself"

say "stopping the load after $(sent) submits; waiting for payers to get their answers"
touch "$WORK/stop"
wait "$loadgen" || fail "the load generator crashed"
loadgen=""

# Stuck payments are finished by the recovery worker; the consumers of the event log catch up and
# webhooks go out; deliveries that failed while PostgreSQL was away wait out their backoff, which the
# drill shortens.
for _ in $(seq 1 120); do
    processing=$("${PSQL[@]}" -d "$DB" -c "SELECT count(*) FROM payments WHERE status = 'processing'")
    "${PSQL[@]}" -d "$DB" -c "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending' AND next_attempt_at > now()" >/dev/null
    pending=$("${PSQL[@]}" -d "$DB" -c "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')
        + (SELECT count(*) FROM event_consumers c WHERE EXISTS (SELECT 1 FROM payment_events e WHERE (e.xid, e.seq) > (c.xid, c.seq)))")
    [ "$processing" = 0 ] && [ "$pending" = 0 ] && break
    sleep 1
done
sleep 1
"$KASSA" audit > "$WORK/audit.json" 2>> "$WORK/server.log" || true
echo "{\"deadlocks\": $(( $(deadlocks) - deadlocks_before ))}" > "$WORK/deadlocks.json"
report=$(python3 Tests/blackbox/drill_check.py "$WORK/journal.jsonl" "$WORK/webhooks.txt" "$WORK/audit.json" "$WORK/deadlocks.json" "${PSQL[@]}" -d "$DB") || {
    echo "$report"
    fail "see the problems above"
}
echo "$report" > "$WORK/report.json"
python3 - "$report" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print("drills: requests sent {requests_sent}, payers {payers}: succeeded {succeeded}, declined {declined}, "
      "failed with a clear error {failed_with_clear_error}, lost {lost}, doubled {doubled}".format(**r))
print("drills: PostgreSQL holds {payments_in_postgres} payments ({succeeded_in_postgres} succeeded), {still_processing} processing; "
      "ledger: {ledger_events_without_transfer} events without a transfer, {ledger_transfers_without_event} transfers without an event, "
      "{ledger_balances_off} balances off, {ledger_rebuild_differences} differences from a rebuild; {deadlocks} deadlocks; "
      "{webhooks_delivered} webhooks delivered, {webhooks_missing} missing".format(**r))
PY
# A clean stop: SIGTERM drains the server (a supervisor would SIGKILL after its timeout).
kill "$server" 2>/dev/null || true
for i in $(seq 1 150); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server" 2>/dev/null; then
    # Known: after the PostgreSQL crash a request can stay stuck on a connection that died under
    # it, and a graceful stop waits for it (see BENCHMARKS.md). Nothing is lost either way.
    kill -9 "$server"
    say "warning: the server did not stop within 15 s of SIGTERM; SIGKILLed it"
else
    say "the server stopped cleanly after SIGTERM"
fi
server=""
