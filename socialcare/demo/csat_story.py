"""The demo's CSAT surveys (issue #20; ``services.csat``).

"Acme on X" and "Acme on Instagram" ask their question in a private message, the e-mail channel
sends a link to the survey page. A few resolved cases were surveyed a few minutes after they were
resolved: Sam answered "5", Chloé "⭐⭐⭐⭐", Émilie "très bien" (4), Kenji "meh" (3), Karl rated
5 on the page with a comment; Zoé has not answered yet. The dashboard's CSAT section, the case
API's ``csat`` and ``GET api/v1/csat/`` show them; each case's timeline shows the survey sent
and the answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from socialcare.models import (
    AutomaticMessage,
    Case,
    CaseEvent,
    Channel,
    Post,
    Survey,
    SurveyMode,
    Visibility,
)
from socialcare.services.csat import messages
from socialcare.services.csat.answers import record_answer
from socialcare.services.csat.parser import parse_score
from socialcare.services.csat.sending import LABEL, PURPOSE, conversation
from socialcare.services.events import record_event

__all__ = ["MODES", "SURVEYS", "add_demo_surveys"]

MODES = {"x": SurveyMode.DM, "instagram": SurveyMode.DM, "email": SurveyMode.LINK}
#: (customer, platform, answer as written or "", language, via)
SURVEYS = [
    ("sam", "x", "5", "en", Survey.Via.DM),
    ("chloe", "x", "⭐⭐⭐⭐", "en", Survey.Via.DM),
    ("emilie", "instagram", "très bien", "fr", Survey.Via.DM),
    ("kenji", "instagram", "meh", "en", Survey.Via.DM),
    ("karl", "email", "Quick and friendly, thanks.", "en", Survey.Via.LINK),
    ("zoe", "x", "", "en", Survey.Via.DM),
]
LINK_SCORES = {"karl": 5}


def add_demo_surveys(builder: Any) -> None:
    """``builder``: the demo loader, after its stories were played."""
    for platform, mode in MODES.items():
        if platform in builder.channels:
            Channel.objects.filter(pk=builder.channels[platform].pk).update(csat_mode=mode)
            builder.channels[platform].csat_mode = mode
    for who, platform, answer, language, via in SURVEYS:
        case = next((c for s, c in builder.cases if (s.who, s.platform) == (who, platform)), None)
        if case is None:
            continue
        case = Case.objects.select_related("channel").get(pk=case.pk)
        if case.resolved_at is None or case.identity_id is None:
            continue
        _survey(builder, case, answer, language, via, LINK_SCORES.get(who))


def _survey(
    builder: Any, case: Case, answer: str, language: str, via: str, link_score: int | None
) -> None:
    latest = builder.now - dt.timedelta(minutes=5)  # the demo's past, never its future
    sent_at = min(case.resolved_at + dt.timedelta(minutes=10), latest)
    mode = case.channel.csat_mode
    message = AutomaticMessage.objects.create(
        identity_id=case.identity_id,
        purpose=PURPOSE,
        conversation=conversation(case),
        case=case,
        status=AutomaticMessage.Status.SENT,
        created_at=sent_at,
        due_at=sent_at,
        done_at=sent_at,
    )
    survey = Survey.objects.create(
        case=case,
        identity_id=case.identity_id,
        platform=case.channel.platform,
        mode=mode,
        language=language,
        message=message,
        sent_at=sent_at,
    )
    text = (
        messages.LINK_INVITES[language].format(url="https://crm.example.com/socialcare/csat/…")
        if mode == SurveyMode.LINK
        else messages.question(language)
    )
    question = builder.add_post(
        case,
        inbound=False,
        at=sent_at,
        parent=None,
        kind=Post.Kind.EMAIL if case.channel.platform == "email" else Post.Kind.DIRECT_MESSAGE,
        text=text,
        send_status=Post.SendStatus.SENT,
        send_attempts=1,
    )
    Post.objects.filter(pk=question.pk).update(visibility=Visibility.PRIVATE)
    AutomaticMessage.objects.filter(pk=message.pk).update(post=question)
    Survey.objects.filter(pk=survey.pk).update(question=question)
    record_event(
        case,
        CaseEvent.Kind.REPLIED,
        post=question,
        at=sent_at,
        text=text,
        visibility=Visibility.PRIVATE,
        template="",
        held_for_approval=False,
    )
    record_event(
        case,
        CaseEvent.Kind.AUTOMATIC_MESSAGE,
        post=question,
        at=sent_at,
        outcome="sent",
        purpose=PURPOSE,
        message=message.pk,
        text=f"{LABEL}: sent.",
    )
    score = link_score if via == Survey.Via.LINK else parse_score(answer, language)
    if not answer or score is None:
        return
    answered_at = min(sent_at + dt.timedelta(minutes=builder.rng.randint(3, 90)), latest)
    answer_post = None
    if via == Survey.Via.DM:
        answer_post = builder.add_post(
            case,
            inbound=True,
            at=answered_at,
            parent=question,
            kind=Post.Kind.DIRECT_MESSAGE,
            text=answer,
            language=language,
            author=case.identity,
        )
    if answer_post is not None:
        Post.objects.filter(pk=answer_post.pk).update(visibility=Visibility.PRIVATE)
        record_event(
            case,
            CaseEvent.Kind.POST_ADDED,
            post=answer_post,
            at=answered_at,
            text=answer,
            author=str(case.identity),
            case_created=False,
        )
    builder.at_time(
        answered_at, record_answer, survey, score, text=answer, via=via, post=answer_post
    )
    Survey.objects.filter(pk=survey.pk).update(answered_at=answered_at)
