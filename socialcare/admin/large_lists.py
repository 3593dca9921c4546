"""Admin lists over large tables (cases, posts, events): a bounded count and a two-step page.

**Bounded count.**
Django's admin counts the filtered rows to number the pages (``show_full_result_count = False``
only drops the second, unfiltered count). On millions of cases or posts that COUNT is the slowest
query of the page. ``BoundedPaginator`` counts at most ``limit + 1`` rows
(``SELECT COUNT(*) FROM (SELECT id ... LIMIT limit + 1)``): the database stops as soon as it
has seen that many, and the page shows "10,000+" instead of an exact number.

**Capped search.** A search (``?q=``) is counted from its ids step instead: the first
``search_count_limit + 1`` matching ids in the list's order, one query that is both the page and
the count. More than the limit shows as "250+", and the pages stop there (the list says to narrow
the search). A COUNT of every match of a common word would repeat the whole search.

**Two-step page** ("deferred join"). Sorting a million wide rows (each joined with its related
rows) to keep one page costs far more than sorting bare ids. ``TwoStepChangeList`` first picks
the page's ids with only the filters, search and ordering, then loads those rows with their
related rows (and whatever ``page_queryset`` adds). It skips the count when page 1 holds
everything.
"""

from __future__ import annotations

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import InvalidPage, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.formats import number_format
from django.utils.functional import cached_property


class BoundedPaginator(Paginator):
    #: Count exactly up to this many rows; beyond it the count is shown as "10,000+".
    limit = 10_000

    @cached_property
    def count(self) -> int:
        """The number of rows, or ``limit + 1`` when there are more than ``limit``."""
        if isinstance(self.object_list, QuerySet):
            rows = self.object_list.order_by().values("pk")[: self.limit + 1]
            return rows.count()
        return min(len(self.object_list), self.limit + 1)

    @property
    def capped(self) -> bool:
        """True when the count stopped at the limit (the real number is larger)."""
        return self.count > self.limit

    @property
    def count_label(self) -> str:
        """The count for people: "1,234", or "10,000+" when capped."""
        if self.capped:
            return f"{number_format(self.limit, force_grouping=True)}+"
        return number_format(self.count, force_grouping=True)


class TwoStepChangeList(ChangeList):
    """A change list that loads its page in two steps, and counts only when it must.

    Page 1 starts with the ids of its rows plus one: when they are all there is, that is the
    count, and the COUNT query is skipped (a narrow search costs one pass over the table instead
    of two). Otherwise the paginator counts (bounded, with ``BoundedPaginator``) and later pages
    fetch their ids by offset. The rows are then loaded by id.
    """

    def page_queryset(self, queryset: QuerySet) -> QuerySet:
        """The query that loads the page's rows (by id); add per-row annotations here."""
        return self.apply_select_related(queryset)

    def search_count_limit(self) -> int | None:
        """How many matches a search counts (``ModelAdmin.search_count_limit``), or None when
        the list is not searched (or the admin sets no limit)."""
        if not self.query:
            return None
        return getattr(self.model_admin, "search_count_limit", None)

    def get_results(self, request: HttpRequest) -> None:
        # Django's ChangeList.get_results, with the page's ids chosen before its rows load.
        per_page = self.list_per_page
        paginator = self.model_admin.get_paginator(request, self.queryset, per_page)
        ids: list | None = None
        limit = self.search_count_limit()
        if limit is not None:
            # The capped ids step: the matches up to the limit (plus one), in order.
            found = list(self.queryset.values_list("pk", flat=True)[: limit + 1])
            paginator.limit = limit
            paginator.count = len(found)
            try:
                number = paginator.validate_number(self.page_num)
            except InvalidPage:
                raise IncorrectLookupParameters from None
            ids = found[(number - 1) * per_page : number * per_page]
            if self.show_all and len(found) <= min(limit, self.list_max_show_all):
                ids = found
        elif self.page_num == 1:
            ids = list(self.queryset.values_list("pk", flat=True)[: per_page + 1])
            if len(ids) <= per_page:
                paginator.count = len(ids)  # all there is: no COUNT query
        result_count = paginator.count
        full_result_count = (
            self.root_queryset.count() if self.model_admin.show_full_result_count else None
        )
        can_show_all = result_count <= self.list_max_show_all
        multi_page = result_count > per_page
        if limit is not None:
            can_show_all = can_show_all and not getattr(paginator, "capped", False)
        elif (self.show_all and can_show_all) or not multi_page:
            if ids is None or len(ids) > per_page:
                ids = list(self.queryset.values_list("pk", flat=True))
        elif ids is not None:
            ids = ids[:per_page]
        else:
            try:
                page = paginator.page(self.page_num).object_list
            except InvalidPage:
                raise IncorrectLookupParameters from None
            ids = list(page.values_list("pk", flat=True))
        rows = self.page_queryset(self.root_queryset.filter(pk__in=ids)).order_by()
        by_id = {row.pk: row for row in rows}

        self.result_count = result_count
        self.show_full_result_count = self.model_admin.show_full_result_count
        self.show_admin_actions = not self.show_full_result_count or bool(full_result_count)
        self.full_result_count = full_result_count
        self.result_list = [by_id[pk] for pk in ids if pk in by_id]
        self.can_show_all = can_show_all
        self.multi_page = multi_page
        self.paginator = paginator
