#!/usr/bin/env bash
# Partner isolation drill: one merchant sends 10× its API limit while another works normally; the
# second's p99 and error rate must not move by more than noise. Both load at fixed rates
# (Tests/ops/isolation_load.py); a last phase floods without a rate, to show where CPU, not
# the limits, becomes what the two share. Writes bench/isolation.json.
# usage: scripts/isolation.sh   (KASSA_BIN: the binary, default the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
KASSA="${KASSA_BIN:-.build/release/kassa}"
[ -x "$KASSA" ] || swift build -c release --product kassa 2>&1 | tail -1
PORT="${KASSA_ISOLATION_PORT:-18097}"
DB="kassa_isolation_$$"
PSQL=(psql -h 127.0.0.1 -p "${KASSA_PG_PORT:-5433}" -U kassa -d postgres -qtA)
SECONDS_PER_PHASE="${ISOLATION_SECONDS:-30}"
VICTIM_RATE="${ISOLATION_VICTIM_RATE:-50}"
LIMIT_PER_MINUTE="${ISOLATION_LIMIT_PER_MINUTE:-600}"
fail() { echo "isolation: FAIL: $*" >&2; exit 1; }
. scripts/lib.sh

"${PSQL[@]}" -c "CREATE DATABASE $DB" >/dev/null
pid=""
cleanup() {
    stop_server "$pid" 15 "isolation drill's server" .data/isolation-server.log
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
export KASSA_PORT="$PORT" KASSA_BASE_URL="http://127.0.0.1:$PORT" KASSA_LOG_LEVEL=warning
export KASSA_DATABASE_URL="postgres://kassa@127.0.0.1:${KASSA_PG_PORT:-5433}/$DB"
export KASSA_REDIS_URL="redis://127.0.0.1:${KASSA_REDIS_PORT:-6380}/0" KASSA_REDIS_PREFIX="iso$$:"
export KASSA_LINK_KEYS="iso:$(head -c 32 /dev/urandom | base64 -w0)" KASSA_SECRET_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
# The per-key budget out of the way: the account's budget is the one under test.
export KASSA_RATE_API_KEY="100000/60"
"$KASSA" migrate >/dev/null
"$KASSA" serve > .data/isolation-server.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
BASE="http://127.0.0.1:$PORT"
methods='[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
make_merchant "$BASE" "$DB" "noisy-$$@example.com" "payments:read" "$methods"
noisy=$key
make_merchant "$BASE" "$DB" "quiet-$$@example.com" "payments:read" "$methods"
quiet=$key
# The noisy merchant's budget is the one it exceeds; the quiet one's is well above its rate.
"${PSQL[@]}" -d "$DB" -c "UPDATE accounts SET api_requests_per_minute = CASE WHEN id = (SELECT account_id FROM users WHERE email = 'noisy-$$@example.com')
    THEN $LIMIT_PER_MINUTE ELSE 100000 END" >/dev/null
limit_rate=$(awk "BEGIN { print $LIMIT_PER_MINUTE / 60 }")
noisy_rate=$(awk "BEGIN { print 10 * $limit_rate }")
load() { python3 Tests/ops/isolation_load.py "$BASE" "$1" "$2" "$SECONDS_PER_PHASE"; }

echo "isolation: warm-up" >&2
python3 Tests/ops/isolation_load.py "$BASE" "$quiet" "$VICTIM_RATE" 10 >/dev/null
# Two rounds of (alone, beside the noisy merchant): the two "alone" runs show the noise.
rounds=()
for round in 1 2; do
    echo "isolation: round $round: the quiet merchant alone at $VICTIM_RATE/s" >&2
    rounds+=("$(load "$quiet" "$VICTIM_RATE")")
    echo "isolation: round $round: the noisy merchant at 10x its limit ($noisy_rate/s against $limit_rate/s) beside it" >&2
    # A fresh budget window for the noisy merchant each round.
    redis-cli -p "${KASSA_REDIS_PORT:-6380}" --scan --pattern "iso$$:*" | xargs -r redis-cli -p "${KASSA_REDIS_PORT:-6380}" del >/dev/null
    load "$noisy" "$noisy_rate" > .data/isolation-noisy.json &
    noisy_pid=$!
    rounds+=("$(load "$quiet" "$VICTIM_RATE")")
    wait "$noisy_pid"
    rounds+=("$(cat .data/isolation-noisy.json)")
done
echo "isolation: phase 3 (for information), the noisy merchant flooding without a rate (8 connections)" >&2
flood_result=""
if command -v wrk >/dev/null 2>&1; then
    wrk -t2 -c8 -d"${SECONDS_PER_PHASE}s" -H "Authorization: Bearer $noisy" "$BASE/v1/payments?limit=10" > .data/isolation-flood.txt 2>&1 &
    flood_pid=$!
    flooded=$(load "$quiet" "$VICTIM_RATE")
    wait "$flood_pid" || true
    flood_result=$(awk '/Requests\/sec/ {print $2}' .data/isolation-flood.txt)
else
    flooded='null'
fi
mkdir -p bench
python3 - "$flooded" "${flood_result:-0}" "$LIMIT_PER_MINUTE" "$SECONDS_PER_PHASE" "${rounds[@]}" <<'PY'
import json, math, sys
flooded = json.loads(sys.argv[1])
flood_rate = float(sys.argv[2] or 0)
# The noisy merchant gets at most its budget: one per minute window the phase touches.
allowance = int(sys.argv[3]) * (math.ceil(float(sys.argv[4]) / 60) + 1)
runs = [json.loads(a) for a in sys.argv[5:]]
alone, beside, noisy = runs[0::3], runs[1::3], runs[2::3]
report = {"quiet_alone": alone, "quiet_beside_noisy": beside, "noisy_at_10x_limit": noisy, "quiet_beside_flood": flooded,
          "flood_requests_per_second": flood_rate}
json.dump(report, open("bench/isolation.json", "w"), indent=2)
def line(name, r):
    if not r: return
    print(f"isolation: {name:28} sent {r['sent']:5}  ok {r['ok']:5}  429 {r['rate_limited']:5}  errors {r['errors']:3}  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms")
for index in range(len(alone)):
    line(f"round {index + 1}: quiet alone", alone[index])
    line(f"round {index + 1}: quiet beside noisy", beside[index])
    line(f"round {index + 1}: noisy at 10x", noisy[index])
line("quiet beside a flood", flooded)
if flood_rate: print(f"isolation: the flood: {flood_rate:.0f} requests/s, nearly all 429")
noise = max(r["p99_ms"] for r in alone)
ok = (all(r["errors"] == 0 and r["ok"] == r["sent"] for r in alone + beside)
      and all(r["ok"] <= allowance and r["rate_limited"] > 0 for r in noisy)
      and max(r["p99_ms"] for r in beside) <= noise * 1.25 + 5)
print(f"isolation: quiet p99 alone {[r['p99_ms'] for r in alone]} ms, beside the noisy merchant {[r['p99_ms'] for r in beside]} ms")
print("isolation: " + ("the quiet merchant did not notice" if ok else "FAIL: the quiet merchant noticed"))
sys.exit(0 if ok else 1)
PY
