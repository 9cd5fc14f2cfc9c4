#!/usr/bin/env python3
"""Fixed-rate API load for the isolation drill: RATE requests per second of GET /v1/payments with
one merchant's key, for SECONDS, from a pool of keep-alive connections. Latency is measured from
each request's scheduled time (no coordinated omission). Prints one JSON line of results.

usage: isolation_load.py BASE KEY RATE SECONDS
"""
import http.client
import json
import queue
import sys
import threading
import time
import urllib.parse

base, key, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
parts = urllib.parse.urlsplit(base)
work = queue.Queue()
results = []
lock = threading.Lock()


def worker():
    connection = None
    while True:
        scheduled = work.get()
        if scheduled is None:
            return
        delay = scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            if connection is None:
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            connection.request("GET", "/v1/payments?limit=10", headers={"authorization": f"Bearer {key}"})
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            connection = None
        with lock:
            results.append((status, time.monotonic() - scheduled))


threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(4, int(rate // 10)))]
for thread in threads:
    thread.start()
start = time.monotonic() + 0.2
count = int(rate * seconds)
for index in range(count):
    work.put(start + index / rate)
for _ in threads:
    work.put(None)
for thread in threads:
    thread.join()
latencies = sorted(latency for status, latency in results if status == 200)


def quantile(q):
    return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) if latencies else None


print(json.dumps({
    "sent": len(results), "ok": sum(1 for s, _ in results if s == 200), "rate_limited": sum(1 for s, _ in results if s == 429),
    "errors": sum(1 for s, _ in results if s not in (200, 429)), "p50_ms": quantile(0.5), "p99_ms": quantile(0.99),
    "rate": rate, "seconds": seconds,
}))
