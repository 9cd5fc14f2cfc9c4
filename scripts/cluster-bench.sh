#!/usr/bin/env bash
# make cluster-bench: checkouts per second through HAProxy and three Kassa processes, against one
# Kassa process alone on the same 2 cores (the other two stopped, no HAProxy), with the same
# wrk script as make bench (bench/checkout.lua, 32 connections). Writes bench/cluster.json.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=.data/cluster
WORK=.data/cluster-bench
SECONDS_EACH="${CLUSTER_BENCH_SECONDS:-15}"
BASE="http://127.0.0.1:${KASSA_CLUSTER_PORT:-8080}"
mkdir -p "$WORK" bench
fail() { echo "cluster-bench: FAIL: $*" >&2; exit 1; }
command -v wrk >/dev/null 2>&1 || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
curl -fs "$BASE/health" >/dev/null 2>&1 || scripts/cluster.sh start >/dev/null
# The bench is one client paying thousands of times a second with one card: lift the payer limits
# (as make bench does) and roll them into the processes.
cat > "$CLUSTER/extra.env" <<ENV
KASSA_RATE_PAYER_IP=100000000/60
KASSA_RATE_PAYER_LINK=100000000/60
KASSA_RATE_PAYER_CARD=100000000/60
KASSA_RATE_API_KEY=100000000/60
KASSA_RATE_API_ACCOUNT=100000000/60
KASSA_ISSUER_LATENCY_MS=0
KASSA_LOG_LEVEL=warning
ENV
scripts/cluster.sh release 2>/dev/null

. scripts/lib.sh
PSQL=(psql -h 127.0.0.1 -p 5440 -U kassa -qtA)
email="cluster-bench-$(date +%s)@example.com"
make_merchant "$BASE" "kassa" "$email" "payment_links:write,payments:read" '[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
: > "$WORK/links.txt"
for _ in $(seq 1 64); do
    new_link_path "$BASE" '{"amount":1999,"currency":"EUR","description":"Cluster bench","max_uses":1000000,"expires_in":86400}' >> "$WORK/links.txt"
done
secret=$(sed -nE 's/^KASSA_LINK_KEYS=[^:]+:(.*)$/\1/p' "$CLUSTER/kassa.env" | cut -d, -f1)
bench/attempt_tokens.py "$secret" "$WORK/links.txt" "$WORK/tokens.txt" 300000
offset=0
run() {
    local name="$1" url="$2" seconds="$3" out
    out=$(BENCH_TOKENS="$WORK/tokens.txt" BENCH_TOKEN_OFFSET=$offset wrk -t2 -c32 -d"${seconds}s" -s bench/checkout.lua "$url" 2>&1)
    local result
    result=$(sed -n 's/^RESULT //p' <<<"$out")
    [ -n "$result" ] || fail "$name: $out"
    offset=$((offset + $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['requests'] + 64)" "$result")))
    echo "$result"
}
# Whatever runs later in a session runs faster (warm-up), so the two setups alternate: each round
# measures one process alone (the other two stopped, HAProxy sees them down, straight to :8081) and
# then the three through HAProxy, each after its own warm-up; the ratio is the median round's.
ROUNDS="${CLUSTER_BENCH_ROUNDS:-4}"
results=()
for round in $(seq 1 "$ROUNDS"); do
    kill -TERM "$(cat "$CLUSTER/kassa-8082.pid")" "$(cat "$CLUSTER/kassa-8083.pid")"
    sleep 4
    run warmup "http://127.0.0.1:8081" 8 >/dev/null
    single=$(run single "http://127.0.0.1:8081" "$SECONDS_EACH")
    through=$(run single_through_haproxy "$BASE" "$SECONDS_EACH")
    scripts/cluster.sh start >/dev/null 2>&1
    sleep 3
    run warmup "$BASE" 8 >/dev/null
    cluster=$(run cluster "$BASE" "$SECONDS_EACH")
    results+=("{\"single\": $single, \"through\": $through, \"cluster\": $cluster}")
done
python3 - "${results[@]}" <<'PY'
import json, statistics, sys
rounds = [json.loads(a) for a in sys.argv[1:]]
for i, r in enumerate(rounds, 1):
    r["ratio"] = round(r["cluster"]["rps"] / r["single"]["rps"], 3)
    for name, key in [("3 processes via HAProxy", "cluster"), ("1 process, direct", "single"), ("1 process via HAProxy", "through")]:
        x = r[key]
        print(f"cluster-bench: round {i}: {name:24} {x['rps']:7.1f} checkouts/s  p50 {x['p50_ms']:.1f} ms  p99 {x['p99_ms']:.1f} ms  errors {x['errors']}")
    print(f"cluster-bench: round {i}: three through HAProxy / one alone = {r['ratio']:.2f}")
# The session still warms up from round to round, so each cluster run is also held against the
# one process measured just before it and just after it (the next round's): the figure that counts.
bracketed = [rounds[i]["cluster"]["rps"] * 2 / (rounds[i]["single"]["rps"] + rounds[i + 1]["single"]["rps"]) for i in range(len(rounds) - 1)]
for i, b in enumerate(bracketed, 1):
    print(f"cluster-bench: round {i}: three through HAProxy / one alone before and after = {b:.2f}")
ratio = statistics.median(bracketed) if bracketed else statistics.median(r["ratio"] for r in rounds)
json.dump({"rounds": [{"three_processes_through_haproxy": r["cluster"], "one_process_direct": r["single"],
                       "one_process_through_haproxy": r["through"], "ratio": r["ratio"]} for r in rounds],
           "bracketed": [round(b, 3) for b in bracketed], "ratio": round(ratio, 3)}, open("bench/cluster.json", "w"), indent=2)
print(f"cluster-bench: three through HAProxy / one alone = {ratio:.2f}, the median of {len(bracketed) or len(rounds)} (must be at least 0.9)")
sys.exit(0 if ratio >= 0.9 else 1)
PY
