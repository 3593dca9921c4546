"""The CRM's admin site for its staff, in a module of its own (no admin imports) so that
``SOCIALCARE["ADMIN_SITE"]`` can name it: ``tests.hosts.splitname.sites.crm_site``."""

from __future__ import annotations

from django.contrib.admin import AdminSite


class CRMSite(AdminSite):
    site_header = "Splitname CRM"
    site_title = "CRM"
    index_title = "Work"


crm_site = CRMSite(name="crm")
