#!/usr/bin/env python3
"""Samples the consumers' lag every 0.2 s until STOP_FILE exists, over one psql session (a new
connection per sample would cost PostgreSQL more than the query); prints JSON with the p50, p99 and
maximum over the samples, per consumer and for the worst consumer of each sample.

usage: lag.py STOP_FILE PSQL_ARGS...
"""
import json
import subprocess
import sys
import time

stop, psql = sys.argv[1], sys.argv[2:]
SQL = """SELECT c.name, coalesce(extract(epoch FROM clock_timestamp() - (
    SELECT e.created_at FROM payment_events e WHERE (e.xid, e.seq) > (c.xid, c.seq) ORDER BY e.xid, e.seq LIMIT 1)), 0)
FROM event_consumers c;
SELECT 'end-of-sample';
"""
session = subprocess.Popen(psql + ["-F", " "], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
samples = {}
worst = []
while True:
    try:
        open(stop).close()
        break
    except OSError:
        pass
    session.stdin.write(SQL.replace("\n", " ") + "\n")
    session.stdin.flush()
    values = {}
    for line in session.stdout:
        line = line.strip()
        if line == "end-of-sample":
            break
        name, _, seconds = line.partition(" ")
        if name:
            values[name] = float(seconds or 0)
            samples.setdefault(name, []).append(values[name])
    if values:
        worst.append(max(values.values()))
    time.sleep(0.2)
session.stdin.close()
session.wait()


def summary(values):
    if not values:
        return {"samples": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"samples": len(ordered), "p50_s": round(pick(0.5), 3), "p99_s": round(pick(0.99), 3), "max_s": round(ordered[-1], 3)}


print(json.dumps({"any": summary(worst), **{name: summary(values) for name, values in sorted(samples.items())}}))
