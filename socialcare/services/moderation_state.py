"""A post's moderation as the posts API and outbound webhooks show it (docs/moderation.md,
"Where it shows"): its state (``Post.moderation``: ``hidden``, ``deleted``, or "" — visible),
when, by whom, and the platform's answer to the request that put it there.

The answer lives in the post's last "moderated" case event that was done
(``services.moderation`` records every attempt); ``with_moderation`` reads it in the query that
lists the posts (a subquery per row of one SELECT, evaluated only for moderated posts), so a page
of posts costs no query more.
"""

from __future__ import annotations

from django.db import models
from django.db.models.fields.json import KT

from socialcare.models import CaseEvent

#: The annotation ``with_moderation`` leaves the platform's answer in.
ANSWER = "moderation_answer"


def answer_expression() -> models.Expression:
    """The platform's answer to the request that last moderated the outer post, or NULL."""
    last_done = (
        CaseEvent.objects.filter(
            post=models.OuterRef("pk"), kind=CaseEvent.Kind.MODERATED, data__outcome="done"
        )
        .order_by("-at", "-pk")
        .values(answer=KT("data__answer"))[:1]
    )
    return models.Case(
        models.When(moderated_at__isnull=True, then=models.Value(None)),
        default=models.Subquery(last_done),
        output_field=models.TextField(),
    )


def with_moderation(queryset: models.QuerySet) -> models.QuerySet:
    """Posts with who moderated them loaded and ``moderation_answer`` annotated."""
    return queryset.select_related("moderated_by").annotate(**{ANSWER: answer_expression()})
