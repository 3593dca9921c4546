"""Incidents: steps materialized from the playbook, automatic steps run and audited (once per
case, also for cases linked later), manual steps ticked or skipped, failures recorded with the
reason, host step kinds, the open → contained → resolved workflow and escalating a case by hand."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction

from socialcare import signals
from socialcare.crisis_playbooks import install_playbooks
from socialcare.exceptions import IllegalTransition, SocialCareError
from socialcare.models import (
    Case,
    CaseEvent,
    Detector,
    Incident,
    IncidentEvent,
    IncidentStep,
    Playbook,
    PlaybookStep,
    Post,
    ReplyTemplate,
    SocialIdentity,
    Team,
)
from socialcare.services import cases as case_services
from socialcare.services.incidents import (
    change_incident_status,
    complete_step,
    link_cases,
    open_incident,
    open_incident_from_case,
    run_step,
    skip_step,
)
from socialcare.services.playbook_steps import StepKind, get_kind, kind_choices
from socialcare.services.templates import check_length, render_reply_template

pytestmark = pytest.mark.django_db

T = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
_numbers = itertools.count(1)
Status = IncidentStep.Status
CASE_STEPS = ["Route to Escalations", "Raise to urgent", "Holding reply"]


# Host step kinds, registered by dotted path in the tests that use them --------------------------
class PageOncall(StepKind):
    label = "Page the on-call engineer"
    paged: list[int] = []

    def execute(self, incident, step, actor):
        PageOncall.paged.append(incident.pk)
        return f"paged {step.config['who']}"


class TagCases(StepKind):
    label = "Tag linked cases"
    case_scoped = True

    def apply_to_case(self, incident, step, case, actor):
        case_services.set_tags(case, [step.config["tag"]], actor=actor)


class BrokenPager(StepKind):
    def execute(self, incident, step, actor):
        raise RuntimeError("pager service is down")


HOST_KINDS = {
    "page_oncall": "tests.test_incidents.PageOncall",
    "tag_cases": "tests.test_incidents.TagCases",
    "broken_pager": "tests.test_incidents.BrokenPager",
    "misspelt": "tests.test_incidents.PageOnCall",
}


# Fixtures -------------------------------------------------------------------------------------
@pytest.fixture
def escalations():
    return Team.objects.create(name="Escalations", email="escalations@example.com")


@pytest.fixture
def holding_template():
    return ReplyTemplate.objects.create(
        name="Holding", shortcut="holding", text="Hi {{ customer }}, we are on it."
    )


def make_playbook(*steps, slug="defect"):
    """steps: (title, kind, automatic, due_after_minutes, config)."""
    playbook = Playbook.objects.create(name=slug.title(), slug=slug, severity="high")
    for order, (title, kind, automatic, due, config) in enumerate(steps, start=1):
        PlaybookStep.objects.create(
            playbook=playbook, order=order * 10, title=title, kind=kind, automatic=automatic,
            due_after_minutes=due, config=config,
        )  # fmt: skip
    return playbook


@pytest.fixture
def playbook(escalations, holding_template):
    return make_playbook(
        ("Tell the lead", "notify", True, 0, {"emails": ["lead@example.com"], "teams": ["Care"]}),
        ("Hold public replies", "require_approval", True, 0, {}),
        ("Route to Escalations", "assign_team", True, 0, {"team": "Escalations"}),
        ("Raise to urgent", "raise_priority", True, 0, {"priority": "urgent"}),
        ("Holding reply", "holding_reply", True, 0, {"template": "holding"}),
        ("Take it to DMs", "take_private", False, 15, {"via": "direct_message"}),
        ("Confirm with Product", "checklist", False, 60, {}),
    )


@pytest.fixture
def public_case(channel):
    """A case with the customer's public post, as ingestion leaves it."""

    def make(text="The checkout is broken"):
        n = next(_numbers)
        author = SocialIdentity.objects.create(
            platform="x", external_id=f"c{n}", handle=f"cust{n}", display_name=f"Cust {n}"
        )
        case = case_services.open_case(channel=channel, identity=author, subject=text)
        Post.objects.create(
            platform="x", external_id=f"t{n}", channel=channel, author=author,
            direction="inbound", kind="mention", visibility="public", text=text, case=case,
        )  # fmt: skip
        return case

    return make


@pytest.fixture
def received():
    got = []

    def on_opened(sender, incident, actor, **kwargs):
        got.append(("opened", incident.pk))

    def on_updated(sender, incident, actor, change, **kwargs):
        got.append((change, incident.pk))

    signals.incident_opened.connect(on_opened)
    signals.incident_updated.connect(on_updated)
    yield got
    signals.incident_opened.disconnect(on_opened)
    signals.incident_updated.disconnect(on_updated)


def step(incident, title):
    return incident.steps.get(title=title)


def case_events(case, kind):
    return list(case.events.filter(kind=kind))


def open_at(moment=T, **kwargs):
    with time_machine.travel(moment, tick=False):
        return open_incident(**kwargs)


# Opening: steps materialized and the automatic ones run ---------------------------------------


def test_opening_materializes_the_steps_with_due_times_and_runs_the_automatic_ones(
    playbook, public_case, team, mailoutbox, received, django_capture_on_commit_callbacks,
    socialcare_settings,
):  # fmt: skip
    cases = [public_case(), public_case()]
    with (
        socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        incident, opened = open_at(
            title="Checkout broken", playbook=playbook, scope="platform=x",
            evidence={"summary": "20 negative posts"}, cases=cases,
        )  # fmt: skip
    assert opened
    assert incident.severity == "high"
    assert incident.opened_at == T
    steps = list(incident.steps.order_by("order"))
    assert [(s.title, s.automatic, s.due_at - T) for s in steps] == [
        ("Tell the lead", True, dt.timedelta(0)),
        ("Hold public replies", True, dt.timedelta(0)),
        ("Route to Escalations", True, dt.timedelta(0)),
        ("Raise to urgent", True, dt.timedelta(0)),
        ("Holding reply", True, dt.timedelta(0)),
        ("Take it to DMs", False, dt.timedelta(minutes=15)),
        ("Confirm with Product", False, dt.timedelta(minutes=60)),
    ]
    assert [s.status for s in steps] == [Status.DONE] * 5 + [Status.PENDING] * 2
    assert all(s.done_by is None and s.done_at == T for s in steps[:5])
    assert steps[0].result == "notified 2 of 2 recipient(s)"
    assert steps[2].result == "applied to 2 of 2 case(s)"
    incident.refresh_from_db()
    assert incident.requires_approval

    # The effects, on every linked case.
    assert sorted(m.to[0] for m in mailoutbox) == ["care@example.com", "lead@example.com"]
    assert "Incident #" in mailoutbox[0].subject
    for case in cases:
        case.refresh_from_db()
        assert case.incident == incident
        assert case.team.name == "Escalations"
        assert case.priority == "urgent"
        [reply] = case.posts.filter(direction="outbound")
        assert reply.text == f"Hi {case.identity.display_name}, we are on it."
        assert reply.visibility == "public"
        assert reply.send_status == Post.SendStatus.SENT  # the playbook's text is not held
        assert case.first_responded_at is not None
        assert len(case_events(case, CaseEvent.Kind.INCIDENT_LINKED)) == 1
        audited = case_events(case, CaseEvent.Kind.PLAYBOOK_STEP)
        assert [e.data["incident_step"] for e in audited] == [
            step(incident, t).pk for t in CASE_STEPS
        ]
        assert all(e.data["incident"] == incident.pk and e.actor is None for e in audited)

    # The incident's own audit trail.
    events = list(incident.events.values_list("kind", flat=True))
    assert events == ["opened", "cases_linked"] + ["step_done"] * 5
    opened_event = incident.events.get(kind="opened")
    assert opened_event.data["playbook"] == playbook.name
    assert opened_event.data["summary"] == "20 negative posts"
    assert incident.events.get(kind="cases_linked").data["count"] == 2
    assert ("opened", incident.pk) in received
    assert received.count(("opened", incident.pk)) == 1


def test_cases_linked_later_get_the_done_steps_exactly_once(playbook, public_case, team):
    first = public_case()
    incident, _ = open_at(title="Wave", playbook=playbook, cases=[first])
    late = public_case("Still broken")
    assert link_cases(incident, [late]) == [late]
    assert link_cases(incident, [late, first]) == []  # already linked: nothing happens
    late.refresh_from_db()
    assert late.team.name == "Escalations" and late.priority == "urgent"
    assert late.posts.filter(direction="outbound").count() == 1
    assert len(case_events(late, CaseEvent.Kind.PLAYBOOK_STEP)) == 3
    # Unlinked and linked again (or linked through a second path): still once per case.
    Case.objects.filter(pk=late.pk).update(incident=None)
    late.refresh_from_db()
    link_cases(incident, [late])
    assert len(case_events(late, CaseEvent.Kind.PLAYBOOK_STEP)) == 3
    assert late.posts.filter(direction="outbound").count() == 1
    assert incident.events.filter(kind="cases_linked").count() == 3


def test_joining_the_active_incident_of_the_same_playbook_and_scope(playbook, public_case, team):
    first, second = public_case(), public_case()
    incident, opened = open_at(title="Wave", playbook=playbook, scope="s", cases=[first])
    again, opened_again = open_at(
        title="Wave again", playbook=playbook, scope="s", cases=[second],
        evidence={"summary": "more"},
    )  # fmt: skip
    assert (again, opened, opened_again) == (incident, True, False)
    assert Incident.objects.count() == 1
    assert set(incident.cases.all()) == {first, second}
    assert incident.events.get(kind="evidence").data["summary"] == "more"
    assert incident.steps.count() == 7  # steps not duplicated
    other_scope, opened_other = open_at(title="Elsewhere", playbook=playbook, scope="t")
    assert opened_other and other_scope != incident
    change_incident_status(incident, Incident.Status.RESOLVED, actor=None)
    after, opened_after = open_at(title="Next wave", playbook=playbook, scope="s")
    assert opened_after and after != incident


def test_one_unresolved_incident_per_playbook_and_scope_is_a_database_rule(playbook):
    Incident.objects.create(title="a", playbook=playbook, scope="s", severity="high")
    Incident.objects.create(
        title="b", playbook=playbook, scope="s", severity="high", status="resolved"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(
            title="c", playbook=playbook, scope="s", severity="high", status="contained"
        )


def test_unknown_severity_is_refused(playbook):
    with pytest.raises(SocialCareError, match="severity"):
        open_incident(title="x", playbook=playbook, severity="apocalyptic")


# Manual steps ----------------------------------------------------------------------------------


def test_a_checklist_item_is_ticked_with_who_when_and_a_comment(playbook, agent, public_case):
    incident, _ = open_at(title="Wave", playbook=playbook, cases=[public_case()])
    item = step(incident, "Confirm with Product")
    with time_machine.travel(T + dt.timedelta(minutes=20), tick=False):
        done = complete_step(item, actor=agent, comment="Product confirmed, fix by 3 pm")
    assert done.status == Status.DONE
    assert done.done_by == agent
    assert done.done_at == T + dt.timedelta(minutes=20)
    assert done.comment == "Product confirmed, fix by 3 pm"
    event = incident.events.filter(kind="step_done").last()
    assert event.actor == agent
    assert event.data["step"] == "Confirm with Product"
    assert event.data["comment"] == "Product confirmed, fix by 3 pm"
    with pytest.raises(SocialCareError, match="already done"):
        complete_step(item, actor=agent)
    with pytest.raises(SocialCareError, match="already done"):
        skip_step(item, actor=agent, comment="no")


def test_skipping_needs_a_comment_and_is_recorded(playbook, agent):
    incident, _ = open_at(title="Wave", playbook=playbook)
    item = step(incident, "Confirm with Product")
    for blank in ("", "   "):
        with pytest.raises(SocialCareError, match="why"):
            skip_step(item, actor=agent, comment=blank)
    assert IncidentStep.objects.get(pk=item.pk).status == Status.PENDING
    skipped = skip_step(item, actor=agent, comment="  Not a product issue  ")
    assert (skipped.status, skipped.done_by, skipped.comment) == (
        Status.SKIPPED,
        agent,
        "Not a product issue",
    )
    assert incident.events.filter(kind="step_skipped", actor=agent).count() == 1
    with pytest.raises(SocialCareError, match="already skipped"):
        complete_step(item, actor=agent)


def test_a_manual_step_with_an_effect_acts_on_every_linked_case_when_ticked(
    playbook, agent, public_case, team
):
    cases = [public_case(), public_case()]
    incident, _ = open_at(title="Wave", playbook=playbook, cases=cases)
    dm = complete_step(step(incident, "Take it to DMs"), actor=agent, comment="moving")
    assert dm.status == Status.DONE
    assert dm.result == "applied to 2 of 2 case(s)"
    for case in cases:
        case.refresh_from_db()
        assert case.handed_off_to == Case.HandOff.DIRECT_MESSAGE
        assert case.visibility == "private"
        # The playbook's public note is pre-approved: not held although replies need approval.
        note = case.posts.filter(direction="outbound").latest("pk")
        assert note.send_status == Post.SendStatus.QUEUED
        [audit] = case.events.filter(kind="playbook_step", data__incident_step=dm.pk)
        assert audit.actor == agent
    late = public_case()
    link_cases(incident, [late], actor=agent)
    late.refresh_from_db()
    assert late.handed_off_to == Case.HandOff.DIRECT_MESSAGE  # done steps reach late cases


# Failures are recorded with the reason ---------------------------------------------------------


def test_a_step_that_cannot_run_fails_with_the_reason_and_can_be_retried(public_case, agent):
    playbook = make_playbook(
        ("Route to Ghosts", "assign_team", True, 0, {"team": "Ghosts"}),
        ("Tell nobody", "notify", True, 0, {}),
        ("Hold with a missing text", "holding_reply", True, 0, {"template": "gone"}),
        ("Raise to purple", "raise_priority", True, 0, {"priority": "purple"}),
    )
    case = public_case()
    incident, opened = open_at(title="Wave", playbook=playbook, cases=[case])
    assert opened
    results = dict(incident.steps.values_list("title", "result"))
    assert set(incident.steps.values_list("status", flat=True)) == {Status.FAILED}
    assert results == {
        "Route to Ghosts": "no team named 'Ghosts'",
        "Tell nobody": "no one to notify (set emails, users or teams)",
        "Hold with a missing text": "no active reply template 'gone'",
        "Raise to purple": "unknown priority 'purple'",
    }
    failed = incident.events.filter(kind="step_failed")
    assert failed.count() == 4
    assert failed.first().data["result"] == "no team named 'Ghosts'"
    assert not case.events.filter(kind="playbook_step").exists()
    # Fix the cause, then tick the failed step again.
    Team.objects.create(name="Ghosts")
    retried = complete_step(step(incident, "Route to Ghosts"), actor=agent)
    assert retried.status == Status.DONE
    case.refresh_from_db()
    assert case.team.name == "Ghosts"


def test_a_case_that_cannot_take_a_step_is_reported_and_the_others_get_it(
    playbook, public_case, channel
):
    good = public_case()
    silent = case_services.open_case(channel=channel, subject="No public post to answer")
    incident, _ = open_at(title="Wave", playbook=playbook, cases=[good, silent])
    holding = step(incident, "Holding reply")
    assert holding.status == Status.DONE
    assert holding.result.startswith("applied to 1 of 2 case(s); 1 could not: ")
    assert silent.reference in holding.result
    assert good.posts.filter(direction="outbound").count() == 1
    assert not silent.events.filter(kind="playbook_step", data__incident_step=holding.pk).exists()


# Host step kinds -------------------------------------------------------------------------------


def test_host_step_kinds_registered_by_dotted_path_run(public_case, socialcare_settings):
    PageOncall.paged.clear()
    playbook = make_playbook(
        ("Page on-call", "page_oncall", True, 0, {"who": "sre"}),
        ("Tag the wave", "tag_cases", True, 0, {"tag": "checkout-outage"}),
        ("Page again", "broken_pager", True, 0, {}),
        ("A kind nobody registered", "carrier_pigeon", True, 0, {}),
        ("A kind with a wrong path", "misspelt", True, 0, {}),
        ("Route", "assign_team", True, 0, {"team": "Care"}),
    )
    case = public_case()
    with socialcare_settings(PLAYBOOK_STEP_KINDS=HOST_KINDS):
        choices = dict(kind_choices())
        assert choices["page_oncall"] == "Page the on-call engineer"
        assert choices["notify"] == "Notify people or teams"
        assert "misspelt" not in choices  # cannot be imported: not offered, not fatal
        incident, opened = open_at(title="Wave", playbook=playbook, cases=[case])
        late = public_case()
        link_cases(incident, [late])
    assert opened
    assert PageOncall.paged == [incident.pk]
    outcome = {s.title: (s.status, s.result) for s in incident.steps.all()}
    assert outcome["Page on-call"] == (Status.DONE, "paged sre")
    assert outcome["Tag the wave"] == (Status.DONE, "applied to 1 of 1 case(s)")
    assert outcome["Page again"] == (Status.FAILED, "RuntimeError: pager service is down")
    assert outcome["A kind nobody registered"] == (
        Status.FAILED,
        "Unknown playbook step kind 'carrier_pigeon'.",
    )
    assert outcome["A kind with a wrong path"][0] == Status.FAILED
    assert outcome["A kind with a wrong path"][1].startswith(
        "Playbook step kind 'misspelt' cannot be loaded: "
    )
    assert outcome["Route"] == (Status.DONE, "applied to 1 of 1 case(s)")  # the rest ran
    for each in (case, late):
        assert list(each.tags.values_list("name", flat=True)) == ["checkout-outage"]


def test_steps_of_a_kind_removed_from_the_settings_do_not_break_linking(public_case):
    playbook = make_playbook(("Tag the wave", "tag_cases", True, 0, {"tag": "wave"}))
    from django.conf import settings
    from django.test import override_settings

    with override_settings(SOCIALCARE={**settings.SOCIALCARE, "PLAYBOOK_STEP_KINDS": HOST_KINDS}):
        incident, _ = open_at(title="Wave", playbook=playbook, cases=[public_case()])
    assert step(incident, "Tag the wave").status == Status.DONE
    late = public_case()
    assert link_cases(incident, [late]) == [late]
    assert not late.tags.exists()


# Status workflow -------------------------------------------------------------------------------


def test_status_moves_open_contained_resolved_and_refuses_the_rest(
    playbook, agent, received, django_capture_on_commit_callbacks
):
    incident, _ = open_at(title="Wave", playbook=playbook)
    assert incident.requires_approval
    with (
        time_machine.travel(T + dt.timedelta(hours=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        incident = change_incident_status(incident, "contained", actor=agent, note="fix deployed")
    assert received[-1] == ("status_changed", incident.pk)  # once committed
    assert incident.contained_at == T + dt.timedelta(hours=1)
    assert incident.requires_approval  # still held while contained
    with pytest.raises(IllegalTransition):
        change_incident_status(incident, "contained", actor=agent)
    with django_capture_on_commit_callbacks(execute=True):
        incident = change_incident_status(incident, "open", actor=agent, note="it is back")
    with (
        time_machine.travel(T + dt.timedelta(hours=3), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        incident = change_incident_status(incident, "resolved", actor=agent)
    assert incident.resolved_at == T + dt.timedelta(hours=3)
    assert not incident.requires_approval  # the approval gate is lifted
    assert not incident.is_active
    for illegal in ("open", "contained", "resolved", "exploded"):
        with pytest.raises(IllegalTransition):
            change_incident_status(incident, illegal, actor=agent)
    changes = incident.events.filter(kind="status_changed").order_by("pk")
    assert [(e.data["from"], e.data["to"], e.actor) for e in changes] == [
        ("open", "contained", agent),
        ("contained", "open", agent),
        ("open", "resolved", agent),
    ]
    assert changes[0].data["note"] == "fix deployed"
    assert received.count(("status_changed", incident.pk)) == 3


def test_agents_escalate_a_case_by_hand(playbook, public_case, agent, other_agent, team):
    case = public_case("My card was charged twice and now the account is locked")
    with time_machine.travel(T, tick=False):
        incident = open_incident_from_case(case, actor=agent, playbook=playbook)
    assert incident.scope == "manual"
    assert incident.opened_by == agent
    assert incident.title == f"Escalated from {case.reference}: {case.subject}"
    assert incident.evidence["summary"] == f"Opened by Alice Agent from {case.reference}"
    assert list(incident.cases.all()) == [case]
    assert case.events.get(kind="incident_linked").actor == agent
    assert incident.steps.filter(status=Status.DONE).count() == 5
    assert IncidentEvent.objects.get(incident=incident, kind="opened").actor == agent
    # A colleague escalating another case with the same playbook joins the open incident.
    other = public_case()
    assert open_incident_from_case(other, actor=other_agent, playbook=playbook) == incident
    assert incident.cases.count() == 2
    # Without a playbook: a bare incident with the severity asked for.
    bare = open_incident_from_case(
        public_case(), actor=agent, title="VIP complaint", severity="critical"
    )
    assert (bare.title, bare.severity, bare.playbook, bare.steps.count()) == (
        "VIP complaint",
        "critical",
        None,
        0,
    )


def test_run_step_refuses_a_done_step(playbook):
    incident, _ = open_at(title="Wave", playbook=playbook)
    with pytest.raises(SocialCareError, match="already done"):
        run_step(step(incident, "Raise to urgent"))


# The ready playbooks ---------------------------------------------------------------------------


def _installed() -> dict:
    return {
        "teams": sorted(Team.objects.values_list("name", "email")),
        "templates": sorted(
            ReplyTemplate.objects.values_list("shortcut", "name", "text", "visibility")
        ),
        "playbooks": {
            p.slug: (
                p.name,
                p.severity,
                [
                    (s.order, s.title, s.kind, s.automatic, s.due_after_minutes, s.config)
                    for s in p.steps.all()
                ],
            )
            for p in Playbook.objects.prefetch_related("steps")
        },
        "detectors": sorted(
            Detector.objects.values_list(
                "name",
                "kind",
                "threshold",
                "window_minutes",
                "cooldown_minutes",
                "watch_words",
                "playbook__slug",
            )
        ),
    }


def test_install_playbooks_creates_three_ready_playbooks_and_a_second_run_changes_nothing(case):
    report = install_playbooks()
    assert "created team: Escalations" in report
    installed = _installed()
    assert sorted(installed["playbooks"]) == ["legal-threat", "product-defect", "service-outage"]
    assert all(len(steps) >= 5 for _, _, steps in installed["playbooks"].values())
    assert [d[0] for d in installed["detectors"]] == [
        "Influencer complaint",
        "Legal and safety watch words",
        "Negative surge",
        "Volume spike",
    ]
    assert {d[6] for d in installed["detectors"]} == set(installed["playbooks"])
    assert len(installed["templates"]) == 3
    # The installed Escalations team has no one in it yet: its alerts would fail, visibly.
    alert = PlaybookStep.objects.filter(kind="notify").first()
    probe = IncidentStep(kind="notify", config=alert.config)
    assert (
        get_kind("notify").check(Incident(), probe)
        == "no one to notify (set emails, users or teams)"
    )
    Team.objects.filter(name="Escalations").update(email="escalations@example.com")
    # Every step is a kind socialcare knows, with what it needs, and every holding reply fits.
    for step in PlaybookStep.objects.all():
        kind = get_kind(step.kind)
        probe = IncidentStep(kind=step.kind, config=step.config, title=step.title)
        assert kind.check(Incident(title="probe"), probe) == "", step.title
        if step.kind == "holding_reply":
            template = ReplyTemplate.objects.get(shortcut=step.config["template"])
            text = render_reply_template(template, case)
            check_length(text, "x", "public")
    assert [
        title for title, kind in PlaybookStep.objects.filter(playbook__slug="product-defect")
        .order_by("order").values_list("title", "kind") if kind == "require_approval"
    ] == ["Hold public replies for approval"]  # fmt: skip

    # An admin edits what was installed; a second run keeps it and adds nothing.
    Detector.objects.filter(name="Negative surge").update(threshold=40)
    PlaybookStep.objects.filter(title="Raise to urgent").update(config={"priority": "high"})
    edited = _installed()
    again = install_playbooks()
    assert again and all(line.startswith("kept ") for line in again)
    assert _installed() == edited


# Concurrency -----------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_openings_for_one_playbook_and_scope_make_one_incident(channel):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serializes writers")
    from django.db import connections

    playbook = make_playbook(("Urgent", "raise_priority", True, 0, {"priority": "urgent"}))
    cases = [case_services.open_case(channel=channel, subject=f"c{n}") for n in range(6)]
    barrier = threading.Barrier(len(cases))
    results, errors = [], []

    def work(case):
        try:
            barrier.wait()
            results.append(open_incident(title="Wave", playbook=playbook, scope="s", cases=[case]))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(c,)) for c in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    [incident] = Incident.objects.all()
    assert {r[0].pk for r in results} == {incident.pk}
    assert sorted(r[1] for r in results) == [False] * 5 + [True]
    assert set(incident.cases.all()) == set(cases)
    assert set(Case.objects.values_list("priority", flat=True)) == {"urgent"}
    assert CaseEvent.objects.filter(kind="playbook_step").count() == len(cases)
    assert incident.steps.count() == 1


def test_a_second_incident_does_not_take_cases_from_an_active_one_unless_an_agent_moves_them(
    agent,
):
    from socialcare.services.cases import open_case
    from socialcare.services.incidents import link_cases, open_incident

    case = open_case(subject="Checkout broken")
    first, _ = open_incident(title="Negative surge", scope="a", cases=[case])
    second, _ = open_incident(title="Volume spike", scope="b", cases=[case])
    case.refresh_from_db()
    assert case.incident == first
    assert second.cases.count() == 0
    link_cases(second, [case], actor=agent, move=True)
    case.refresh_from_db()
    assert case.incident == second
