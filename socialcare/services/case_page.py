"""What the case page shows: the conversation as one timeline (``services.timeline``, the same
one the API and the export list), the customer beside it, the SLA box and the choices of the
reply composer and work controls. Read-only; every query is bounded
(the page costs the same number of queries for a case with 5 posts or 5,000)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.template import TemplateSyntaxError
from django.utils import timezone

from socialcare.models import (
    Case,
    Playbook,
    Post,
    Priority,
    ReplyTemplate,
    SocialIdentity,
    Visibility,
    customer_display_name,
    customer_email,
)
from socialcare.services.access import Viewer, visible_cases, visible_identities
from socialcare.services.cases import allowed_transitions
from socialcare.services.private_replies import composer_line
from socialcare.services.reply_window import ReplyWindow, public_reply_refusal, reply_window
from socialcare.services.sla_state import sla_state
from socialcare.services.templates import render_reply_template, text_limit
from socialcare.services.timeline import (  # noqa: F401 (the page's timeline, re-exported)
    TIMELINE_MAX,
    TIMELINE_PAGE,
    Timeline,
    TimelineItem,
    build_timeline,
)

PAST_CASES = 10


@dataclass
class SlaRow:
    label: str
    due_at: dt.datetime | None
    done_at: dt.datetime | None = None

    def countdown(self, now: dt.datetime) -> str:
        if self.done_at is not None:
            return "done"
        if self.due_at is None:
            return "no due time"
        return countdown(self.due_at, now)

    def is_overdue(self, now: dt.datetime) -> bool:
        return self.done_at is None and self.due_at is not None and self.due_at < now


@dataclass
class SlaBox:
    state: str
    label: str
    policy: str
    paused_since: dt.datetime | None
    rows: list[SlaRow]
    now: dt.datetime

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [
            {
                "label": row.label,
                "due_at": row.due_at,
                "done_at": row.done_at,
                "countdown": row.countdown(self.now),
                "overdue": row.is_overdue(self.now),
            }
            for row in self.rows
        ]


@dataclass
class CannedReply:
    pk: int
    name: str
    visibility: str
    text: str
    error: str = ""


@dataclass
class CustomerPanel:
    customer: Any
    name: str
    email: str
    identities: list[SocialIdentity]
    past_cases: list[Case]


@dataclass
class CasePage:
    """What the page shows for one reader; what names other cases (timeline lines, the case it
    was merged into, its incident) as that reader may read it (``services.access.Viewer``)."""

    case: Case
    timeline: Timeline
    customer: CustomerPanel
    sla: SlaBox
    canned: list[CannedReply]
    held: list[Post]
    sentiment: float | None
    limits: dict[str, int | None]
    statuses: list[tuple[str, str]]
    priorities: list[tuple[str, str]]
    assignees: list[Any]
    playbooks: list[Playbook]
    hand_off_choices: list[tuple[str, str]] = field(default_factory=list)
    #: The case it was merged into, None when there is none or it is another team's.
    merged_into: Case | None = None
    #: The title of its incident as the reader reads it.
    incident_title: str = ""
    #: Whether a private message may go now (``services.reply_window``), and the composer's line
    #: about it ("" when the platform has no window).
    reply_window: ReplyWindow | None = None
    reply_window_line: str = ""
    #: Facebook / Instagram, the window closed: whether the one private reply to the customer's
    #: comment may still go, and until when (``services.private_replies``); "" otherwise.
    private_reply_line: str = ""
    #: Why no public reply can go (X's reply rule), "" when one can.
    public_refusal: str = ""


def load_case(pk: Any) -> Case:
    """The case with everything the page reads about it, in one query."""
    return (
        Case.objects.with_people()
        .select_related("incident", "sla_policy", "merged_into")
        .get(pk=pk)
    )


def countdown(due: dt.datetime, now: dt.datetime) -> str:
    """ "in 1 h 5 min" / "overdue by 20 min" (minutes rounded down, days past 48 hours)."""
    delta = due - now
    seconds = abs(int(delta.total_seconds()))
    minutes = seconds // 60
    if minutes >= 48 * 60:
        span = f"{minutes // (24 * 60)} d {(minutes // 60) % 24} h"
    elif minutes >= 60:
        span = f"{minutes // 60} h {minutes % 60} min"
    else:
        span = f"{minutes} min"
    return f"in {span}" if delta.total_seconds() >= 0 else f"overdue by {span}"


def customer_sentiment(case: Case) -> float | None:
    """The sentiment of the customer's latest scored post on the case (None: unknown)."""
    return (
        Post.objects.filter(case=case, direction=Post.Direction.INBOUND, sentiment__isnull=False)
        .order_by("-posted_at", "-pk")
        .values_list("sentiment", flat=True)
        .first()
    )


def customer_panel(case: Case, user: Any) -> CustomerPanel:
    """The customer, all their identities and their latest other cases the user may see."""
    customer = case.customer
    if customer is not None:
        # Not the identities known only from other teams' cases (``services.access``).
        identities = list(
            visible_identities(user, SocialIdentity.objects.filter(customer=customer))
        )
        others = Case.objects.filter(customer=customer)
    elif case.identity_id:
        identities = [case.identity]
        others = Case.objects.filter(identity_id=case.identity_id)
    else:
        identities, others = [], Case.objects.none()
    past = list(
        visible_cases(user, others.exclude(pk=case.pk)).order_by("-created_at", "-pk")[:PAST_CASES]
    )
    name = customer_display_name(customer)
    if not name and case.identity_id:
        name = case.identity.display_name or case.identity.handle
    return CustomerPanel(
        customer=customer,
        name=name,
        email=customer_email(customer),
        identities=identities,
        past_cases=past,
    )


SLA_LABELS = {
    "ok": "On track",
    "due_soon": "Due soon",
    "breached": "Breached",
    "met": "Met",
    "missed": "Missed",
    "none": "No SLA running",
}


def sla_box(case: Case, now: dt.datetime | None = None) -> SlaBox:
    """The first-response SLA state (``services.sla_state``) and the case's due times."""
    now = now or timezone.now()
    state = sla_state(case, now) or "none"
    return SlaBox(
        state=state,
        label=SLA_LABELS[state],
        policy=case.sla_policy.name if case.sla_policy else "default",
        paused_since=case.sla_paused_at,
        rows=[
            SlaRow("First response", case.first_response_due_at, case.first_responded_at),
            SlaRow("Next response", case.next_response_due_at),
            SlaRow("Resolution", case.resolution_due_at, case.resolved_at),
        ],
        now=now,
    )


def canned_replies(case: Case, agent: Any) -> list[CannedReply]:
    """Active reply templates for the case's platform, each rendered for this case and agent."""
    platform = case.channel.platform if case.channel else ""
    templates = ReplyTemplate.objects.active().filter(Q(platform="") | Q(platform=platform))
    canned = []
    for template in templates:
        try:
            text, error = render_reply_template(template, case, agent), ""
        except TemplateSyntaxError as exc:
            text, error = "", f"Template error: {exc}"
        canned.append(CannedReply(template.pk, template.name, template.visibility, text, error))
    return canned


def build_case_page(
    case: Case,
    user: Any,
    *,
    timeline_limit: int = TIMELINE_PAGE,
    viewer: Viewer | None = None,
) -> CasePage:
    """Everything the case page shows for ``user`` (``case`` as loaded by ``load_case``;
    ``viewer``: the request's ``Viewer`` of ``user``, when the page has one)."""
    platform = case.channel.platform if case.channel else ""
    statuses = [case.status, *sorted(allowed_transitions(case))]
    viewer = viewer or Viewer(user)
    merged_into = case.merged_into if case.merged_into_id else None
    if merged_into is not None and not viewer.sees_reference(merged_into.reference):
        merged_into = None
    if case.incident_id:
        viewer.prepare_incidents([case.incident])
    window = reply_window(case)
    return CasePage(
        reply_window=window,
        reply_window_line=window.summary() if window.kind != "none" else "",
        private_reply_line=composer_line(case, window),
        public_refusal=public_reply_refusal(case),
        case=case,
        merged_into=merged_into,
        incident_title=viewer.incident_titles.get(case.incident_id, ""),
        timeline=build_timeline(case, limit=timeline_limit, viewer=viewer),
        customer=customer_panel(case, user),
        sla=sla_box(case),
        canned=canned_replies(case, user),
        held=list(
            Post.objects.filter(case=case, send_status=Post.SendStatus.AWAITING_APPROVAL)
            .select_related("sent_by")
            .defer("raw", "html")
            .order_by("posted_at", "pk")
        ),
        sentiment=customer_sentiment(case),
        limits={v: text_limit(platform, v) for v in Visibility.values},
        statuses=[(s, Case.Status(s).label) for s in statuses],
        priorities=list(Priority.choices),
        assignees=list(
            get_user_model()
            .objects.filter(is_active=True, is_staff=True)
            .order_by(get_user_model().USERNAME_FIELD)
        ),
        playbooks=list(Playbook.objects.filter(is_active=True)),
        hand_off_choices=list(Case.HandOff.choices),
    )
