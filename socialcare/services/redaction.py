"""Pages that render many incidents or timeline lines for one reader, through
``services.access.Viewer``, at a fixed number of queries.

``Viewer`` answers one reference, post or incident at a time and remembers the answers; the
helpers here ask first for everything a page will show (the case references its incidents and
events name, their sample posts), so rendering a list of incidents costs three queries whatever
its length, and none at all for a reader who sees every case.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.text import smart_split, unescape_string_literal

from socialcare.models import Incident
from socialcare.services.access import Viewer


def incident_titles(viewer: Viewer, pks: Iterable[Any]) -> dict[int, str]:
    """``{pk: title as this reader reads it}`` for the incidents ``pks``."""
    wanted = {p for p in pks if isinstance(p, int)}
    viewer.learn_incidents(wanted)
    return {p: viewer.incident_titles[p] for p in wanted if p in viewer.incident_titles}


def incident_label(viewer: Viewer, incident: Incident) -> str:
    """``#pk title`` (``Incident.__str__``) as this reader reads it."""
    return f"#{incident.pk} {viewer.incident_title(incident)}"


def shown_incident(viewer: Viewer, incident: Incident) -> Incident:
    """``incident`` itself for a reader who sees every case, else a copy carrying the title
    this reader reads, for what renders it with ``str()`` (breadcrumbs, list rows, pages'
    titles, select options). The copy is for display only: never save it."""
    title = viewer.incident_title(incident)
    if title == incident.title:
        return incident
    shown = copy.copy(incident)
    shown.title = title
    return shown


def search_words(term: str) -> list[str]:
    """The words of an admin search, as Django's admin splits them (quotes keep a phrase)."""
    words = []
    for bit in smart_split(term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
            bit = unescape_string_literal(bit)
        if bit:
            words.append(bit)
    return words


def incidents_titled(
    viewer: Viewer, term: str, queryset: QuerySet | None = None, *, unredacted: bool = False
) -> list[int]:
    """The ids of the incidents whose title, as this reader reads it, holds every word of
    ``term``: a title made from a case they may not see is not searched by its hidden words.
    ``unredacted``: only incidents whose title this reader reads as it is (for lists that show
    the raw title, such as the admin's autocompletes)."""
    words = search_words(term)
    queryset = Incident.objects.all() if queryset is None else queryset
    if not words and not unredacted:
        return list(queryset.values_list("pk", flat=True))
    match = Q()
    for word in words:
        match &= Q(title__icontains=word)
    candidates = Incident.objects.filter(match, pk__in=queryset.values("pk"))
    found = viewer.prepare_incidents(candidates.only("pk", "title", "evidence"))
    shown = viewer.incident_titles
    return [
        i.pk
        for i in found
        if all(w.lower() in shown[i.pk].lower() for w in words)
        and not (unredacted and shown[i.pk] != i.title)
    ]
