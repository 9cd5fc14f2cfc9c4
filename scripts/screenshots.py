#!/usr/bin/env python3
"""Screenshots of merchant pages, signed in as the demo merchant, for looking at what people see.
KASSA_SCREENSHOT_EMAIL, KASSA_SCREENSHOT_PASSWORD and KASSA_SCREENSHOT_TOTP_SECRET (base32) sign in
as someone else, such as an operator for /ops.

usage: scripts/screenshots.py [base_url] [out_dir] path...
"""
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.by import By

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
out = sys.argv[2] if len(sys.argv) > 2 else ".data/screenshots"
paths = sys.argv[3:] or ["/dashboard", "/payment-methods"]

options = Options()
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]:
    options.add_argument(flag)
driver = webdriver.Chrome(options=options)
try:
    driver.set_window_size(1280, 900)
    driver.get(base + "/login")
    driver.find_element(By.NAME, "email").send_keys(os.environ.get("KASSA_SCREENSHOT_EMAIL", "demo@kassa.test"))
    password = os.environ.get("KASSA_SCREENSHOT_PASSWORD") or os.environ.get("KASSA_DEMO_PASSWORD") or open(os.path.join(os.path.dirname(__file__), "..", ".data", "demo-password")).read().strip()
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    if os.environ.get("KASSA_SCREENSHOT_TOTP_SECRET"):
        import pyotp
        driver.find_element(By.NAME, "code").send_keys(pyotp.TOTP(os.environ["KASSA_SCREENSHOT_TOTP_SECRET"]).now())
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    import os
    os.makedirs(out, exist_ok=True)
    for path in paths:
        for width, tag in [(1280, "wide"), (390, "phone")]:
            driver.set_window_size(width, 900)
            driver.get(base + path)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(width, min(max(height, 600), 4000))
            name = path.strip("/").replace("/", "_").replace("?", "_") or "root"
            driver.save_screenshot(f"{out}/{name}-{tag}.png")
            print(f"{out}/{name}-{tag}.png")
finally:
    driver.quit()
