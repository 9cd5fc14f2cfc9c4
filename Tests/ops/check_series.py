#!/usr/bin/env python3
"""Every series the alert rules and the Grafana dashboard name is one Kassa exports.

Reads the metric names out of ops/prometheus/alerts.yml and every `expr` of
ops/grafana/kassa.json, and compares them with a scrape of a running Kassa's /metrics (after a
checkout, so the checkout's histograms exist). `up` is Prometheus's own. Also writes the
dashboard's expressions as recording rules, for `promtool check rules` to parse them.

usage: check_series.py METRICS_FILE RULES_OUT
"""
import json
import re
import sys

metrics_file, rules_out = sys.argv[1], sys.argv[2]
exported = set()
for line in open(metrics_file):
    if line.startswith("#") or not line.strip():
        continue
    name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
    exported.add(name)
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            exported.add(name[: -len(suffix)])

alerts = open("ops/prometheus/alerts.yml").read()
alert_exprs = re.findall(r"expr: \|\n((?:          .*\n)+)|expr: (.*)", alerts)
expressions = [(block or line).strip() for block, line in alert_exprs]
dashboard = json.load(open("ops/grafana/kassa.json"))
panel_exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
expressions += panel_exprs

NAME = re.compile(r"\b((?:kassa|process)_[a-z0-9_]+)\b")
missing = sorted({name for expr in expressions for name in NAME.findall(expr) if name not in exported})
named = sorted({name for expr in expressions for name in NAME.findall(expr)})
with open(rules_out, "w") as out:
    out.write("groups:\n  - name: grafana\n    rules:\n")
    for index, expr in enumerate(panel_exprs):
        concrete = expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
        out.write(f"      - record: kassa:grafana_panel_{index}\n        expr: {json.dumps(concrete)}\n")
if missing:
    print("check_series: named but not exported: " + ", ".join(missing), file=sys.stderr)
    sys.exit(1)
print(f"check_series: {len(named)} series named by {len(expressions)} expressions, all exported")
