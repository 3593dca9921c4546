"""The case page at every width (issue #22), in Chromium against the real demo: the reply box in
view on a short case at 1280×800, 1440×900 and 1920×1080; system events of one minute folded
into a line that opens; the keyboard from the inbox to a resolved case (r, type, send, e); the
phone flow at 390×844 (open a case, take it private, send) without sideways scrolling; badges
and the SLA box readable in dark mode. Screenshots: ``22-case-*.png`` in the artifacts."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.browser.conftest import AGENT, CONTRAST, INBOX, Browser, expect

CASE_LINKS = "#result_list a[href*='/admin/socialcare/case/'][href*='/change/']"
#: Cases of the inbox to look through for one that fits a test.
CANDIDATES = 20
REPLY = "Thanks for telling us, and sorry about this! We'll check it and DM you within the hour."
PRIVATE_REPLY = "Thanks! Could you send us your order number here? We'll sort it out today."
#: Nothing wider than the window (a page that scrolls sideways on a phone is broken).
NO_OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


def no_errors(browser: Browser) -> None:
    assert browser.errors == [], f"JavaScript errors on {browser.page.url}: {browser.errors}"
    assert browser.dialogs == [], f"unexpected dialogs on {browser.page.url}: {browser.dialogs}"


def inbox_links(browser: Browser) -> list[str]:
    page = browser.page
    page.goto(INBOX)
    hrefs = page.locator(CASE_LINKS).evaluate_all(
        "els => [...new Set(els.map(e => e.getAttribute('href')))]"
    )
    return [h for h in hrefs if re.search(r"/case/\d+/change/$", h)][:CANDIDATES]


def open_case_like(browser: Browser, fits: Callable[[], bool], what: str) -> str:
    """Open the inbox's cases in turn (their links, as the inbox lists them) until ``fits()``.
    By address, not a click: the inbox's layout settles after its scripts run (the sidebar
    collapses), and a click aimed before that can land beside the link; opening a case by a
    click and by the keyboard is tested on its own (``test_keyboard_...``)."""
    page = browser.page
    links = inbox_links(browser)
    assert links, "Maya's inbox lists no cases"
    for href in links:
        page.goto(href)
        expect(page).to_have_url(re.compile(re.escape(href) + "$"))
        if fits():
            return href
    raise AssertionError(f"no case in Maya's inbox {what}")


def short_case(page) -> bool:
    """The whole conversation fits its box and is a few lines: a customer's post or two."""
    return bool(
        page.locator("#sc-reply-text").count()
        and page.locator("#sc-timeline > li").count() <= 6
        and page.evaluate(
            "(() => { const t = document.getElementById('sc-timeline');"
            " return t.scrollHeight <= t.clientHeight + 1; })()"
        )
    )


def takes_a_public_reply(page) -> bool:
    return bool(
        page.locator("#sc-reply-form").count()
        and not page.locator("#sc-public-reply").count()
        and page.locator("#sc-case-status").get_attribute("data-status") != "resolved"
    )


def box(page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


@pytest.mark.parametrize("width,height", [(1280, 800), (1440, 900), (1920, 1080)])
def test_the_reply_box_is_in_view_on_a_short_case(browser: Browser, width: int, height: int):
    page = browser.page
    page.set_viewport_size({"width": width, "height": height})
    browser.log_in(AGENT, INBOX)
    open_case_like(browser, lambda: short_case(page), "has a short conversation")

    assert page.evaluate("window.scrollY") == 0
    # As on the inbox, the admin's app sidebar starts collapsed (the user has not chosen).
    page.evaluate("() => localStorage.removeItem('django.admin.navSidebarIsOpen')")
    page.reload()
    expect(page.locator("#nav-sidebar")).to_have_attribute("aria-expanded", "false")
    text = box(page, "#sc-reply-text")
    assert text["y"] >= 0 and text["y"] + text["height"] <= height, (text, height)
    # The SLA box sits beside the conversation, in view too.
    sla = box(page, "#sc-sla")
    assert sla["x"] > text["x"] + text["width"] and sla["y"] < height
    assert page.evaluate(NO_OVERFLOW)
    browser.shot(f"22-case-composer-{width}x{height}")
    no_errors(browser)


def test_system_events_of_one_minute_are_one_line_that_opens(browser: Browser):
    page = browser.page
    page.set_viewport_size({"width": 1280, "height": 800})
    browser.log_in(AGENT, INBOX)
    open_case_like(
        browser, lambda: page.locator("#sc-timeline li.sc-fold").count() > 0, "has a fold"
    )
    fold = page.locator("#sc-timeline li.sc-fold").first
    fold.scroll_into_view_if_needed()
    summary = fold.locator("summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text(" · ")
    count = int(fold.get_attribute("data-count"))
    inside = fold.locator("li.sc-timeline__item[data-kind='event']")
    assert count >= 2 and inside.count() == count
    expect(inside.first).to_be_hidden()
    browser.shot("22-case-folded-1280x800")

    summary.click()
    for index in range(count):
        expect(inside.nth(index)).to_be_visible()
    events = inside.evaluate_all("els => els.map(e => e.dataset.event)")
    assert all(events) and len(events) == count
    browser.shot("22-case-fold-open-1280x800")
    summary.click()
    expect(inside.first).to_be_hidden()
    no_errors(browser)


def test_keyboard_from_the_inbox_to_a_resolved_case(browser: Browser):
    page = browser.page
    page.set_viewport_size({"width": 1280, "height": 800})
    browser.log_in(AGENT, INBOX)
    links = inbox_links(browser)
    assert len(links) >= 3, links
    # The third case, by keyboard: j three times (the first j selects the first row), Enter.
    page.wait_for_function("() => window.socialcareShortcuts !== undefined")
    third = page.locator("#result_list tbody tr").nth(2).locator("th.field-reference a")
    href = third.get_attribute("href")
    for _ in range(3):
        page.keyboard.press("j")
    expect(third).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    for href in links[3:]:  # unless it cannot take a public reply (then the next that can)
        if takes_a_public_reply(page):
            break
        page.goto(href)
    assert takes_a_public_reply(page), "no case from the third on takes a public reply"
    case_url = page.url

    # "?" opens the help, Escape closes it.
    page.keyboard.press("?")
    help_box = page.locator("#sc-shortcuts")
    expect(help_box).to_be_visible()
    expect(help_box.get_by_role("dialog")).to_contain_text("Resolve")
    browser.shot("22-case-shortcuts-help-1280x800")
    page.keyboard.press("Escape")
    expect(help_box).to_be_hidden()

    # r: the reply box; typing there is text, not shortcuts (the reply has "e", "a", "n"...).
    page.keyboard.press("r")
    expect(page.locator("#sc-reply-text")).to_be_focused()
    page.keyboard.type(REPLY)
    expect(page.locator("#sc-reply-text")).to_have_value(REPLY)
    assert page.url == case_url
    expect(page.locator("#sc-case-status")).not_to_have_attribute("data-status", "resolved")
    browser.shot("22-case-keyboard-reply-1280x800")
    with page.expect_navigation():
        page.click("#sc-send")
    expect(page.locator("ul.messagelist li").first).to_contain_text(
        re.compile(r"Reply queued|held until another agent approves")
    )
    outbound = page.locator("#sc-timeline li.sc-timeline__item[data-kind='outbound']")
    expect(outbound.filter(has_text=REPLY[:40]).first).to_be_visible()

    # n and p take the focus to the note and the take-it-private form.
    page.keyboard.press("n")
    expect(page.locator("#sc-note-text")).to_be_focused()
    page.locator("#sc-note-text").blur()

    # a: assign to me, through the Work form.
    me = page.locator("#sc-work-form").get_attribute("data-me")
    if page.locator("#sc-work-assignee").input_value() != me:
        with page.expect_navigation():
            page.keyboard.press("a")
        expect(page.locator("ul.messagelist li.success")).to_contain_text("Saved: assignee")
    expect(page.locator("#sc-work-assignee")).to_have_value(me)

    # e: resolve, through the Work form.
    with page.expect_navigation():
        page.keyboard.press("e")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Saved: status")
    expect(page.locator("#sc-case-status")).to_have_attribute("data-status", "resolved")
    expect(page.locator("#sc-case-status")).to_have_text("Resolved")
    expect(page.locator("#sc-work-status")).to_have_value("resolved")
    browser.shot("22-case-keyboard-resolved-1280x800")
    no_errors(browser)


def test_phone_take_it_private_and_send(browser: Browser):
    page = browser.page
    page.set_viewport_size({"width": 390, "height": 844})
    browser.log_in(AGENT, INBOX)
    open_case_like(
        browser,
        lambda: (
            page.locator("#sc-handoff-form").count() > 0
            and page.locator("#sc-timeline li[data-kind='inbound']").count() > 0
            and not page.locator(".sc-held").count()
        ),
        "can be taken private",
    )
    assert page.evaluate(NO_OVERFLOW)
    # One column: the conversation, then the composer, then the SLA and customer boxes.
    timeline, composer, sla = (box(page, s) for s in ("#sc-timeline", "#sc-composer", "#sc-sla"))
    assert timeline["y"] < composer["y"] < sla["y"]
    for part in (timeline, composer, sla):
        assert part["x"] >= 0 and part["x"] + part["width"] <= 390
    # Big enough to tap.
    for selector in ("#sc-send", "#sc-handoff", "#sc-handoff-via", "#sc-canned", "#sc-save-work"):
        assert box(page, selector)["height"] >= 40, selector
    for label in page.locator(".sc-visibility label").all():
        assert label.bounding_box()["height"] >= 40
    browser.shot("22-case-phone-390x844")

    page.select_option("#sc-handoff-via", "direct_message")
    page.fill("#sc-handoff-message", "Hi! Let's continue here in private.")
    page.locator("#sc-handoff").scroll_into_view_if_needed()
    with page.expect_navigation():
        page.click("#sc-handoff")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Taken private")
    expect(page.locator("#sc-case-title")).to_contain_text("Private via direct message")
    expect(page.locator("input[name='visibility'][value='private']")).to_be_checked()
    assert page.evaluate(NO_OVERFLOW)

    page.fill("#sc-reply-text", PRIVATE_REPLY)
    with page.expect_navigation():
        page.click("#sc-send")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Reply queued")
    sent = page.locator("#sc-timeline li.sc-timeline__item[data-kind='outbound']").filter(
        has_text=PRIVATE_REPLY[:40]
    )
    expect(sent.first).to_be_visible()
    expect(sent.first.locator(".sc-tag--private")).to_be_visible()
    assert page.evaluate(NO_OVERFLOW)
    browser.shot("22-case-phone-private-sent-390x844")
    no_errors(browser)


def test_badges_and_sla_box_are_readable_in_dark_mode(browser: Browser):
    page = browser.page
    page.set_viewport_size({"width": 1280, "height": 800})
    browser.log_in(AGENT, INBOX)
    open_case_like(browser, lambda: page.locator("#sc-sla").count() > 0, "has an SLA box")
    try:
        for theme in ("light", "dark"):
            page.evaluate(f"localStorage.setItem('theme', '{theme}')")
            page.reload()
            assert page.evaluate("document.documentElement.dataset.theme") == theme
            for selector in (
                "#sc-case-status",
                ".sc-case__badges .sc-badge >> nth=1",
                ".sc-sla__state",
                ".sc-sla__rows dd",
                "#sc-timeline .sc-tag",
            ):
                ratio = page.locator(selector).first.evaluate(CONTRAST)["ratio"]
                assert ratio >= 4.5, f"{selector} in {theme} mode: contrast {ratio:.2f}"
            browser.shot(f"22-case-{theme}-1280x800")
    finally:
        page.evaluate("localStorage.setItem('theme', 'auto')")
    no_errors(browser)
