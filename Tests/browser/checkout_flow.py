#!/usr/bin/env python3
"""The whole payment in a real browser: a merchant signs up, accepts Visa, creates a link; a payer
opens it in a second browser profile, pays with 4242 4242 4242 4242 and sees the receipt; the
merchant sees the payment succeeded in /payments. Screenshots land in the artifacts folder.

usage: checkout_flow.py BASE_URL ARTIFACTS_DIR
"""
import http.server
import mailbox
import os
import re
import sys
import threading
import time
import uuid
from email.header import decode_header, make_header

import pyotp
from axe_selenium_python import Axe

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

BASE, ARTIFACTS = sys.argv[1], sys.argv[2]
os.makedirs(ARTIFACTS, exist_ok=True)
checks = 0


def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def check(condition, what):
    global checks
    if not condition:
        raise AssertionError(what)
    checks += 1


def shot(driver, name):
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 700), 3000))
    driver.save_screenshot(os.path.join(ARTIFACTS, name))


def shot_phone(driver, name):
    """The page at a phone's width (390 CSS pixels), then back to the desktop width."""
    driver.set_window_size(390, 900)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(390, min(max(height, 700), 4000))
    driver.save_screenshot(os.path.join(ARTIFACTS, name))
    driver.set_window_size(1280, 900)


def wait_for(driver, predicate, what):
    """Waits for a page to settle after a click (argon2 at signup takes a moment)."""
    try:
        WebDriverWait(driver, 15).until(lambda d: predicate(d))
    except Exception:
        raise AssertionError(f"timed out waiting for: {what}")


def mail_to(address, subject_part):
    """The first email to `address` whose subject contains `subject_part` (the SMTP sink's maildir)."""
    for message in mailbox.Maildir(os.environ["KASSA_BROWSER_MAILDIR"], create=False):
        subject = str(make_header(decode_header(message["Subject"] or "")))
        if message["To"] == f"<{address}>" and subject_part in subject:
            parts = [part.get_payload(decode=True) for part in message.walk() if not part.is_multipart()]
            return subject + "\n" + "\n".join(part.decode("utf-8", "replace") for part in parts if part)
    return None


def fits_phone(driver, url, selectors, name):
    """At 390 CSS pixels the page does not scroll sideways and each selector's elements lie inside
    the viewport (their boxes compared with its width); a screenshot goes to the artifacts."""
    driver.set_window_size(390, 900)
    driver.get(url)
    # Measured in one script: live pages may reload themselves (Server-Sent Events) between calls.
    measured = driver.execute_script(
        """
        const root = document.documentElement;
        return {width: root.clientWidth, scrolls: root.scrollWidth > root.clientWidth,
                boxes: arguments[0].map(s => Array.from(document.querySelectorAll(s)).map(e => e.getBoundingClientRect())
                                         .filter(r => r.width > 0 && r.height > 0).slice(0, 10)
                                         .map(r => ({left: r.left, right: r.right})))};
        """,
        selectors,
    )
    width = measured["width"]
    check(not measured["scrolls"], f"{name}: no sideways scrolling at 390 px")
    for selector, boxes in zip(selectors, measured["boxes"]):
        check(len(boxes) > 0, f"{name}: {selector} is shown at 390 px")
        for box in boxes:
            check(box["left"] >= 0 and box["right"] <= width + 1, f"{name}: {selector} lies inside the viewport")
    shot_phone(driver, name + "-phone.png")
    driver.set_window_size(1280, 900)


audited = []


def accessible(driver, name):
    """axe-core (from PyPI's axe-selenium-python) on the page as it is: no serious or critical
    violation. The pages audited are listed at the end."""
    axe = Axe(driver)
    try:
        axe.inject()
        results = axe.run()
    except Exception:
        # A live page reloaded itself between injecting axe and running it: once more.
        time.sleep(1)
        axe.inject()
        results = axe.run()
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    detail = "; ".join(f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}" for v in bad)
    check(not bad, f"{name}: axe finds no serious or critical violation: {detail}")
    audited.append(name)


def fill(driver, name, value):
    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


merchant = browser()
payer = browser()
try:
    # The merchant signs up.
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    merchant.get(BASE + "/signup")
    fill(merchant, "name", "Browser Beans GmbH")
    fill(merchant, "email", email)
    fill(merchant, "password", "a long browser test passphrase")
    merchant.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(merchant, lambda d: d.current_url.endswith("/dashboard"), "signup lands on the dashboard")
    check(True, "signup")
    accessible(merchant, "dashboard (new merchant)")

    # ... accepts the test Visa in euros (the script shows only that issuer's currencies) ...
    merchant.get(BASE + "/payment-methods")
    Select(merchant.find_element(By.ID, "issuer")).select_by_value("iss_test_visa")
    visible = [f for f in merchant.find_elements(By.CSS_SELECTOR, "fieldset[data-issuer]") if f.is_displayed()]
    check(len(visible) == 1, "only the chosen issuer's currencies are shown")
    merchant.find_element(By.CSS_SELECTOR, "label[for=\"iss_test_visa-EUR\"]").click()
    check(merchant.find_element(By.ID, "iss_test_visa-EUR").is_selected(), "EUR ticked")
    merchant.find_element(By.CSS_SELECTOR, "form.add-method button[type=submit]").click()
    wait_for(merchant, lambda d: "Payment method added" in d.page_source, "method added")
    check("Kassa Test Visa" in merchant.page_source and "Payment method added" in merchant.page_source, "method added")
    accessible(merchant, "payment methods")

    # ... and creates a payment link.
    merchant.get(BASE + "/links/new")
    fill(merchant, "amount", "12.50")
    Select(merchant.find_element(By.ID, "currency")).select_by_value("EUR")
    fill(merchant, "description", "Browser test beans <b>bold?</b>")
    merchant.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(merchant, lambda d: "/links/plink_" in d.current_url, "the new link's page")
    url = merchant.find_element(By.ID, "link-url").get_attribute("value")
    check("/pay/plink_" in url and "sig=" in url, "the link page shows the signed URL")
    check(merchant.find_element(By.CSS_SELECTOR, ".qr svg") is not None, "the link page shows a QR code")
    accessible(merchant, "a link's page")

    # A payer opens it in another browser profile and pays.
    payer.get(url)
    check("€12.50" in payer.page_source and "Browser Beans GmbH" in payer.page_source, "checkout shows amount and merchant")
    check("<b>bold?</b>" not in payer.page_source, "the description is escaped")
    shot(payer, "checkout.png")
    accessible(payer, "checkout")
    fits_phone(payer, url, [".checkout-amount", "#card_number", "button.button-pay"], "checkout")
    fill(payer, "card_number", "4242 4242 4242 4242")
    fill(payer, "exp_month", "12")
    fill(payer, "exp_year", "30")
    fill(payer, "cvc", "123")
    fill(payer, "cardholder_name", "Paula Payer")
    fill(payer, "email", "paula@example.com")
    payer.find_element(By.CSS_SELECTOR, "button.button-pay").click()
    wait_for(payer, lambda d: "/receipts/" in d.current_url, "the receipt")
    check("/receipts/pay_" in payer.current_url, "paying lands on the receipt")
    check("Payment successful" in payer.page_source and "Visa •••• 4242" in payer.page_source, "the receipt says it succeeded")
    shot(payer, "receipt.png")
    accessible(payer, "receipt")
    receipt = payer.current_url

    # The receipt opens later in a fresh browser too.
    later = browser()
    try:
        later.get(receipt)
        check("Payment successful" in later.page_source, "the receipt opens in another browser")
        later.get(url)
        check("already been paid" in later.page_source, "the single-use link now says it was paid")
    finally:
        later.quit()

    # The merchant sees it.
    merchant.get(BASE + "/payments")
    check("Browser test beans" in merchant.page_source and "Succeeded" in merchant.page_source, "history shows the payment")
    shot(merchant, "history.png")
    accessible(merchant, "payments")

    # The payer's receipt arrives by email (read from the SMTP sink), with the same signed link.
    wait_for(merchant, lambda d: mail_to("paula@example.com", "Your receipt from Browser Beans GmbH") is not None, "the payer's receipt email")
    receipt_mail = mail_to("paula@example.com", "Your receipt from Browser Beans GmbH")
    check(receipt in receipt_mail and "€12.50" in receipt_mail, "the receipt email carries the amount and the signed receipt link")

    # A refund asks before it moves money, naming the amount and the card.
    payment_id = receipt.split("/receipts/")[1].split("?")[0]
    merchant.get(BASE + "/payments/" + payment_id)
    fill(merchant, "amount", "2.50")
    merchant.find_element(By.XPATH, "//button[normalize-space()='Refund…']").click()
    wait_for(merchant, lambda d: "This cannot be undone" in d.page_source, "the refund's question")
    check("Refund €2.50 to Visa •••• 4242?" in merchant.page_source, "the question names the amount and the card")
    shot(merchant, "refund-confirm.png")
    accessible(merchant, "refund question")
    merchant.get(BASE + "/payments/" + payment_id)
    check("Partially refunded" not in merchant.page_source and "Up to €12.50 can still be refunded" in merchant.page_source, "asking moved no money")
    fill(merchant, "amount", "2.50")
    merchant.find_element(By.XPATH, "//button[normalize-space()='Refund…']").click()
    wait_for(merchant, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".confirm-box button[type=submit]")) == 1, "the question again")
    merchant.find_element(By.CSS_SELECTOR, ".confirm-box button[type=submit]").click()
    wait_for(merchant, lambda d: "Refund issued" in d.page_source, "the refund, once confirmed")
    check("Up to €10.00 can still be refunded" in merchant.page_source, "€2.50 refunded")
    wait_for(merchant, lambda d: mail_to("paula@example.com", "refunded €2.50 to your card") is not None, "the payer's refund email")

    # The dashboard draws the payment once the totals consumer has counted it (it polls).
    def charted(d):
        d.get(BASE + "/dashboard")
        return "chart-svg" in d.page_source
    wait_for(merchant, charted, "the dashboard's chart")
    chart = merchant.find_element(By.CSS_SELECTOR, "svg.chart-svg[role=img]")
    check(chart.find_element(By.TAG_NAME, "title").get_attribute("textContent").startswith("Gross volume in EUR"), "the chart has a title")
    check("€12.50 in 1 payment" in chart.find_element(By.TAG_NAME, "desc").get_attribute("textContent"), "the chart describes itself")
    bars = merchant.find_elements(By.CSS_SELECTOR, "svg.chart-svg g.chart-bar")
    check(len(bars) == 1 and bars[0].get_attribute("data-gross") == "1250", "one bar, today's €12.50")
    shot(merchant, "dashboard.png")
    accessible(merchant, "dashboard with a chart")
    shot_phone(merchant, "dashboard-phone.png")
    overflow = merchant.execute_script("return document.documentElement.scrollWidth > document.documentElement.clientWidth")
    check(not overflow, "the dashboard fits a desktop window without scrolling sideways")
    # On a phone the lists lead with amount and status, and the checkout with its amount.
    fits_phone(merchant, BASE + "/payments", [".table-cards .cell-amount", ".table-cards .cell-status .status-pill"], "payments")
    fits_phone(merchant, BASE + "/dashboard", [".table-cards .cell-amount", ".table-cards .cell-status .status-pill", ".main-nav a"], "dashboard")
    fits_phone(merchant, BASE + "/links", [".table-cards .cell-amount", ".table-cards .cell-status .status-pill"], "links")

    merchant.set_window_size(390, 900)
    overflow = merchant.execute_script("return document.documentElement.scrollWidth > document.documentElement.clientWidth")
    merchant.set_window_size(1280, 900)
    check(not overflow, "the dashboard fits a phone without scrolling sideways")

    # A business form embedded on the merchant's own site, on another origin.
    site_port = int(os.environ.get("KASSA_BROWSER_SITE_PORT", "18090"))
    site = f"http://localhost:{site_port}"
    merchant.get(BASE + "/forms/new")
    fill(merchant, "title", "Browser donation")
    fill(merchant, "amount", "7.00")
    fill(merchant, "allowed_origins", site)
    fill(merchant, "field_label_1", "Your message")
    merchant.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for(merchant, lambda d: "/forms/form_" in d.current_url, "the new form's page")
    form_id = merchant.current_url.rsplit("/", 1)[1]
    check(merchant.find_element(By.ID, "snippet").get_attribute("value").endswith(f'data-kassa-form="{form_id}"></script>'), "the snippet names the form")

    page = f"""<!doctype html><html><head><title>Shop</title></head><body>
<h1>The roastery's own site</h1>
<div id="checkout"><script src="{BASE}/embed.js" data-kassa-form="{form_id}"></script></div>
<script>
document.getElementById("checkout").addEventListener("kassa:success", function (event) {{
  document.title = "paid " + event.detail.payment;
}});
</script></body></html>"""

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = page.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", site_port), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        payer.get(site + "/")
        # embed.js asks Kassa whether this origin is allowed before it adds the frame.
        wait_for(payer, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".kassa-form iframe")) == 1, "the form's frame")
        frame = payer.find_element(By.CSS_SELECTOR, ".kassa-form iframe")
        payer.switch_to.frame(frame)
        wait_for(payer, lambda d: len(d.find_elements(By.NAME, "card_number")) == 1, "the form inside the frame")
        fill(payer, "f1", "Keep roasting!")
        fill(payer, "card_number", "4242 4242 4242 4242")
        fill(payer, "exp_month", "12")
        fill(payer, "exp_year", "30")
        fill(payer, "cvc", "123")
        fill(payer, "cardholder_name", "Paula Payer")
        fill(payer, "email", "paula@example.com")
        payer.switch_to.default_content()
        shot(payer, "embedded-form.png")
        payer.switch_to.frame(payer.find_element(By.CSS_SELECTOR, ".kassa-form iframe"))
        payer.find_element(By.CSS_SELECTOR, "button.button-pay").click()
        wait_for(payer, lambda d: "/result" in d.execute_script("return location.href"), "the outcome inside the frame")
        payer.switch_to.default_content()
        wait_for(payer, lambda d: d.title.startswith("paid pay_"), "the page receives kassa:success")
        check(True, "the embedding page received kassa:success")
        shot(payer, "embedded-paid.png")

        # The same page opened at http://127.0.0.1 (only http://localhost is allowed): its owner
        # reads which origin to add, instead of a grey box with the reason in the console.
        other = f"http://127.0.0.1:{site_port}"
        payer.get(other + "/")
        wait_for(payer, lambda d: "is not allowed on" in d.page_source, "the explaining box")
        box = payer.find_element(By.CSS_SELECTOR, ".kassa-form [role=alert]")
        check(f"This payment form is not allowed on {other}" in box.text and f"add {other} to the form" in box.text, "the box names the origin to add")
        check("http://localhost and http://127.0.0.1 are different" in box.text, "the box names the likely mix-up")
        check(len(payer.find_elements(By.CSS_SELECTOR, ".kassa-form iframe")) == 0, "no frame on a site that is not allowed")
        shot(payer, "embed-not-allowed.png")
    finally:
        server.shutdown()

    # The merchant forgets the password: "Forgot password?", a link by email (read from the SMTP
    # sink's maildir), a new password, and the link refused the second time.
    def reset_link():
        found = re.search(r"http://[^\s\"<>]+/password/reset\?token=[A-Za-z0-9_-]{43}", mail_to(email, "new Kassa password") or "")
        return found.group(0) if found else None

    visitor = browser()
    try:
        visitor.get(BASE + "/login")
        visitor.find_element(By.LINK_TEXT, "Forgot password?").click()
        wait_for(visitor, lambda d: d.current_url.endswith("/password/forgot"), "the forgot page")
        fill(visitor, "email", email)
        shot(visitor, "password-forgot.png")
        accessible(visitor, "forgot password")
        visitor.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(visitor, lambda d: "Check your email." in d.page_source, "the forgot page's answer")
        wait_for(visitor, lambda d: reset_link() is not None, "the password email in the sink")
        link = reset_link()
        visitor.get(link)
        check("Choose a new password" in visitor.page_source and f"For {email}" in visitor.page_source, "the emailed link opens the form")
        fill(visitor, "new_password", "a second browser passphrase")
        fill(visitor, "confirm_password", "a second browser passphrase")
        shot(visitor, "password-reset.png")
        accessible(visitor, "new password")
        visitor.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(visitor, lambda d: "Your new password is set" in d.page_source, "back at sign-in with a message")
        fill(visitor, "email", email)
        fill(visitor, "password", "a second browser passphrase")
        visitor.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(visitor, lambda d: d.current_url.endswith("/dashboard"), "signed in with the new password")
        for path, name in [
            ("/links", "links"), ("/forms", "forms"), ("/notifications", "notifications"), ("/settings", "settings"),
            ("/developers/keys", "API keys"), ("/payments/" + payment_id, "a payment's page"),
        ]:
            visitor.get(BASE + path)
            accessible(visitor, name)
        merchant.get(BASE + "/payments")
        check("/login" in merchant.current_url, "the reset ended the merchant's other session")
        visitor.get(link)
        check("This link no longer works." in visitor.page_source, "the link works only once")
        shot_phone(visitor, "password-link-used-phone.png")
    finally:
        visitor.quit()
    # Two-factor sign-in: enrol (the secret read from the page, codes computed by pyotp), sign
    # out, sign in with a TOTP, then with a recovery code, which then stops working.
    def sign_in(driver, who, password):
        driver.get(BASE + "/login")
        fill(driver, "email", who)
        fill(driver, "password", password)
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

    def sign_out(driver):
        driver.find_element(By.CSS_SELECTOR, "details.account-menu summary").click()
        driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
        wait_for(driver, lambda d: "/login" in d.current_url, "signed out")

    def verify(driver, code):
        fill(driver, "code", code)
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

    sign_in(merchant, email, "a second browser passphrase")
    wait_for(merchant, lambda d: d.current_url.endswith("/dashboard"), "signed in again")
    merchant.get(BASE + "/settings/security")
    merchant.find_element(By.XPATH, "//button[normalize-space()='Set up two-factor sign-in']").click()
    wait_for(merchant, lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-totp-secret]")) == 1, "the secret to scan")
    secret = merchant.find_element(By.CSS_SELECTOR, "[data-totp-secret]").get_attribute("data-totp-secret")
    totp = pyotp.TOTP(secret)
    check(len(merchant.find_elements(By.CSS_SELECTOR, ".qr svg")) == 1, "a QR code of the otpauth address")
    shot(merchant, "two-factor-enrol.png")
    accessible(merchant, "two-factor enrolment")
    verify(merchant, totp.now())
    wait_for(merchant, lambda d: "Your recovery codes" in d.page_source, "two-factor on, recovery codes shown")
    codes = [element.text for element in merchant.find_elements(By.CSS_SELECTOR, ".recovery-codes code")]
    check(len(codes) == 10 and all(len(code) == 11 for code in codes), "ten recovery codes, each in its own <code>")
    shot(merchant, "two-factor-recovery-codes.png")
    shot_phone(merchant, "two-factor-recovery-codes-phone.png")
    accessible(merchant, "recovery codes")
    sign_out(merchant)
    sign_in(merchant, email, "a second browser passphrase")
    wait_for(merchant, lambda d: d.current_url.endswith("/login/verify"), "the password leads to the code")
    accessible(merchant, "two-factor code")
    merchant.get(BASE + "/payments")
    check("/login" in merchant.current_url and "/payments" not in merchant.current_url.split("next=")[0], "no session before the code")
    sign_in(merchant, email, "a second browser passphrase")
    wait_for(merchant, lambda d: d.current_url.endswith("/login/verify"), "the code page again")
    verify(merchant, totp.at(time.time() + 30))
    wait_for(merchant, lambda d: d.current_url.endswith("/dashboard"), "signed in with a TOTP")
    sign_out(merchant)
    sign_in(merchant, email, "a second browser passphrase")
    wait_for(merchant, lambda d: d.current_url.endswith("/login/verify"), "the code page")
    verify(merchant, codes[0])
    wait_for(merchant, lambda d: d.current_url.endswith("/dashboard"), "signed in with a recovery code")
    sign_out(merchant)
    sign_in(merchant, email, "a second browser passphrase")
    wait_for(merchant, lambda d: d.current_url.endswith("/login/verify"), "the code page")
    verify(merchant, codes[0])
    wait_for(merchant, lambda d: "used already" in d.page_source, "a recovery code works once")
    verify(merchant, codes[1])
    wait_for(merchant, lambda d: d.current_url.endswith("/dashboard"), "the next recovery code works")

    # A team: the owner invites a viewer, who joins by the link and may read but not refund or make keys.
    viewer_email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    merchant.get(BASE + "/settings/team")
    fill(merchant, "email", viewer_email)
    Select(merchant.find_element(By.ID, "role")).select_by_value("viewer")
    merchant.find_element(By.XPATH, "//button[normalize-space()='Create the invitation']").click()
    wait_for(merchant, lambda d: len(d.find_elements(By.ID, "invite-url")) == 1, "the invitation link")
    invite_url = merchant.find_element(By.ID, "invite-url").get_attribute("value")
    shot(merchant, "team.png")
    accessible(merchant, "team")
    viewer = browser()
    try:
        viewer.get(invite_url)
        check("You are invited as" in viewer.page_source and "viewer" in viewer.page_source, "the invitation names the role")
        accessible(viewer, "invitation")
        fill(viewer, "name", "Vera Viewer")
        fill(viewer, "password", "a viewer's long passphrase")
        viewer.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait_for(viewer, lambda d: d.current_url.endswith("/dashboard"), "the viewer joined")
        # The pages offer a viewer no refund and no key; sent anyway (a form built in the page with
        # its own CSRF token), the server refuses both with a page naming the role.
        def post_anyway(driver, action, fields):
            driver.execute_script(
                "var f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];"
                "var t = document.querySelector('input[name=_csrf]').value; var all = arguments[1].concat([['_csrf', t]]);"
                "all.forEach(function (p) { var i = document.createElement('input'); i.type = 'hidden'; i.name = p[0]; i.value = p[1]; f.appendChild(i); });"
                "document.body.appendChild(f); f.submit();", action, fields)

        viewer.get(BASE + "/payments/" + payment_id)
        check("Browser test beans" in viewer.page_source, "the viewer reads the payment")
        check(len(viewer.find_elements(By.XPATH, "//button[normalize-space()='Refund…']")) == 0 and "Refunds need the admin role" in viewer.page_source,
              "a viewer is offered no refund")
        post_anyway(viewer, "/payments/" + payment_id + "/refunds", [["amount", "1.00"], ["confirm", "yes"]])
        wait_for(viewer, lambda d: "This needs the admin role" in d.page_source, "a viewer's refund is refused (403)")
        viewer.get(BASE + "/developers/keys")
        check(len(viewer.find_elements(By.XPATH, "//button[normalize-space()='Create key']")) == 0, "a viewer is offered no key")
        post_anyway(viewer, "/developers/keys", [["name", "Viewer key"], ["kind", "secret"]])
        wait_for(viewer, lambda d: "This needs the developer role" in d.page_source, "a viewer's key is refused (403)")
        shot(viewer, "role-refused.png")
    finally:
        viewer.quit()
    merchant.get(BASE + "/payments/" + payment_id)
    check("Up to €10.00 can still be refunded" in merchant.page_source, "the viewer moved no money")
    merchant.get(BASE + "/settings/audit")
    for action in ["two_factor.enabled", "team.invited", "team.joined", "account.signed_in"]:
        check(action in merchant.page_source, "the audit log has " + action)
    accessible(merchant, "audit log")

    print(f"axe: no serious or critical violations on {len(audited)} pages: {', '.join(audited)}")
    print(f"browser: {checks} passed, 0 failed (screenshots in {ARTIFACTS})")
except Exception as error:
    for name, driver in [("merchant", merchant), ("payer", payer)]:
        try:
            shot(driver, f"failure-{name}.png")
        except Exception:
            pass
    print(f"browser: FAIL after {checks} checks: {error}", file=sys.stderr)
    sys.exit(1)
finally:
    merchant.quit()
    payer.quit()
