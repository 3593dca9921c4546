"""Two agents on one case, in Chromium against the real demo (issue #20's first acceptance
point): each sees the other viewing and typing; the second to send is shown the first one's reply
and must confirm; nothing is lost.

Maya works on http://127.0.0.1:<port>, Hannah on http://localhost:<port>: one browser, two
hosts, so two separate sessions (cookies are per host)."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import INBOX, Browser, expect

if expect is not None:  # its two tabs wait on each other
    expect.set_options(timeout=15_000)

MAYA_REPLY = "Thanks for your patience, and sorry about this! We'll DM you within the hour."
HANNAH_REPLY = "Thanks for flagging this, and sorry! We'll check your order and DM you today."
#: Cases to try, in inbox order, for one that takes a public reply.
CANDIDATES = 15


def second_tab(browser_context: Any, server: Any) -> Browser:
    """Another tab, on the ``localhost`` host: its own session."""
    page = browser_context.new_page()
    seen = Browser(page, server)
    page.on("dialog", lambda dialog: (seen.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    return seen


def log_in_at(browser: Browser, base: str, username: str, next_url: str) -> None:
    page = browser.page
    page.goto(f"{base}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", browser.server.password)
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "/admin/login/" not in page.url, f"{username} could not log in"


def answerable_case(browser: Browser) -> str:
    """The path of a case in Maya's inbox that takes a public reply (no incident gate)."""
    page = browser.page
    page.goto(INBOX)
    links = page.locator("#result_list tbody tr a[href*='/change/']").evaluate_all(
        "els => [...new Set(els.map(e => e.getAttribute('href')))]"
    )
    for href in [h for h in links if re.search(r"/case/\d+/change/", h)][:CANDIDATES]:
        page.goto(href)
        if page.locator("#sc-reply-form").count() == 0:
            continue
        if page.locator("#sc-public-reply").count() or "approval" in page.inner_text("#sc-case"):
            continue
        if page.locator("#sc-timeline li[data-kind='inbound']").count() == 0:
            continue
        return href
    raise AssertionError("no case in Maya's inbox takes a public reply")


def no_errors(*browsers: Browser) -> None:
    for seen in browsers:
        assert seen.errors == [], f"JavaScript errors on {seen.page.url}: {seen.errors}"
        assert seen.dialogs == [], f"unexpected dialogs on {seen.page.url}: {seen.dialogs}"


def outbound_texts(browser: Browser) -> list[str]:
    items = browser.page.locator("#sc-timeline li.sc-timeline__item[data-kind='outbound']")
    return items.evaluate_all("els => els.map(e => e.textContent)")


def test_two_agents_on_one_case(browser: Browser, browser_context: Any) -> None:
    server = browser.server
    maya = browser
    browser.log_in("maya", INBOX)
    case_path = answerable_case(maya)
    before = len(outbound_texts(maya))

    hannah = second_tab(browser_context, server)
    localhost = server.url.replace("127.0.0.1", "localhost")
    try:
        log_in_at(hannah, localhost, "hannah", case_path)
        expect(hannah.page).to_have_url(re.compile(re.escape(case_path)))
        maya.page.goto(case_path)

        # Each sees the other on the case.
        expect(maya.page.locator("#sc-presence-viewing")).to_contain_text("Hannah Weber")
        expect(hannah.page.locator("#sc-presence-viewing")).to_contain_text("Maya Okafor")
        maya.shot("two-agents-01-maya-sees-hannah")

        # Maya types: Hannah sees it; Hannah types: Maya sees it.
        maya.page.fill("#sc-reply-text", MAYA_REPLY)
        typing = hannah.page.locator("#sc-presence-typing")
        expect(typing).to_be_visible()
        expect(typing).to_contain_text(re.compile(r"Maya Okafor\s+is typing a reply"))
        hannah.page.fill("#sc-reply-text", HANNAH_REPLY)
        expect(maya.page.locator("#sc-presence-typing")).to_contain_text(
            re.compile(r"Hannah Weber\s+is typing a reply")
        )
        hannah.shot("two-agents-02-hannah-sees-maya-typing")

        # Maya sends first: it goes.
        maya.page.check("input[name='visibility'][value='public']")
        with maya.page.expect_navigation():
            maya.page.click("#sc-send")
        expect(maya.page.locator("ul.messagelist li").first).to_be_visible()
        assert any(MAYA_REPLY[:40] in text for text in outbound_texts(maya))

        # Hannah's page, still open, already lists Maya's reply as new.
        live = hannah.page.locator("#sc-live-changes")
        expect(live).to_be_visible()
        expect(live).to_contain_text(MAYA_REPLY[:40])

        # Hannah sends second: not sent; Maya's reply shown; her text kept; she must confirm.
        hannah.page.check("input[name='visibility'][value='public']")
        with hannah.page.expect_navigation():
            hannah.page.click("#sc-send")
        collision = hannah.page.locator("#sc-collision")
        expect(collision).to_be_visible()
        expect(collision).to_contain_text("Maya Okafor replied")
        expect(collision).to_contain_text(MAYA_REPLY[:40])
        expect(hannah.page.locator("#sc-reply-text")).to_have_value(HANNAH_REPLY)
        texts = outbound_texts(hannah)
        assert len(texts) == before + 1 and not any(HANNAH_REPLY[:40] in t for t in texts)
        hannah.shot("two-agents-03-hannah-asked-to-confirm")

        # The box is required: sending without it does not leave the page.
        hannah.page.click("#sc-send")
        expect(collision).to_be_visible()
        expect(hannah.page.locator("#sc-reply-text")).to_have_value(HANNAH_REPLY)

        # Confirmed: sent as written. Both replies are on the case.
        hannah.page.check("#sc-confirm-changes")
        with hannah.page.expect_navigation():
            hannah.page.click("#sc-send")
        expect(hannah.page.locator("#sc-collision")).to_have_count(0)
        texts = outbound_texts(hannah)
        assert len(texts) == before + 2, texts
        assert any(MAYA_REPLY[:40] in t for t in texts)
        assert any(HANNAH_REPLY[:40] in t for t in texts)
        hannah.shot("two-agents-04-both-replies")
        no_errors(maya, hannah)
    finally:
        hannah.page.close()
