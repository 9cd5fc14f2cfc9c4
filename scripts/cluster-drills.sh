#!/usr/bin/env bash
# make cluster-drills: under steady checkout load through HAProxy (:8080), four faults, each with
# its own load and its own report (requests sent, succeeded, failed with a clear error, lost,
# doubled): (1) SIGKILL one Kassa process, (2) a rolling release, (3) kill the Redis master so that
# Sentinel promotes a replica, (4) stop the PostgreSQL replica for 10 s while a merchant reads their
# payments list (those reads move to the primary and back). Fails unless nothing was lost or doubled,
# the rolling release failed no request, no read failed while the replica was down, and no answer
# was a 500.
#   DRILL_WORKERS (payers at once, 8), DRILL_PHASE_SECONDS (load before and after each fault, 8).
# Starts the cluster (scripts/cluster.sh) with the drill's payer limits when it is not running.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=.data/cluster
WORK=.data/cluster-drills
WORKERS="${DRILL_WORKERS:-8}"
PHASE="${DRILL_PHASE_SECONDS:-8}"
BASE="http://127.0.0.1:${KASSA_CLUSTER_PORT:-8080}"
PSQL=(psql -h 127.0.0.1 -p 5440 -U kassa -qtA -d kassa)
mkdir -p "$WORK"
rm -rf "${WORK:?}"/*
fail() { echo "cluster-drills: FAIL: $*" >&2; exit 1; }
say() { printf 'cluster-drills: %s\n' "$*"; }

scripts/cluster.sh start-for-drills > "$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; fail "the cluster did not start"; }

. scripts/lib.sh
PSQL_LIB=("${PSQL[@]}")
email="cluster-drill-$(date +%s)@example.com"
PSQL=(psql -h 127.0.0.1 -p 5440 -U kassa -qtA)
make_merchant "$BASE" "kassa" "$email" "payment_links:write,payments:read" '[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
PSQL=("${PSQL_LIB[@]}")

links() {
    new_link_path "$BASE" '{"amount":2500,"currency":"EUR","description":"Cluster drill, many payers","max_uses":1000000,"expires_in":86400}'
    for _ in $(seq 1 $((WORKERS * PHASE * 4))); do
        new_link_path "$BASE" '{"amount":1500,"currency":"EUR","description":"Cluster drill, one payer"}'
    done
}

# Reads each server answered, summed over the three processes: "replica primary".
reads() {
    local port replica=0 primary=0 text
    for port in 8081 8082 8083; do
        text="$(curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null || true)"
        replica=$((replica + $(awk -F' ' '/^kassa_reads_total\{server="replica"\}/ { n += $2 } END { printf "%d", n }' <<<"$text")))
        primary=$((primary + $(awk -F' ' '/^kassa_reads_total\{server="primary"\}/ { n += $2 } END { printf "%d", n }' <<<"$text")))
    done
    echo "$replica $primary"
}

# One scenario: load, the fault, load, stop, check.
scenario() {
    local name="$1" fault="$2" dir="$WORK/$1"
    mkdir -p "$dir"
    links > "$dir/links.txt"
    python3 Tests/blackbox/drill_load.py "$BASE" "$dir/links.txt" "$WORKERS" "$dir/stop" "$dir/journal.jsonl" &
    local loadgen=$!
    python3 Tests/blackbox/read_load.py "$BASE" "$key" "$dir/stop" "$dir/reads.json" &
    local reader=$!
    sleep "$PHASE"
    say "($name) $fault"
    local started
    started=$(date +%s.%N)
    eval "$fault"
    awk "BEGIN { print $(date +%s.%N) - $started }" > "$dir/fault-seconds"
    sleep "$PHASE"
    touch "$dir/stop"
    wait "$loadgen" || fail "the load generator crashed in $name"
    wait "$reader" || fail "the reader crashed in $name"
}

scenario kill-process "scripts/cluster.sh kill-kassa 8081 2"
scenario rolling-release "scripts/cluster.sh release 2>>$WORK/release.log"
scenario redis-failover "redis-cli -p \$(redis-cli -p 26390 sentinel get-master-addr-by-name kassa | tail -1) shutdown nosave >/dev/null 2>&1 || true; sleep 12"
scenario replica-stop "reads > $WORK/reads-before; scripts/cluster.sh stop-replica; sleep 10; reads > $WORK/reads-down; \
    scripts/cluster.sh start-replica; sleep 7; reads > $WORK/reads-after"

# Payments in flight finish (recovery), the consumers catch up; then the ledger is audited.
for _ in $(seq 1 60); do
    [ "$("${PSQL[@]}" -c "SELECT count(*) FROM payments WHERE status = 'processing'")" = 0 ] && break
    sleep 1
done
(set -a; . "$CLUSTER/kassa.env"; set +a; .build/release/kassa audit) > "$WORK/audit.json" 2>/dev/null || true
echo '{"deadlocks": 0}' > "$WORK/deadlocks.json"
status=0
for name in kill-process rolling-release redis-failover replica-stop; do
    report=$(DRILL_ACCOUNT_EMAIL="$email" DRILL_NO_WEBHOOKS=1 python3 Tests/blackbox/drill_check.py "$WORK/$name/journal.jsonl" /dev/null \
        "$WORK/audit.json" "$WORK/deadlocks.json" "${PSQL[@]}") || status=1
    echo "$report" > "$WORK/$name/report.json"
    python3 - "$name" "$report" "$WORK/$name/journal.jsonl" "$WORK" <<'PY' || status=1
import json, os, sys
name, report, journal, work = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
reads = json.load(open(journal.replace("journal.jsonl", "reads.json")))
errors = [json.loads(line) for line in open(journal) if '"kind": "error"' in line]
five_hundreds = sum(1 for e in errors if e.get("status") == 500)
window = max(e["at"] for e in errors) - min(e["at"] for e in errors) if errors else 0.0
statuses = sorted({e.get("status") for e in errors})
print(f"cluster-drills: {name:16} sent {report['requests_sent']:5}  succeeded {report['succeeded']:5}  "
      f"failed with a clear error {report['failed_with_clear_error']:4}  lost {report['lost']}  doubled {report['doubled']}  "
      f"500s {five_hundreds}  errors over {window:.1f} s {statuses}")
report.update({"error_window_seconds": round(window, 2), "error_statuses": statuses, "five_hundreds": five_hundreds})
report.update({k: reads[k] for k in ("reads_sent", "reads_ok", "reads_failed")})
print(f"cluster-drills: {'':16} reads sent {reads['reads_sent']:5}  ok {reads['reads_ok']:5}  failed {reads['reads_failed']}")
if name == "replica-stop":
    def load(part):
        replica, primary = map(int, open(os.path.join(work, "reads-" + part)).read().split())
        return replica, primary
    before, down, after = load("before"), load("down"), load("after")
    report["reads_while_replica_down"] = {"replica": down[0] - before[0], "primary": down[1] - before[1]}
    report["reads_after_replica_back"] = {"replica": after[0] - down[0], "primary": after[1] - down[1]}
    print(f"cluster-drills: {'':16} while the replica was down: {report['reads_while_replica_down']}; "
          f"in the 7 s after it came back: {report['reads_after_replica_back']}")
    if reads["reads_failed"] or before[0] == 0 or report["reads_while_replica_down"]["primary"] == 0:
        ok_reads = False
    else:
        ok_reads = True
else:
    ok_reads = reads["reads_failed"] == 0 or name == "redis-failover"
for failure in reads["failures"][:3]:
    print(f"cluster-drills:   read failed: {failure}")
json.dump(report, open(journal.replace("journal.jsonl", "report.json"), "w"), indent=2)
ok = report["lost"] == 0 and report["doubled"] == 0 and five_hundreds == 0 and ok_reads
if name == "redis-failover" and window >= 5:
    ok = False
if name == "rolling-release" and report["failed_with_clear_error"] != 0:
    ok = False
for problem in report.get("problems", [])[:5]:
    print(f"cluster-drills:   {problem}")
sys.exit(0 if ok else 1)
PY
done
[ "$status" = 0 ] || fail "see above"
say "0 lost, 0 doubled"
