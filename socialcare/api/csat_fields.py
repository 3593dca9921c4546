"""The ``csat`` object of a case in the API (``CaseSerializer``): the case's survey, read by the
case list's query as four scalar lookups (``case_csat_annotations``)."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, DateTimeField, IntegerField
from rest_framework import serializers

from socialcare.models import Survey


class CaseCsatSerializer(serializers.Serializer):
    """A case's survey in the case's rendering: null when none was sent."""

    score = serializers.IntegerField(allow_null=True, help_text="1–5; null until answered.")
    answered_at = serializers.DateTimeField(allow_null=True)
    answered_via = serializers.ChoiceField(
        choices=Survey.Via.choices, allow_null=True, help_text="`dm` or `link`."
    )
    sent_at = serializers.DateTimeField()


def case_csat_annotations() -> dict[str, Any]:
    """What ``CaseSerializer`` reads of a case's survey: four scalar lookups on its unique case
    column (``case_csat`` turns them into the ``csat`` object)."""
    from socialcare.api.cases import RowLookup  # (it imports this module's users)

    table = Survey._meta.db_table

    def lookup(column: str, output: Any) -> Any:
        return RowLookup("pk", table, column, "%(case)s = %(key)s", output, case="case_id")

    return {
        "csat_sent_at": lookup("sent_at", DateTimeField()),
        "csat_score": lookup("score", IntegerField()),
        "csat_answered_at": lookup("answered_at", DateTimeField()),
        "csat_answered_via": lookup("answered_via", CharField()),
    }


def case_csat(case: Any, when: Any) -> dict[str, Any] | None:
    """The ``csat`` object of ``case`` from ``case_csat_annotations`` (``when`` renders a
    datetime); read from the database when the case was not loaded with them."""
    if not hasattr(case, "csat_sent_at"):
        survey = Survey.objects.filter(case_id=case.pk).first()
        if survey is None:
            return None
        sent, score, answered, via = (
            survey.sent_at,
            survey.score,
            survey.answered_at,
            survey.answered_via,
        )
    else:
        sent, score = case.csat_sent_at, case.csat_score
        answered, via = case.csat_answered_at, case.csat_answered_via
    if sent is None:
        return None
    return {
        "score": score,
        "answered_at": when(answered),
        "answered_via": via or None,
        "sent_at": when(sent),
    }
