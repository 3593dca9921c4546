"""Sending the one CSAT survey of a resolved case (docs/csat.md).

``case_resolved`` (called once a resolution is committed) queues ``send_survey`` for
``CSAT_DELAY`` later when the case's channel asks (``Channel.csat_mode``). ``send_survey`` looks
at the case again and sends, or records on the timeline why not: reopened or closed meanwhile,
no customer identity, the customer opted out (``SocialIdentity.csat_opt_out``), a running incident
(its communications own the conversation), the messaging window closed
(``services.reply_window``), or already surveyed. "Never twice" is the automatic-message ledger's
(``services.automatic_messages``, purpose ``csat``, one per case).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, CaseEvent, Incident, Post, Survey, SurveyMode, Visibility
from socialcare.services import automatic_messages
from socialcare.services.csat import messages
from socialcare.services.events import record_event
from socialcare.services.reply_window import reply_window

PURPOSE = "csat"
LABEL = "CSAT survey"


def conversation(case: Case) -> str:
    """The ledger's conversation key of a case's survey: one per case."""
    return f"case:{case.pk}"


#: A resolution dated further back than this when committed (an import, the demo's replay of the
#: past) sends no survey.
RECENT = dt.timedelta(hours=1)


def case_resolved(case_id: int) -> None:
    """``case_id`` was just resolved: queue its survey when its channel asks for one."""
    row = (
        Case.objects.filter(pk=case_id, merged_into__isnull=True)
        .values_list("channel__csat_mode", "resolved_at")
        .first()
    )
    if row is None or row[1] is None or row[1] < timezone.now() - RECENT:
        return
    if row[0] in (SurveyMode.DM, SurveyMode.LINK):
        from socialcare.conf import app_settings
        from socialcare.tasks import enqueue_csat_survey

        enqueue_csat_survey(case_id, timezone.now() + app_settings.CSAT_DELAY)


def refusal(case: Case) -> str:
    """Why ``case`` gets no survey now ("" when it may)."""
    channel = case.channel
    mode = getattr(channel, "csat_mode", SurveyMode.OFF)
    if case.merged_into_id:
        return f"{case.reference} was merged into another case"
    if case.status != Case.Status.RESOLVED:
        return f"{case.reference} is {case.get_status_display().lower()}, not resolved"
    if mode not in (SurveyMode.DM, SurveyMode.LINK):
        return f"{channel or 'its channel'} asks no survey"
    if case.identity_id is None:
        return f"{case.reference} has no customer identity to ask"
    if case.identity.csat_opt_out:
        return f"{case.identity} opted out of surveys"
    if case.incident_id and case.incident.status != Incident.Status.RESOLVED:
        return f"incident #{case.incident_id} is running; its messages own the conversation"
    window = reply_window(case, automated=True)
    if not window.open:
        return f"outside the messaging window: {window.reason}"
    return ""


def _language(case: Case) -> str:
    code = (
        Post.objects.filter(case=case, direction=Post.Direction.INBOUND)
        .exclude(language="")
        .order_by("-posted_at", "-pk")
        .values_list("language", flat=True)
        .first()
    )
    return messages.language_of(code or "")


def _skip(case: Case, reason: str, actor: Any = None) -> None:
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        actor=actor,
        outcome="skipped",
        purpose=PURPOSE,
        text=f"{LABEL}: not sent, {reason}.",
    )


def send_survey(case_id: int) -> str:
    """Send ``case_id``'s survey now if it may go. Returns "sent", "skipped" (the reason is on
    the timeline), "duplicate" (already surveyed), "failed" or "gone"."""
    from socialcare.services.replies import send_reply

    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("channel", "identity", "incident")
            .filter(pk=case_id)
            .first()
        )
        if case is None:
            return "gone"
        reason = refusal(case)
        if reason:
            _skip(case, reason)
            return "skipped"
        row = automatic_messages.claim(case, PURPOSE, conversation=conversation(case), label=LABEL)
        if row is None:
            return "duplicate"
        language = _language(case)
        survey = Survey.objects.create(
            case=case,
            identity=case.identity,
            platform=case.channel.platform,
            mode=case.channel.csat_mode,
            language=language,
            message=row,
        )
        try:
            with transaction.atomic():
                text = (
                    messages.link_invite(survey.pk, language)
                    if survey.mode == SurveyMode.LINK
                    else messages.question(language)
                )
                post = send_reply(
                    case, text, actor=None, visibility=Visibility.PRIVATE, preapproved=True
                )
        except SocialCareError as exc:
            Survey.objects.filter(pk=survey.pk).delete()
            automatic_messages.release(row, " ".join(exc.messages))
            return "failed"
        Survey.objects.filter(pk=survey.pk).update(question=post)
        automatic_messages.mark_sent(row, post, label=LABEL)
    return "sent"
