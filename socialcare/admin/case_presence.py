"""The case page's presence endpoint and collision guard (docs/case-page.md, "Who else is here"
and "Replying while someone else does").

``<case>/presence/``: GET answers who else has the page open and who is typing (and, with
``?since=<the page's time>``, what was recorded on the case since); POST reports this agent's
page (``typing=1`` while typing, ``leaving=1`` when the page closes) and answers the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods

from socialcare.models import Case
from socialcare.services import presence
from socialcare.services.access import can_see_case
from socialcare.services.collision import Changes, changes_since

COLLISION_MESSAGE = (
    "Not sent yet: the conversation changed while you were writing (see “New since you opened "
    "this case” below). Your reply is kept; tick “Send my reply anyway” and send again, or edit "
    "it first."
)


def parse_moment(raw: str | None) -> dt.datetime | None:
    """An ISO 8601 date-time from a form or a query string; None when empty or not one. A time
    without a zone is read in the current time zone."""
    if not raw:
        return None
    raw = raw.strip()
    # An unencoded "+01:00" in a query string arrives as " 01:00".
    candidates = [raw, "+".join(raw.rsplit(" ", 1))] if " " in raw else [raw]
    value = None
    for candidate in candidates:
        try:
            value = parse_datetime(candidate)
        except ValueError:
            value = None
        if value is not None:
            break
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def reply_since(post: Any) -> dt.datetime | None:
    """The time the reply form says its writer last read the case: the page's time, moved on to
    the time of the page that showed the changes when the writer ticked "send anyway"."""
    seen = parse_moment(post.get("seen_at"))
    confirmed = parse_moment(post.get("confirm_changes")) if post.get("confirm_changes") else None
    if seen is None:
        return confirmed
    return max(seen, confirmed) if confirmed else seen


def collision_draft(changes: Changes) -> dict[str, Any]:
    """What the page shows above the kept reply after a refused send (kept in the session)."""
    return {
        "changes": [{**c.as_dict(), "label": c.label} for c in changes.items],
        "changes_count": changes.count,
        "seen_at": changes.since.isoformat(),
    }


class CasePresenceMixin:
    """Adds ``<case>/presence/`` to ``CaseAdmin`` and the presence facts to the case page."""

    def presence_urls(self) -> list:
        view = require_http_methods(["GET", "POST"])(self._presence_view)
        return [
            path(
                "<path:object_id>/presence/",
                self.admin_site.admin_view(view),
                name="socialcare_case_presence",
            )
        ]

    def presence_context(self, request: HttpRequest, case: Case, now: dt.datetime) -> dict:
        url = reverse(
            "admin:socialcare_case_presence", args=[case.pk], current_app=self.admin_site.name
        )
        others = presence.others_on(case, request.user, now=now)
        return {
            "sc_presence_url": url,
            "sc_presence": others,
            "sc_presence_typing": [other for other in others if other.typing],
            "sc_presence_poll_ms": presence.poll_interval_ms(),
            "sc_page_time": now.isoformat(),
        }

    def _presence_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        pk = unquote(object_id)
        case = Case.objects.filter(pk=int(pk)).first() if pk.isdigit() else None
        if case is None or not can_see_case(request.user, case):
            raise Http404("No such case.")
        if not self.has_view_or_change_permission(request, case):
            raise PermissionDenied
        since = None
        if request.GET.get("since"):
            since = parse_moment(request.GET["since"])
            if since is None:
                return JsonResponse({"error": "since must be an ISO 8601 date-time"}, status=400)
        if request.method == "POST":
            if request.POST.get("leaving"):
                presence.leave(case, request.user)
                return JsonResponse({"left": True})
            presence.heartbeat(case, request.user, typing=bool(request.POST.get("typing")))
        body: dict[str, Any] = {
            "others": [p.as_dict() for p in presence.others_on(case, request.user)],
            "poll_ms": presence.poll_interval_ms(),
        }
        if since is not None:
            body["changed"] = changes_since(case, since, user=request.user).as_dict()
        return JsonResponse(body)


def refuse_stale_reply(
    admin: Any, request: HttpRequest, changes: Changes, keep: Callable[..., None]
) -> None:
    """Tell the agent the conversation moved on and keep what they typed with the changes."""
    keep(**collision_draft(changes))
    admin.message_user(request, COLLISION_MESSAGE, messages.WARNING)
