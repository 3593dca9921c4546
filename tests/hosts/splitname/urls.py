"""The CRM's URLs: its staff work on its own admin site at ``/crm/`` (socialcare's pages
included); Django's default site stays at ``/admin/``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from tests.hosts.splitname.sites import crm_site

urlpatterns = [
    path("crm/", crm_site.urls),
    path("admin/", admin.site.urls),
    path("socialcare/", include("socialcare.urls")),
]
