#!/usr/bin/env bash
# Notification drill on the real binary: an SMTP sink (aiosmtpd from PyPI) receives the email of a
# payment, with text and HTML parts. Webhooks: a receiver verifies every signature with the Standard Webhooks
# library from PyPI and fails the first two requests; the event still arrives (retries). Then the
# receiver is down while payments happen, the server is SIGKILLed with deliveries pending, restarted,
# and every event arrives exactly as often as needed: at least once, none lost.
set -euo pipefail
cd "$(dirname "$0")/.."
KASSA=.build/debug/kassa
PORT="${KASSA_WEBHOOKS_PORT:-18083}"
RECEIVER_PORT="${KASSA_RECEIVER_PORT:-18093}"
DB="kassa_wh_$$"
PSQL=(psql -h 127.0.0.1 -p "${KASSA_PG_PORT:-5433}" -U kassa -qtA)
VENV=.data/venv
BASE="http://127.0.0.1:$PORT"
LOG=.data/webhook-drill-received.txt
fail() { echo "webhooks: FAIL: $*" >&2; exit 1; }

if ! "$VENV/bin/python" -c "import standardwebhooks, aiosmtpd" >/dev/null 2>&1; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "standardwebhooks>=1.0,<2" "aiosmtpd>=1.4,<2"
fi
SMTP_PORT="${KASSA_SMTP_SINK_PORT:-18025}"
MAILDIR=.data/webhook-drill-mail
rm -rf "$MAILDIR"

"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" >/dev/null
export KASSA_PORT="$PORT" KASSA_BASE_URL="$BASE"
export KASSA_DATABASE_URL="postgres://kassa@127.0.0.1:${KASSA_PG_PORT:-5433}/$DB"
export KASSA_REDIS_URL="redis://127.0.0.1:${KASSA_REDIS_PORT:-6380}/0" KASSA_REDIS_PREFIX="wh$$:"
export KASSA_LINK_KEYS="wh:$(head -c 32 /dev/urandom | base64 -w0)" KASSA_SECRET_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
export KASSA_WEBHOOKS_ALLOW_PRIVATE=true KASSA_CONSUMER_POLL_MS=100 KASSA_ISSUER_LATENCY_MS=0
export KASSA_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" KASSA_SMTP_FROM="Kassa Drill <kassa@example.com>"

server=""
receiver=""
"$VENV/bin/python" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$MAILDIR" &
sink=$!
start_server() {
    "$KASSA" serve --migrate >> .data/webhooks-server.log 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -fs "$BASE/health" >/dev/null 2>&1 && return; sleep 0.1; done
    fail "server did not start"
}
cleanup() {
    [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
    [ -n "$receiver" ] && kill "$receiver" 2>/dev/null || true
    kill "$sink" 2>/dev/null || true
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
: > .data/webhooks-server.log
rm -f "$LOG"
start_server

# A merchant (seed API), Visa in euros, a secret key, an endpoint for payment.succeeded.
email="wh-$$@example.com"
. scripts/lib.sh
make_merchant "$BASE" "$DB" "$email" "payment_links:write,payments:read,webhook_endpoints:write" '[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
secret=$(curl -fs -X POST "$BASE/v1/webhook_endpoints" -H "authorization: Bearer $key" -H 'content-type: application/json' \
    -d "{\"url\":\"http://127.0.0.1:$RECEIVER_PORT/hook\",\"events\":[\"payment.succeeded\"]}" | sed -E 's/.*"secret":"([^"]+)".*/\1/')
[[ "$secret" == whsec_* ]] || fail "no endpoint secret"

# Pays a new single-use link through the hosted checkout, like a browser would.
pay() {
    local path page token
    path=$(new_link_path "$BASE" '{"amount":1500,"currency":"EUR","description":"Drill"}')
    page=$(curl -fs "$BASE$path")
    token=$(sed -nE 's/.*name="attempt_token" value="([^"]+)".*/\1/p' <<<"$page" | head -1)
    curl -fs -o /dev/null -X POST "$BASE$path" --data-urlencode "attempt_token=$token" \
        --data-urlencode "card_number=4242424242424242" -d "exp_month=12&exp_year=30&cvc=123" \
        --data-urlencode "cardholder_name=Drill Payer" --data-urlencode "email=drill@example.com"
}
wait_for_lines() {
    for _ in $(seq 1 300); do [ "$(wc -l < "$LOG" 2>/dev/null || echo 0)" -ge "$1" ] && return 0; sleep 0.2; done
    return 1
}

# 1. A receiver that fails twice, then accepts: the event arrives, verified, after retries (5 s, 30 s backoff
#    are shortened by making the delivery due again, as a resend would).
"$VENV/bin/python" Tests/blackbox/webhook_receiver.py "$RECEIVER_PORT" "$secret" 2 "$LOG" &
receiver=$!
sleep 0.5
pay
for _ in 1 2 3; do
    sleep 0.5
    "${PSQL[@]}" -d "$DB" -c "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending' AND next_attempt_at > now() + interval '2 seconds'" >/dev/null
done
wait_for_lines 1 || fail "the event never arrived after two failures"
attempts=$("${PSQL[@]}" -d "$DB" -c "SELECT attempts FROM webhook_deliveries WHERE status = 'delivered'")
[ "$attempts" = 3 ] || fail "expected 3 attempts, saw $attempts"
echo "webhooks: delivered and verified (standardwebhooks) after 2 failures, in 3 attempts"
for _ in $(seq 1 100); do ls "$MAILDIR"/new/* >/dev/null 2>&1 && break; sleep 0.1; done
mail=$(cat "$MAILDIR"/new/* 2>/dev/null || true)
grep -q "To: <$email>" <<<"$mail" || fail "no notification email reached the sink"
grep -q "Payment received: €15.00" <<<"$mail" || fail "the email does not say what happened"
grep -q "Content-Type: text/html" <<<"$mail" || fail "the email has no HTML part"
echo "email: the payment's notification reached the SMTP sink (text and HTML)"

# 2. Receiver down, five payments, the server SIGKILLed with their deliveries pending.
kill "$receiver"; wait "$receiver" 2>/dev/null || true; receiver=""
for _ in 1 2 3 4 5; do pay; done
for _ in $(seq 1 50); do
    [ "$("${PSQL[@]}" -d "$DB" -c "SELECT count(*) FROM webhook_deliveries")" -ge 6 ] && break; sleep 0.1
done
pending=$("${PSQL[@]}" -d "$DB" -c "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
[ "$pending" -ge 1 ] || fail "nothing pending before the kill"
kill -9 "$server"; wait "$server" 2>/dev/null || true; server=""
echo "webhooks: server SIGKILLed with $pending deliveries pending"

"$VENV/bin/python" Tests/blackbox/webhook_receiver.py "$RECEIVER_PORT" "$secret" 0 "$LOG" &
receiver=$!
start_server
"${PSQL[@]}" -d "$DB" -c "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending'" >/dev/null
wait_for_lines 6 || fail "pending deliveries were not delivered after the restart ($(wc -l < "$LOG") of 6)"
payments=$("${PSQL[@]}" -d "$DB" -c "SELECT count(*) FROM payments WHERE status = 'succeeded'")
distinct=$(cut -d' ' -f3 "$LOG" | sort -u | wc -l)
[ "$payments" = 6 ] && [ "$distinct" = 6 ] || fail "payments $payments, distinct events delivered $distinct"
echo "webhooks: 6 payments, 6 events delivered after SIGKILL and restart, 0 lost"
