#!/usr/bin/env bash
# make bench: the machine's ceilings and Kassa's own numbers in one run, printed as a table and
# written to bench/results.json. Release build, its own database, real PostgreSQL and Redis.
#   BENCH_SECONDS (10): length of each load; BENCH_HISTORY_BIG (1000000): payments of the large
#   merchant; BENCH_HOLD=1 keeps a server up for manual runs; BENCH_PERF=1 records a perf profile.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${BENCH_SECONDS:-10}"
BIG="${BENCH_HISTORY_BIG:-1000000}"
PORT=18180
HELLO_PORT=18181
PG_PORT="${KASSA_PG_PORT:-5433}"
DB="kassa_bench"
PSQL=(psql -h 127.0.0.1 -p "$PG_PORT" -U kassa -qtA)
OUT=bench/results.json
WORK=.data/bench
mkdir -p "$WORK"
started=$(date +%s)

command -v wrk >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
echo "bench: release build"
swift build -c release --product kassa 2>&1 | tail -1
KASSA=.build/release/kassa
CORES=$(nproc)
POSTMASTER=$(head -1 "$(readlink -f .data/pg)/postmaster.pid")

cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
    [ -n "${hello:-}" ] && kill "$hello" 2>/dev/null || true
    [ -n "${sampler:-}" ] && touch "$WORK/lag.stop" && kill "$sampler" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
say() { printf 'bench: %s (%ss)\n' "$*" "$(($(date +%s) - started))"; }

# Runs wrk; prints its RESULT JSON with the load generator's share of the machine's CPU added
# (wrk's own user + system time over the wall time of the run, across all cores). Every run of the
# checkout script starts at fresh attempt tokens (BENCH_TOKEN_OFFSET, moved on by what it used, kept
# in a file because load runs in command substitutions).
echo 0 > "$WORK/token_offset"
load() {
    local name="$1" url="$2" script="$3" connections="${4:-32}"
    local out
    BENCH_TOKEN_OFFSET=$(cat "$WORK/token_offset")
    export BENCH_TOKEN_OFFSET
    out=$(python3 - "$CORES" wrk -t2 -c"$connections" -d"${DURATION}s" -s "$script" "$url" <<'PY'
import resource, subprocess, sys, time
cores, command = int(sys.argv[1]), sys.argv[2:]
start = time.monotonic()
result = subprocess.run(command, capture_output=True, text=True)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(result.stdout + result.stderr)
print(f"LOADGEN {round((usage.ru_utime + usage.ru_stime) / wall / cores, 3)} {round(usage.ru_utime + usage.ru_stime, 3)}")
PY
)
    local share seconds
    read -r share seconds <<<"$(sed -n 's/^LOADGEN //p' <<<"$out")"
    local used
    used=$(sed -nE 's/^RESULT .*"requests":([0-9]+).*/\1/p' <<<"$out")
    echo $((BENCH_TOKEN_OFFSET + ${used:-0} + 1000)) > "$WORK/token_offset"
    grep '^RESULT ' <<<"$out" | sed -E "s/^RESULT \{/{\"name\":\"$name\",\"loadgen_cpu_share\":$share,\"loadgen_cpu_seconds\":$seconds,/"
}

# A checkout load with the CPU each process spent on it and the consumers' lag meanwhile:
# adds kassa/postgres/wrk CPU seconds per checkout (ms) and the lag percentiles to load's JSON.
measured() {
    local name="$1" connections="$2"
    rm -f "$WORK/lag.stop"
    python3 bench/lag.py "$WORK/lag.stop" "${PSQL[@]}" -d "$DB" > "$WORK/lag.json" &
    sampler=$!
    local kassa_before pg_before
    kassa_before=$(bench/cpu.py process "$server")
    pg_before=$(bench/cpu.py tree "$POSTMASTER")
    local result
    result=$(load "$name" "$BASE$link_path" bench/checkout.lua "$connections")
    local kassa_after pg_after
    kassa_after=$(bench/cpu.py process "$server")
    pg_after=$(bench/cpu.py tree "$POSTMASTER")
    touch "$WORK/lag.stop"
    wait "$sampler" || true
    sampler=""
    python3 - "$result" "$kassa_before" "$kassa_after" "$pg_before" "$pg_after" "$(cat "$WORK/lag.json")" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
kb, ka, pb, pa = (float(x) for x in sys.argv[2:6])
n = max(1, r["requests"])
r["cpu_ms_per_checkout"] = {"kassa": round((ka - kb) * 1000 / n, 3), "postgres": round((pa - pb) * 1000 / n, 3),
                            "wrk": round(r["loadgen_cpu_seconds"] * 1000 / n, 3)}
r["consumer_lag"] = json.loads(sys.argv[6])
print(json.dumps(r))
PY
}

# Waits until every consumer has read every committed event; prints the seconds it took.
caught_up() {
    local t0 now
    t0=$(date +%s.%N)
    for _ in $(seq 1 3600); do
        waiting=$("${PSQL[@]}" -d "$DB" -c "SELECT count(*) FROM event_consumers c
            WHERE EXISTS (SELECT 1 FROM payment_events e WHERE (e.xid, e.seq) > (c.xid, c.seq))")
        [ "$waiting" = 0 ] && break
        sleep 0.5
    done
    now=$(date +%s.%N)
    python3 -c "print(round($now - $t0, 1))"
}

# 1. Ceilings: pgbench TPC-B-like (scale 10, 8 clients, durable commits), redis-benchmark, hello route.
if [ -z "${BENCH_HOLD:-}" ]; then
    say "ceilings"
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS bench_pgbench WITH (FORCE)" -c "CREATE DATABASE bench_pgbench" >/dev/null
    pgbench -h 127.0.0.1 -p "$PG_PORT" -U kassa -i -s 10 -q bench_pgbench >/dev/null 2>&1
    # The better of two runs after a checkpoint: a ceiling measured low would flatter the ratio.
    pgbench_tps=0
    pg_before=$(bench/cpu.py tree "$POSTMASTER")
    pgbench_count=0
    for _ in 1 2; do
        "${PSQL[@]}" -d bench_pgbench -c "CHECKPOINT" >/dev/null
        run=$(pgbench -h 127.0.0.1 -p "$PG_PORT" -U kassa -c 8 -j 2 -T "$DURATION" bench_pgbench 2>/dev/null)
        tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$run" | head -1)
        pgbench_count=$((pgbench_count + $(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$run")))
        pgbench_tps=$(python3 -c "print(max(float('$pgbench_tps'), float('${tps:-0}')))")
    done
    pg_after=$(bench/cpu.py tree "$POSTMASTER")
    pgbench_cpu_ms=$(python3 -c "print(round(($pg_after - $pg_before) * 1000 / max(1, $pgbench_count), 3))")
    redis_set=$(redis-benchmark -p "${KASSA_REDIS_PORT:-6380}" -t set -n 100000 -q 2>/dev/null | sed -nE 's/.*SET: ([0-9.]+) requests.*/\1/p')
    redis_incr=$(redis-benchmark -p "${KASSA_REDIS_PORT:-6380}" -t incr -n 100000 -q 2>/dev/null | sed -nE 's/.*INCR: ([0-9.]+) requests.*/\1/p')
    "$KASSA" hello --port "$HELLO_PORT" >/dev/null 2>&1 &
    hello=$!
    sleep 1
    hello_json=$(load hello "http://127.0.0.1:$HELLO_PORT/hello" bench/get.lua)
    kill "$hello"; hello=""
    # The history page's rendering alone, in one thread's CPU time (renderer changes are held to it).
    render_us=$("$KASSA" render-bench --iterations 5000 --templates Templates | sed -nE 's/^render-bench: ([0-9.]+) .*/\1/p')
fi

# 2. Kassa on its own database, workers on.
say "Kassa"
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
link_secret=$(head -c 32 /dev/urandom | base64 -w0)
export KASSA_PORT="$PORT" KASSA_BASE_URL="http://127.0.0.1:$PORT" KASSA_DATABASE_URL="postgres://kassa@127.0.0.1:$PG_PORT/$DB"
export KASSA_REDIS_URL="redis://127.0.0.1:${KASSA_REDIS_PORT:-6380}/0" KASSA_REDIS_PREFIX="bench$$:" KASSA_LOG_LEVEL=warning
export KASSA_LINK_KEYS="b1:$link_secret" KASSA_SECRET_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
export KASSA_ISSUER_LATENCY_MS=0 KASSA_RATE_API_KEY=100000000/60 KASSA_RATE_API_ACCOUNT=100000000/60 KASSA_RATE_LOGIN_IP=1000/60 KASSA_RATE_SIGNUP_IP=1000/60
# The checkout bench is one client address paying thousands of times a second with one card: what
# the payer limits exist to stop, so they are lifted here.
export KASSA_RATE_PAYER_IP=100000000/60 KASSA_RATE_PAYER_LINK=100000000/60 KASSA_RATE_PAYER_CARD=100000000/60
[ -n "${BENCH_POOL:-}" ] && export KASSA_DB_POOL_SIZE="$BENCH_POOL"
"$KASSA" serve --migrate > "$WORK/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }
rss_idle=$(rss "$server")

BASE="http://127.0.0.1:$PORT"
. scripts/lib.sh
make_merchant "$BASE" "$DB" "bench@example.com" "payment_links:write,payment_links:read,payments:read" \
    '[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
bench_key="$key"
# Risk rules on (issue 19: the checkout must keep its ratio with them): every rule but the velocities
# set, none refusing these payers (the velocities would: every payer here uses one card and address).
"${PSQL[@]}" -d "$DB" -c "INSERT INTO risk_rules (account_id, max_amount, blocked_countries, blocked_emails, score_threshold)
    SELECT account_id, 10000000, '{RU,KP}', '{blocked.example}', 100 FROM users WHERE email = 'bench@example.com'" >/dev/null
# Payers pay many links at once (invoices, one link each); one link shared by every payer (a
# donation page) is measured on its own: its use counter is one row that every checkout updates.
: > "$WORK/links.txt"
for _ in $(seq 1 "${BENCH_LINKS:-256}"); do
    new_link_path "$BASE" '{"amount":1999,"currency":"EUR","description":"Bench beans","max_uses":1000000,"expires_in":86400}' >> "$WORK/links.txt"
done
link_path=$(head -1 "$WORK/links.txt")
# Attempt tokens as the checkout page signs them, one per confirmation: round-robin over all links
# in tokens.txt, the first link's in tokens_shared.txt.
bench/attempt_tokens.py "$link_secret" "$WORK/links.txt" "$WORK/tokens.txt" 500000
bench/attempt_tokens.py "$link_secret" "$WORK/links.txt" "$WORK/tokens_shared.txt" 100000 --first-link-only

# As pgbench gets: loaded tables analysed and flushed before anything is measured, and no autovacuum
# still at work on them, so no page is measured behind the seeding's own checkpoint or vacuum.
settle() {
    "${PSQL[@]}" -d "$DB" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
    for _ in $(seq 1 180); do
        [ "$("${PSQL[@]}" -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")" = 0 ] && break
        sleep 1
    done
}
# Two more merchants for the history page: 10,000 payments, and $BIG payments (both 30 s apart), each
# with its events, written in SQL; the server's consumers derive their ledger, totals and
# notifications before anything is measured.
login() {
    local email="$1" cookie csrf
    cookie=$(curl -fs -c - -o /dev/null "$BASE/login" | awk '/kassa_pre/ {print "kassa_pre=" $7}')
    csrf=$(curl -fs -b "$cookie" "$BASE/login" | sed -nE 's/.*name="_csrf" value="([^"]+)".*/\1/p' | head -1)
    curl -fs -b "$cookie" -c - -o /dev/null -X POST "$BASE/login" --data-urlencode "_csrf=$csrf" \
        --data-urlencode "email=$email" --data-urlencode "password=black-box passphrase" | awk '/kassa_session/ {print "kassa_session=" $7}'
}
seed_history() {
    local email="$1" count="$2" tag="$3"
    make_merchant "$BASE" "$DB" "$email" "payments:read" '[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
    local account
    account=$("${PSQL[@]}" -d "$DB" -c "SELECT account_id FROM users WHERE email = '$email'")
    "${PSQL[@]}" -d "$DB" -v ON_ERROR_STOP=1 -v acct="$account" -v n="$count" -v tag="$tag" -v spacing=30 -f bench/seed_history.sql >/dev/null
}
say "seeding 10,000 payments of history"
seed_history "history10k@example.com" 10000 "hTEN"
lag_10k=$(caught_up)
# As pgbench gets: the loaded tables analysed and flushed before anything is measured.
settle
session_10k=$(login "history10k@example.com")
session=$(login "bench@example.com")

export BENCH_TOKENS="$WORK/tokens.txt" BENCH_LINK_PATH="$link_path" BENCH_KEY="$bench_key" BENCH_COOKIE="$session"
if [ -n "${BENCH_HOLD:-}" ]; then  # development: keep the server up for manual runs
    declare -p BASE BENCH_TOKENS BENCH_LINK_PATH BENCH_KEY BENCH_COOKIE link_path server session_10k > "$WORK/hold.env"
    echo "bench: holding; the server is $server (see $WORK/hold.env)"
    wait "$server"
fi
if [ -n "${BENCH_PERF:-}" ]; then  # development: where the server spends its CPU during checkouts
    perf record -F 499 -g -p "$server" -o "$WORK/perf.data" -- sleep "$((DURATION - 2))" >/dev/null 2>&1 &
fi
deadlocks() { "${PSQL[@]}" -d "$DB" -c "SELECT deadlocks FROM pg_stat_database WHERE datname = '$DB'"; }
deadlocks_before=$(deadlocks)

say "checkouts"
DURATION=3 load warmup "$BASE$link_path" bench/checkout.lua 32 >/dev/null  # pools and caches fill first
checkout_json=$(measured checkout 32)
rss_load=$(rss "$server")
checkout64_json=$(measured checkout_64 64)
# The same at about 80% of the 32-connection rate: each connection pauses between its requests;
# three short runs find the pause that gives 80%, since the latency shrinks as the load does.
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# The pause that moves a paced run from what it measured to the target: each of CONNECTIONS
# connections' cycles is its latency plus the pause. usage: corrected_pause PAUSE CONNECTIONS TARGET RESULT_JSON
corrected_pause() {
    python3 -c "print(max(1, round($1 + $2 * 1000 / $3 - $2 * 1000 / $(field "$4" rps))))"
}
target=$(python3 -c "print($(field "$checkout_json" rps) * 0.8)")
pause_ms=$(python3 -c "print(max(1, round(32000 / $target - $(field "$checkout_json" p50_ms))))")
for _ in 1 2 3; do
    probe=$(BENCH_DELAY_MS="$pause_ms" DURATION=4 load probe "$BASE$link_path" bench/checkout.lua 32)
    pause_ms=$(corrected_pause "$pause_ms" 32 "$target" "$probe")
done
# The machine's speed drifts between runs: when the paced run lands outside 75–85% of the maximum,
# correct the pause by what it measured and run it once more.
for _ in 1 2; do
    paced_json=$(BENCH_DELAY_MS="$pause_ms" load checkout_at_80pct "$BASE$link_path" bench/checkout.lua 32)
    share=$(python3 -c "print(round($(field "$paced_json" rps) / $(field "$checkout_json" rps), 2))")
    python3 -c "import sys; sys.exit(0 if 0.75 <= $share <= 0.85 else 1)" && break
    pause_ms=$(corrected_pause "$pause_ms" 32 "$target" "$paced_json")
done
shared_json=$(BENCH_TOKENS="$WORK/tokens_shared.txt" load checkout_one_link "$BASE$link_path" bench/checkout.lua 32)
deadlocks_after=$(deadlocks)
lag_after=$(caught_up)

say "API and pages"
payment_id=$("${PSQL[@]}" -d "$DB" -c "SELECT p.id FROM payments p JOIN users u ON u.account_id = p.account_id WHERE u.email = 'bench@example.com' LIMIT 1")
create_json=$(load create_link "$BASE/v1/payment_links" bench/create_link.lua 32)
get_json=$(load get_payment "$BASE/v1/payments/$payment_id" bench/get_payment.lua 32)
page_json=$(load checkout_page "$BASE$link_path" bench/get.lua 32)
# The merchant pages at 10,000 payments on a settled database, as those at a million are below.
# Measured straight after the checkouts and the links' creation, the history at 10k ran at 1,110
# views/s and at 1,499 when measured again later in the same run (2026-12-03 06:44); whatever those
# writes left behind, both measurements now start from the same state.
settle
history_json=$(BENCH_COOKIE="$session_10k" load history_page "$BASE/payments" bench/history.lua 16)
dashboard_json=$(BENCH_COOKIE="$session_10k" load dashboard "$BASE/dashboard" bench/history.lua 16)
refunded_id=$("${PSQL[@]}" -d "$DB" -c "SELECT p.id FROM payments p JOIN users u ON u.account_id = p.account_id WHERE u.email = 'history10k@example.com' AND p.status = 'refunded' LIMIT 1")
payment_page_json=$(BENCH_COOKIE="$session_10k" load payment_page "$BASE/payments/$refunded_id" bench/history.lua 16)
succeeded=$("${PSQL[@]}" -d "$DB" -c "SELECT count(*) FROM payments p JOIN users u ON u.account_id = p.account_id WHERE u.email = 'bench@example.com' AND p.status = 'succeeded'")

say "seeding $BIG payments of history"
seed_started=$(date +%s)
seed_history "history1m@example.com" "$BIG" "hBIG"
seed_seconds=$(($(date +%s) - seed_started))
lag_big=$(caught_up)
session_big=$(login "history1m@example.com")
settle
history_big_json=$(BENCH_COOKIE="$session_big" load history_page_1m "$BASE/payments" bench/history.lua 16)
dashboard_big_json=$(BENCH_COOKIE="$session_big" load dashboard_1m "$BASE/dashboard" bench/history.lua 16)
history_again_json=$(BENCH_COOKIE="$session_10k" load history_page_10k_again "$BASE/payments" bench/history.lua 16)
# The large merchant's history and dashboard at about 80% of their maximum (issue 16: p99 under
# 50 ms there): a pause per connection from the full-load rate and p50, corrected by two probes
# and, when the run lands outside 75–85%, once more.
paced_page() {  # name url full_load_json cookie
    local name="$1" url="$2" full="$3" cookie="$4" target pause probe
    target=$(python3 -c "print($(field "$full" rps) * 0.8)")
    pause=$(python3 -c "print(max(1, round(16000 / $target - $(field "$full" p50_ms))))")
    for _ in 1 2; do
        probe=$(BENCH_COOKIE="$cookie" BENCH_DELAY_MS="$pause" DURATION=4 load probe "$url" bench/history.lua 16)
        pause=$(corrected_pause "$pause" 16 "$target" "$probe")
    done
    # As for the checkout: outside 75–85% of the maximum, corrected by what it measured and run again.
    local paced share
    for _ in 1 2; do
        paced=$(BENCH_COOKIE="$cookie" BENCH_DELAY_MS="$pause" load "$name" "$url" bench/history.lua 16)
        share=$(python3 -c "print(round($(field "$paced" rps) / $(field "$full" rps), 2))")
        python3 -c "import sys; sys.exit(0 if 0.75 <= $share <= 0.85 else 1)" && break
        pause=$(corrected_pause "$pause" 16 "$target" "$paced")
    done
    echo "$paced"
}
# Every page a signed-in merchant opens, at a million payments (what grows with the merchant shows
# here): 3 s each at 16 connections, with Kassa's and PostgreSQL's CPU per view.
say "every merchant page at $BIG payments"
refunded_big=$("${PSQL[@]}" -d "$DB" -c "SELECT p.id FROM payments p JOIN users u ON u.account_id = p.account_id WHERE u.email = 'history1m@example.com' AND p.status = 'refunded' LIMIT 1")
pages_json="{"
for page in /dashboard /payments "/payments?status=failed" "/payments/$refunded_big" /links /forms /payment-methods \
    /notifications /settlements /developers/keys /developers/webhooks /docs /settings /settings/security /settings/team /settings/risk \
    /settings/audit /businesses; do
    kassa_before=$(bench/cpu.py process "$server")
    pg_before=$(bench/cpu.py tree "$POSTMASTER")
    one=$(BENCH_COOKIE="$session_big" DURATION=3 load page "$BASE$page" bench/history.lua 16)
    kassa_after=$(bench/cpu.py process "$server")
    pg_after=$(bench/cpu.py tree "$POSTMASTER")
    [ "$pages_json" = "{" ] || pages_json+=","
    key=$(sed "s/$refunded_big/{id}/" <<<"$page")
    pages_json+=$(python3 -c '
import json, sys
r = json.loads(sys.argv[2]); n = max(1, r["requests"])
kb, ka, pb, pa = (float(x) for x in sys.argv[3:7])
print(json.dumps({sys.argv[1]: {"rps": r["rps"], "p99_ms": r["p99_ms"], "errors": r["errors"],
    "cpu_ms_per_view": {"kassa": round((ka - kb) * 1000 / n, 3), "postgres": round((pa - pb) * 1000 / n, 3)}}})[1:-1])
' "$key" "$one" "$kassa_before" "$kassa_after" "$pg_before" "$pg_after")
done
pages_json+="}"
# A search of the history sums every matching payment and reads them in date order until a page is
# full: it grows with the merchant. Under load its requests outlive wrk's and keep PostgreSQL busy
# through whatever is measured next, so it is timed alone: three requests, one after the other.
search_ms=$(for _ in 1 2 3; do curl -s -o /dev/null -b "$session_big" -w '%{time_total}\n' "$BASE/payments?q=beans"; done |
    python3 -c 'import sys, statistics; print(round(statistics.median(float(x) for x in sys.stdin) * 1000, 1))')
history_paced_json=$(paced_page history_page_1m_at_80pct "$BASE/payments" "$history_big_json" "$session_big")
dashboard_paced_json=$(paced_page dashboard_1m_at_80pct "$BASE/dashboard" "$dashboard_big_json" "$session_big")

# 3. The checkout's SQL replayed by pgbench without a server: one checkout per commit as Kassa
# sends them under light load (bench/checkout_sql.sql), and 32 per commit as its batches do under
# load (bench/checkout_batch_sql.sql): the most this schema gives on this machine.
say "replays"
account=$("${PSQL[@]}" -d "$DB" -c "SELECT account_id FROM users WHERE email = 'bench@example.com'")
method=$("${PSQL[@]}" -d "$DB" -c "SELECT id FROM payment_methods WHERE account_id = '$account' LIMIT 1")
"${PSQL[@]}" -d "$DB" -c "INSERT INTO payment_links (account_id, id, amount, currency, description, max_uses, expires_at)
    SELECT '$account', 'plink_floor' || lpad(g::text, 19, '0'), 1999, 'EUR', 'Bench beans', 1000000, now() + interval '1 day'
    FROM generate_series(1, 256) g" >/dev/null
replay() {  # file clients -> "tps pg_cpu_ms_per_transaction"
    local before after run tps count
    "${PSQL[@]}" -d "$DB" -c "CHECKPOINT" >/dev/null
    before=$(bench/cpu.py tree "$POSTMASTER")
    run=$(pgbench -h 127.0.0.1 -p "$PG_PORT" -U kassa -n -M prepared -c "$2" -j 2 -T "$DURATION" -D "acct=$account" -D "method=$method" -f "$1" "$DB" 2>/dev/null)
    after=$(bench/cpu.py tree "$POSTMASTER")
    tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$run" | head -1)
    count=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' <<<"$run")
    echo "${tps:-0} $(python3 -c "print(round(($after - $before) * 1000 / max(1, ${count:-0}), 3))")"
}
read -r checkout_sql_tps checkout_sql_cpu <<<"$(replay bench/checkout_sql.sql 10)"
read -r batch_sql_tps batch_sql_cpu <<<"$(replay bench/checkout_batch_sql.sql 4)"
# A clean stop; twice a server did not stop after SIGTERM here, so the bench does not wait for ever.
stop_server "$server" 30 "bench's server" "$WORK/server.log"
server=""

python3 - "$OUT" <<PY
import json, sys
pg = float("${pgbench_tps:-0}" or 0)
hello = json.loads('''$hello_json''')
results = {r["name"]: r for r in [json.loads(x) for x in '''$checkout_json
$checkout64_json
$paced_json
$shared_json
$create_json
$get_json
$page_json
$history_json
$dashboard_json
$payment_page_json
$history_big_json
$dashboard_big_json
$history_again_json
$history_paced_json
$dashboard_paced_json'''.splitlines()]}
for name in ["checkout", "checkout_64", "checkout_one_link"]:
    results[name]["ratio_to_pgbench"] = round(results[name]["rps"] / pg, 3) if pg else None
for name in ["checkout_page", "history_page", "dashboard", "payment_page", "history_page_1m", "dashboard_1m", "history_page_10k_again"]:
    results[name]["ratio_to_hello"] = round(results[name]["rps"] / hello["rps"], 4)
sql_tps, sql_cpu = float("$checkout_sql_tps" or 0), float("$checkout_sql_cpu" or 0)
batch_tps, batch_cpu = float("$batch_sql_tps" or 0), float("$batch_sql_cpu" or 0)
c = results["checkout"]
report = {
    "machine": {"cores": $CORES, "pgbench_tps": pg, "pgbench_postgres_cpu_ms_per_transaction": float("${pgbench_cpu_ms:-0}"),
                "redis_set_rps": float("${redis_set:-0}" or 0), "redis_incr_rps": float("${redis_incr:-0}" or 0), "hello": hello},
    "kassa": results,
    "checkout": {
        "rps": c["rps"], "ratio_to_pgbench": c["ratio_to_pgbench"], "p99_ms": c["p99_ms"],
        "cpu_ms_per_checkout": c["cpu_ms_per_checkout"],
        "at_64_connections": {"rps": results["checkout_64"]["rps"], "ratio_to_pgbench": results["checkout_64"]["ratio_to_pgbench"],
                              "p99_ms": results["checkout_64"]["p99_ms"], "cpu_ms_per_checkout": results["checkout_64"]["cpu_ms_per_checkout"]},
        "at_80pct": {"rps": results["checkout_at_80pct"]["rps"], "share_of_max": round(results["checkout_at_80pct"]["rps"] / c["rps"], 2),
                     "p99_ms": results["checkout_at_80pct"]["p99_ms"]},
        "consumer_lag": c["consumer_lag"],
        "succeeded_payments": int("$succeeded"),
        "deadlocks": int("$deadlocks_after") - int("$deadlocks_before"),
        "consumers_caught_up_after_s": float("$lag_after"),
    },
    "checkout_at_80pct": {"rps": results["checkout_at_80pct"]["rps"], "p99_ms": results["checkout_at_80pct"]["p99_ms"]},
    "checkout_sql": {"tps": sql_tps, "ratio_to_pgbench": round(sql_tps / pg, 3) if pg else None, "postgres_cpu_ms_per_checkout": sql_cpu},
    "checkout_sql_batched_32": {"checkouts_per_s": round(batch_tps * 32, 1), "ratio_to_pgbench": round(batch_tps * 32 / pg, 3) if pg else None,
                                "postgres_cpu_ms_per_checkout": round(batch_cpu / 32, 3)},
    "history_page": {"rps": results["history_page"]["rps"], "p99_ms": results["history_page"]["p99_ms"], "payments": 10000,
                     "consumers_caught_up_after_seed_s": float("$lag_10k")},
    "history_page_1m": {"rps": results["history_page_1m"]["rps"], "p99_ms": results["history_page_1m"]["p99_ms"], "payments": int("$BIG"),
                        "ratio_to_10k": round(results["history_page_1m"]["rps"] / results["history_page"]["rps"], 3),
                        "ratio_to_10k_measured_after": round(results["history_page_1m"]["rps"] / results["history_page_10k_again"]["rps"], 3),
                        "seed_seconds": int("$seed_seconds"), "consumers_caught_up_after_seed_s": float("$lag_big")},
    "pages_at_80pct": {name: {"rps": results[f"{name}_at_80pct"]["rps"], "p99_ms": results[f"{name}_at_80pct"]["p99_ms"],
                              "share_of_max": round(results[f"{name}_at_80pct"]["rps"] / results[name]["rps"], 2)}
                       for name in ["history_page_1m", "dashboard_1m"]},
    "pages_1m": {path: dict(page, ratio_to_hello=round(page["rps"] / hello["rps"], 4)) for path, page in json.loads('''$pages_json''').items()},
    "history_search_1m_ms": float("$search_ms" or 0),
    "render_history_page_us": float("${render_us:-0}" or 0),
    "server_rss_mb": {"idle": int("$rss_idle"), "under_load": int("$rss_load")},
    "duration_seconds": int("$DURATION"),
    "bench_seconds": $(date +%s) - $started,
}
json.dump(report, open(sys.argv[1], "w"), indent=2)
print(f"{'workload':<22}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'ratio':>8}{'wrk cpu':>9}")
print(f"{'pgbench tpc-b':<22}{pg:>10.0f}   (PostgreSQL {report['machine']['pgbench_postgres_cpu_ms_per_transaction']} ms CPU per transaction)")
print(f"{'redis SET/INCR':<22}{report['machine']['redis_set_rps']:>10.0f} / {report['machine']['redis_incr_rps']:.0f}")
for r in [hello] + list(results.values()):
    ratio = r.get("ratio_to_pgbench", r.get("ratio_to_hello", ""))
    print(f"{r['name']:<22}{r['rps']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>8}{str(ratio):>8}{r['loadgen_cpu_share']:>9}")
for name in ["checkout", "checkout_64"]:
    print(f"{name}: CPU per checkout (ms) {results[name]['cpu_ms_per_checkout']}; consumer lag {results[name]['consumer_lag']['any']}")
print(f"checkout SQL, 1 per commit:  {sql_tps:>8.0f}/s = {report['checkout_sql']['ratio_to_pgbench']} x pgbench, PostgreSQL {sql_cpu} ms CPU each")
print(f"checkout SQL, 32 per commit: {batch_tps * 32:>8.0f}/s = {report['checkout_sql_batched_32']['ratio_to_pgbench']} x pgbench, PostgreSQL {report['checkout_sql_batched_32']['postgres_cpu_ms_per_checkout']} ms CPU each")
print(f"history: 10k {results['history_page']['rps']}/s, {int('$BIG')} {results['history_page_1m']['rps']}/s (ratio {report['history_page_1m']['ratio_to_10k']}); seeding took {int('$seed_seconds')} s, consumers caught up {float('$lag_big')} s later")
print(f"every merchant page at {int('$BIG')} payments (16 connections, 3 s each; CPU ms per view):")
for path, page in report["pages_1m"].items():
    print(f"  {path:<28}{page['rps']:>8.0f}/s  p99 {page['p99_ms']:>7.1f} ms  Kassa {page['cpu_ms_per_view']['kassa']:>6.2f}  PostgreSQL {page['cpu_ms_per_view']['postgres']:>7.2f}  errors {page['errors']}")
print(f"  a search of the history (/payments?q=beans), one request alone: {report['history_search_1m_ms']} ms")
print(f"deadlocks during the checkouts: {report['checkout']['deadlocks']}; server RSS {report['server_rss_mb']['idle']} MB idle, {report['server_rss_mb']['under_load']} MB under load; {report['checkout']['succeeded_payments']} payments succeeded; bench took {report['bench_seconds']} s")
PY
