"""Hostile markup where customers (and the CRM) control the words: post text, handle, display
name, the CRM customer's name rendered into a canned reply through ``{{ customer }}``, and an
incident title. On the inbox, the case page (timeline, composer with the canned reply filled in,
the tone check's JSON answer), the incident console and the dashboard, none of it may run: no
dialog opens, no injected element exists, and the words are shown as text."""

from __future__ import annotations

import time

from tests.browser.conftest import AGENT, INBOX, SUPERVISOR, Browser, expect
from tests.browser.seed import (
    XSS_CUSTOMER,
    XSS_HANDLE,
    XSS_NAME,
    XSS_TEMPLATE_NAME,
    XSS_TEXT,
)

#: The payloads seeded (seed.py): each would open a dialog if its markup became live.
PAYLOADS = [XSS_TEXT, XSS_NAME, XSS_CUSTOMER, XSS_TEMPLATE_NAME, "incident title", "template"]
#: Elements the payloads would create if their markup were parsed, and scripts they would add.
INJECTED = """() => {
  const bad = document.querySelectorAll(
    "img[src='x'], img[src='y'], img[src='z'], svg[onload], b[onmouseover], [onerror], [onload]"
  ).length;
  const scripts = [...document.scripts].filter(s => /alert\\(/.test(s.textContent)).length;
  return bad + scripts;
}"""


def assert_inert(browser: Browser, where: str) -> None:
    page = browser.page
    page.mouse.move(200, 300)  # hover handlers would fire now
    time.sleep(0.3)
    assert page.evaluate(INJECTED) == 0, f"injected markup is live on {where}"
    assert browser.dialogs == [], f"a payload ran on {where}: {browser.dialogs}"
    assert browser.errors == [], f"JavaScript errors on {where}: {browser.errors}"


def test_hostile_markup_never_runs_on_any_page(browser: Browser, robustness) -> None:
    robustness.bad_inputs(len(PAYLOADS))
    page = browser.page
    browser.log_in(AGENT, INBOX)
    page.evaluate("alert('probe')")  # the dialog listener works: it would see an injected alert
    assert browser.dialogs == ["alert: probe"]
    browser.dialogs.clear()

    # The inbox, searched for the probe: text, handle and name shown as text.
    page.goto(f"{INBOX}?q={XSS_HANDLE}")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("<script>alert('post')</script>")
    assert_inert(browser, "the inbox")

    # The case page: timeline, customer panel, and the composer.
    case_url = f"{INBOX}{browser.server.xss_case}/change/"
    page.goto(case_url)
    expect(page.locator("#sc-timeline")).to_contain_text("<img src=x onerror=alert('text')>")
    expect(page.locator("body")).to_contain_text(XSS_NAME)
    expect(page.locator("body")).to_contain_text("<script>alert('customer')</script>")
    assert_inert(browser, "the case page")

    # The canned reply renders the customer's name into the composer; the tone check answers
    # JSON about that text. Both stay text.
    option = page.locator("#sc-canned option", has_text="XSS probe")
    expect(option).to_have_count(1)
    with page.expect_response(lambda r: "tone" in r.url, timeout=15_000) as answer:
        page.select_option("#sc-canned", value=option.get_attribute("value"))
    assert answer.value.status == 200
    assert answer.value.headers["content-type"].startswith("application/json")
    filled = page.locator("#sc-reply-text").input_value()
    assert XSS_CUSTOMER in filled, filled
    assert "<img src=y onerror=alert('tpl')>" in filled
    page.locator("#sc-reply-text").type(" <img src=x onerror=alert('typed')>")
    time.sleep(1.5)  # the debounced tone check runs again on the typed markup
    browser.shot("xss-composer")
    assert_inert(browser, "the case composer")

    # The incident console, as the supervisor.
    browser.log_in(SUPERVISOR, "/admin/")
    page.goto(f"/admin/socialcare/incident/{browser.server.xss_incident}/change/")
    expect(page.locator("body")).to_contain_text("<img src=z onerror=alert('incident')>")
    browser.shot("xss-incident")
    assert_inert(browser, "the incident console")

    # The dashboard and the incident list, where titles and names are listed.
    for url in ("/admin/socialcare/supportdashboard/", "/admin/socialcare/incident/"):
        page.goto(url)
        expect(page.locator("#content")).to_be_visible()
        assert_inert(browser, url)
    browser.shot("xss-dashboard")
