"""The out-of-hours acknowledgement (issue #20, docs/out-of-hours.md).

When a customer writes on a channel that has it on (``Channel.out_of_hours_ack``) while the
team's business hours are closed and no agent of the team is on duty, the case gets one
automatic message saying when a person will answer (``{{ opens }}``: the calendar's next opening,
in the template's language). Private by default: a private message is answered by private
message, within its reply window (``services.reply_window``); a public post only when the channel
says so (``out_of_hours_public``), by public reply. Never while the case's incident requires
approval. One per case, and through ``services.automatic_messages`` one per customer, thread and
closed period (purpose ``out_of_hours:<next opening, UTC>``), so a burst whose posts opened
several cases of one thread gets one too. Every decision that leaves the customer without it is
recorded on the case once, with why.

The decision runs in a django-q2 task (``socialcare.tasks.acknowledge_out_of_hours``) queued once
a customer post is committed (``services.ingest_posts._watch_for_crisis``: after the detectors,
so an incident they open is known). The acknowledgement does not count as the case's first
response: a person still owes one (``counts_as_response``).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import formats, timezone, translation

from socialcare.exceptions import SocialCareError
from socialcare.models import (
    AutomaticMessage,
    BusinessCalendar,
    Case,
    CaseEvent,
    Channel,
    Post,
    ReplyTemplate,
    Team,
    Visibility,
)
from socialcare.services import automatic_messages, sla
from socialcare.services.events import record_event

logger = logging.getLogger("socialcare.out_of_hours")

PURPOSE = "out_of_hours"
LABEL = "Out-of-hours acknowledgement"
#: Beyond this, ``{{ opens }}`` names the date too, not only the weekday.
WEEKDAY_ONLY = dt.timedelta(days=6)


@dataclass(frozen=True)
class Decision:
    """Whether ``case`` gets the acknowledgement now. ``code``/``reason``: why not, when that
    is worth recording on the case (empty: nothing to record, e.g. the team is at work)."""

    send: bool
    code: str = ""
    reason: str = ""
    visibility: str = ""
    opens: dt.datetime | None = None
    calendar: BusinessCalendar | None = None

    @property
    def recorded(self) -> bool:
        return bool(self.code)


def _quiet() -> Decision:
    return Decision(send=False)


def _refused(code: str, reason: str) -> Decision:
    return Decision(send=False, code=code, reason=reason)


def team_of(case: Case) -> Team | None:
    """The team that answers ``case``: its own, else its channel's default team."""
    if case.team_id:
        return case.team
    channel = case.channel
    return channel.default_team if channel is not None and channel.default_team_id else None


def calendar_of(case: Case) -> BusinessCalendar | None:
    """The business hours ``case`` is answered in: its SLA clock's calendar
    (``sla.calendar_for``), else its team's; None: around the clock."""
    calendar = sla.calendar_for(case)
    if calendar is not None:
        return calendar
    team = team_of(case)
    return team.calendar if team is not None and team.calendar_id else None


def next_opening(calendar: BusinessCalendar | None, at: dt.datetime) -> dt.datetime | None:
    """When ``calendar`` next opens after ``at``; None when it is open at ``at`` (or has no
    hours: around the clock). Raises ``ValueError`` when it never opens again."""
    windows = sla.open_windows(calendar, at) if calendar is not None else None
    if windows is None:
        return None
    for start, end in windows:
        if end <= at:
            continue
        return None if start <= at else start
    return None  # pragma: no cover - open_windows raises when it runs out


def someone_on_duty(team: Team | None, at: dt.datetime) -> bool:
    """Whether an agent of ``team`` is on duty at ``at`` (online and active:
    ``services.routing.availability.team_has_someone_on_duty``). No team: no one."""
    if team is None:
        return False
    from socialcare.services.routing.availability import team_has_someone_on_duty

    return team_has_someone_on_duty(team, at=at)


def customer_language(case: Case, post: Post | None = None) -> str:
    """The language the customer wrote in: ``post``'s, else their latest post's that has one."""
    if post is not None and post.language:
        return post.language
    return (
        case.posts.inbound()
        .exclude(language="")
        .order_by("-posted_at", "-pk")
        .values_list("language", flat=True)
        .first()
        or ""
    )


def choose_template(channel: Channel, visibility: str, language: str) -> ReplyTemplate | None:
    """The channel's acknowledgement template, or an active one of the same name in the
    customer's ``language`` (exact, then its primary subtag: "pt-BR", then "pt") usable for
    ``visibility`` on the channel's platform, else the chosen one itself if it is usable, else
    any of its name that is. None when the channel has none usable."""
    chosen = channel.out_of_hours_template
    if chosen is None:
        return None
    family = list(
        ReplyTemplate.objects.usable_for(visibility=visibility, platform=channel.platform)
        .filter(name=chosen.name)
        .order_by("pk")
    )
    wanted = (language or "").lower()
    for match in (
        lambda t: wanted and t.language.lower() == wanted,
        lambda t: wanted and t.language.lower().split("-")[0] == wanted.split("-")[0],
    ):
        found = next((t for t in family if match(t)), None)
        if found is not None:
            return found
    if chosen in family:
        return chosen
    return family[0] if family else None


def opens_text(opens: dt.datetime, calendar: BusinessCalendar | None, language: str) -> str:
    """``opens`` as the customer reads it, in the calendar's time zone and ``language``:
    "Tuesday 09:00 CET" within the week, "Tuesday 8 December, 09:00 CET" beyond."""
    zone = zoneinfo.ZoneInfo(calendar.timezone) if calendar is not None else dt.UTC
    local = opens.astimezone(zone)
    far = opens - timezone.now() > WEEKDAY_ONLY
    with translation.override(language or "en"):
        text = formats.date_format(local, "l j F, H:i" if far else "l H:i")
    return f"{text} {local.tzname()}"


def purpose_for(opens: dt.datetime) -> str:
    """The ledger purpose: one per customer and thread for each closed period."""
    return f"{PURPOSE}:{opens.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ}"


def already_acknowledged(case: Case) -> bool:
    return AutomaticMessage.objects.filter(
        case=case, purpose__startswith=f"{PURPOSE}:", status__in=AutomaticMessage.HOLDING
    ).exists()


def decide(case: Case, post: Post | None = None, *, at: dt.datetime | None = None) -> Decision:
    """Whether ``case`` gets the acknowledgement for the customer's ``post`` at ``at`` (now),
    and how (``visibility``), or why not."""
    from socialcare.services.replies import reply_target
    from socialcare.services.reply_window import reply_window

    at = at or timezone.now()
    channel = case.channel
    if channel is None or not channel.out_of_hours_ack or not channel.is_active:
        return _quiet()
    if not case.is_open or case.merged_into_id or not case.identity_id:
        return _quiet()
    if already_acknowledged(case):
        return _quiet()
    calendar = calendar_of(case)
    try:
        opens = next_opening(calendar, at)
    except ValueError:
        return _refused(
            "never_opens", f"the business hours ({calendar}) do not open in the coming years."
        )
    if opens is None or someone_on_duty(team_of(case), at):
        return _quiet()  # a person is at work: they answer
    post = post or case.posts.inbound().order_by("-posted_at", "-pk").first()
    private = post is not None and post.visibility == Visibility.PRIVATE
    if not private and not channel.out_of_hours_public:
        return _refused(
            "public",
            "the customer wrote publicly, and this channel acknowledges only private messages "
            "out of hours.",
        )
    if case.incident_id and case.incident.requires_approval and case.incident.is_active:
        return _refused(
            "approval",
            f"incident #{case.incident_id} requires approval for replies; no automatic message "
            "goes out meanwhile.",
        )
    if private:
        window = reply_window(case, now=at, automated=True)
        if not window.open:
            return _refused("window", window.refusal)
    elif not channel.can_reply_public or reply_target(case) is None:
        return _refused("no_public_reply", f"no public reply can go on {case.reference}.")
    visibility = Visibility.PRIVATE if private else Visibility.PUBLIC
    if choose_template(channel, visibility, customer_language(case, post)) is None:
        return _refused(
            "template", f"{channel} has no active out-of-hours template for {visibility} messages."
        )
    return Decision(send=True, visibility=visibility, opens=opens, calendar=calendar)


def acknowledge(
    case_id: int, post_id: int | None = None, *, at: dt.datetime | None = None
) -> AutomaticMessage | None:
    """Send ``case``'s acknowledgement if ``decide`` says so (the task's work), or record why
    not. Returns the ledger row (sent, or failed with the reason) or None."""
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("channel", "identity", "incident", "team")
            .filter(pk=case_id)
            .first()
        )
        if case is None:
            return None
        post = Post.objects.filter(pk=post_id, case=case).first() if post_id else None
        decision = decide(case, post, at=at)
        if not decision.send:
            if decision.recorded:
                _record_refusal(case, decision)
            return None
        return _send(case, post, decision)


def _send(case: Case, post: Post | None, decision: Decision) -> AutomaticMessage | None:
    from socialcare.services.replies import send_reply

    assert decision.opens is not None
    row = automatic_messages.claim(
        case,
        purpose_for(decision.opens),
        conversation=automatic_messages.conversation_key(case),
        label=LABEL,
    )
    if row is None:
        return None
    channel = case.channel
    template = choose_template(channel, decision.visibility, customer_language(case, post))
    when = opens_text(decision.opens, decision.calendar, template.language if template else "")
    try:
        if template is None:
            raise SocialCareError(f"{channel} has no active out-of-hours template.")
        from socialcare.services.templates import render_reply_template

        text = render_reply_template(template, case, extra={"opens": when})
        reply = send_reply(
            case,
            text,
            actor=None,
            visibility=decision.visibility,
            template=template,
            preapproved=True,
        )
    except SocialCareError as exc:
        automatic_messages.release(row, " ".join(exc.messages))
        return row
    automatic_messages.mark_sent(row, reply, label=f"{LABEL} (a person answers from {when})")
    return row


def _record_refusal(case: Case, decision: Decision) -> None:
    """Say once per case and reason why the customer got no acknowledgement."""
    seen = case.events.filter(
        kind=CaseEvent.Kind.AUTOMATIC_MESSAGE, data__purpose=PURPOSE, data__code=decision.code
    ).exists()
    if seen:
        return
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        outcome="skipped",
        purpose=PURPOSE,
        code=decision.code,
        text=f"{LABEL}: not sent, {decision.reason}",
    )


def posts_arrived(posts: Iterable[Post]) -> None:
    """Customer posts were committed: queue the decision for each case of a channel that
    acknowledges out of hours (once per case, with its latest post). Never raises."""
    posts = [
        p
        for p in posts
        if p.case_id is not None
        and p.channel_id is not None
        and p.direction == Post.Direction.INBOUND
        and not p.from_history
    ]
    channel_ids = {p.channel_id for p in posts}
    acknowledging = (
        set(
            Channel.objects.filter(pk__in=channel_ids, out_of_hours_ack=True).values_list(
                "pk", flat=True
            )
        )
        if channel_ids
        else set()
    )
    latest: dict[int, Post] = {}
    for post in posts:
        if post.channel_id not in acknowledging:
            continue
        known = latest.get(post.case_id)
        if known is None or (post.posted_at, post.pk) > (known.posted_at, known.pk):
            latest[post.case_id] = post
    if not latest:
        return
    from socialcare.tasks import enqueue_out_of_hours

    for case_id, post in latest.items():
        try:
            enqueue_out_of_hours(case_id, post.pk)
        except Exception:  # the posts are stored; a lost decision must not fail the delivery
            logger.exception("Out-of-hours decision for case %s could not be queued", case_id)


def counts_as_response(post: Post) -> bool:
    """Whether ``post`` reaching the customer is a response for the case's SLA: not an
    out-of-hours acknowledgement (a person still owes the answer) nor a CSAT survey's question
    (sent after the case was resolved, it answers nothing)."""
    from socialcare.services.csat.sending import PURPOSE as CSAT

    if post.sent_by_id is not None or post.direction != Post.Direction.OUTBOUND:
        return True
    automatic = AutomaticMessage.objects.filter(post=post)
    return not automatic.filter(Q(purpose__startswith=f"{PURPOSE}:") | Q(purpose=CSAT)).exists()
