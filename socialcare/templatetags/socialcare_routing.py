"""``{% socialcare_status_switch %}``: the signed-in agent's status (online, away, offline) with
a switch, for the admin header (``{% block userlinks %}``). Rendering it counts as activity, so
an agent working in the admin does not go offline for inactivity."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from socialcare.models import AgentStatus
from socialcare.services.routing import record_activity, status_of

register = template.Library()


@register.inclusion_tag("socialcare/admin/routing/status_switch.html", takes_context=True)
def socialcare_status_switch(context: Any) -> dict[str, Any]:
    from socialcare.admin.sites import site_name

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return {"show": False}
    try:
        url = reverse("admin:socialcare_agentstatus_set", current_app=site_name(request))
    except NoReverseMatch:  # the site does not show socialcare
        return {"show": False}
    record_activity(user)
    current = status_of(user)
    return {
        "show": True,
        "csrf_token": context.get("csrf_token"),
        "url": url,
        "current": current,
        "choices": AgentStatus.Status.choices,
        "next": request.get_full_path(),
    }
