"""Identity verification links: a read-only audit list, and the action that creates a link."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from socialcare.admin.base import ViewOnlyAdmin
from socialcare.models import Case, IdentityVerification
from socialcare.services import verification as verification_services
from socialcare.services.access import visible_cases


class IdentityVerificationAdmin(ViewOnlyAdmin):
    list_display = [
        "identity",
        "case",
        "outcome",
        "link_state",
        "created_by",
        "created_at",
        "expires_at",
        "used_at",
        "attempts",
    ]
    list_filter = ["outcome", "provider"]
    list_select_related = ["identity", "case", "created_by"]
    search_fields = ["identity__handle", "case__reference"]
    fields = [
        "case",
        "identity",
        "provider",
        "outcome",
        "created_by",
        "created_at",
        "expires_at",
        "used_at",
        "attempts",
        "signed_in_as",
        "failure_reason",
    ]
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="link")
    def link_state(self, obj: IdentityVerification) -> str:
        return {"used": "used", "expired": "expired"}.get(obj.state, "open")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        cases = visible_cases(request.user, Case.objects.all())
        return super().get_queryset(request).filter(case__in=cases)


@admin.action(description="Create a verification link (for the latest open case)")
def create_verification_links(modeladmin: Any, request: HttpRequest, queryset: QuerySet) -> None:
    """For each selected identity, a link for its latest open case the agent may see; the URL is
    shown once, in the message."""
    if not request.user.has_perm("socialcare.change_case"):
        modeladmin.message_user(request, "You may not change cases.", messages.ERROR)
        return
    for identity in queryset[:20]:
        case = (
            visible_cases(request.user, Case.objects.filter(identity=identity))
            .open()
            .order_by("-created_at")
            .first()
        )
        if case is None:
            modeladmin.message_user(
                request, f"{identity} has no open case you may see.", messages.WARNING
            )
            continue
        try:
            link = verification_services.create_link(case, actor=request.user, identity=identity)
        except verification_services.VerificationError as exc:
            modeladmin.message_user(request, " ".join(exc.messages), messages.ERROR)
            continue
        modeladmin.message_user(
            request,
            f"Send this link to {identity} ({case.reference}); it is shown only once and works "
            f"once until {link.verification.expires_at:%Y-%m-%d %H:%M} UTC: "
            f"{request.build_absolute_uri(link.path)}",
            messages.SUCCESS,
        )
