"""``{% staff_signin_services as services %}``: the identity providers staff may sign in with
(``SOCIALCARE["STAFF_SIGNIN_BACKENDS"]``), for a login page."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from socialcare.conf import app_settings

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_signin_services(context: Any) -> list[dict[str, str]]:
    from socialcare.views.oauth import backend_title

    request = context.get("request")
    return [
        {
            "name": name,
            "title": backend_title(request, name) if request is not None else name,
            "url": reverse("socialcare:staff-signin", args=[name]),
        }
        for name in app_settings.STAFF_SIGNIN_BACKENDS
    ]
