#!/usr/bin/env python3
"""The whole payment in a real browser: a merchant signs up, accepts Visa, creates a link; a payer
opens it in a second browser profile, pays with 4242 4242 4242 4242 and sees the receipt; the
merchant sees the payment succeeded in /payments. Screenshots land in the artifacts folder.

usage: checkout_flow.py BASE_URL ARTIFACTS_DIR
"""
import http.server
import os
import sys
import threading
import time
import uuid

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

    # A payer opens it in another browser profile and pays.
    payer.get(url)
    check("€12.50" in payer.page_source and "Browser Beans GmbH" in payer.page_source, "checkout shows amount and merchant")
    check("<b>bold?</b>" not in payer.page_source, "the description is escaped")
    shot(payer, "checkout.png")
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
    shot_phone(merchant, "dashboard-phone.png")
    overflow = merchant.execute_script("return document.documentElement.scrollWidth > document.documentElement.clientWidth")
    check(not overflow, "the dashboard fits a desktop window without scrolling sideways")
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
    finally:
        server.shutdown()
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
