"""Issue #22 on a phone by touch and in the dark theme, in Chromium against the demo: a
supervisor approves a held public reply on the case page and ticks an incident's checklist step
in the console (no page wider than the screen, the forms stacked, tap targets of 44 px), and
the dashboard's charts and the console's chips stay readable in the dark theme.

Taps are real touch input: the tab gets Chromium's touch emulation and ``Input.dispatchTouchEvent``
through the DevTools protocol (what Playwright's ``tap()`` does when a context has ``has_touch``,
which the session's shared context has not). The seeded case, incident and held reply come from
``seed.add_approval_case`` (their ids are in the seed's log). Screenshots: ``22-approve-390x844``,
``22-incident-390x844``, ``22-dashboard-dark-1280x800``."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.browser.conftest import CONTRAST, VIEWPORTS, Browser, expect
from tests.browser.seed import APPROVAL_INCIDENT, APPROVAL_REPLY

SUPERVISOR = "hannah"
DASHBOARD = "/admin/socialcare/supportdashboard/"
#: Smallest comfortable tap target (Apple's and Google's guidelines: 44 pt / 48 dp).
TAP = 44
#: How long the worker may take to send an approved reply.
SEND_TIMEOUT = 30
#: The page is no wider than the window (no sideways scrolling).
NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


def seeded(browser: Browser, name: str) -> int:
    """An id ``seed.add_approval_case`` printed (``NAME=<id>``) into the seed's log."""
    log = (browser.server.artifacts / "seed.log").read_text()
    found = re.search(rf"^{name}=(\d+)", log, re.MULTILINE)
    assert found, f"{name} is not in the seed's log: is seed.add_approval_case run?"
    return int(found[1])


def enable_touch(browser: Browser) -> Any:
    """Chromium's touch emulation for this tab; returns the DevTools session for ``tap``."""
    session = browser.page.context.new_cdp_session(browser.page)
    session.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    return session


def tap(session: Any, locator: Any) -> None:
    """A finger down and up on the middle of the element (after scrolling it into view)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box, "the tap target is not displayed"
    point = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    session.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def assert_tap_target(browser: Browser, locator: Any, name: str) -> None:
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box and box["height"] >= TAP, f"{name} is {box and box['height']} px tall"
    assert browser.in_viewport(locator), f"{name} is not inside the phone's screen"


def no_errors(browser: Browser) -> None:
    assert browser.errors == [], f"JavaScript errors on {browser.page.url}: {browser.errors}"
    assert browser.dialogs == [], f"unexpected dialogs on {browser.page.url}: {browser.dialogs}"


def test_supervisor_approves_a_held_reply_by_touch(browser: Browser) -> None:
    page = browser.page
    case_url = f"/admin/socialcare/case/{seeded(browser, 'APPROVAL_CASE')}/change/"
    browser.log_in(SUPERVISOR, case_url)
    browser.resize(*VIEWPORTS["phone"])
    page.goto(case_url)
    session = enable_touch(browser)
    held = page.locator(".sc-held__item", has_text=APPROVAL_REPLY)
    expect(held).to_be_visible()
    post_id = held.get_attribute("data-post-id")
    reply = page.locator(f"#sc-timeline li[data-post-id='{post_id}']")
    expect(reply).to_have_attribute("data-send-status", "awaiting_approval")
    assert page.evaluate(NO_OVERFLOW), "the case page is wider than the phone"
    approve = held.locator("button.sc-approve")
    assert_tap_target(browser, approve, "Approve and send")
    assert_tap_target(browser, held.locator("button.sc-reject"), "Reject")
    browser.shot("22-approve-390x844")

    with page.expect_navigation():
        tap(session, approve)
    expect(page.locator("ul.messagelist li.success")).to_contain_text("approved")
    expect(page.locator(".sc-held")).to_have_count(0)
    expect(page.locator("#sc-timeline")).to_contain_text(f"Reply approved by {SUPERVISOR}")
    deadline = time.monotonic() + SEND_TIMEOUT
    while reply.get_attribute("data-send-status") != "sent":
        assert time.monotonic() < deadline, "the approved reply was not sent (see worker.log)"
        browser.server.check_alive()
        time.sleep(1)
        page.reload()
    assert page.evaluate(NO_OVERFLOW)
    browser.shot("22-approve-sent-390x844")
    no_errors(browser)


def test_incident_checklist_by_touch_on_a_phone(browser: Browser) -> None:
    page = browser.page
    url = f"/admin/socialcare/incident/{seeded(browser, 'APPROVAL_INCIDENT')}/change/"
    # Hannah escalated it; its case went to Escalations, whose agents have no demo login.
    browser.log_in(SUPERVISOR, url)
    browser.resize(*VIEWPORTS["phone"])
    page.goto(url)
    session = enable_touch(browser)
    expect(page.locator("#sc-incident-heading")).to_have_text(APPROVAL_INCIDENT)
    assert page.evaluate(NO_OVERFLOW), "the incident console is wider than the phone"

    step = page.locator("#sc-steps li.sc-step", has_text="Legal review before any public")
    expect(step).to_have_attribute("data-status", "pending")
    comment, done = step.locator("input[name='comment']"), step.locator(".sc-step-done")
    assert_tap_target(browser, comment, "the step's comment field")
    assert_tap_target(browser, done, "Done")
    assert_tap_target(browser, step.locator(".sc-step-skip"), "Skip")
    # Stacked: the field takes the form's width and the buttons sit below it.
    form_box = step.locator("form.sc-step__form").bounding_box()
    comment_box, done_box = comment.bounding_box(), done.bounding_box()
    assert comment_box["width"] >= form_box["width"] - 2, (comment_box, form_box)
    assert done_box["y"] >= comment_box["y"] + comment_box["height"], (done_box, comment_box)
    browser.shot("22-incident-390x844")

    tap(session, comment)
    expect(comment).to_be_focused()
    page.keyboard.type("Legal has read the thread: no statement needed.")
    with page.expect_navigation():
        tap(session, done)
    step = page.locator("#sc-steps li.sc-step", has_text="Legal review before any public")
    expect(step).to_have_attribute("data-status", "done")
    expect(step).to_contain_text("Done by")
    expect(step).to_contain_text("Legal has read the thread: no statement needed.")
    assert page.evaluate(NO_OVERFLOW)

    # The dark theme keeps the console's chips readable.
    browser.set_theme("dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    for css in ("#sc-incident-status", ".sc-console__head .sc-badge", ".sc-step__status"):
        seen = page.locator(css).first.evaluate(CONTRAST)
        assert seen["ratio"] >= 4.5, f"{css} in the dark theme: {seen}"
    browser.shot("22-incident-dark-390x844")
    no_errors(browser)


def test_dashboard_charts_readable_in_both_themes(browser: Browser) -> None:
    page = browser.page
    width, height = VIEWPORTS["laptop"]
    browser.log_in(SUPERVISOR, DASHBOARD)
    browser.resize(width, height)
    page.goto(DASHBOARD)
    charts = page.locator("figure.sc-chart:not([data-empty])")
    expect(charts.first).to_be_visible()
    for theme in ("light", "dark"):
        browser.set_theme(theme)
        expect(page.locator("html")).to_have_attribute("data-theme", theme)
        expect(charts.first).to_be_visible()
        for index in range(charts.count()):
            chart = charts.nth(index)
            name = chart.get_attribute("data-chart")
            background = chart.evaluate("el => getComputedStyle(el).backgroundColor")
            if theme == "dark":
                assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), name
            seen = chart.locator("figcaption").evaluate(CONTRAST)
            assert seen["ratio"] >= 4.5, f"{name}'s caption, {theme}: {seen}"
            texts = chart.locator("svg text")
            assert texts.count(), f"{name} has no axis or label text"
            for i in range(texts.count()):
                seen = texts.nth(i).evaluate(CONTRAST, "fill")
                assert seen["ratio"] >= 4.5, f"{name}'s text {i}, {theme}: {seen}"
            # Series (bars and points) keep 3:1 against the card: non-text contrast.
            shapes = chart.locator("svg rect, svg circle")
            for i in range(shapes.count()):
                seen = shapes.nth(i).evaluate(CONTRAST, "fill")
                assert seen["ratio"] >= 3, f"{name}'s series {i}, {theme}: {seen}"
        if theme == "dark":
            browser.shot(f"22-dashboard-dark-{width}x{height}")
    # On a phone each chart takes the page's width; nothing scrolls sideways.
    browser.resize(*VIEWPORTS["phone"])
    page.reload()
    expect(charts.first).to_be_visible()
    assert page.evaluate(NO_OVERFLOW), "the dashboard is wider than the phone"
    assert charts.first.bounding_box()["width"] <= VIEWPORTS["phone"][0]
    no_errors(browser)
