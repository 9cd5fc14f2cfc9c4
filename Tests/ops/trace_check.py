#!/usr/bin/env python3
"""One checkout, sent with a W3C traceparent, arrives at the OTLP receiver as one trace: the HTTP
request's server span under the caller's span, the checkout under it, and the checkout's phases
(routing, the start batch it joined, the issuer call, the finish batch it joined) below that.
Also: the server's log lines for that request carry the trace id.

usage: trace_check.py BASE KEY SPANS_FILE SERVER_LOG
"""
import http.client
import json
import os
import re
import sys
import time
import urllib.parse

base, key, spans_path, server_log = sys.argv[1:5]
parts = urllib.parse.urlsplit(base)
trace_id, caller_span = os.urandom(16).hex(), os.urandom(8).hex()


def request(method, path, body=None, headers=None):
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


status, text = request("POST", "/v1/payment_links", json.dumps({"amount": 990, "currency": "EUR", "description": "Traced"}),
                       {"authorization": f"Bearer {key}", "content-type": "application/json"})
assert status in (200, 201), (status, text)
link = json.loads(text)["url"][len(base):]
status, page = request("GET", link)
token = re.search(r'name="attempt_token" value="([^"]+)"', page).group(1)
form = urllib.parse.urlencode({"attempt_token": token, "card_number": "4242424242424242", "exp_month": "12", "exp_year": "30",
                               "cvc": "123", "cardholder_name": "Tracy Payer", "email": "tracy@example.com"})
status, _ = request("POST", link, form, {"content-type": "application/x-www-form-urlencoded",
                                          "traceparent": f"00-{trace_id}-{caller_span}-01"})
assert status == 303, status

spans = []
for _ in range(40):
    time.sleep(0.25)
    try:
        spans = [json.loads(line) for line in open(spans_path) if trace_id in line]
    except FileNotFoundError:
        continue
    if any(span["name"] == "batch.finish" for span in spans) and any(span["kind"] == 2 for span in spans):
        break
failures = []
by_id = {span["span_id"]: span for span in spans}
names = sorted(span["name"] for span in spans)


def parent_of(span):
    return by_id.get(span["parent_span_id"])


server = [span for span in spans if span["kind"] == 2]
if len(server) != 1 or server[0]["parent_span_id"] != caller_span or server[0]["attributes"].get("http.route") != "/pay/{id}":
    failures.append(f"one server span under the caller's span, for /pay/{{id}}: {server}")
checkout = [span for span in spans if span["name"] == "checkout"]
if len(checkout) != 1 or not server or checkout[0]["parent_span_id"] != server[0]["span_id"]:
    failures.append("the checkout span is a child of the request's")
elif checkout[0]["attributes"].get("kassa.checkout.outcome") != "succeeded":
    failures.append(f"the checkout's outcome: {checkout[0]['attributes']}")
for phase in ["checkout.route", "checkout.start", "issuer.authorize", "checkout.finish"]:
    found = [span for span in spans if span["name"] == phase]
    if len(found) != 1 or not checkout or found[0]["parent_span_id"] != checkout[0]["span_id"]:
        failures.append(f"{phase}: one child of the checkout span ({len(found)} found)")
for batch, phase in [("batch.start", "checkout.start"), ("batch.finish", "checkout.finish")]:
    found = [span for span in spans if span["name"] == batch]
    if len(found) != 1 or (parent_of(found[0]) or {}).get("name") != phase or not found[0]["attributes"].get("kassa.batch.size"):
        failures.append(f"{batch}: the batch the checkout joined, under {phase} with its size")
if any(span["service"] != "kassa" for span in spans) or any(span["trace_id"] != trace_id for span in spans):
    failures.append("every span in one trace, from service kassa")
time.sleep(0.2)
logged = [line for line in open(server_log) if "msg=request" in line and f"trace_id={trace_id}" in line and "/pay/" in line]
if not logged:
    failures.append("the request's log line carries its trace id")
for failure in failures:
    print(f"trace_check: FAIL: {failure}", file=sys.stderr)
print(f"trace_check: {len(spans)} spans in trace {trace_id}: {', '.join(names)}; {len(failures)} failed")
sys.exit(1 if failures else 0)
