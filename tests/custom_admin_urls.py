"""URLs of a host that mounts its own admin site at ``/staff/`` beside Django's at ``/admin/``,
with socialcare registered on both (``socialcare.admin.register``)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

import socialcare.admin
from tests.custom_admin_site import staff_site
from tests.testapp.admin import ContactAdmin
from tests.testapp.models import Contact

socialcare.admin.register(staff_site)
if not staff_site.is_registered(Contact):
    staff_site.register(Contact, ContactAdmin)

urlpatterns = [
    path("staff/", staff_site.urls),
    path("admin/", admin.site.urls),
    path("socialcare/", include("socialcare.urls")),
]
