"""Availability in the admin: each agent's status (read-only list), the status switch of the
admin header (``{% socialcare_status_switch %}`` posts to ``set_status_view``) and the inbox's
"Waiting for an agent" filter (the team queue, in the inbox's triage order)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from socialcare.admin.base import ViewOnlyAdmin
from socialcare.exceptions import SocialCareError
from socialcare.services.routing import set_status
from socialcare.services.routing.queue import waiting_filter


class AgentStatusAdmin(ViewOnlyAdmin):
    list_display = ["user", "status", "changed_at", "last_activity_at", "changed_by_system"]
    list_filter = ["status"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    fields = list_display
    show_facets = admin.ShowFacets.NEVER

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.set_status_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_set"
        return [path("set/", view, name=name), *super().get_urls()]

    def set_status_view(self, request: HttpRequest) -> HttpResponse:
        """POST ``status`` (online, away, offline) for the signed-in user; back to ``next``."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            row = set_status(request.user, request.POST.get("status", ""), actor=request.user)
        except SocialCareError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"You are now {row.get_status_display().lower()}.")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:index", current_app=self.admin_site.name)
        return HttpResponseRedirect(target)


class QueueFilter(admin.SimpleListFilter):
    """``?queue=waiting``: the cases waiting for an agent in a team queue."""

    title = _("team queue")
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("waiting", _("Waiting for an agent"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "waiting":
            return queryset.filter(waiting_filter())
        if value is not None:
            messages.warning(request, f"Unknown team queue filter value “{value}” was ignored.")
        return queryset
