"""Posts and case events: the record of what was said and done, shown read-only.

Both lists follow the team rule (``services.access``): an agent sees the posts and events of the
cases they may see; a post on no case only supervisors see. Both count at most 10,000 rows and
load a page in two steps (``large_lists``): they hold millions of rows."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from socialcare.admin.base import ViewOnlyAdmin
from socialcare.admin.large_lists import BoundedPaginator, TwoStepChangeList
from socialcare.admin.viewer import ViewerAdminMixin, viewer_of
from socialcare.models import CaseEvent
from socialcare.services.access import OTHER_TEAM_CASE, Viewer, case_filter, visible_posts
from socialcare.services.replies import approve_reply, reject_reply, retry_post


class PostAdmin(ViewOnlyAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "__str__",
        "platform",
        "direction",
        "kind",
        "visibility",
        "author",
        "case",
        "sentiment",
        "reach",
        "posted_at",
    ]
    list_filter = ["platform", "direction", "kind", "visibility", "send_status", "from_history"]
    list_select_related = ["author", "case"]
    search_fields = ["text", "=external_id", "author__handle"]
    raw_id_fields = ["author", "case", "parent", "channel", "sent_by"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedPaginator
    exclude = ["raw"]
    actions = ["retry_sending", "approve_held", "reject_held"]

    ordering = ["-posted_at", "-pk"]

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return visible_posts(request.user, super().get_queryset(request))

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[TwoStepChangeList]:
        return TwoStepChangeList

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.approve_reply")

    @admin.action(description="Approve selected held replies", permissions=["approve"])
    def approve_held(self, request: HttpRequest, queryset: Any) -> None:
        self._each(request, queryset, lambda p: approve_reply(p, approver=request.user), "approved")

    @admin.action(description="Reject selected held replies", permissions=["approve"])
    def reject_held(self, request: HttpRequest, queryset: Any) -> None:
        self._each(request, queryset, lambda p: reject_reply(p, approver=request.user), "rejected")

    def _each(self, request: HttpRequest, queryset: Any, fn: Any, done: str) -> None:
        count = 0
        for post in queryset:
            try:
                fn(post)
                count += 1
            except ValidationError as exc:
                self.message_user(request, f"{post}: {' '.join(exc.messages)}", messages.WARNING)
        if count:
            self.message_user(request, f"{count} reply(ies) {done}.", messages.SUCCESS)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.change_post")

    @admin.action(description="Retry sending selected failed replies", permissions=["retry"])
    def retry_sending(self, request: HttpRequest, queryset: Any) -> None:
        retried = 0
        for post in queryset:
            try:
                retry_post(post, actor=request.user)
                retried += 1
            except ValidationError as exc:
                self.message_user(request, f"{post}: {' '.join(exc.messages)}", messages.WARNING)
        if retried:
            self.message_user(request, f"{retried} reply(ies) queued again.", messages.SUCCESS)


def _viewer(obj: Any) -> Viewer:
    return viewer_of(obj) or Viewer(None)


class CaseEventAdmin(ViewerAdminMixin, ViewOnlyAdmin):
    """Events of the cases the user may see; what an event names of other cases (a merged case
    of another team, an incident's title) as the reader may read it."""

    list_display = ["at", "case", "kind", "actor", "shown_summary"]
    fields = ["case", "at", "kind", "actor", "shown_post", "shown_summary", "details"]
    readonly_fields = ["shown_post", "shown_summary", "details"]
    list_filter = ["kind"]
    list_select_related = ["case", "actor"]
    search_fields = ["=case__reference"]
    raw_id_fields = ["case", "actor", "post"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = BoundedPaginator

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return super().get_queryset(request).filter(case_filter(request.user, "case__"))

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[TwoStepChangeList]:
        return TwoStepChangeList

    def prepare_rows(self, viewer: Viewer, rows: list[Any]) -> list[Any]:
        return super().prepare_rows(viewer, viewer.learn_events(rows))

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        event = super().get_object(request, object_id, from_field)
        if event is not None:
            _viewer(event).learn_events([event])
        return event

    @admin.display(description="summary")
    def shown_summary(self, obj: CaseEvent) -> str:
        return _viewer(obj).event_summary(obj, obj.summary())

    @admin.display(description="details")
    def details(self, obj: CaseEvent) -> str:
        data = json.dumps(_viewer(obj).event_data(obj), indent=2, ensure_ascii=False)
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', data)

    @admin.display(description="post")
    def shown_post(self, obj: CaseEvent) -> str:
        """The post the event is about, unless it moved to a case the reader may not see."""
        if not obj.post_id:
            return "-"
        viewer = _viewer(obj)
        if not viewer.sees_all:
            viewer.learn_posts([obj.post_id])
            if not viewer.posts.get(obj.post_id):
                return f"a post in {OTHER_TEAM_CASE}"
        url = reverse(
            "admin:socialcare_post_change", args=[obj.post_id], current_app=self.admin_site.name
        )
        return format_html('<a href="{}">{}</a>', url, obj.post)
