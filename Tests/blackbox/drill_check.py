#!/usr/bin/env python3
"""Checks a drill's journal (what payers were told) against PostgreSQL (what happened) and the
webhook receiver's log (what merchants heard). Prints the counts as JSON; exits 1 when anything
was lost or doubled.

usage: drill_check.py JOURNAL WEBHOOK_LOG AUDIT_JSON DEADLOCKS_JSON PSQL_ARGS...
(AUDIT_JSON is what `kassa audit` printed; DEADLOCKS_JSON {"deadlocks": N} the deadlocks during the drill.)
DRILL_ACCOUNT_EMAIL: only that merchant's payments and balance (a shared database, make cluster-drills);
DRILL_NO_WEBHOOKS: no webhook receiver in this drill.
"""
import collections
import json
import os
import subprocess
import sys

journal_path, webhook_log, audit_path, deadlocks_path, psql = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]


def query(sql):
    out = subprocess.run(psql + ["-F", "\t", "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


entries = [json.loads(line) for line in open(journal_path) if line.strip()]
sent = [e for e in entries if e["kind"] == "sent"]
errors = [e for e in entries if e["kind"] == "error"]
answers = [e for e in entries if e["kind"] == "answer"]

account = os.environ.get("DRILL_ACCOUNT_EMAIL", "").replace("'", "")
only = f"WHERE account_id = (SELECT account_id FROM users WHERE email = '{account}')" if account else ""
payments = {row[0]: row for row in query(f"SELECT id, status, attempt_token, coalesce(single_use_link_id, ''), amount FROM payments {only}")}
by_token = collections.defaultdict(list)
for pid, status, token, _, _ in payments.values():
    by_token[token].append((pid, status))


def link_id(path):
    return path.split("/pay/")[1].split("?")[0]


succeeded_by_link = collections.Counter(row[3] for row in payments.values() if row[3] and row[1] == "succeeded")
problems = []
lost = 0
told_failed_but_charged = 0
counts = collections.Counter()
for answer in answers:
    outcome = answer["outcome"]
    if outcome == "closed" and "already been paid" in (answer.get("message") or ""):
        outcome = "paid_earlier"
    counts[outcome] += 1
    if "payment" in answer:
        row = payments.get(answer["payment"])
        if row is None:
            lost += 1
            problems.append(f"payment {answer['payment']} answered {outcome} is not in PostgreSQL")
        elif outcome == "succeeded" and row[1] != "succeeded":
            lost += 1
            problems.append(f"payment {answer['payment']} answered succeeded is {row[1]} in PostgreSQL")
    if outcome == "paid_earlier" and succeeded_by_link[link_id(answer["link"])] != 1:
        lost += 1
        problems.append(f"link {answer['link']} said already paid but has {succeeded_by_link[link_id(answer['link'])]} succeeded payments")
    if outcome not in ("succeeded", "paid_earlier"):
        charged = [pid for token in answer["tokens"] for pid, status in by_token.get(token, []) if status == "succeeded"]
        if charged:
            told_failed_but_charged += 1
            problems.append(f"payer told {outcome} but {charged} succeeded")

doubled = 0
for link, count in succeeded_by_link.items():
    if count > 1:
        doubled += count - 1
        problems.append(f"single-use link {link} has {count} succeeded payments")
for token, rows in by_token.items():
    if token and len(rows) > 1:
        doubled += len(rows) - 1
        problems.append(f"attempt {token} has {len(rows)} payments")
succeeded_ids = {pid for pid, row in payments.items() if row[1] == "succeeded"}
answered_ids = [a["payment"] for a in answers if a.get("payment")]
for pid, count in collections.Counter(answered_ids).items():
    if count > 1:
        doubled += count - 1
        problems.append(f"payment {pid} was the answer to {count} payers")

try:
    audit = json.load(open(audit_path))["ledger"]
except (OSError, ValueError, KeyError):
    audit = None
    problems.append("kassa audit printed no report")
ledger = {key: (audit or {}).get(key, -1) for key in ("events_without_transfer", "transfers_without_event", "balances_off", "rebuild_differences")}
for key, count in ledger.items():
    if count != 0:
        problems.append(f"ledger audit: {key.replace('_', ' ')}: {count}")
if audit is not None:
    for line in json.load(open(audit_path)).get("settlement_discrepancies", [])[:3]:
        problems.append(f"settlements: {line}")
balance = int(query(f"SELECT coalesce(sum(CASE WHEN credit = 'merchant_balance' THEN amount ELSE -amount END), 0) FROM ledger_transfers {only}")[0][0])
captured = sum(int(row[4]) for row in payments.values() if row[1] == "succeeded")
processing = sum(1 for row in payments.values() if row[1] == "processing")
if balance != captured:
    problems.append(f"merchant balance {balance} differs from captured {captured}")
deadlocks = json.load(open(deadlocks_path)).get("deadlocks", -1)
if deadlocks != 0:
    problems.append(f"{deadlocks} deadlocks during the drill")
if processing:
    problems.append(f"{processing} payments still processing")

delivered = set()
try:
    for line in open(webhook_log):
        parts = line.split()
        if len(parts) == 3 and parts[1] == "payment.succeeded":
            delivered.add(parts[2])
except FileNotFoundError:
    pass
if not succeeded_ids:
    problems.append("no payment succeeded: the load never reached the server")
undelivered = set() if os.environ.get("DRILL_NO_WEBHOOKS") else succeeded_ids - delivered
if undelivered:
    problems.append(f"{len(undelivered)} succeeded payments have no delivered webhook, e.g. {sorted(undelivered)[:3]}")

report = {
    "requests_sent": len(sent),
    "payers": len(answers),
    "succeeded": counts["succeeded"] + counts["paid_earlier"],
    "declined": counts["failed"],
    "failed_with_clear_error": len(errors) + counts["refused"] + counts["closed"],
    "gave_up": counts["gave_up"] + counts["unknown"],
    "lost": lost,
    "doubled": doubled,
    "told_failed_but_charged": told_failed_but_charged,
    "payments_in_postgres": len(payments),
    "succeeded_in_postgres": len(succeeded_ids),
    "ledger_events_without_transfer": ledger["events_without_transfer"],
    "ledger_transfers_without_event": ledger["transfers_without_event"],
    "ledger_balances_off": ledger["balances_off"],
    "ledger_rebuild_differences": ledger["rebuild_differences"],
    "deadlocks": deadlocks,
    "still_processing": processing,
    "webhooks_delivered": len(delivered & succeeded_ids),
    "webhooks_missing": len(undelivered),
}
print(json.dumps(report))
for problem in problems[:20]:
    print("drill problem:", problem, file=sys.stderr)
sys.exit(1 if problems or report["gave_up"] else 0)
