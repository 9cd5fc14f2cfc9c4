#!/usr/bin/env python3
"""Steady checkout load for `make drills`, the way payers behave.

Each worker opens a signed link (GET, the server signs an attempt token into the page), submits
the card (POST) and reads the receipt until it is final. When the server does not answer (killed,
restarting, database away) the payer tries again: on the multi-use link with the same page (same
attempt token, a resubmit); on a single-use link by reloading the page (a fresh token), which is
the way a real payer could pay twice if the server let them.

Every answer is written to the journal so the drill can check it against PostgreSQL afterwards.

usage: drill_load.py BASE LINKS_FILE WORKERS STOP_FILE JOURNAL
  LINKS_FILE: first line the multi-use link path, then one single-use link path per line.
"""
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse

base, links_file, workers, stop_file, journal_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
lines = [line.strip() for line in open(links_file) if line.strip()]
multi, singles = lines[0], lines[1:]
single_lock = threading.Lock()
journal_lock = threading.Lock()
journal = open(journal_path, "w")
CARD = "card_number=4242424242424242&exp_month=12&exp_year=30&cvc=123&cardholder_name=Drill+Payer&email=drill%40example.com"
TOKEN = re.compile(r'name="attempt_token" value="([^"]+)"')
HEADING = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)
DECLINED = re.compile(r'data-declined-payment="(pay_[0-9A-Za-z]{24})"')
GIVE_UP_SECONDS = 120


class NoAnswer(Exception):
    """The connection failed or timed out: the payer does not know what happened."""


def stopping():
    try:
        open(stop_file).close()
        return True
    except FileNotFoundError:
        return False


def request(method, path, body=None):
    connection = http.client.HTTPConnection(host, port, timeout=15)
    try:
        headers = {"content-type": "application/x-www-form-urlencoded"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("location"), response.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as error:
        raise NoAnswer(str(error))
    finally:
        connection.close()


def heading(page):
    found = HEADING.search(page)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


def write(entry):
    entry["at"] = round(time.time(), 3)
    with journal_lock:
        journal.write(json.dumps(entry) + "\n")
        journal.flush()


def answers(path, deadline):
    """GETs `path` every 0.3 s until the deadline, yielding (status, page) whenever the server answers."""
    while time.time() < deadline:
        try:
            status, _, page = request("GET", path)
            yield status, page
        except NoAnswer:
            pass
        time.sleep(0.3)


def open_page(path, deadline):
    """The checkout page's attempt token, or the page's heading when the link cannot be paid.
    Waits through 409 (being paid right now) and 5xx (a dependency is away)."""
    for status, page in answers(path, deadline):
        found = TOKEN.search(page) if status == 200 else None
        if found:
            return found.group(1), None
        if status == 410:
            return None, heading(page)
    return None, "gave up"


def read_receipt(location, deadline):
    """Polls the receipt until the payment is final (the recovery worker finishes one the server
    dropped); returns its status word."""
    for status, page in answers(location, deadline):
        words = heading(page) if status == 200 else ""
        if words == "Payment successful":
            return "succeeded"
        if words == "Payment declined":
            return "failed"
    return "unknown"


def pay(path, single):
    """One payer paying one link until they have an answer; journals every submit."""
    deadline = time.time() + GIVE_UP_SECONDS
    token, closed = open_page(path, deadline)
    tokens = []
    while token and time.time() < deadline:
        tokens.append(token)
        write({"kind": "sent", "link": path, "token": token})
        try:
            status, location, page = request("POST", path, CARD + "&attempt_token=" + urllib.parse.quote(token))
        except NoAnswer:
            time.sleep(0.5)
            if single:  # the payer reloads the page and pays again: a fresh token
                token, closed = open_page(path, deadline)
            continue
        if status == 303 and location and "/receipts/" in location:
            payment = location.split("/receipts/")[1].split("?")[0]
            outcome = read_receipt(location, deadline)
            write({"kind": "answer", "link": path, "single": single, "tokens": tokens, "payment": payment, "outcome": outcome})
            return
        declined = DECLINED.search(page) if status == 402 else None
        if declined:
            # Declined: the checkout again, naming the declined payment (its receipt says why).
            write({"kind": "answer", "link": path, "single": single, "tokens": tokens, "payment": declined.group(1), "outcome": "failed"})
            return
        words = heading(page)
        if status == 410 and single:
            # "already been paid": an earlier submit of ours went through after all.
            write({"kind": "answer", "link": path, "single": single, "tokens": tokens, "outcome": "paid_earlier", "message": words})
            return
        if status >= 500 or status == 409:
            # A clear error page ("cannot take this payment right now", "being paid"): the payer waits and tries again.
            write({"kind": "error", "link": path, "token": token, "status": status, "message": words})
            time.sleep(0.5)
            if single:
                token, closed = open_page(path, deadline)
            continue
        write({"kind": "answer", "link": path, "single": single, "tokens": tokens, "outcome": "refused", "status": status, "message": words})
        return
    write({"kind": "answer", "link": path, "single": single, "tokens": tokens, "outcome": "closed" if closed else "gave_up", "message": closed})


def worker(number):
    rng = random.Random(number)
    while not stopping():
        single = None
        if rng.random() < 0.5:
            with single_lock:
                single = singles.pop() if singles else None
        pay(single or multi, single is not None)


threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
journal.close()
