"""CSAT surveys (docs/csat.md): read-only, one row per surveyed case with the customer's answer.
It follows the team rule: an agent sees the surveys of the cases they may see."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from socialcare.admin.base import ViewOnlyAdmin
from socialcare.services.access import case_filter


class SurveyAdmin(ViewOnlyAdmin):
    list_display = ["sent_at", "case", "platform", "mode", "score", "answered_via", "answered_at"]
    list_filter = [
        "score",
        "platform",
        "mode",
        "answered_via",
        ("case__team", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["case"]
    search_fields = ["=case__reference", "answer_text"]
    date_hierarchy = "sent_at"
    fields = [
        "case",
        "identity",
        "platform",
        "mode",
        "language",
        "message",
        "question",
        "sent_at",
        "score",
        "answer_text",
        "answered_at",
        "answered_via",
        "answer_post",
    ]
    raw_id_fields = ["case", "identity", "message", "question", "answer_post"]
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return super().get_queryset(request).filter(case_filter(request.user, "case__"))
