#!/usr/bin/env bash
# The browser test: the real binary on its own database, Chromium driven by Selenium.
# Screenshots of the checkout, the receipt and the history go to .data/artifacts/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
KASSA=.build/debug/kassa
PORT="${KASSA_BROWSER_PORT:-18081}"
DB="kassa_browser_$$"
PSQL=(psql -h 127.0.0.1 -p "${KASSA_PG_PORT:-5433}" -U kassa -d postgres -qtA)
VENV=.data/venv

# Selenium, axe-core (axe-selenium-python), an SMTP sink (aiosmtpd) and pyotp from PyPI, once.
if ! "$VENV/bin/python" -c "import selenium, aiosmtpd, axe_selenium_python, pyotp" >/dev/null 2>&1; then
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "selenium>=4.20,<5" "aiosmtpd>=1.4,<2" "axe-selenium-python>=2.1,<3" "pyotp>=2.9,<3"
fi

"${PSQL[@]}" -c "CREATE DATABASE $DB" >/dev/null
export KASSA_PORT="$PORT" KASSA_BASE_URL="http://127.0.0.1:$PORT"
export KASSA_DATABASE_URL="postgres://kassa@127.0.0.1:${KASSA_PG_PORT:-5433}/$DB"
export KASSA_REDIS_URL="redis://127.0.0.1:${KASSA_REDIS_PORT:-6380}/0" KASSA_REDIS_PREFIX="br$$:"
export KASSA_LINK_KEYS="br:$(head -c 32 /dev/urandom | base64 -w0)" KASSA_SECRET_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
export KASSA_ISSUER_LATENCY_MS=50 SE_AVOID_STATS=true

# Emails (password links, receipts) land in a maildir the test reads.
SMTP_PORT="${KASSA_BROWSER_SMTP_PORT:-18025}"
MAILDIR=".data/browser-mail-$$"
export KASSA_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" KASSA_SMTP_FROM="Kassa Browser <kassa@example.com>" KASSA_BROWSER_MAILDIR="$MAILDIR"
rm -rf "$MAILDIR"
"$VENV/bin/python" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$MAILDIR" &
sink=$!

rm -rf .data/artifacts
"$KASSA" serve --migrate > .data/browser-server.log 2>&1 &
pid=$!
cleanup() {
    stop_server "$pid" 15 "browser test's server" .data/browser-server.log
    kill "$sink" 2>/dev/null || true
    rm -rf "$MAILDIR"
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done

"$VENV/bin/python" Tests/browser/checkout_flow.py "http://127.0.0.1:$PORT" .data/artifacts
