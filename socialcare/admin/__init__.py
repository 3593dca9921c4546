"""socialcare's Django admin. Importing this package registers every model.

A host CRM with its own customer model attaches ``SocialIdentityInline`` to its customer admin.
"""

from socialcare.admin.apikeys import ApiKeyAdmin
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
from socialcare.admin.customers import CustomerAdmin, CustomerMergeAdmin, SocialIdentityAdmin
from socialcare.admin.dashboard import SupportDashboardAdmin
from socialcare.admin.inlines import CaseEventInline, PostInline, SocialIdentityInline
from socialcare.admin.outbound import OutboundDeliveryAdmin, WebhookSubscriptionAdmin
from socialcare.admin.posts import CaseEventAdmin, PostAdmin
from socialcare.admin.verification import IdentityVerificationAdmin  # noqa: F401

__all__ = [
    "ApiKeyAdmin",
    "BusinessCalendarAdmin",
    "CaseAdmin",
    "CaseEventAdmin",
    "CaseEventInline",
    "ChannelAdmin",
    "CustomerAdmin",
    "CustomerMergeAdmin",
    "DetectorAdmin",
    "IncidentAdmin",
    "IncidentStepAdmin",
    "OutboundDeliveryAdmin",
    "PlaybookAdmin",
    "PostAdmin",
    "PostInline",
    "ReplyTemplateAdmin",
    "SLAAlertAdmin",
    "SLAPolicyAdmin",
    "SocialIdentityAdmin",
    "SocialIdentityInline",
    "SupportDashboardAdmin",
    "TagAdmin",
    "TeamAdmin",
    "WebhookDeliveryAdmin",
    "WebhookSubscriptionAdmin",
]
