"""A host CRM's own admin site for its staff, in a module of its own (no admin imports), so
``SOCIALCARE["ADMIN_SITE"]`` can name it: ``tests.custom_admin_site.staff_site``.

The host serves superusers on ``django.contrib.admin.site`` (``/admin/``) and everyone else on
this site (``/staff/``, see ``tests.custom_admin_urls``)."""

from __future__ import annotations

from django.contrib.admin import AdminSite


class StaffAdminSite(AdminSite):
    site_header = "Acme CRM"
    site_title = "Acme CRM staff"
    index_title = "Work"


staff_site = StaffAdminSite(name="crm_admin")
