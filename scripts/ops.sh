#!/usr/bin/env bash
# The operator's side, checked from outside: the alert rules (promtool check and unit tests), the
# Grafana dashboard's expressions (parsed by promtool, and every series they name exported by a
# running Kassa), and the operator console end to end over HTTP (Tests/blackbox/ops_check.py).
# Uses its own database; installs Debian's prometheus (for promtool) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
KASSA=.build/debug/kassa
PORT="${KASSA_OPS_PORT:-18095}"
DB="kassa_ops_$$"
PSQL=(psql -h 127.0.0.1 -p "${KASSA_PG_PORT:-5433}" -U kassa -d postgres -qtA)
fail() { echo "ops: FAIL: $*" >&2; exit 1; }
. scripts/lib.sh

if ! command -v promtool >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || fail "promtool is missing: apt-get install prometheus"
    echo "ops: apt-get install prometheus (for promtool)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
        || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
fi
promtool check rules ops/prometheus/alerts.yml
(cd ops/prometheus && promtool test rules alerts_test.yml)
(cd ops/prometheus && promtool check config --syntax-only prometheus.yml >/dev/null) || fail "ops/prometheus/prometheus.yml"

"${PSQL[@]}" -c "CREATE DATABASE $DB" >/dev/null
pid=""
cleanup() {
    stop_server "$pid" 15 "ops check's server" .data/ops-server.log
    [ -n "${receiver:-}" ] && kill "$receiver" 2>/dev/null || true
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
export KASSA_PORT="$PORT" KASSA_BASE_URL="http://127.0.0.1:$PORT"
export KASSA_DATABASE_URL="postgres://kassa@127.0.0.1:${KASSA_PG_PORT:-5433}/$DB"
export KASSA_REDIS_URL="redis://127.0.0.1:${KASSA_REDIS_PORT:-6380}/0" KASSA_REDIS_PREFIX="ops$$:"
export KASSA_LINK_KEYS="ops:$(head -c 32 /dev/urandom | base64 -w0)" KASSA_SECRET_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
export KASSA_ISSUER_LATENCY_MS=5 KASSA_WEBHOOKS_ALLOW_PRIVATE=true

# The OTLP receiver the server sends its spans to (opentelemetry-proto from PyPI decodes them).
VENV=.data/venv
if ! "$VENV/bin/python" -c 'import opentelemetry.proto' >/dev/null 2>&1; then
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "opentelemetry-proto>=1.27,<2"
fi
OTLP_PORT="${KASSA_OTLP_TEST_PORT:-18096}"
rm -f .data/ops-spans.jsonl
"$VENV/bin/python" Tests/ops/otlp_receiver.py "$OTLP_PORT" .data/ops-spans.jsonl &
receiver=$!
export KASSA_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT"

"$KASSA" migrate >/dev/null
operator_email="operator-$$@kassa.test"
out=$("$KASSA" operator create --email "$operator_email" 2>/dev/null) || fail "kassa operator create"
operator_password=$(sed -E 's/^operator created: [^ ]+ \/ //' <<<"$out")
again=$("$KASSA" operator create --email "$operator_email" 2>&1) && fail "the same operator twice: $again"

"$KASSA" serve > .data/ops-server.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
BASE="http://127.0.0.1:$PORT"
methods='[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
make_merchant "$BASE" "$DB" "ops-merchant-$$@example.com" "payment_links:write,payments:read,payments:write" "$methods"
merchant_key=$key
make_merchant "$BASE" "$DB" "ops-other-$$@example.com" "payment_links:write,payments:read" "$methods"
other_key=$key
python3 Tests/blackbox/ops_check.py "$BASE" "$operator_email" "$operator_password" "ops-merchant-$$@example.com" "black-box passphrase" \
    "$merchant_key" "$other_key" || fail "the operator console (log: .data/ops-server.log)"

python3 Tests/ops/trace_check.py "$BASE" "$merchant_key" .data/ops-spans.jsonl .data/ops-server.log || fail "tracing (spans: .data/ops-spans.jsonl)"

curl -fs "$BASE/metrics" > ".data/ops-metrics.txt" || fail "/metrics"
python3 Tests/ops/check_series.py .data/ops-metrics.txt ".data/ops-grafana-rules.yml" || fail "series"
promtool check rules .data/ops-grafana-rules.yml >/dev/null || fail "the dashboard's expressions do not parse: promtool check rules .data/ops-grafana-rules.yml"
grep -qF -- "$operator_password" .data/ops-server.log && fail "the operator's password is in the server's log"
echo "ops: alert rules, dashboard, console and tracing checked"
