"""socialcare's Django admin. Importing this package registers every model.

A host CRM with its own customer model attaches ``SocialIdentityInline`` to its customer admin.
"""

from socialcare.admin.cases import CaseAdmin
from socialcare.admin.channels import ChannelAdmin, WebhookDeliveryAdmin
from socialcare.admin.config import (
    BusinessCalendarAdmin,
    ReplyTemplateAdmin,
    SLAPolicyAdmin,
    TagAdmin,
    TeamAdmin,
)
from socialcare.admin.customers import CustomerAdmin, CustomerMergeAdmin, SocialIdentityAdmin
from socialcare.admin.inlines import CaseEventInline, PostInline, SocialIdentityInline
from socialcare.admin.posts import CaseEventAdmin, PostAdmin

__all__ = [
    "BusinessCalendarAdmin",
    "CaseAdmin",
    "CaseEventAdmin",
    "CaseEventInline",
    "ChannelAdmin",
    "CustomerAdmin",
    "CustomerMergeAdmin",
    "PostAdmin",
    "PostInline",
    "ReplyTemplateAdmin",
    "SLAPolicyAdmin",
    "SocialIdentityAdmin",
    "SocialIdentityInline",
    "TagAdmin",
    "TeamAdmin",
    "WebhookDeliveryAdmin",
]
