#!/usr/bin/env python3
"""A webhook receiver for the drill: verifies each request with the `standardwebhooks` library,
answers 500 to the first N requests, then 200, and appends what it accepted to a file.

usage: webhook_receiver.py PORT SECRET FAIL_FIRST LOG_FILE
"""
import http.server
import json
import re
import sys

from standardwebhooks.webhooks import Webhook

port, secret, fail_first, log_path = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
webhook = Webhook(secret)
seen = {"count": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        seen["count"] += 1
        try:
            webhook.verify(body, {k.lower(): v for k, v in self.headers.items()})
            verified = True
        except Exception as error:  # a bad signature is a failed drill, not a crash
            verified = False
            print(f"receiver: signature did not verify: {error}", file=sys.stderr)
        # Each attempt carries its trace (W3C traceparent), so a receiver can log it.
        if not re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", self.headers.get("traceparent", "")):
            verified = False
            print(f"receiver: no valid traceparent: {self.headers.get('traceparent')!r}", file=sys.stderr)
        status = 500 if seen["count"] <= fail_first or not verified else 200
        if status == 200:
            event = json.loads(body)
            with open(log_path, "a") as log:
                log.write(f"{self.headers['webhook-id']} {event['type']} {event['data']['object']['id']}\n")
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
