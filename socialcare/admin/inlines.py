"""Inlines, including ``SocialIdentityInline`` for a host CRM's own customer admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from socialcare.admin.viewer import viewer_for
from socialcare.models import Case, CaseEvent, Post, SocialIdentity, TeamMembership
from socialcare.services.access import Viewer, case_filter, visible_identities


class ReadOnlyInlineMixin:
    """An inline that lists rows without letting anyone add, edit or delete them."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SocialIdentityInline(admin.TabularInline):
    """The customer's accounts on social platforms. Attach it to your customer admin::

    class ContactAdmin(admin.ModelAdmin):
        inlines = [SocialIdentityInline]
    """

    model = SocialIdentity
    fk_name = "customer"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "platform",
        "external_id",
        "handle",
        "display_name",
        "followers_count",
        "platform_verified",
        "owner_verified_at",
    ]
    readonly_fields = ["owner_verified_at"]
    verbose_name_plural = "social identities (unlink from the identity's own page)"

    def get_queryset(self, request: HttpRequest) -> Any:
        # The team rule: not the identities known only from other teams' cases.
        return visible_identities(request.user, super().get_queryset(request))


class CustomerCaseInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Case
    fk_name = "customer"
    fields = ["case_link", "subject", "status", "priority", "channel", "created_at"]
    readonly_fields = fields
    verbose_name_plural = "cases"

    def get_queryset(self, request: HttpRequest) -> Any:
        # The team rule: a customer's page lists only the cases the reader may see.
        return (
            super()
            .get_queryset(request)
            .filter(case_filter(request.user))
            .select_related("channel")
        )

    @admin.display(description="case")
    def case_link(self, obj: Case) -> str:
        url = reverse(
            "admin:socialcare_case_change", args=[obj.pk], current_app=self.admin_site.name
        )
        return format_html('<a href="{}">{}</a>', url, obj.reference)


class PostInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The case's conversation, oldest first."""

    model = Post
    fk_name = "case"
    fields = ["posted_at", "direction", "author_label", "visibility", "text", "status_label"]
    readonly_fields = fields
    ordering = ["posted_at", "pk"]
    verbose_name_plural = "conversation"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("author", "sent_by")

    @admin.display(description="from")
    def author_label(self, obj: Post) -> str:
        if obj.is_inbound:
            return str(obj.author) if obj.author_id else "unknown"
        return f"{obj.sent_by or 'brand'} (agent)"

    @admin.display(description="state")
    def status_label(self, obj: Post) -> str:
        if obj.deleted_at:
            return "deleted on platform"
        if obj.edited_at:
            return "edited"
        return obj.get_send_status_display() if obj.send_status else ""


class CaseEventInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The case's timeline: every change, note and message, oldest first."""

    model = CaseEvent
    fk_name = "case"
    fields = ["at", "kind", "actor_name", "what_happened"]
    readonly_fields = fields
    ordering = ["at", "pk"]
    verbose_name_plural = "timeline"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The reader of the page (an inline is made for each request) and the cases whose
        #: timelines it was prepared for.
        self.viewer: Viewer | None = None
        self.learned: set[int] = set()

    def get_queryset(self, request: HttpRequest) -> Any:
        self.viewer = viewer_for(request)
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="by")
    def actor_name(self, obj: CaseEvent) -> str:
        return obj.actor_label

    @admin.display(description="details")
    def what_happened(self, obj: CaseEvent) -> str:
        """The summary as the reader may read it: a merged case of another team is not named,
        an incident's title is the one the reader reads."""
        viewer = self.viewer or Viewer(None)
        if not viewer.sees_all and obj.case_id not in self.learned:
            # The whole timeline at once, on its first line: a fixed number of queries.
            self.learned.add(obj.case_id)
            viewer.learn_events(CaseEvent.objects.filter(case=obj.case_id).only("kind", "data"))
        return viewer.event_summary(obj, obj.summary())


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 1
    raw_id_fields = ["user"]
    fields = ["user", "on_duty", "capacity", "languages", "platforms"]
