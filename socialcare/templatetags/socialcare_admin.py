"""``{% sc_breadcrumbs title %}``: the breadcrumbs of socialcare's own admin pages, in the markup
of the running Django's admin (its stylesheet styles only that one)."""

from __future__ import annotations

from typing import Any

import django
from django import template
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext

register = template.Library()

#: Django 6.1's admin renders breadcrumbs as ``<ol class="breadcrumbs">`` of ``<li>``s (and styles
#: only ``ol.breadcrumbs``); 5.2 and 6.0 as ``<div class="breadcrumbs">`` separated by "›" (and
#: style only ``div.breadcrumbs``). No markup works with both stylesheets, hence the version test.
BREADCRUMBS_AS_LIST = django.VERSION >= (6, 1)


@register.inclusion_tag("socialcare/admin/breadcrumbs.html", takes_context=True)
def sc_breadcrumbs(
    context: Any, current: str, app_list: bool = True, changelist: bool = True
) -> dict[str, Any]:
    """Home › the app › the model's list › ``current``; ``app_list=False`` or
    ``changelist=False`` leave those out. Needs ``opts`` (the model's ``_meta``) in the context."""
    from socialcare.admin.sites import site_name

    opts = context["opts"]
    current_app = site_name(context.get("request"))
    crumbs = [(reverse("admin:index", current_app=current_app), gettext("Home"))]
    if app_list:
        url = reverse(
            "admin:app_list", kwargs={"app_label": opts.app_label}, current_app=current_app
        )
        crumbs.append((url, opts.app_config.verbose_name))
    if changelist:
        url = reverse(admin_urlname(opts, "changelist"), current_app=current_app)
        crumbs.append((url, capfirst(opts.verbose_name_plural)))
    return {"crumbs": crumbs, "current": current, "as_list": BREADCRUMBS_AS_LIST}
