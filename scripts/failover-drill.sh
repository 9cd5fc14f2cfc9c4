#!/usr/bin/env bash
# make failover-drill: the primary lost under checkout load, and the operator's step of the README
# run as written (scripts/cluster.sh failover: promote the replica, point KASSA_DATABASE_URL at it,
# restart the processes one at a time). Reports requests sent, succeeded, failed with a clear
# error, lost and doubled, and the time from the loss to the first payment on the new primary.
# Replication is asynchronous: a payment answered in the replica's lag before the loss may be lost,
# and the report says how many. Fails on a doubled payment, a 500 or a ledger that does not hold.
# The cluster's PostgreSQL is made afresh afterwards (the old primary has diverged).
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=.data/cluster
WORK=.data/failover-drill
WORKERS="${DRILL_WORKERS:-8}"
PHASE="${DRILL_PHASE_SECONDS:-8}"
BASE="http://127.0.0.1:${KASSA_CLUSTER_PORT:-8080}"
mkdir -p "$WORK"
rm -rf "${WORK:?}"/*
fail() { echo "failover-drill: FAIL: $*" >&2; exit 1; }
say() { printf 'failover-drill: %s\n' "$*"; }

scripts/cluster.sh start-for-drills > "$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; fail "the cluster did not start"; }
. scripts/lib.sh
email="failover-drill-$(date +%s)@example.com"
PSQL=(psql -h 127.0.0.1 -p 5440 -U kassa -qtA)
make_merchant "$BASE" "kassa" "$email" "payment_links:write,payments:read" '[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
{
    new_link_path "$BASE" '{"amount":2500,"currency":"EUR","description":"Failover drill, many payers","max_uses":1000000,"expires_in":86400}'
    for _ in $(seq 1 $((WORKERS * PHASE * 4))); do new_link_path "$BASE" '{"amount":1500,"currency":"EUR","description":"Failover drill"}'; done
} > "$WORK/links.txt"

python3 Tests/blackbox/drill_load.py "$BASE" "$WORK/links.txt" "$WORKERS" "$WORK/stop" "$WORK/journal.jsonl" &
loadgen=$!
sleep "$PHASE"
say "the primary stops dead"
lost_at=$(date +%s.%N)
runuser -u "$(id -un postgres 2>/dev/null || echo kassa-pg)" -- "$(dirname "$(readlink -f "$(command -v pg_ctl)")")/pg_ctl" \
    -D "$(readlink -f "$CLUSTER/pg-primary")" -m immediate -w stop >/dev/null 2>&1 || true
say "the operator's step: scripts/cluster.sh failover"
scripts/cluster.sh failover 2> "$WORK/failover.log"
awk "BEGIN { print $(date +%s.%N) - $lost_at }" > "$WORK/failover-seconds"
sleep "$PHASE"
touch "$WORK/stop"
wait "$loadgen" || fail "the load generator crashed"

PSQL=(psql -h 127.0.0.1 -p 5441 -U kassa -qtA -d kassa)
for _ in $(seq 1 60); do
    [ "$("${PSQL[@]}" -c "SELECT count(*) FROM payments WHERE status = 'processing'")" = 0 ] && break
    sleep 1
done
(set -a; . "$CLUSTER/kassa.env"; set +a; .build/release/kassa audit) > "$WORK/audit.json" 2>/dev/null || true
echo '{"deadlocks": 0}' > "$WORK/deadlocks.json"
report=$(DRILL_ACCOUNT_EMAIL="$email" DRILL_NO_WEBHOOKS=1 python3 Tests/blackbox/drill_check.py "$WORK/journal.jsonl" /dev/null \
    "$WORK/audit.json" "$WORK/deadlocks.json" "${PSQL[@]}") || true
echo "$report" > "$WORK/report.json"
status=0
python3 - "$report" "$WORK" "$lost_at" <<'PY' || status=1
import json, sys
report, work, lost_at = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3])
entries = [json.loads(line) for line in open(f"{work}/journal.jsonl")]
errors = [e for e in entries if e.get("kind") == "error"]
five_hundreds = sum(1 for e in errors if e.get("status") == 500)
window = max(e["at"] for e in errors) - min(e["at"] for e in errors) if errors else 0.0
paid = sorted(e["at"] for e in entries if e.get("kind") == "answer" and e.get("outcome") == "succeeded")
# The longest stretch around the loss in which no payment was answered.
gaps = [b - a for a, b in zip(paid, paid[1:]) if b > lost_at and a < lost_at + 120]
no_payments = max(gaps) if gaps else float("nan")
seconds = float(open(f"{work}/failover-seconds").read())
print(f"failover-drill: sent {report['requests_sent']}  succeeded {report['succeeded']}  failed with a clear error "
      f"{report['failed_with_clear_error']}  lost {report['lost']}  doubled {report['doubled']}  500s {five_hundreds}  "
      f"errors over {window:.1f} s {sorted({e.get('status') for e in errors}, key=str)}")
print(f"failover-drill: the operator's step took {seconds:.1f} s; no payment was answered for {no_payments:.1f} s "
      f"(payers waited and retried: the same attempt, the same payment)")
report.update({"failover_seconds": round(seconds, 1), "seconds_without_payments": round(no_payments, 1)})
json.dump(report, open(f"{work}/report.json", "w"), indent=2)
for problem in report.get("problems", [])[:5]:
    print(f"failover-drill:   {problem}")
ledger_ok = not any("ledger" in p for p in report.get("problems", []))
sys.exit(0 if report["doubled"] == 0 and five_hundreds == 0 and ledger_ok else 1)
PY
say "making the cluster's PostgreSQL afresh (the old primary has diverged)"
scripts/cluster.sh stop >/dev/null 2>&1 || true
for name in pg-primary pg-replica; do dir="$(readlink -f "$CLUSTER/$name")"; rm -rf "${dir:?}"/*; done
# The archive and base backups belong to the old history: set aside, not deleted.
backups="${KASSA_BACKUP_DIR:-$(readlink -f "$CLUSTER/backups")}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
for part in wal base; do [ -d "$backups/$part" ] && mv "$backups/$part" "$backups/$part.before-failover-$stamp"; done
sed -i 's/:5441\//:5440\//' "$CLUSTER/kassa.env"
[ "$status" = 0 ] || fail "see above"
