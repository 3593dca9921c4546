"""Which admin sites socialcare lives on.

Importing ``socialcare.admin`` registers every socialcare ModelAdmin on the site named by
``SOCIALCARE["ADMIN_SITE"]`` (Django's ``admin.site`` unless the host names its own);
``register(site)`` puts them on any other ``AdminSite`` too. Every admin URL socialcare makes is
reversed through the site serving the request (``self.admin_site.name``, ``request.current_app``),
so the same pages work on every site they are registered on (see docs/admin-site.md).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite, ModelAdmin
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model
from django.http import HttpRequest

from socialcare.admin.apikeys import ApiKeyAdmin
from socialcare.admin.apps_admin import PlatformAppAdmin
from socialcare.admin.automatic_messages import AutomaticMessageAdmin
from socialcare.admin.availability import AgentStatusAdmin
from socialcare.admin.cases import CaseAdmin
from socialcare.admin.channels import ChannelAdmin, WebhookDeliveryAdmin
from socialcare.admin.config import (
    BusinessCalendarAdmin,
    ReplyTemplateAdmin,
    SLAPolicyAdmin,
    TagAdmin,
    TeamAdmin,
)
from socialcare.admin.crisis import (
    DetectorAdmin,
    IncidentAdmin,
    IncidentStepAdmin,
    PlaybookAdmin,
    SLAAlertAdmin,
)
from socialcare.admin.csat import SurveyAdmin
from socialcare.admin.customers import CustomerAdmin, CustomerMergeAdmin, SocialIdentityAdmin
from socialcare.admin.dashboard import SupportDashboardAdmin
from socialcare.admin.macros import MacroAdmin
from socialcare.admin.outbound import OutboundDeliveryAdmin, WebhookSubscriptionAdmin
from socialcare.admin.posts import CaseEventAdmin, PostAdmin
from socialcare.admin.privacy import PrivacyRequestAdmin
from socialcare.admin.verification import IdentityVerificationAdmin
from socialcare.conf import app_settings
from socialcare.models import (
    AgentStatus,
    ApiKey,
    AutomaticMessage,
    BusinessCalendar,
    Case,
    CaseEvent,
    Channel,
    Customer,
    CustomerMerge,
    Detector,
    IdentityVerification,
    Incident,
    IncidentStep,
    Macro,
    OutboundDelivery,
    PlatformApp,
    Playbook,
    Post,
    PrivacyRequest,
    ReplyTemplate,
    SLAAlert,
    SLAPolicy,
    SocialIdentity,
    SupportDashboard,
    Survey,
    Tag,
    Team,
    WebhookDelivery,
    WebhookSubscription,
    customer_model_name,
)


def model_admins() -> list[tuple[type[Model], type[ModelAdmin]]]:
    """Every model socialcare's admin shows, with its ModelAdmin. The customer model is among
    them only when it is socialcare's own: a host's customer model has the host's admin."""
    pairs: list[tuple[type[Model], type[ModelAdmin]]] = [
        (Case, CaseAdmin),
        (Post, PostAdmin),
        (CaseEvent, CaseEventAdmin),
        (SocialIdentity, SocialIdentityAdmin),
        (CustomerMerge, CustomerMergeAdmin),
        (Channel, ChannelAdmin),
        (PlatformApp, PlatformAppAdmin),
        (WebhookDelivery, WebhookDeliveryAdmin),
        (Team, TeamAdmin),
        (BusinessCalendar, BusinessCalendarAdmin),
        (SLAPolicy, SLAPolicyAdmin),
        (ReplyTemplate, ReplyTemplateAdmin),
        (Tag, TagAdmin),
        (Playbook, PlaybookAdmin),
        (Detector, DetectorAdmin),
        (Incident, IncidentAdmin),
        (IncidentStep, IncidentStepAdmin),
        (SLAAlert, SLAAlertAdmin),
        (SupportDashboard, SupportDashboardAdmin),
        (WebhookSubscription, WebhookSubscriptionAdmin),
        (OutboundDelivery, OutboundDeliveryAdmin),
        (ApiKey, ApiKeyAdmin),
        (IdentityVerification, IdentityVerificationAdmin),
        (PrivacyRequest, PrivacyRequestAdmin),
        (AutomaticMessage, AutomaticMessageAdmin),
        (Macro, MacroAdmin),
        (Survey, SurveyAdmin),
        (AgentStatus, AgentStatusAdmin),
    ]
    if customer_model_name() == "socialcare.Customer":
        pairs.append((Customer, CustomerAdmin))
    return pairs


def register(site: AdminSite) -> None:
    """Register every socialcare ModelAdmin on ``site``, as on Django's default site.

    A model already registered on ``site`` keeps its admin: register your own subclass of one
    of socialcare's admins first to use it instead, and calling ``register`` again changes
    nothing."""
    for model, model_admin in model_admins():
        if not site.is_registered(model):
            site.register(model, model_admin)


def configured_site() -> AdminSite:
    """The site of ``SOCIALCARE["ADMIN_SITE"]``: where importing ``socialcare.admin`` registers
    everything, and where links made outside an admin request point."""
    site: Any = app_settings.ADMIN_SITE
    if not isinstance(site, AdminSite):
        raise ImproperlyConfigured(
            f'SOCIALCARE["ADMIN_SITE"] must be an AdminSite instance or the dotted path of one '
            f'(such as "django.contrib.admin.site"), not {site!r}.'
        )
    return site


def site_name(request: HttpRequest | None) -> str:
    """The name (URL namespace) of the admin site serving ``request``: Django's admin views set
    ``request.current_app``; a view of one of its URLs has the namespace it matched; anything
    else links to the configured site."""
    current = getattr(request, "current_app", None)
    if current:
        return current
    match = getattr(request, "resolver_match", None)
    if match is not None and "admin" in match.app_names:
        return match.namespace
    return configured_site().name
