"""Delete confirmations under the team rule.

Django's delete page and "delete selected" action list every object the deletion reaches (or that
blocks it), each named by ``str()`` with a link: deleting a channel or a customer would list the
cases of every team, their posts and events; deleting a playbook, the titles of its incidents.
``TeamRuleDeletionMixin`` lists them as the reader may read them (``services.access``): another
team's case, its posts and events, and an identity known only from such cases are counted under
"in another team" without a name or a link; an incident carries the title the reader reads.
A reader who sees every case gets Django's list unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin.utils import NestedObjects, quote
from django.db import router
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from socialcare.admin.viewer import viewer_for
from socialcare.models import Case, Incident, SocialIdentity
from socialcare.services.access import (
    OTHER_TEAM_CASE,
    Viewer,
    visible_case_ids,
    visible_identities,
)
from socialcare.services.redaction import incident_label


def _case_id(obj: Any) -> int | None:
    if isinstance(obj, Case):
        return obj.pk
    return getattr(obj, "case_id", None)


class _Hidden:
    """What of the collected objects this reader may not see, asked in three queries."""

    def __init__(self, viewer: Viewer, objects: Iterable[Any]) -> None:
        objects = list(objects)
        user = viewer.user
        case_ids = {c for c in map(_case_id, objects) if c is not None}
        self.cases = case_ids - visible_case_ids(user, case_ids)
        identity_ids = {o.pk for o in objects if isinstance(o, SocialIdentity)}
        shown = visible_identities(user, SocialIdentity.objects.filter(pk__in=identity_ids))
        self.identities = identity_ids - set(shown.values_list("pk", flat=True))
        viewer.prepare_incidents([o for o in objects if isinstance(o, Incident)])

    def __contains__(self, obj: Any) -> bool:
        if isinstance(obj, SocialIdentity):
            return obj.pk in self.identities
        return _case_id(obj) in self.cases


def deleted_objects(
    viewer: Viewer, objs: Any, request: HttpRequest, admin_site: Any
) -> tuple[list, dict, set, list]:
    """``ModelAdmin.get_deleted_objects`` as ``viewer`` may read it (see the module)."""
    try:
        first = objs[0]
    except IndexError:
        return [], {}, set(), []
    collector = NestedObjects(using=router.db_for_write(first._meta.model), origin=objs)
    collector.collect(objs)
    everything = [o for found in collector.model_objs.values() for o in found]
    hidden = _Hidden(viewer, [*everything, *collector.protected])
    perms_needed: set[str] = set()

    def label(obj: Any) -> Any:
        opts = obj._meta
        name = capfirst(opts.verbose_name)
        if obj in hidden:
            if isinstance(obj, Case):
                return f"{name}: {OTHER_TEAM_CASE}"
            where = "in" if _case_id(obj) else "known only from"
            return f"{name}: {where} {OTHER_TEAM_CASE}"
        text = incident_label(viewer, obj) if isinstance(obj, Incident) else str(obj)
        if not admin_site.is_registered(type(obj)):
            return f"{name}: {text}"
        model_admin = admin_site.get_model_admin(type(obj))
        if not model_admin.has_delete_permission(request, obj):
            perms_needed.add(opts.verbose_name)
        try:
            url = reverse(
                f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                args=(quote(obj.pk),),
            )
        except NoReverseMatch:
            return f"{name}: {text}"
        return format_html('{}: <a href="{}">{}</a>', name, url, text)

    to_delete = collector.nested(label)
    protected = [label(obj) for obj in collector.protected]
    counts = {m._meta.verbose_name_plural: len(o) for m, o in collector.model_objs.items()}
    return to_delete, counts, perms_needed, protected


class TeamRuleDeletionMixin:
    """Delete confirmations that list what the deletion reaches as the reader may read it."""

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list, dict, set, list]:
        viewer = viewer_for(request)
        if viewer.sees_all:
            return super().get_deleted_objects(objs, request)  # type: ignore[misc]
        return deleted_objects(viewer, objs, request, self.admin_site)  # type: ignore[attr-defined]
