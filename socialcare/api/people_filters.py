"""FilterSets for customers, social identities, SLA policies and webhook subscriptions."""

from __future__ import annotations

import functools
from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django_filters import rest_framework as filters

from socialcare.api.case_filters import CustomerFilter
from socialcare.api.filtering import DateTimeFilter
from socialcare.conf import platform_choices
from socialcare.models import (
    Case,
    CustomerMerge,
    SLAPolicy,
    SocialIdentity,
    WebhookSubscription,
)
from socialcare.models.choices import Priority, Visibility
from socialcare.models.fields import has_field
from socialcare.services.access import visible_cases, visible_identities


def _handle(value: str) -> str:
    return value.strip().lstrip("@")


class IdentityFilter(filters.FilterSet):
    platform = filters.ChoiceFilter(choices=platform_choices)
    handle = filters.CharFilter(
        method="filter_handle", help_text="Exact handle, any case, '@' optional."
    )
    # The customer model's own key (a host's model may use UUIDs), not an integer id.
    customer = CustomerFilter(field_name="customer_id", help_text="Id of the linked customer.")
    linked = filters.BooleanFilter(
        method="filter_linked", help_text="true: linked to a customer; false: not yet."
    )
    verified = filters.BooleanFilter(
        method="filter_verified", help_text="true: the owner proved the account is theirs."
    )
    updated_since = DateTimeFilter(
        field_name="last_seen_at",
        lookup_expr="gte",
        help_text="Identities seen (posting) at or after this time.",
    )

    class Meta:
        model = SocialIdentity
        fields: list[str] = []

    def filter_handle(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(handle__iexact=_handle(value))

    def filter_linked(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(customer__isnull=not value)

    def filter_verified(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(owner_verified_at__isnull=not value)


class CustomerFilterBase(filters.FilterSet):
    platform = filters.ChoiceFilter(
        choices=platform_choices,
        method="filter_platform",
        help_text="Customers with an identity on this platform.",
    )
    handle = filters.CharFilter(
        method="filter_handle",
        help_text="Customers with an identity of this handle ('@' optional).",
    )
    has_open_case = filters.BooleanFilter(
        method="filter_has_open_case", help_text="true: customers with a case still open."
    )

    def filter_platform(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Exists(SocialIdentity.objects.filter(customer=OuterRef("pk"), platform=value))
        )

    def filter_handle(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        identities = visible_identities(getattr(self.request, "user", None)).filter(
            customer=OuterRef("pk"), handle__iexact=_handle(value)
        )
        return queryset.filter(Exists(identities))

    def filter_has_open_case(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        cases = visible_cases(getattr(self.request, "user", None), Case.objects.open())
        open_cases = Exists(cases.filter(customer=OuterRef("pk")))
        return queryset.filter(open_cases if value else ~open_cases)


def _changed_since(queryset: QuerySet, name: str, value: Any) -> QuerySet:
    merges = CustomerMerge.objects.filter(target=OuterRef("pk"), merged_at__gte=value)
    cases = Case.objects.filter(customer=OuterRef("pk"), updated_at__gte=value)
    return queryset.filter(Exists(merges) | Exists(cases))


@functools.cache
def customer_filterset(model: type[models.Model]) -> type[filters.FilterSet]:
    """The customer FilterSet of ``model`` (the active, possibly swapped, customer model): the
    date filters exist only where the model has ``updated_at`` / ``created_at``."""
    attrs: dict[str, Any] = {
        "Meta": type("Meta", (), {"model": model, "fields": []}),
        "__module__": __name__,
    }
    if has_field(model, "updated_at"):
        attrs["updated_since"] = DateTimeFilter(
            field_name="updated_at", lookup_expr="gte", help_text="Changed at or after this time."
        )
    else:
        # The host's model keeps no change time: socialcare's own records of what changed a
        # customer (a merge into it; a case of its moved, e.g. by an identity link) stand in.
        attrs["updated_since"] = DateTimeFilter(
            method=_changed_since,
            help_text="Merged into, or one of its cases changed, at or after this time.",
        )
    if has_field(model, "created_at"):
        attrs["created_after"] = DateTimeFilter(
            field_name="created_at", lookup_expr="gte", help_text="Created at or after this time."
        )
        attrs["created_before"] = DateTimeFilter(
            field_name="created_at", lookup_expr="lt", help_text="Created before this time."
        )
    return type("CustomerFilter", (CustomerFilterBase,), attrs)


class SLAPolicyFilter(filters.FilterSet):
    priority = filters.ChoiceFilter(choices=Priority.choices)
    visibility = filters.ChoiceFilter(choices=Visibility.choices)
    platform = filters.ChoiceFilter(choices=platform_choices)

    class Meta:
        model = SLAPolicy
        fields = ["is_active"]


class WebhookSubscriptionFilter(filters.FilterSet):
    class Meta:
        model = WebhookSubscription
        fields = ["is_active"]
