"""Privacy in admin: the audit list of exports, erasures and purges, and the customer actions.

``CustomerPrivacyActionsMixin`` adds "Export data (JSON)" and "Erase personal data" to a customer
admin: socialcare's own ``CustomerAdmin`` uses it; a host CRM with a swapped customer model puts
it first in its own customer admin's bases (see docs/privacy.md).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse

from socialcare.admin.base import ViewOnlyAdmin
from socialcare.models import PrivacyRequest
from socialcare.services import privacy

#: Customers erased from one confirmation page at most.
MAX_ERASE = 20


def export_response(customer: Any, request: HttpRequest, source: str) -> StreamingHttpResponse:
    """A download of ``customer``'s export, streamed (a big customer never sits in memory)."""
    pieces = privacy.stream_customer_export(
        customer,
        actor=request.user,
        source=source,
        include_notes=request.GET.get("notes", "1") not in ("0", "false", "no"),
    )
    response = StreamingHttpResponse(pieces, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{privacy.export_filename(customer)}"'
    response["Cache-Control"] = "no-store"
    return response


class CustomerPrivacyActionsMixin:
    """Customer admin actions: export one customer's data, erase selected customers."""

    privacy_actions = ("export_customer_data", "erase_customer_data")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = list(self.actions or [])
        self.actions = [*current, *(a for a in self.privacy_actions if a not in current)]

    def has_export_customer_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.export_customer_data")

    def has_erase_customer_data_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.erase_customer_data")

    @admin.action(description="Export data (JSON)", permissions=["export_customer_data"])
    def export_customer_data(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        customers = list(queryset[:2])
        if len(customers) != 1:
            self.message_user(request, "Select exactly one customer to export.", messages.WARNING)
            return None
        return export_response(customers[0], request, PrivacyRequest.Source.ADMIN)

    @admin.action(description="Erase personal data…", permissions=["erase_customer_data"])
    def erase_customer_data(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        customers = list(queryset[: MAX_ERASE + 1])
        if len(customers) > MAX_ERASE:
            self.message_user(
                request,
                f"Erase at most {MAX_ERASE} customers at a time; narrow the selection.",
                messages.WARNING,
            )
            return None
        reason = (request.POST.get("reason") or "").strip()
        error = ""
        if request.POST.get("confirm") == "yes":
            if not reason:
                error = "Say why the data is erased: the reason is recorded."
            else:
                done = 0
                for customer in customers:
                    try:
                        privacy.erase_customer(
                            customer,
                            actor=request.user,
                            reason=reason,
                            source=PrivacyRequest.Source.ADMIN,
                        )
                        done += 1
                    except ValidationError as exc:
                        self.message_user(
                            request, f"{customer.pk}: {' '.join(exc.messages)}", messages.ERROR
                        )
                if done:
                    self.message_user(
                        request,
                        f"Erased the personal data of {done} customer(s). "
                        "The erasure is recorded under Privacy requests.",
                        messages.SUCCESS,
                    )
                return None
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase personal data",
            "opts": opts,
            "objects": customers,
            "reason": reason,
            "error": error,
            "action_name": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "socialcare/admin/erase_confirm.html", context)


class PrivacyRequestAdmin(ViewOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "customer_id",
        "customer_pseudonym",
        "actor",
        "source",
        "reason",
    ]
    list_filter = ["kind", "source", "created_at"]
    search_fields = ["=customer_id", "customer_pseudonym", "reason"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False
