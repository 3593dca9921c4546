"""Automatic messages (issue #25): the ledger of the playbook messages sent to customers at most
once per customer, purpose and conversation (``services.automatic_messages``), read-only. It
follows the team rule: an agent sees the messages of the cases they may see."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from socialcare.admin.base import ViewOnlyAdmin
from socialcare.services.access import case_filter


class AutomaticMessageAdmin(ViewOnlyAdmin):
    list_display = ["created_at", "purpose", "identity", "case", "status", "due_at", "done_at"]
    list_filter = ["status"]
    list_select_related = ["case", "identity"]
    search_fields = ["=case__reference", "purpose", "conversation"]
    fields = [
        "purpose",
        "conversation",
        "identity",
        "case",
        "incident_step",
        "status",
        "post",
        "created_at",
        "due_at",
        "done_at",
        "reason",
    ]
    raw_id_fields = ["identity", "case", "incident_step", "post"]
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return super().get_queryset(request).filter(case_filter(request.user, "case__"))
