"""Customers (when socialcare's own model is in use), social identities and merge records."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest

from socialcare.admin.base import ViewOnlyAdmin
from socialcare.admin.deletion import TeamRuleDeletionMixin
from socialcare.admin.identity_suggestions import IdentitySuggestionsMixin
from socialcare.admin.inlines import CustomerCaseInline, SocialIdentityInline
from socialcare.admin.merge import merge_action
from socialcare.admin.privacy import CustomerPrivacyActionsMixin
from socialcare.admin.verification import create_verification_links
from socialcare.models import CustomerMerge, SocialIdentity
from socialcare.models.case import UNMERGED_CUSTOMERS
from socialcare.services import customers as customer_services
from socialcare.services.access import (
    case_filter,
    identity_filter,
    sees_all_cases,
    visible_identities,
)
from socialcare.services.redaction import search_words

#: The customer search's field that goes through the customer's social identities.
HANDLE_SEARCH = "social_identities__handle"


def describe_customer_merge(merge: CustomerMerge) -> str:
    """What a customer merge did with the host's own data, in one line for the admin."""
    relations = merge.relations or {}
    parts = []
    if relations.get("moved"):
        moved = ", ".join(f"{r['relation']} ({r['count']})" for r in relations["moved"])
        parts.append(f"moved {moved}")
    for left in relations.get("left", []):
        parts.append(f"left {left['relation']} ({left['count']}) on it: {left['reason']}")
    if relations.get("filled"):
        parts.append(f"filled {', '.join(relations['filled'])}")
    return "; ".join(parts) + "." if parts else ""


_merge_customers = merge_action(
    customer_services.merge_customers,
    description="Merge selected customers",
    permission="change",
    describe=describe_customer_merge,
)


@admin.action(description="Merge selected customers", permissions=["change"])
def merge_customers(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> Any:
    """The "Merge selected customers" action for a host's own customer admin (``actions =
    [merge_customers]``). Needs the change permission; a merge that is refused (a repeat,
    reverse or cyclic one) is reported with the reason, and each merge says what it did with
    the host's own data."""
    return _merge_customers(modeladmin, request, queryset)


class OwnerVerifiedFilter(admin.SimpleListFilter):
    title = "owner verified"
    parameter_name = "owner_verified"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Verified by the customer"), ("no", "Not verified")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(owner_verified_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(owner_verified_at__isnull=True)
        return queryset


class LinkedFilter(admin.SimpleListFilter):
    title = "customer"
    parameter_name = "linked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Linked to a customer"), ("no", "Not yet linked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(customer__isnull=self.value() == "no")
        return queryset


class CustomerAdmin(TeamRuleDeletionMixin, CustomerPrivacyActionsMixin, admin.ModelAdmin):
    """Admin for socialcare's default Customer. A host CRM may subclass it or attach
    ``SocialIdentityInline`` to its own customer admin instead.

    Customers are the CRM's shared records: everyone with the permission lists them. What comes
    from cases follows the team rule (``services.access``): the counts of identities and cases
    count those the user may see, and a search by handle matches only identities they may see."""

    list_display = ["__str__", "email", "phone", "identities", "cases", "created_at"]
    search_fields = ["name", "email", "phone", HANDLE_SEARCH]
    list_filter = ["created_at"]
    readonly_fields = ["merged_into", "created_at", "updated_at"]
    inlines = [SocialIdentityInline, CustomerCaseInline]
    actions = ["merge_selected"]
    show_full_result_count = False
    ordering = ["name", "pk"]  # its counts group rows: Meta.ordering no longer applies

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        user = request.user
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_identities=Count(
                    "social_identities",
                    filter=identity_filter(user, "social_identities__"),
                    distinct=True,
                ),
                n_cases=Count(
                    "socialcare_cases",
                    filter=case_filter(user, "socialcare_cases__"),
                    distinct=True,
                ),
            )
        )

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        fields = list(super().get_search_fields(request))
        if sees_all_cases(request.user):
            return fields
        return [f for f in fields if f != HANDLE_SEARCH]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        words = search_words(search_term)
        if sees_all_cases(request.user) or not words or HANDLE_SEARCH not in self.search_fields:
            return super().get_search_results(request, queryset, search_term)
        # Each word matches the other fields, or the handle of an identity the user may see:
        # one known only from another team's case does not find its customer.
        duplicates = False
        for word in words:
            found, dup = super().get_search_results(
                request, queryset, f'"{word}"' if " " in word else word
            )
            duplicates |= dup
            mine = SocialIdentity.objects.filter(customer=OuterRef("pk"), handle__icontains=word)
            queryset = queryset.filter(
                Q(pk__in=found.values("pk")) | Q(Exists(visible_identities(request.user, mine)))
            )
        return queryset, duplicates

    @admin.display(description="identities", ordering="n_identities")
    def identities(self, obj: Any) -> int:
        return obj.n_identities

    @admin.display(description="cases", ordering="n_cases")
    def cases(self, obj: Any) -> int:
        return obj.n_cases

    merge_selected = merge_action(
        customer_services.merge_customers,
        description="Merge selected customers",
        permission="merge",
        describe=describe_customer_merge,
    )

    def has_merge_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request)


class SocialIdentityAdmin(IdentitySuggestionsMixin, TeamRuleDeletionMixin, admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "__str__",
        "display_name",
        "platform",
        "customer",
        "followers_count",
        "platform_verified",
        "owner_verified_at",
        "last_seen_at",
    ]
    list_filter = ["platform", "platform_verified", OwnerVerifiedFilter, LinkedFilter]
    search_fields = ["handle", "display_name", "external_id"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    readonly_fields = ["owner_verified_at", "owner_verified_via", "first_seen_at", "last_seen_at"]
    actions = [create_verification_links]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Identities not on any case yet, or on a case the user may see (``services.access``):
        one known only from other teams' cases is not listed, nor found by the raw-id pop-ups
        and autocompletes that search this list."""
        return visible_identities(request.user, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "customer":  # a record merged into another is no choice
            kwargs["queryset"] = db_field.related_model._default_manager.complex_filter(
                UNMERGED_CUSTOMERS
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(
        self, request: HttpRequest, obj: SocialIdentity, form: Any, change: bool
    ) -> None:
        if not change or "customer" not in form.changed_data:
            obj.save()
            return
        new_customer = obj.customer
        obj.customer_id = form.initial.get("customer")
        obj.save()
        try:
            if new_customer is None:
                customer_services.unlink_identity(obj, actor=request.user)
            else:
                customer_services.link_identity(obj, new_customer, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        obj.refresh_from_db()


class CustomerMergeAdmin(ViewOnlyAdmin):
    list_display = ["__str__", "merged_by", "merged_at", "identities_moved", "cases_moved"]
    list_select_related = ["target", "merged_by"]
    search_fields = ["source_id"]
    raw_id_fields = ["target", "merged_by"]
