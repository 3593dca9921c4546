"""Who may see what: the team rule every front end (admin, API, exports) applies.

A user sees every case when they are a superuser or hold ``socialcare.view_all_cases``
(supervisors). Anyone else sees the cases of the teams they belong to, the cases assigned to them,
and cases no team owns yet (the triage pool).

This module is the one entry point: everything that belongs to a case (its posts, timeline
events, notes, merge history, verification links) and everything made from a case's content
(incident titles and evidence, texts naming a case) is read or rendered through it, so a new
page or endpoint cannot forget the rule. What crosses teams, object by object, is in
docs/access.md ("What crosses teams").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from socialcare.conf import app_settings
from socialcare.models import (
    Case,
    CaseEvent,
    Incident,
    Post,
    SocialIdentity,
    Tag,
    TeamMembership,
)

#: What a reader sees in place of another team's case reference.
OTHER_TEAM_CASE = "a case in another team"


def sees_all_cases(user: Any) -> bool:
    return bool(
        user
        and user.is_active
        and (user.is_superuser or user.has_perm("socialcare.view_all_cases"))
    )


def case_filter(user: Any, prefix: str = "") -> Q:
    """A Q object selecting the cases ``user`` may see (``prefix``: the path to the case, e.g.
    ``"case__"`` for posts)."""
    if sees_all_cases(user):
        return Q()
    if not user or not user.is_authenticated:
        return Q(pk__in=[])
    # An uncorrelated IN (the user's teams) rather than a correlated EXISTS: PostgreSQL
    # estimates it far better on large case tables (no JIT compilation per inbox page).
    my_teams = TeamMembership.objects.filter(user=user).values("team")
    return (
        Q(**{f"{prefix}team__isnull": True})
        | Q(**{f"{prefix}assignee": user})
        | Q(**{f"{prefix}team__in": my_teams})
    )


def visible_cases(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    queryset = Case.objects.all() if queryset is None else queryset
    return queryset.filter(case_filter(user))


def visible_posts(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """Posts of visible cases; posts on no case only for those who see every case."""
    queryset = Post.objects.all() if queryset is None else queryset
    if sees_all_cases(user):
        return queryset
    return queryset.filter(case__isnull=False).filter(case_filter(user, "case__"))


def visible_events(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """Timeline events (notes included) of the cases ``user`` may see."""
    queryset = CaseEvent.objects.all() if queryset is None else queryset
    if sees_all_cases(user):
        return queryset
    return queryset.filter(case_filter(user, "case__"))


def can_see_case(user: Any, case: Case) -> bool:
    return visible_cases(user, Case.objects.filter(pk=case.pk)).exists()


def visible_case_ids(user: Any, ids: Iterable[int]) -> set[int]:
    """The case ids among ``ids`` that ``user`` may see."""
    wanted = {int(i) for i in ids if i is not None}
    if not wanted or sees_all_cases(user):
        return wanted
    return set(visible_cases(user, Case.objects.filter(pk__in=wanted)).values_list("pk", flat=True))


def visible_references(user: Any, references: Iterable[str]) -> set[str]:
    """The case references among ``references`` that ``user`` may see (for texts that name
    cases, e.g. an incident's timeline, so another team's case is not even named)."""
    wanted = {str(r) for r in references if r}
    if not wanted or sees_all_cases(user):
        return wanted
    return set(
        visible_cases(user, Case.objects.filter(reference__in=wanted)).values_list(
            "reference", flat=True
        )
    )


def merged_case_ids(case: Case, user: Any = None) -> list[int]:
    """Cases merged into ``case``, and those merged into them, and so on; with ``user``, only
    those that user may see (a hidden case's events never join a visible case's history, and
    neither do the cases merged into it)."""
    found: list[int] = []
    frontier = [case.pk]
    while frontier:
        children = Case.objects.filter(merged_into__in=frontier).exclude(pk__in=found)
        if user is not None:
            children = visible_cases(user, children)
        frontier = list(children.values_list("pk", flat=True))
        found += frontier
    return found


# People: customers are the CRM's shared records; social identities are seen through cases ----


def identity_filter(user: Any, prefix: str = "") -> Q:
    """A Q object selecting the social identities ``user`` may see: those not on any case yet
    (added by the CRM, verified, …) and those on at least one case the user may see (as the
    case's identity or as the author of one of its posts). An identity known only from other
    teams' cases is not shown, not even its handle."""
    if sees_all_cases(user):
        return Q()
    if not user or not user.is_authenticated:
        return Q(pk__in=[])
    identity = OuterRef(f"{prefix}pk" if prefix else "pk")
    on_a_case = Exists(Case.objects.filter(identity=identity)) | Exists(
        Post.objects.filter(author=identity, case__isnull=False)
    )
    on_a_visible_case = Exists(visible_cases(user).filter(identity=identity)) | Exists(
        visible_posts(user, Post.objects.filter(author=identity))
    )
    return ~on_a_case | on_a_visible_case


def visible_identities(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    queryset = SocialIdentity.objects.all() if queryset is None else queryset
    if sees_all_cases(user):
        return queryset
    return queryset.filter(identity_filter(user))


def visible_tags(user: Any, queryset: QuerySet | None = None) -> QuerySet:
    """Tags on no case yet (an admin's vocabulary) and tags on at least one case ``user`` may
    see: a tag only another team uses is that team's words."""
    queryset = Tag.objects.all() if queryset is None else queryset
    if sees_all_cases(user):
        return queryset
    tagged = Case.tags.through.objects.filter(tag=OuterRef("pk"))
    return queryset.filter(~Exists(tagged) | Exists(tagged.filter(case_filter(user, "case__"))))


# Texts that name cases -----------------------------------------------------------------------


def reference_pattern() -> re.Pattern[str]:
    return re.compile(rf"{re.escape(app_settings.CASE_REFERENCE_PREFIX)}\d+")


class Viewer:
    """One reader, for rendering texts and data that name cases (timelines, merge history,
    incident titles and evidence): another team's case is replaced by ``OTHER_TEAM_CASE``.

    Answers are remembered: make one per request or page, and call ``learn`` with every
    reference the page will show first, so a page costs one query, not one per line."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.sees_all = sees_all_cases(user)
        self.known: dict[str, bool] = {}
        self.posts: dict[int, bool] = {}
        self.incident_titles: dict[int, str] = {}
        self.pattern = reference_pattern()

    def learn(self, references: Iterable[str]) -> None:
        unknown = {str(r) for r in references if r and str(r) not in self.known}
        if not unknown:
            return
        seen = visible_references(self.user, unknown)
        self.known.update({r: r in seen for r in unknown})

    def sees_reference(self, reference: str | None) -> bool:
        if not reference:
            return True
        if self.sees_all:
            return True
        self.learn([reference])
        return self.known[str(reference)]

    def references_in(self, value: Any) -> set[str]:
        """Every case reference written anywhere in ``value`` (text, list or dict)."""
        if isinstance(value, str):
            return set(self.pattern.findall(value))
        if isinstance(value, dict):
            return set().union(*(self.references_in(v) for v in value.values()))
        if isinstance(value, (list, tuple)):
            return set().union(*(self.references_in(v) for v in value))
        return set()

    def hides_any(self, value: Any) -> bool:
        """True when ``value`` names a case this reader may not see."""
        if self.sees_all:
            return False
        refs = self.references_in(value)
        self.learn(refs)
        return not all(self.known[r] for r in refs)

    def text(self, value: str) -> str:
        """``value`` with every hidden case reference replaced."""
        if self.sees_all or not value:
            return value
        refs = self.references_in(value)
        self.learn(refs)
        return self.pattern.sub(
            lambda m: m.group(0) if self.known[m.group(0)] else OTHER_TEAM_CASE, value
        )

    def data(self, value: Any) -> Any:
        """``value`` (JSON-like) with hidden references replaced in texts; a list naming cases
        keeps the visible ones only."""
        if self.sees_all:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            self.learn(v for v in value if self._is_reference(v))  # one query for the list
            items = [v for v in value if not (self._is_reference(v) and self.hides_any(v))]
            return [self.data(v) for v in items]
        return value

    def _is_reference(self, value: Any) -> bool:
        return isinstance(value, str) and bool(self.pattern.fullmatch(value))

    # A case's timeline --------------------------------------------------------------------

    def learn_events(self, events: Iterable[CaseEvent]) -> list[CaseEvent]:
        """Prepare for rendering ``events`` (of cases this reader may see): one query for the
        other cases they name, one for the incidents they link to. Returns them."""
        events = list(events)
        if self.sees_all:
            return events
        for event in events:  # their own cases are visible: that is why they are shown
            own = getattr(event, "case_reference", None)
            if own:
                self.known[str(own)] = True
        self.learn(set().union(set(), *(self.references_in(e.data or {}) for e in events)))
        self.learn_incidents(
            (e.data or {}).get("incident")
            for e in events
            if e.kind == CaseEvent.Kind.INCIDENT_LINKED
        )
        return events

    def event_summary(self, event: CaseEvent, summary: str) -> str:
        """An event's one-line summary as this reader may read it."""
        if self.sees_all:
            return summary
        if event.kind == CaseEvent.Kind.INCIDENT_LINKED:
            return self._incident_linked(event)
        return self.text(summary)

    def event_data(self, event: CaseEvent) -> dict[str, Any]:
        data = dict(event.data or {})
        if self.sees_all:
            return data
        if event.kind == CaseEvent.Kind.INCIDENT_LINKED and "text" in data:
            data["text"] = self._incident_linked(event)
        return self.data(data)

    def _incident_linked(self, event: CaseEvent) -> str:
        pk = (event.data or {}).get("incident")
        self.learn_incidents([pk])
        title = self.incident_titles.get(pk)
        return f"Linked to incident #{pk}: {title}" if title else f"Linked to incident #{pk}"

    # Incidents: shared, but what in them comes from a case is rendered per reader ----------

    def learn_incidents(self, pks: Iterable[Any]) -> None:
        """Remember the titles of the incidents ``pks`` as this reader reads them."""
        wanted = {p for p in pks if isinstance(p, int) and p not in self.incident_titles}
        if wanted:
            self.prepare_incidents(
                Incident.objects.filter(pk__in=wanted).only("pk", "title", "evidence")
            )

    def prepare_incidents(self, incidents: Iterable[Incident]) -> list[Incident]:
        """Prepare for rendering ``incidents`` (titles, evidence) in two queries, whatever
        their number, and remember each one's title in ``incident_titles``."""
        incidents = list(incidents)
        if not self.sees_all:  # the title rides along with the evidence
            self.learn_data([{**(i.evidence or {}), "": i.title} for i in incidents])
        for incident in incidents:
            self.incident_titles[incident.pk] = self.incident_title(incident)
        return incidents

    def learn_data(self, items: Iterable[Any]) -> None:
        """Prepare for rendering incident evidence or incident events' data: one query for
        the case references they name, one for their sample posts."""
        if self.sees_all:
            return
        references: set[str] = set()
        posts: set[int] = set()
        for data in items:
            references |= self.references_in(data or {})
            posts |= sample_post_ids(data)
        self.learn(references)
        self.learn_posts(posts)

    def learn_posts(self, ids: Iterable[Any]) -> None:
        unknown = {i for i in ids if isinstance(i, int) and i not in self.posts}
        if not unknown:
            return
        seen = set(
            visible_posts(self.user, Post.objects.filter(pk__in=unknown)).values_list(
                "pk", flat=True
            )
        )
        self.posts.update({i: i in seen for i in unknown})

    def source_hidden(self, evidence: dict) -> bool:
        """True when the evidence was made from a case this reader may not see: the case an
        incident was escalated from, the post an influencer detector fired on."""
        if self.sees_all:
            return False
        if evidence.get("source_case"):
            return not self.sees_reference(str(evidence["source_case"]))
        if "followers" in evidence:  # an influencer's post, recorded before source_case was
            samples = [s for s in evidence.get("sample_posts") or [] if isinstance(s, dict)]
            ids = [s.get("id") for s in samples]
            self.learn_posts(ids)
            return not samples or not all(self.posts.get(i) for i in ids)
        return False

    def incident_title(self, incident: Any) -> str:
        evidence = incident.evidence or {}
        if self.sees_all:
            return incident.title
        if self.source_hidden(evidence) or self.hides_any(incident.title):
            return str(
                evidence.get("redacted_title")
                or f"Incident #{incident.pk} (opened from {OTHER_TEAM_CASE})"
            )
        return incident.title

    def incident_evidence(self, evidence: dict | None) -> dict[str, Any]:
        """An incident's evidence (or an incident event's data, which has the same keys) as
        this reader may read it: samples from cases they may not see are left out and
        counted, a summary made from such a case is replaced by its redacted form."""
        evidence = dict(evidence or {})
        redacted = {k: evidence.pop(k, None) for k in REDACTED_KEYS}
        if self.sees_all:
            return evidence
        hidden = self.source_hidden(evidence)
        shown: dict[str, Any] = {}
        for key, value in evidence.items():
            if key == "sample_posts" and isinstance(value, list):
                samples = [s for s in value if isinstance(s, dict)]
                self.learn_posts(s.get("id") for s in samples)
                visible = [s for s in samples if self.posts.get(s.get("id"))]
                shown[key] = [self.data(s) for s in visible]
                if len(visible) < len(value):
                    shown["samples_in_other_teams"] = len(value) - len(visible)
            elif key == "summary" and hidden:
                shown[key] = str(redacted["redacted_summary"] or f"Opened from {OTHER_TEAM_CASE}")
            else:
                shown[key] = self.data(value)
        return shown


def sample_post_ids(data: Any) -> set[int]:
    """The ids of the sample posts in an incident's evidence (or an incident event's data)."""
    if not isinstance(data, dict):
        return set()
    samples = data.get("sample_posts") or []
    if not isinstance(samples, list):
        return set()
    return {s["id"] for s in samples if isinstance(s, dict) and isinstance(s.get("id"), int)}


#: Evidence keys kept for rendering incidents to readers who may not see the source case.
REDACTED_KEYS = ("redacted_title", "redacted_summary")
