"""The HTML report opens in headless Chromium with no console errors and shows every finding.

Needs Debian's chromium and chromium-driver (make test installs them when it can); skipped otherwise.
"""

import shutil

import pytest

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium / chromium-driver not installed")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chrome')}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def test_report_renders_every_finding(browser, quick_report, quick_report_json):
    from selenium.webdriver.common.by import By

    _, out = quick_report
    browser.set_window_size(1280, 2000)
    browser.get((out / "report.html").resolve().as_uri())
    assert browser.title.startswith("mlaudit report")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    for section in ("threat-model", "target", "data", "overview"):
        assert browser.find_element(By.ID, section).is_displayed()
    for f in quick_report_json["findings"]:
        el = browser.find_element(By.ID, f"finding-{f['id']}")
        assert el.is_displayed() and f["title"] in el.text
        svgs = el.find_elements(By.TAG_NAME, "svg")
        expected = sum(a["kind"] in ("roc", "histogram", "curve") for a in f["artifacts"])
        assert len(svgs) == expected and all(s.size["width"] > 100 and s.size["height"] > 100 for s in svgs)
    for img in browser.find_elements(By.CSS_SELECTOR, ".finding img"):  # inline PNGs decode and show
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 100", img)
    # the threat model is at the top, before any finding
    tm_y = browser.find_element(By.ID, "threat-model").location["y"]
    assert all(tm_y < e.location["y"] for e in browser.find_elements(By.CLASS_NAME, "finding"))
