"""An agent's day in the real demo, in Chromium: the inbox filtered to breached cases, a canned
reply sent and delivered by the worker, a hand-off to DM, an incident worked through its
checklist, and the supervisor's dashboard. Plus: customer HTML/JS is shown as text, never run.

The ids and data attributes used are the pages' contract with these tests (docs/development.md,
"Browser tests")."""

from __future__ import annotations

import re
import time

from tests.browser.conftest import AGENT, INBOX, SUPERVISOR, Browser, expect
from tests.browser.seed import XSS_HANDLE, XSS_NAME

CHARTS = {"volume", "first_response", "sla_compliance", "sentiment", "open_by_team", "incidents"}
#: True when the customer's <script> made it into the page as an element.
SCRIPT_INJECTED = "[...document.scripts].some(s => s.textContent.includes(\"alert('post')\"))"
#: How long the worker may take to send a queued reply.
SEND_TIMEOUT = 30


def success_message(browser: Browser) -> str:
    message = browser.page.locator("ul.messagelist li.success")
    expect(message.first).to_be_visible()
    return message.first.inner_text()


def no_errors(browser: Browser) -> None:
    assert browser.errors == [], f"JavaScript errors on {browser.page.url}: {browser.errors}"
    assert browser.dialogs == [], f"unexpected dialogs on {browser.page.url}: {browser.dialogs}"


def test_agent_day(browser: Browser) -> None:
    page = browser.page

    # The inbox, filtered in the filter bar to cases whose first response is overdue.
    browser.log_in(AGENT, INBOX)
    expect(page.locator("#result_list")).to_be_visible()
    browser.shot("01-inbox")
    page.locator("#changelist-filter summary", has_text="SLA").click()  # open its dropdown
    sla_filter = page.locator("#changelist-filter").get_by_role("link", name="Breached", exact=True)
    sla_filter.click()
    expect(page).to_have_url(re.compile(r"[?&]sla=breached"))
    badges = page.locator("#result_list tbody tr .sc-sla")
    expect(badges.first).to_be_visible()
    states = badges.evaluate_all("els => els.map(e => e.dataset.sla)")
    assert states and set(states) == {"breached"}, states
    assert page.locator("#result_list tbody tr").count() == len(states)
    browser.shot("02-inbox-breached")

    # Open the first breached case from its reference.
    page.locator("#result_list tbody tr").first.locator(
        "a[href*='/admin/socialcare/case/'][href*='/change/']"
    ).first.click()
    expect(page).to_have_url(re.compile(r"/admin/socialcare/case/\d+/change/"))
    case_url = page.url
    expect(page.locator("#sc-sla")).to_have_attribute("data-sla", "breached")
    expect(
        page.locator("#sc-timeline li.sc-timeline__item[data-kind='inbound']").first
    ).to_be_visible()
    browser.shot("03-case")

    # A canned reply, rendered for this case and agent; its length; no tone warning.
    canned = page.locator("#sc-canned option", has_text="Apology + next step")
    page.select_option("#sc-canned", value=canned.get_attribute("value"))
    text_box = page.locator("#sc-reply-text")
    expect(text_box).to_have_value(
        re.compile(r"^Thanks for telling us, .+, and sorry about this\. .+ – Maya$")
    )
    reply = text_box.input_value()
    assert "{{" not in reply and re.search(r"SC-\d{6}", reply), reply
    count = page.locator("#sc-char-count")
    expect(count).to_have_text(re.compile(rf"^\s*{len(reply)}\s*/\s*\d+\s*$"))
    used, limit = (int(n) for n in re.findall(r"\d+", count.inner_text()))
    assert used == len(reply) <= limit
    expect(page.locator("#sc-tone-warnings li")).to_have_count(0)
    page.check("input[name='visibility'][value='public']")
    browser.shot("04-case-reply-drafted")
    with page.expect_navigation():
        page.click("#sc-send")
    success_message(browser)
    outbound = page.locator("#sc-timeline li.sc-timeline__item[data-kind='outbound']")
    expect(outbound.filter(has_text=reply[:40]).first).to_be_visible()

    # The worker sends it (console transport): the first response is recorded, late.
    deadline = time.monotonic() + SEND_TIMEOUT
    while page.locator("#sc-sla").get_attribute("data-sla") == "breached":
        assert time.monotonic() < deadline, "the reply was not sent within 30 s (see worker.log)"
        browser.server.check_alive()
        time.sleep(1)
        page.goto(case_url)
    # Answered after the due time: "missed" (a breached case cannot be "met" any more).
    expect(page.locator("#sc-sla")).to_have_attribute("data-sla", "missed")
    browser.shot("05-case-replied")

    # Take the conversation to direct messages.
    page.select_option("#sc-handoff-form select[name='via']", "direct_message")
    with page.expect_navigation():
        page.click("#sc-handoff")
    success_message(browser)
    expect(page.locator("#sc-timeline")).to_contain_text("direct message")
    browser.shot("06-case-handed-off")
    no_errors(browser)

    # A case still inside its SLA, answered in time: the SLA box shows "met".
    page.goto(f"{INBOX}?sla=due_soon")
    if page.locator("#result_list tbody tr").count() == 0:
        page.goto(f"{INBOX}?sla=ok")
    page.locator("#result_list tbody tr").first.locator(
        "a[href*='/admin/socialcare/case/'][href*='/change/']"
    ).first.click()
    timely_url = page.url
    assert page.locator("#sc-sla").get_attribute("data-sla") in {"due_soon", "ok"}
    canned = page.locator("#sc-canned option", has_text="Apology + next step")
    page.select_option("#sc-canned", value=canned.get_attribute("value"))
    page.check("input[name='visibility'][value='public']")
    with page.expect_navigation():
        page.click("#sc-send")
    success_message(browser)
    deadline = time.monotonic() + SEND_TIMEOUT
    while page.locator("#sc-sla").get_attribute("data-sla") != "met":
        assert time.monotonic() < deadline, "the reply was not sent within 30 s (see worker.log)"
        browser.server.check_alive()
        time.sleep(1)
        page.goto(timely_url)
    browser.shot("06b-case-answered-in-time")
    no_errors(browser)

    # The supervisor opens an incident from the case; its playbook brings checklist steps.
    browser.log_in(SUPERVISOR, case_url)
    page.goto(case_url)
    incident_form = page.locator("#sc-open-incident-form")
    playbook = incident_form.locator("select[name='playbook']")
    if playbook.count():
        option = playbook.locator("option", has_text="Product defect wave")
        playbook.select_option(value=option.get_attribute("value"))
    with page.expect_navigation():
        page.click("#sc-open-incident")
    expect(page).to_have_url(re.compile(r"/admin/socialcare/incident/\d+/change/"))
    incident_url = page.url
    steps = page.locator("#sc-steps li.sc-step")
    expect(steps.first).to_be_visible()
    expect(page.locator("#sc-incident-status")).to_have_attribute("data-status", "open")
    expect(page.locator("#sc-incident-cases")).to_contain_text(re.compile(r"SC-\d{6}"))
    browser.shot("07-incident")

    # The agent ticks one pending step done and skips another with a comment.
    browser.log_in(AGENT, incident_url)
    page.goto(incident_url)
    pending = page.locator("#sc-steps li.sc-step[data-status='pending']")
    assert pending.count() >= 2, "the playbook should leave at least two manual steps"
    done_id = pending.nth(0).get_attribute("data-step-id")
    skip_id = pending.nth(1).get_attribute("data-step-id")
    done_step = page.locator(f"#sc-steps li.sc-step[data-step-id='{done_id}']")
    done_step.locator("input[name='comment']").fill("Checked with Product: fix ships Friday.")
    with page.expect_navigation():
        done_step.locator(".sc-step-done").click()
    expect(done_step).to_have_attribute("data-status", "done")
    skip_step = page.locator(f"#sc-steps li.sc-step[data-step-id='{skip_id}']")
    skip_step.locator("input[name='comment']").fill("Not needed: the status page already says it.")
    with page.expect_navigation():
        skip_step.locator(".sc-step-skip").click()
    expect(skip_step).to_have_attribute("data-status", "skipped")
    expect(skip_step).to_contain_text("Not needed: the status page already says it.")
    # Containing the incident is the supervisor's call.
    expect(page.locator("#sc-contain")).to_have_count(0)
    browser.shot("08-incident-steps")
    no_errors(browser)

    # The supervisor's dashboard: six charts, each an inline SVG with a caption.
    browser.log_in(SUPERVISOR, "/admin/socialcare/supportdashboard/")
    page.goto("/admin/socialcare/supportdashboard/")
    charts = page.locator("figure.sc-chart")
    expect(charts).to_have_count(6)
    assert set(charts.evaluate_all("els => els.map(e => e.dataset.chart)")) == CHARTS
    for index in range(6):
        chart = charts.nth(index)
        expect(chart.locator("svg[role='img']")).to_have_count(1)
        assert chart.locator("svg[role='img']").get_attribute("aria-label")
        expect(chart.locator("figcaption")).not_to_be_empty()
    browser.shot("09-dashboard")
    no_errors(browser)


def test_customer_html_is_shown_as_text(browser: Browser) -> None:
    page = browser.page
    browser.log_in(AGENT, INBOX)
    page.evaluate("alert('probe')")  # the dialog listener works: it would see an injected alert
    assert browser.dialogs == ["alert: probe"]
    browser.dialogs.clear()
    page.goto(f"{INBOX}?q={XSS_HANDLE}")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("<script>alert('post')</script>")
    browser.shot("xss-inbox")
    assert page.locator("img[src='x']").count() == 0
    assert not page.evaluate(SCRIPT_INJECTED)

    page.goto(f"{INBOX}{browser.server.xss_case}/change/")
    expect(page.locator("#sc-timeline")).to_contain_text("<img src=x onerror=alert('text')>")
    expect(page.locator("body")).to_contain_text(XSS_NAME)
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("b[onmouseover]").count() == 0
    assert not page.evaluate(SCRIPT_INJECTED)
    page.mouse.move(10, 10)
    browser.shot("xss-case")
    no_errors(browser)
