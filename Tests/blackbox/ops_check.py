#!/usr/bin/env python3
"""Black-box check of the operator console, through HTTP only (make test, scripts/ops.sh).

An operator (made by `kassa operator create`) signs in, turns on two-factor as the console
demands, signs in again with a code, sees a merchant's numbers matching what the merchant's API
reports, suspends it, and then: its link answers 503 to a payer and charges nothing, its key gets
403 account_suspended, another merchant is unaffected; after resume everything works again.
A merchant gets 404 at /ops.

usage: ops_check.py BASE OPERATOR_EMAIL OPERATOR_PASSWORD MERCHANT_EMAIL MERCHANT_PASSWORD KEY OTHER_KEY
"""
import base64
import hashlib
import hmac
import http.client
import json
import re
import struct
import sys
import time
import urllib.parse

base, op_email, op_password, m_email, m_password, key, other_key = sys.argv[1:8]
parts = urllib.parse.urlsplit(base)
failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print(f"ops_check: FAIL: {what}", file=sys.stderr)


class Client:
    """Cookies and the last page's _csrf, no redirects followed."""

    def __init__(self):
        self.cookies = {}
        self.csrf = ""

    def request(self, method, path, form=None, headers=None, body=None):
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = dict(headers or {})
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            form = dict(form)
            form.setdefault("_csrf", self.csrf)
            body = urllib.parse.urlencode(form)
            headers["content-type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";")[0]
        found = re.search(r'name="_csrf" value="([^"]+)"', text)
        if found:
            self.csrf = found.group(1)
        return response.status, response.getheader("location"), text

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, form):
        return self.request("POST", path, form=form)


def api(method, path, key, payload=None):
    body = json.dumps(payload) if payload is not None else None
    headers = {"authorization": f"Bearer {key}"}
    if body:
        headers["content-type"] = "application/json"
    status, _, text = Client().request(method, path, headers=headers, body=body)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, {}


def totp(secret_b32, at=None):
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def new_link(key):
    status, body = api("POST", "/v1/payment_links", key, {"amount": 1250, "currency": "EUR", "description": "Ops check", "max_uses": 100})
    assert status in (200, 201), (status, body)
    return body["url"][len(base):]


def pay(link, card="4242424242424242"):
    payer = Client()
    status, _, page = payer.get(link)
    if status != 200:
        return status
    token = re.search(r'name="attempt_token" value="([^"]+)"', page)
    form = {"attempt_token": token.group(1) if token else "", "card_number": card, "exp_month": "12", "exp_year": "30", "cvc": "123",
            "cardholder_name": "Olga Payer", "email": "payer@example.com"}
    status, _, _ = payer.post(link, form)
    return status


def payments_count(key, status):
    code, body = api("GET", f"/v1/payments?status={status}&limit=100", key)
    return len(body.get("data", [])) if code == 200 else -1


link, other_link = new_link(key), new_link(other_key)
check(pay(link) == 303, "a payer pays the merchant's link")
check(pay(link, "4000000000000002") in (303, 200, 402), "a declined card")
check(pay(other_link) == 303, "a payer pays the other merchant's link")

# A merchant gets 404 at /ops.
merchant = Client()
merchant.get("/login")
status, location, _ = merchant.post("/login", {"email": m_email, "password": m_password})
check(status == 303 and location == "/dashboard", f"the merchant signs in ({status} {location})")
check(merchant.get("/ops")[0] == 404, "a merchant gets 404 at /ops")
check(Client().get("/ops")[0] == 404, "a visitor gets 404 at /ops")

# The operator: password, then two-factor before the console opens.
op = Client()
op.get("/login")
status, location, _ = op.post("/login", {"email": op_email, "password": op_password})
check(status == 303 and location == "/ops", f"the operator's sign-in lands on /ops ({status} {location})")
status, location, _ = op.get("/ops")
check(status == 303 and location == "/settings/security", "the console asks for two-factor first")
op.get("/settings/security")
_, _, page = op.post("/settings/security/totp", {})
secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', page).group(1)
status, _, _ = op.post("/settings/security/totp/confirm", {"code": totp(secret)})
check(status == 200, "two-factor turned on")
# Signs in again, now with a code.
op.post("/logout", {})
op = Client()
op.get("/login")
status, location, _ = op.post("/login", {"email": op_email, "password": op_password})
check(location == "/login/verify", "the password alone is not enough any more")
op.get("/login/verify")
time.sleep(max(0.0, 30 - time.time() % 30 + 0.5) if time.time() % 30 > 28 else 0)
status, location, _ = op.post("/login/verify", {"code": totp(secret, time.time() + 30)})
check(status == 303 and location == "/ops", f"signed in with a code ({status} {location})")
status, _, console = op.get("/ops")
check(status == 200 and "Merchants" in console, "the console opens")

# The merchant's numbers, as its API reports them (the totals consumer may need a moment).
status, _, found = op.get("/ops?" + urllib.parse.urlencode({"q": m_email}))
merchant_path = re.search(r'href="(/ops/merchants/acct_[0-9A-Za-z]+)"', found).group(1)
succeeded, failed = payments_count(key, "succeeded"), payments_count(key, "failed")
matched = False
for _ in range(50):
    _, _, detail = op.get(merchant_path)
    shown = dict(re.findall(r'<tr data-status="([a-z_]+)"><td>[a-z_]+</td><td class="num">(\d+)</td>', detail))
    if int(shown.get("succeeded", 0)) == succeeded and int(shown.get("failed", 0)) == failed:
        matched = True
        break
    time.sleep(0.2)
check(matched and succeeded == 1, f"the console's numbers match the API's (succeeded {succeeded}, failed {failed}, shown {shown})")

# Suspend: a reason is required.
status, _, _ = op.post(merchant_path + "/suspend", {"reason": ""})
check(status == 422, "suspending without a reason is refused")
status, _, _ = op.post(merchant_path + "/suspend", {"reason": "Black-box check"})
check(status == 303, "suspended")
before = payments_count(other_key, "succeeded")
check(pay(link) == 503, "the suspended merchant's link answers 503")
status, body = api("GET", "/v1/payments", key)
check(status == 403 and body.get("error", {}).get("code") == "account_suspended", f"its key gets 403 account_suspended ({status})")
time.sleep(0.3)
check(payments_count(key, "succeeded") == -1, "(its key stays refused)")
check(pay(other_link) == 303 and payments_count(other_key, "succeeded") == before + 1, "another merchant is unaffected")
_, _, dashboard = merchant.get("/dashboard")
check("Black-box check" in dashboard, "its people see the reason")

# Resume.
status, _, _ = op.post(merchant_path + "/resume", {"reason": "Check done"})
check(status == 303, "resumed")
check(pay(link) == 303, "after resume the link takes payments again")
check(payments_count(key, "succeeded") == succeeded + 1, "after resume its key works, and nothing was charged while suspended")

print(f"ops_check: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
