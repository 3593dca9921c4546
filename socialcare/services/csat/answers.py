"""Recording a CSAT answer: a private message in the survey's channel, or the survey page.

The ingest calls ``answers_survey`` before a customer's message would reopen its resolved case
(a rating joins the case quietly instead) and ``record_from_post`` once the message is stored.
The first answer counts; later ones stay on the timeline as ordinary messages. Each answer is on
the case's timeline and goes out as the ``case.csat_received`` webhook event.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from socialcare import signals
from socialcare.exceptions import SocialCareError
from socialcare.models import Case, CaseEvent, Post, Survey, SurveyMode, Visibility
from socialcare.services.csat.parser import parse_score
from socialcare.services.csat.sending import PURPOSE
from socialcare.services.events import record_event


def _pending_dm_survey(case: Case) -> Survey | None:
    return (
        Survey.objects.pending()
        .filter(case=case, mode=SurveyMode.DM, question__isnull=False)
        .first()
    )


def answers_survey(case: Case, text: str, visibility: str, language: str = "") -> bool:
    """Whether a private message ``text`` arriving on resolved ``case`` is the answer to its
    pending survey (then it joins the case without reopening it)."""
    if visibility != Visibility.PRIVATE or case.status != Case.Status.RESOLVED:
        return False
    survey = _pending_dm_survey(case)
    return survey is not None and parse_score(text, language or survey.language) is not None


def record_from_post(post: Post, case: Case) -> Survey | None:
    """Record ``post`` as the answer to ``case``'s pending survey when it is a private rating
    from the case's customer. Returns the answered survey, or None."""
    if post.visibility != Visibility.PRIVATE or post.direction != Post.Direction.INBOUND:
        return None
    survey = _pending_dm_survey(case)
    if survey is None or (survey.identity_id and post.author_id != survey.identity_id):
        return None
    score = parse_score(post.text, post.language or survey.language)
    if score is None:
        return None
    return record_answer(survey, score, text=post.text, via=Survey.Via.DM, post=post)


def record_answer(
    survey: Survey,
    score: int,
    *,
    text: str = "",
    via: str = Survey.Via.LINK,
    post: Post | None = None,
    actor: Any = None,
) -> Survey:
    """Store ``score`` (1–5) as ``survey``'s answer. Raises ``SocialCareError`` for a score out of
    range or a survey answered already (the first answer counts)."""
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise SocialCareError("A rating is a whole number from 1 to 5.")
    with transaction.atomic():
        locked = Survey.objects.select_for_update().select_related("case").get(pk=survey.pk)
        if locked.score is not None:
            raise SocialCareError("This survey was answered already: thank you.")
        locked.score = score
        locked.answer_text = (text or "")[:2000]
        locked.answered_at = timezone.now()
        locked.answered_via = via
        locked.answer_post = post
        locked.save(
            update_fields=["score", "answer_text", "answered_at", "answered_via", "answer_post"]
        )
        case = locked.case
        record_event(
            case,
            CaseEvent.Kind.AUTOMATIC_MESSAGE,
            actor=actor,
            post=post,
            outcome="answered",
            purpose=PURPOSE,
            score=score,
            via=via,
            text=f"CSAT: the customer rated {score}/5 "
            f"({'in a message' if via == Survey.Via.DM else 'on the survey page'}).",
        )
        transaction.on_commit(lambda: signals.csat_received.send(Survey, survey=locked, case=case))
    return locked


def survey_data(survey: Survey) -> dict[str, Any]:
    """The ``csat`` object of the API's case and of the ``case.csat_received`` event."""
    from socialcare.services.outbound_payloads import iso

    return {
        "score": survey.score,
        "text": survey.answer_text,  # "text": what an erasure scrubs in stored events
        "answered_at": iso(survey.answered_at),
        "answered_via": survey.answered_via or None,
        "sent_at": iso(survey.sent_at),
        "asked_by": survey.mode,
        "language": survey.language,
    }
