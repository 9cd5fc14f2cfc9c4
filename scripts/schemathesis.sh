#!/usr/bin/env bash
# Schemathesis (from PyPI) against /openapi.yaml on the real binary with a test key: it must find
# no 5xx and no response that breaks the spec. Uses its own database.
set -euo pipefail
cd "$(dirname "$0")/.."
KASSA=.build/debug/kassa
PORT="${KASSA_SCHEMATHESIS_PORT:-18082}"
DB="kassa_st_$$"
PSQL=(psql -h 127.0.0.1 -p "${KASSA_PG_PORT:-5433}" -U kassa -qtA)
VENV=.data/venv
BASE="http://127.0.0.1:$PORT"

if ! "$VENV/bin/python" -c "import schemathesis" >/dev/null 2>&1; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==4.32.5"
fi

"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" >/dev/null
export KASSA_PORT="$PORT" KASSA_BASE_URL="$BASE"
export KASSA_DATABASE_URL="postgres://kassa@127.0.0.1:${KASSA_PG_PORT:-5433}/$DB"
export KASSA_REDIS_URL="redis://127.0.0.1:${KASSA_REDIS_PORT:-6380}/0" KASSA_REDIS_PREFIX="st$$:"
export KASSA_LINK_KEYS="st:$(head -c 32 /dev/urandom | base64 -w0)" KASSA_SECRET_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
# Generous budgets: the fuzzer is one client sending many requests.
export KASSA_RATE_API_KEY=100000/60 KASSA_RATE_API_ACCOUNT=100000/60 KASSA_RATE_SIGNUP_IP=100000/60 KASSA_RATE_LOGIN_IP=100000/60
export KASSA_RATE_LOGIN_EMAIL=100000/60 KASSA_ISSUER_LATENCY_MS=0

"$KASSA" serve --migrate > .data/schemathesis-server.log 2>&1 &
pid=$!
. scripts/lib.sh
cleanup() {
    stop_server "$pid" 15 "fuzzed server" .data/schemathesis-server.log
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fs "$BASE/health" >/dev/null 2>&1 && break; sleep 0.1; done

# A merchant through the seed API, with payment methods and a secret key with every scope.
. scripts/lib.sh
make_merchant "$BASE" "$DB" "st-$$@example.com" \
    "payment_methods:read,payment_methods:write,payment_links:read,payment_links:write,payments:read,payments:write,events:read,webhook_endpoints:read,webhook_endpoints:write" \
    '[{"issuer":"iss_test_visa","currencies":["EUR","USD"]}]'

"$VENV/bin/st" --config-file scripts/schemathesis.toml run "$BASE/openapi.yaml" --url "$BASE" \
    --header "Authorization: Bearer $key" \
    --checks "${SCHEMATHESIS_CHECKS:-all}" \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-40}" --no-color 2>&1 | tee .data/schemathesis.log | tail -40
