#!/usr/bin/env python3
"""The whole payment in a real browser: a merchant signs up, accepts Visa, creates a link; a payer
opens it in a second browser profile, pays with 4242 4242 4242 4242 and sees the receipt; the
merchant sees the payment succeeded in /payments. Screenshots land in the artifacts folder.

usage: checkout_flow.py BASE_URL ARTIFACTS_DIR
"""
import os
import sys
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
