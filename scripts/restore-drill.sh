#!/usr/bin/env bash
# make restore-drill: under checkout load through the cluster, take a base backup, keep paying,
# destroy the primary's data folder (the disaster), restore to the last archived WAL
# (scripts/cluster.sh restore), and check that every payment answered `succeeded` before the last
# restored commit is there exactly once and that the ledger balances (kassa audit). Reports the
# data lost (seconds of WAL not yet archived) and the time to restore.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTER=.data/cluster
WORK=.data/restore-drill
WORKERS="${DRILL_WORKERS:-8}"
BASE="http://127.0.0.1:${KASSA_CLUSTER_PORT:-8080}"
PSQL=(psql -h 127.0.0.1 -p 5440 -U kassa -qtA)
mkdir -p "$WORK"
rm -rf "${WORK:?}"/*
fail() { echo "restore-drill: FAIL: $*" >&2; exit 1; }
say() { printf 'restore-drill: %s\n' "$*"; }

scripts/cluster.sh start-for-drills > "$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; fail "the cluster did not start"; }

. scripts/lib.sh
email="restore-drill-$(date +%s)@example.com"
make_merchant "$BASE" "kassa" "$email" "payment_links:write,payments:read" '[{"issuer":"iss_test_visa","currencies":["EUR"]}]'
PSQL=(psql -h 127.0.0.1 -p 5440 -U kassa -qtA -d kassa)
{
    new_link_path "$BASE" '{"amount":2500,"currency":"EUR","description":"Restore drill, many payers","max_uses":1000000,"expires_in":86400}'
    for _ in $(seq 1 $((WORKERS * 40))); do new_link_path "$BASE" '{"amount":1500,"currency":"EUR","description":"Restore drill"}'; done
} > "$WORK/links.txt"

python3 Tests/blackbox/drill_load.py "$BASE" "$WORK/links.txt" "$WORKERS" "$WORK/stop" "$WORK/journal.jsonl" &
loadgen=$!
sleep 5
say "base backup under load"
scripts/cluster.sh backup | tee "$WORK/backup.txt"
sleep 15
say "the disaster: the primary stops dead and its data folder is destroyed"
owner=$(id -un postgres 2>/dev/null || echo kassa-pg)
primary=$(readlink -f "$CLUSTER/pg-primary")
disaster=$(date +%s.%N)
runuser -u "$owner" -- "$(dirname "$(readlink -f "$(command -v pg_ctl)")")/pg_ctl" -D "$primary" -m immediate -w stop >/dev/null 2>&1 || true
rm -rf "${primary:?}"/*
sleep 3
touch "$WORK/stop"
wait "$loadgen" || true
say "restore to the last archived WAL"
scripts/cluster.sh restore | tee "$WORK/restore.txt"
for _ in $(seq 1 60); do
    [ "$("${PSQL[@]}" -c "SELECT count(*) FROM payments WHERE status = 'processing'")" = 0 ] && break
    sleep 1
done
(set -a; . "$CLUSTER/kassa.env"; set +a; .build/release/kassa audit) > "$WORK/audit.json" 2>/dev/null || true
last=$(sed -nE 's/^last restored commit: .* \(([0-9.]+) epoch\)$/\1/p' "$WORK/restore.txt")
[ -n "$last" ] || fail "the restore did not say its last commit"
python3 - "$WORK/journal.jsonl" "$last" "$disaster" "$WORK/audit.json" "$email" "$WORK/restore.txt" "${PSQL[@]}" <<'PY'
import json, subprocess, sys
journal, last, disaster, audit_path, email, restore_txt, psql = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:]
rows = subprocess.run(psql + ["-F", "\t", "-c", f"SELECT id, status, attempt_token FROM payments WHERE account_id = (SELECT account_id FROM users WHERE email = '{email}')"],
                      check=True, capture_output=True, text=True).stdout.splitlines()
payments = {row.split("\t")[0]: row.split("\t") for row in rows}
tokens = {}
for pid, status, token in payments.values():
    tokens.setdefault(token, []).append(pid)
answers = [json.loads(l) for l in open(journal) if '"kind": "answer"' in l]
succeeded = [a for a in answers if a["outcome"] == "succeeded" and a.get("payment")]
# A payment answered before the last restored commit committed before it, so it must be there.
before = [a for a in succeeded if a["at"] <= last]
lost = [a["payment"] for a in before if payments.get(a["payment"], [None, None])[1] != "succeeded"]
doubled = sum(len(p) - 1 for t, p in tokens.items() if t and len(p) > 1)
after = [a for a in succeeded if a["at"] > last]
missing_after = sum(1 for a in after if a["payment"] not in payments)
audit = json.load(open(audit_path)).get("ledger", {}) if open(audit_path).read().strip() else {}
holds = all(audit.get(k, -1) == 0 for k in ("events_without_transfer", "transfers_without_event", "balances_off", "rebuild_differences"))
restore_seconds = [l for l in open(restore_txt) if l.startswith("restore complete")]
print(f"restore-drill: answered succeeded {len(succeeded)}: {len(before)} before the last restored commit, of which lost {len(lost)}; "
      f"doubled {doubled}; {len(after)} answered after it ({missing_after} of them not in the restored database: the WAL not yet archived)")
print(f"restore-drill: data lost: {disaster - last:.1f} s of commits before the disaster; ledger {'holds' if holds else 'DOES NOT HOLD'}; "
      + (restore_seconds[0].strip() if restore_seconds else "no restore time"))
json.dump({"answered_succeeded": len(succeeded), "before_last_restored_commit": len(before), "lost": len(lost), "doubled": doubled,
           "answered_after": len(after), "not_restored_after": missing_after, "seconds_of_commits_lost": round(disaster - last, 1),
           "ledger_holds": holds}, open("bench/restore-drill.json", "w"), indent=2)
sys.exit(0 if not lost and not doubled and holds else 1)
PY
