"""socialcare's Django admin. Importing this package registers every model on the site of
``SOCIALCARE["ADMIN_SITE"]`` (Django's ``admin.site`` by default); ``register(site)`` registers
them on another ``AdminSite`` as well (docs/admin-site.md).

A host CRM with its own customer model attaches ``SocialIdentityInline`` to its customer admin.
"""

from socialcare.admin.apikeys import ApiKeyAdmin
from socialcare.admin.automatic_messages import AutomaticMessageAdmin
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
from socialcare.admin.inlines import CaseEventInline, PostInline, SocialIdentityInline
from socialcare.admin.macros import MacroAdmin
from socialcare.admin.outbound import OutboundDeliveryAdmin, WebhookSubscriptionAdmin
from socialcare.admin.posts import CaseEventAdmin, PostAdmin
from socialcare.admin.privacy import PrivacyRequestAdmin
from socialcare.admin.sites import configured_site, model_admins, register
from socialcare.admin.verification import IdentityVerificationAdmin

__all__ = [
    "ApiKeyAdmin",
    "AutomaticMessageAdmin",
    "BusinessCalendarAdmin",
    "CaseAdmin",
    "CaseEventAdmin",
    "CaseEventInline",
    "ChannelAdmin",
    "CustomerAdmin",
    "CustomerMergeAdmin",
    "DetectorAdmin",
    "IdentityVerificationAdmin",
    "IncidentAdmin",
    "IncidentStepAdmin",
    "MacroAdmin",
    "OutboundDeliveryAdmin",
    "PlaybookAdmin",
    "PostAdmin",
    "PostInline",
    "PrivacyRequestAdmin",
    "ReplyTemplateAdmin",
    "SLAAlertAdmin",
    "SLAPolicyAdmin",
    "SocialIdentityAdmin",
    "SocialIdentityInline",
    "SupportDashboardAdmin",
    "SurveyAdmin",
    "TagAdmin",
    "TeamAdmin",
    "WebhookDeliveryAdmin",
    "WebhookSubscriptionAdmin",
    "configured_site",
    "model_admins",
    "register",
]

register(configured_site())
