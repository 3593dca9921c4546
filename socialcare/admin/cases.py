"""The inbox: the case list an agent triages from (the case page is ``case_view``).

Default order (triage): open cases first, those with a reply due soonest at the top (the most
overdue first); then open cases with no reply due; then resolved and closed cases, newest first.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import pagination
from django.contrib.admin.views.main import ChangeList
from django.db import connections, models
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Substr
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from socialcare.adapter import get_customer_adapter
from socialcare.admin.case_view import CaseWorkspaceMixin
from socialcare.admin.deletion import TeamRuleDeletionMixin
from socialcare.admin.inbox_actions import INBOX_ACTIONS
from socialcare.admin.inbox_filters import INBOX_FILTERS
from socialcare.admin.large_lists import BoundedPaginator, TwoStepChangeList
from socialcare.admin.macro_actions import apply_macro_action
from socialcare.admin.merge import merge_action
from socialcare.conf import app_settings, platform_choices
from socialcare.models import (
    Case,
    Post,
    SocialIdentity,
    customer_display_name,
    get_customer_model,
)
from socialcare.models.choices import PRIORITY_RANK
from socialcare.services import cases as case_services
from socialcare.services.access import case_filter
from socialcare.services.events import user_label
from socialcare.services.sla_state import sla_state

#: Platforms with an icon in static/socialcare/admin/platforms/ (others get "other.svg").
PLATFORM_ICONS = {"x", "facebook", "instagram", "mastodon", "bluesky", "email"}
OPEN = list(Case.OPEN_STATUSES)


def response_due() -> models.Case:
    """When the case's next answer is due: the first response while none was given, then the
    next response after the customer wrote again; NULL for closed cases and nothing due."""
    # django.db.models.Case is the SQL CASE expression (not the socialcare model).
    return models.Case(
        When(
            status__in=OPEN,
            first_responded_at__isnull=True,
            then=F("first_response_due_at"),
        ),
        When(status__in=OPEN, then=F("next_response_due_at")),
        default=None,
        output_field=models.DateTimeField(),
    )


def with_sort_keys(queryset: QuerySet) -> QuerySet:
    return queryset.annotate(
        is_done=models.Case(
            When(status__in=OPEN, then=Value(0)),
            default=Value(1),
            output_field=models.IntegerField(),
        ),
        response_due=response_due(),
        priority_rank=models.Case(
            *(When(priority=p, then=Value(rank)) for p, rank in PRIORITY_RANK.items()),
            default=Value(0),
            output_field=models.IntegerField(),
        ),
    )


def with_last_post(queryset: QuerySet) -> QuerySet:
    """What the customer last said: text (first 300 characters), sentiment and reach of the
    newest inbound post, one index lookup each on (case, posted_at) per row of the page."""
    last = Post.objects.filter(case=OuterRef("pk"), direction=Post.Direction.INBOUND).order_by(
        "-posted_at", "-pk"
    )
    return queryset.annotate(
        last_post_text=Subquery(last.annotate(head=Substr("text", 1, 300)).values("head")[:1]),
        last_post_sentiment=Subquery(last.values("sentiment")[:1]),
        last_post_reach=Subquery(last.values("reach")[:1]),
    )


class InboxChangeList(TwoStepChangeList):
    """The inbox's list: bounded count, two-step page (``large_lists``), and what the count
    and pagination templates show."""

    #: Each filter as a dropdown of the inbox's filter bar (summary: its title and choice).
    filter_template = "socialcare/admin/case/filter.html"

    def page_queryset(self, queryset: QuerySet) -> QuerySet:
        return super().page_queryset(with_last_post(queryset))

    def get_filters(self, request: HttpRequest, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        found = super().get_filters(request, *args, **kwargs)
        for spec in found[0]:
            spec.template = self.filter_template
        return found

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.pages = pagination(self)
        self.count_capped = getattr(self.paginator, "capped", False)
        label = getattr(self.paginator, "count_label", None)
        self.result_count_label = label or number_format(self.result_count)
        limit = getattr(self.paginator, "limit", None)
        self.count_limit = number_format(limit, force_grouping=True) if limit else ""
        self.active_filter_count = sum(
            1
            for spec in self.filter_specs
            if any(name in self.params for name in spec.expected_parameters())
        )


def duration(delta: dt.timedelta) -> str:
    """A short human duration: "<1 min", "12 min", "3 h 5 min", "2 d 4 h"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "<1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def countdown(due: dt.datetime, now: dt.datetime) -> str:
    return f"in {duration(due - now)}" if due >= now else f"{duration(now - due)} overdue"


def sentiment_label(score: float | None) -> str:
    """VADER's usual cut-offs: at or below -0.05 negative, at or above 0.05 positive."""
    if score is None:
        return "unknown"
    if score <= -0.05:
        return "negative"
    return "positive" if score >= 0.05 else "neutral"


class CaseAdmin(TeamRuleDeletionMixin, CaseWorkspaceMixin, admin.ModelAdmin):
    list_display = [
        "reference",
        "sla",
        "customer_column",
        "last_post",
        "sentiment",
        "priority_column",
        "status",
        "assignee_column",
    ]
    list_display_links = ["reference"]
    empty_value_display = "—"
    list_filter = INBOX_FILTERS
    list_select_related = ["customer", "identity", "channel", "team", "assignee"]
    paginator = BoundedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    #: A search counts its matches up to this many ("250+ cases", five pages): ``large_lists``.
    search_count_limit = 250
    #: Expected matches (posts and cases, ``matching_cases``) from which a search walks the cases
    #: in triage order instead of collecting every match (``matches_many``); measured at 1M
    #: posts / 100k cases.
    search_walk_rows = 20_000
    change_list_template = "socialcare/admin/case/change_list.html"
    search_help_text = (
        "Reference (SC-000123), @handle, customer name or email, subject, or words from the "
        "customer's posts."
    )
    actions = [
        *INBOX_ACTIONS,
        apply_macro_action,
        "merge_selected",
    ]

    # Scoping and the list query ----------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Only the cases the user may see (``services.access``): another team's case is not
        listed, and its page answers as if it did not exist."""
        queryset = super().get_queryset(request).filter(case_filter(request.user))
        return with_sort_keys(queryset)

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        """Triage order (see the module docstring); over annotations of ``get_queryset``, so
        a method rather than ``ordering`` (whose system check only knows model fields)."""
        return [
            F("is_done").asc(),
            F("response_due").asc(nulls_last=True),
            F("created_at").desc(),
            F("pk").desc(),
        ]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return InboxChangeList

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        cl = context.get("cl")
        if cl is not None and getattr(cl, "count_capped", False):
            # "Select all 10,000+" cannot be honoured: bulk actions stop at MAX_BULK anyway.
            context["actions_selection_counter"] = False
        return response

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [
            "=reference",
            "subject",
            "identity__handle",
            "identity__display_name",
            *(f"customer__{path}" for path in get_customer_adapter().get_search_fields()),
            "posts__text",
        ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Every word must match the reference, subject, handle (``@`` optional), display name,
        customer name or email, or the text of one of the case's posts (a case with many matching
        posts is listed once). A search that is a whole reference finds that case alone.

        Two ways to the same cases, chosen per word by the expected number of matches (on
        PostgreSQL; ``matches_many``): a common word walks the cases in triage order, testing
        each, until the page is full; a rarer one takes the matching ids from the indexes."""
        term = search_term.strip()
        if not term:
            return queryset, False
        prefix = re.escape(app_settings.CASE_REFERENCE_PREFIX)
        if re.fullmatch(rf"{prefix}\d+", term, flags=re.IGNORECASE):
            return queryset.filter(Q(reference=term) | Q(reference=term.upper())), False
        adapter = get_customer_adapter()
        words = 0
        for bit in smart_split(term):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
                bit = unescape_string_literal(bit)
            if not bit:
                continue
            handle = bit.lstrip("@") or bit
            said = Post.objects.filter(text__icontains=bit).order_by()
            if self.matches_many(self.matching_cases(bit, handle)):
                # Many cases match: walk the cases in triage order (index socialcare_case_triage)
                # and test each one until the page (and the capped count) is full. The posts
                # in a scalar subquery, so PostgreSQL never reads every matching post to hash
                # them (as it does for an EXISTS or IN inside an OR).
                words += 1
                alias = f"said_{words}"
                first = said.filter(case=OuterRef("pk")).values("pk")[:1]
                queryset = queryset.alias(**{alias: Subquery(first)}).filter(
                    Q(reference__iexact=bit)
                    | Q(subject__icontains=bit)
                    | Q(identity__handle__icontains=handle)
                    | Q(identity__display_name__icontains=bit)
                    | adapter.search_filter(bit, "customer__")
                    | Q(**{f"{alias}__isnull": False})
                )
            else:
                # Few: the matching cases' ids, field by field, from the indexes (a UNION ALL
                # of index lookups on PostgreSQL: migrations 0009 and 0013); only those are
                # sorted.
                queryset = queryset.filter(pk__in=self.matching_cases(bit, handle))
        return queryset, False

    def matching_cases(self, bit: str, handle: str) -> QuerySet:
        """The ids of the cases where ``bit`` is in the reference (whole), subject, handle,
        display name, customer name or email, or the text of a post: one set per field, each
        answered by an index on PostgreSQL, in one UNION ALL (a case may come more than once)."""
        identities = (
            SocialIdentity.objects.filter(
                Q(handle__icontains=handle) | Q(display_name__icontains=bit)
            )
            .order_by()
            .values("id")
        )
        customer = get_customer_model()
        key = customer._meta.pk.attname
        customers = customer._default_manager.filter(get_customer_adapter().search_filter(bit))
        cases = Case.objects.order_by()
        found = cases.filter(Q(reference__iexact=bit) | Q(subject__icontains=bit)).values("id")
        # The final order_by(): Django 6.1 orders a union by the first model's default ordering,
        # on columns these rows do not select (an error once it is run, e.g. by EXPLAIN).
        return found.union(
            cases.filter(identity__in=identities).values("id"),
            cases.filter(customer__in=customers.order_by().values(key)).values("id"),
            # (A post on no case has a NULL case_id, which no case id equals.)
            Post.objects.filter(text__icontains=bit).order_by().values("case_id"),
            all=True,
        ).order_by()

    def matches_many(self, found: QuerySet) -> bool:
        """Whether PostgreSQL expects ``found`` (``matching_cases``) to hold at least
        ``search_walk_rows`` rows: its statistics of the indexed texts, through EXPLAIN
        (planning only, ~1 ms).

        Few: collecting the matching cases from the indexes and sorting them is cheapest. Many
        (a common word: reading every match costs ~1.3 µs a post): walking the cases in triage
        order and stopping when the page and the capped count are full costs less.
        """
        if connections[found.db].vendor != "postgresql":
            return False
        plan = json.loads(found.explain(format="json"))
        return plan[0]["Plan"]["Plan Rows"] >= self.search_walk_rows

    # Columns ---------------------------------------------------------------------------------

    @admin.display(description="customer")
    def customer_column(self, obj: Case) -> str:
        identity = obj.identity if obj.identity_id else None
        name = customer_display_name(obj.customer) if obj.customer_id else ""
        name = name or (identity.display_name if identity else "") or "—"
        platform = (
            obj.channel.platform if obj.channel_id else (identity.platform if identity else "")
        )
        handle = identity.handle if identity else ""
        if handle and "@" not in handle:
            handle = f"@{handle}"
        label = dict(platform_choices()).get(platform, platform or "unknown platform")
        icon = static(
            f"socialcare/admin/platforms/{platform if platform in PLATFORM_ICONS else 'other'}.svg"
        )
        return format_html(
            '<span class="sc-who"><span class="sc-who__name">{}</span>'
            '<span class="sc-who__handle"><img class="sc-platform" src="{}" alt="{}" title="{}" '
            'width="14" height="14"> {}</span></span>',
            name,
            icon,
            label,
            label,
            handle,
        )

    @admin.display(description="last customer post")
    def last_post(self, obj: Case) -> str:
        text = (getattr(obj, "last_post_text", None) or "").strip()
        if not text:
            return format_html('<span class="sc-muted">{}</span>', obj.subject or "—")
        first = text.splitlines()[0].strip()
        short = first if len(first) <= 120 else first[:119] + "…"
        return format_html('<span class="sc-post" title="{}">{}</span>', text, short)

    @admin.display(description="sentiment · reach")
    def sentiment(self, obj: Case) -> str:
        """The last customer post's sentiment, and below it how many people it reached."""
        score = getattr(obj, "last_post_sentiment", None)
        value = getattr(obj, "last_post_reach", None)
        reach = number_format(value, force_grouping=True) if value is not None else "—"
        if score is None:
            mood = format_html('<span class="sc-muted">{}</span>', "—")
        else:
            label = sentiment_label(score)
            mood = format_html(
                '<span class="sc-sentiment sc-sentiment--{}" title="{}">{} {}</span>',
                label,
                f"{score:+.2f}",
                label,
                f"{score:+.2f}",
            )
        return format_html(
            '<span class="sc-pair">{} <span class="sc-reach" title="reach">{}</span></span>',
            mood,
            reach,
        )

    @admin.display(description="priority", ordering="priority_rank")
    def priority_column(self, obj: Case) -> str:
        return format_html(
            '<span class="sc-priority sc-priority--{}">{}</span>',
            obj.priority,
            obj.get_priority_display(),
        )

    @admin.display(description="assignee · team", ordering="assignee__username")
    def assignee_column(self, obj: Case) -> str:
        who = user_label(obj.assignee) if obj.assignee_id else "unassigned"
        team = obj.team.name if obj.team_id else "no team"
        return format_html(
            '<span class="sc-pair"><span class="sc-assignee{}">{}</span> '
            '<span class="sc-team sc-muted">{}</span></span>',
            "" if obj.assignee_id else " sc-muted",
            who,
            team,
        )

    @admin.display(description="SLA", ordering=F("response_due").asc(nulls_last=True))
    def sla(self, obj: Case) -> str:
        now = timezone.now()
        state = sla_state(obj, now)
        due = obj.first_response_due_at
        if state in ("ok", "due_soon", "breached"):
            text = countdown(due, now) if due else "no due time"
        elif state in ("met", "missed"):
            text = state
        else:
            text, state = ("from history" if obj.from_history else "—"), "none"
        title = f"first response due {date_format(timezone.localtime(due), 'DATETIME_FORMAT')}"
        span = format_html(
            '<span class="sc-sla sc-sla--{}" data-sla="{}" title="{}">{}</span>',
            state,
            state,
            title if due else "no first-response due time",
            text,
        )
        next_due = obj.next_response_due_at
        if state in ("met", "missed") and obj.is_open and next_due:
            overdue = " sc-next-due--overdue" if next_due < now else ""
            return format_html(
                '{} <small class="sc-next-due{}">next reply {}</small>',
                span,
                overdue,
                countdown(next_due, now),
            )
        return span

    # Actions ---------------------------------------------------------------------------------

    merge_selected = merge_action(
        case_services.merge_cases, description="Merge selected cases", permission="merge"
    )

    def has_merge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.merge_case")
