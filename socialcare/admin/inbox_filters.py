"""The inbox's sidebar filters. Each one names its query parameter (``?sla=breached``,
``?assignee=me`` ...); a value it does not know is ignored with a warning, never a 500."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import CharField, Exists, F, OuterRef, QuerySet, Value, Window
from django.db.models.functions import Cast, RowNumber
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from socialcare.admin.availability import QueueFilter
from socialcare.admin.viewer import viewer_for
from socialcare.conf import platform_choices
from socialcare.models import Case, Incident, Priority, Tag
from socialcare.services.access import visible_tags
from socialcare.services.assignment import visible_teams
from socialcare.services.redaction import incident_titles
from socialcare.services.sla_state import SLA_STATES, sla_state_filter

#: The SLA filter's choices, in the order of ``SLA_STATES`` (query parameter ``sla``).
SLA_LABELS = {
    "ok": _("OK"),
    "due_soon": _("Due soon"),
    "breached": _("Breached"),
    "met": _("Met"),
    "missed": _("Missed"),
}
#: How many tags the tag filter lists (a tag further down is still reachable by ``?tag=<id>``).
TAG_CHOICES = 50


def sidebar_choices(request: HttpRequest) -> dict[str, list[tuple[int, str]]]:
    """The teams the user works with, the active incidents (newest first) and the first
    ``TAG_CHOICES`` tags: (id, label) for the filters below, read in one query per request
    (a UNION ALL, each part numbered in its own order) instead of one per filter."""
    memo = getattr(request, "socialcare_sidebar", None)
    if memo is not None:
        return memo
    parts = [
        visible_teams(request.user).order_by(),
        Incident.objects.exclude(status=Incident.Status.RESOLVED).order_by(),
        Tag.objects.filter(
            pk__in=visible_tags(request.user).order_by("name").values("pk")[:TAG_CHOICES]
        ).order_by(),
    ]
    kinds = ["team", "incident", "tag"]
    orders = [[F("name").asc(), F("pk").asc()], [F("opened_at").desc(), F("pk").desc()]]
    orders.append(orders[0])
    labels = [F("name"), F("title"), F("name")]
    numbered = [
        qs.annotate(
            kind=Value(kind, output_field=CharField()),
            key=F("pk"),
            label=Cast(label, CharField()),
            position=Window(RowNumber(), order_by=order),
        ).values_list("kind", "key", "label", "position")
        for qs, kind, label, order in zip(parts, kinds, labels, orders, strict=True)
    ]
    memo = {kind: [] for kind in kinds}
    # order_by(): Django 6.1 applies the first model's default ordering to a union, on columns
    # these rows do not select; the rows are sorted here.
    rows = numbered[0].union(*numbered[1:], all=True).order_by()
    for kind, key, label, _position in sorted(rows, key=lambda row: (row[0], row[3])):
        memo[kind].append((key, label))
    viewer = viewer_for(request)
    if not viewer.sees_all and memo["incident"]:
        # An incident's title as this reader reads it (one named after another team's case
        # does not name it): three more queries for readers who do not see every case.
        titles = incident_titles(viewer, [pk for pk, _title in memo["incident"]])
        memo["incident"] = [(pk, titles.get(pk, title)) for pk, title in memo["incident"]]
    # Our own attribute on the request (as middleware sets request.user): one read per request.
    request.socialcare_sidebar = memo  # type: ignore[attr-defined]
    return memo


class InboxFilter(admin.SimpleListFilter):
    """A filter whose value is checked: unknown values are ignored with a warning."""

    #: Label of the "no filter" choice.
    all_label: Any = _("All")

    def clean(self, request: HttpRequest, value: str) -> Any:
        """The value to filter on, or None when it is not a valid choice."""
        return value if value in {str(key) for key, _label in self.lookup_choices} else None

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        cleaned = self.clean(request, value)
        if cleaned is None:
            messages.warning(request, f"Unknown {self.title} filter value “{value}” was ignored.")
            return queryset
        return self.filter(queryset, cleaned, request)

    def filter(self, queryset: QuerySet, value: Any, request: HttpRequest) -> QuerySet:
        raise NotImplementedError

    def has_output(self) -> bool:
        # A value in the URL is applied (or reported) even when there is nothing to list.
        return super().has_output() or self.value() is not None

    def choices(self, changelist: Any) -> Any:
        for index, choice in enumerate(super().choices(changelist)):
            if index == 0:
                choice = {**choice, "display": self.all_label}
            yield choice


class AssigneeFilter(InboxFilter):
    title = _("Assignee")
    parameter_name = "assignee"
    all_label = _("Anyone")

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("me", _("Me")), ("none", _("Unassigned"))]

    def filter(self, queryset: QuerySet, value: str, request: HttpRequest) -> QuerySet:
        if value == "me":
            return queryset.filter(assignee=request.user)
        return queryset.filter(assignee__isnull=True)


class TeamFilter(InboxFilter):
    """The teams the user works with (every team for supervisors), and "No team": the pool."""

    title = _("team")
    parameter_name = "team"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        teams = [(str(pk), name) for pk, name in sidebar_choices(request)["team"]]
        return [*teams, ("none", _("No team (triage pool)"))]

    def filter(self, queryset: QuerySet, value: str, request: HttpRequest) -> QuerySet:
        if value == "none":
            return queryset.filter(team__isnull=True)
        return queryset.filter(team_id=int(value))


class StatusFilter(InboxFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("active", _("Needs work (new, open, waiting)")), *Case.Status.choices]

    def filter(self, queryset: QuerySet, value: str, request: HttpRequest) -> QuerySet:
        if value == "active":
            return queryset.filter(status__in=Case.OPEN_STATUSES)
        queryset = queryset.filter(status=value)
        if value not in Case.OPEN_STATUSES and "is_done" in queryset.query.annotations:
            # Said again in the triage index's first key (socialcare_case_triage): the walk
            # then starts at the done cases instead of stepping over every open one.
            queryset = queryset.filter(is_done=1)
        return queryset


class PriorityFilter(InboxFilter):
    title = _("priority")
    parameter_name = "priority"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(reversed(Priority.choices))

    def filter(self, queryset: QuerySet, value: str, request: HttpRequest) -> QuerySet:
        return queryset.filter(priority=value)


class SLAFilter(InboxFilter):
    """The first-response SLA state (``services.sla_state``), computed against the clock now."""

    title = _("SLA")
    parameter_name = "sla"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(state, SLA_LABELS[state]) for state, _description in SLA_STATES]

    def filter(self, queryset: QuerySet, value: str, request: HttpRequest) -> QuerySet:
        return queryset.filter(sla_state_filter(value))


class HistoryFilter(InboxFilter):
    """Cases opened by a backfill (``services.history``): no SLA clock until a live post."""

    title = _("from history")
    parameter_name = "history"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("yes", _("From history (no SLA clock)")),
            ("no", _("Live")),
        ]

    def filter(self, queryset: QuerySet, value: str, request: HttpRequest) -> QuerySet:
        return queryset.filter(from_history=value == "yes")


class PlatformFilter(InboxFilter):
    """The platform of the channel the case came in on."""

    title = _("platform")
    parameter_name = "platform"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return platform_choices()

    def filter(self, queryset: QuerySet, value: str, request: HttpRequest) -> QuerySet:
        return queryset.filter(channel__platform=value)


class IdFilter(InboxFilter):
    """A filter on an id that also accepts ids it does not list (e.g. a resolved incident)."""

    def clean(self, request: HttpRequest, value: str) -> Any:
        if value in ("any", "none"):
            return value
        if value.isascii() and value.isdigit() and 0 < int(value) < 2**63:
            return int(value)
        return None


class IncidentFilter(IdFilter):
    """Active (open or contained) incidents by name; any incident by ``?incident=<id>``."""

    title = _("incident")
    parameter_name = "incident"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("any", _("In any incident")),
            *((str(pk), f"#{pk} {title}") for pk, title in sidebar_choices(request)["incident"]),
            ("none", _("In no incident")),
        ]

    def filter(self, queryset: QuerySet, value: Any, request: HttpRequest) -> QuerySet:
        if value == "any":
            return queryset.filter(incident__isnull=False)
        if value == "none":
            return queryset.filter(incident__isnull=True)
        return queryset.filter(incident_id=value)


class TagFilter(IdFilter):
    title = _("tag")
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(str(pk), name) for pk, name in sidebar_choices(request)["tag"]]

    def clean(self, request: HttpRequest, value: str) -> Any:
        cleaned = super().clean(request, value)
        return cleaned if isinstance(cleaned, int) else None

    def filter(self, queryset: QuerySet, value: int, request: HttpRequest) -> QuerySet:
        tagged = Case.tags.through.objects.filter(case=OuterRef("pk"), tag_id=value)
        return queryset.filter(Exists(tagged))


INBOX_FILTERS = [
    AssigneeFilter,
    TeamFilter,
    StatusFilter,
    PriorityFilter,
    SLAFilter,
    HistoryFilter,
    PlatformFilter,
    IncidentFilter,
    TagFilter,
    QueueFilter,
]
