#!/usr/bin/env python3
"""A merchant reading their payments list (GET /v1/payments) over and over until STOP_FILE exists.

usage: read_load.py BASE KEY STOP_FILE OUT_JSON

Writes how many reads were sent, how many answered 200 and the status of every other answer: the
cluster drill's replica scenario checks that stopping the replica fails none (they move to the
primary)."""
import http.client
import json
import os
import sys
import time
import urllib.parse

base, key, stop_file, out = sys.argv[1:5]
url = urllib.parse.urlsplit(base)
sent, ok, failures = 0, 0, []
while not os.path.exists(stop_file):
    sent += 1
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=15)
    try:
        connection.request("GET", "/v1/payments?limit=20", headers={"authorization": f"Bearer {key}"})
        response = connection.getresponse()
        body = response.read()
        if response.status == 200 and isinstance(json.loads(body).get("data"), list):
            ok += 1
        else:
            failures.append({"at": time.time(), "status": response.status, "body": body[:200].decode("utf-8", "replace")})
    except (OSError, http.client.HTTPException, ValueError) as error:
        failures.append({"at": time.time(), "status": None, "error": str(error)})
    finally:
        connection.close()
    time.sleep(0.02)
json.dump({"reads_sent": sent, "reads_ok": ok, "reads_failed": len(failures), "failures": failures[:20]}, open(out, "w"), indent=2)
