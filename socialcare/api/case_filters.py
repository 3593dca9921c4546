"""FilterSets and orderings of the case and post lists, and the SLA state they share."""

from __future__ import annotations

import datetime as dt
from functools import cache, partial
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters

from socialcare.api.filtering import DateTimeFilter, GivenFiltersFilterSet
from socialcare.conf import platform_choices
from socialcare.models import Case, Post, Priority, Visibility, get_customer_model
from socialcare.models.choices import PRIORITY_RANK
from socialcare.services.sla_state import SLA_STATES, sla_state_filter

#: Largest id a filter accepts: the range of a 64-bit primary key.
MAX_ID = 2**63 - 1
#: A sort key for "no due time": after every real one.
NEVER = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


@cache
def _sort_keys() -> dict[str, Any]:
    """``with_sort_keys``'s expressions, built once (``annotate()`` resolves a copy)."""
    return {
        # django.db.models.Case, the SQL CASE expression (not the socialcare model).
        "priority_rank": models.Case(
            *(When(priority=p, then=Value(rank)) for p, rank in PRIORITY_RANK.items()),
            default=Value(0),
            output_field=models.IntegerField(),
        ),
        "first_response_due_sort": Coalesce(
            "first_response_due_at", Value(NEVER, output_field=models.DateTimeField())
        ),
    }


def with_sort_keys(queryset: QuerySet) -> QuerySet:
    """Annotate what the case orderings sort on: the priority's rank, and the first-response due
    time with "none" last (a cursor position is never NULL)."""
    return queryset.annotate(**_sort_keys())


# Form fields --------------------------------------------------------------------------------


class IdField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class CustomerIdField(forms.CharField):
    """A primary key of the active (possibly swapped) customer model."""

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        pk = get_customer_model()._meta.pk
        try:
            value = pk.to_python(value)
        except ValidationError:
            raise ValidationError("Enter a valid customer id.", code="invalid") from None
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise ValidationError("Enter a valid customer id.", code="invalid")
        return value


class AssigneeField(forms.CharField):
    """``me``, ``none`` or a user id."""

    def to_python(self, value: Any) -> Any:
        value = (super().to_python(value) or "").strip().lower()
        if value in ("", "me", "none"):
            return value
        if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
            return int(value)
        raise ValidationError("Enter a user id, `me` or `none`.", code="invalid")


class IncidentRefField(forms.CharField):
    """An incident id, or ``none``."""

    def to_python(self, value: Any) -> Any:
        value = (super().to_python(value) or "").strip().lower()
        if value in ("", "none"):
            return value
        if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
            return int(value)
        raise ValidationError("Enter an incident id or `none`.", code="invalid")


class IdFilter(django_filters.Filter):
    field_class = IdField


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 0})
class ChangeSeqFilter(django_filters.Filter):
    field_class = partial(IdField, min_value=0)


class CustomerFilter(django_filters.Filter):
    field_class = CustomerIdField


@extend_schema_field(
    {"type": "string", "description": "A user id, `me` (the caller) or `none` (unassigned)."}
)
class AssigneeFilter(django_filters.Filter):
    field_class = AssigneeField

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if value in ("", None):
            return qs
        if value == "none":
            return qs.filter(assignee__isnull=True)
        if value == "me":
            return qs.filter(assignee=getattr(self.parent.request, "user", None))
        return qs.filter(assignee_id=value)


@extend_schema_field(
    {"type": "string", "description": "An incident id, or `none` (cases on no incident)."}
)
class IncidentFilter(django_filters.Filter):
    field_class = IncidentRefField

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if value in ("", None):
            return qs
        if value == "none":
            return qs.filter(incident__isnull=True)
        return qs.filter(incident_id=value)


class HandleFilter(django_filters.CharFilter):
    """A social handle, case-insensitive, with or without the leading ``@``."""

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        value = (value or "").strip().lstrip("@")
        return qs.filter(**{f"{self.field_name}__iexact": value}) if value else qs


# FilterSets ---------------------------------------------------------------------------------


class CaseFilter(GivenFiltersFilterSet):
    # distinct=False: a column of the case itself (no join that repeats rows), and DISTINCT would
    # make PostgreSQL compute the list's per-case counts for every match before the LIMIT.
    status = django_filters.MultipleChoiceFilter(
        choices=Case.Status.choices,
        distinct=False,
        help_text="Repeat for several: `status=new&status=open`.",
    )
    priority = django_filters.MultipleChoiceFilter(
        choices=Priority.choices, distinct=False, help_text="Repeat for several."
    )
    visibility = django_filters.ChoiceFilter(choices=Visibility.choices)
    platform = django_filters.ChoiceFilter(
        field_name="channel__platform",
        choices=platform_choices,
        help_text="The channel's platform.",
    )
    channel = IdFilter(field_name="channel_id", help_text="Channel id.")
    team = IdFilter(field_name="team_id", help_text="Team id.")
    assignee = AssigneeFilter()
    customer = CustomerFilter(field_name="customer_id", help_text="Customer id.")
    handle = HandleFilter(
        field_name="identity__handle", help_text="The customer's social handle, `@` optional."
    )
    tag = django_filters.CharFilter(method="filter_tag", help_text="A tag name, any case.")
    incident = IncidentFilter(
        help_text="Cases linked to this incident (its id), or `none`: cases on no incident."
    )
    sla_state = django_filters.ChoiceFilter(
        choices=SLA_STATES,
        method="filter_sla_state",
        help_text="First-response SLA state (due soon: within 15 minutes).",
    )
    from_history = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_from_history",
        help_text="`true`: cases opened by posts older than the backfill horizon, with no live "
        "post since (no SLA clock); `false`: the others.",
    )
    created_after = DateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Opened at or after (ISO 8601)."
    )
    created_before = DateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Opened before (ISO 8601)."
    )
    updated_since = DateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="Changed at or after (ISO 8601): incremental sync.",
    )
    updated_before = DateTimeFilter(
        field_name="updated_at", lookup_expr="lt", help_text="Changed before (ISO 8601)."
    )
    changed_after = ChangeSeqFilter(
        field_name="change_seq",
        lookup_expr="gt",
        help_text="Changed after this `change_seq` (the largest one a previous sync saw): "
        "incremental sync that misses nothing.",
    )

    class Meta:
        model = Case
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        tagged = Case.tags.through.objects.filter(case=OuterRef("pk"), tag__name__iexact=value)
        return queryset.filter(Exists(tagged))

    def filter_sla_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(sla_state_filter(value))

    def filter_from_history(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(from_history=value == "true")


class PostFilter(GivenFiltersFilterSet):
    direction = django_filters.ChoiceFilter(choices=Post.Direction.choices)
    kind = django_filters.ChoiceFilter(choices=Post.Kind.choices)
    visibility = django_filters.ChoiceFilter(choices=Visibility.choices)
    platform = django_filters.ChoiceFilter(choices=platform_choices)
    send_status = django_filters.MultipleChoiceFilter(
        choices=Post.SendStatus.choices,
        distinct=False,
        help_text="Outbound posts; repeat for several.",
    )
    channel = IdFilter(field_name="channel_id", help_text="Channel id.")
    case = IdFilter(field_name="case_id", help_text="Case id.")
    author = IdFilter(field_name="author_id", help_text="Social identity id of the author.")
    handle = HandleFilter(field_name="author__handle", help_text="The author's handle.")
    posted_after = DateTimeFilter(
        field_name="posted_at", lookup_expr="gte", help_text="Posted at or after (ISO 8601)."
    )
    posted_before = DateTimeFilter(
        field_name="posted_at", lookup_expr="lt", help_text="Posted before (ISO 8601)."
    )
    moderation = django_filters.MultipleChoiceFilter(
        choices=[*((v, label) for v, label in Post.Moderation.choices if v), ("none", "Visible")],
        method="filter_moderation",
        help_text="The brand's moderation on the platform: `hidden`, `deleted`, or `none` "
        "(never moderated, or shown again); repeat for several.",
    )
    moderated_after = DateTimeFilter(
        field_name="moderated_at",
        lookup_expr="gte",
        help_text="Hidden, shown again or deleted on the platform at or after (ISO 8601).",
    )
    updated_since = DateTimeFilter(
        method="filter_updated_since",
        help_text=(
            "Received, posted (an outbound post: sent), edited, deleted or moderated at or "
            "after (ISO 8601)."
        ),
    )

    class Meta:
        model = Post
        fields: list[str] = []

    def filter_moderation(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(moderation__in=["" if v == "none" else v for v in value])

    def filter_updated_since(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        return queryset.filter(
            Q(received_at__gte=value)
            | Q(posted_at__gte=value)
            | Q(edited_at__gte=value)
            | Q(deleted_at__gte=value)
            | Q(moderated_at__gte=value)
        )


# Orderings ----------------------------------------------------------------------------------


class StableOrdering(filters.OrderingFilter):
    """``?ordering=`` with public names mapped to sort keys (``aliases``) and the id as the last
    key, so equal values keep one order from page to page."""

    aliases: dict[str, str] = {}

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        names = list(getattr(view, "ordering_fields", []))
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Sort by this field, `-` first for descending; "
                "ties keep the id order. Default: oldest change first.",
                "schema": {"type": "string", "enum": names + [f"-{n}" for n in names]},
            }
        ]

    def get_ordering(self, request: Any, queryset: QuerySet, view: Any) -> Any:
        ordering = super().get_ordering(request, queryset, view)
        if not ordering or not request.query_params.get(self.ordering_param):
            return ordering
        keys = []
        for term in ordering:
            desc, name = term.startswith("-"), term.lstrip("-")
            keys.append(("-" if desc else "") + self.aliases.get(name, name))
        if keys[-1].lstrip("-") != "id":
            keys.append("-id" if keys[-1].startswith("-") else "id")
        return keys


class CaseOrdering(StableOrdering):
    aliases = {"priority": "priority_rank", "first_response_due_at": "first_response_due_sort"}
