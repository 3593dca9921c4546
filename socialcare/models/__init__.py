"""socialcare's domain model: one module per concept (see DESIGN.md, "Domain model")."""

from socialcare.models.apikey import ApiKey
from socialcare.models.automatic_message import AutomaticMessage
from socialcare.models.availability import AgentStatus, AssignmentWait
from socialcare.models.case import Case, CustomerMerge, SupportDashboard, Tag
from socialcare.models.change import ChangeCounter
from socialcare.models.channel import SECRET_NAMES, Channel
from socialcare.models.choices import Priority, Visibility
from socialcare.models.crisis import (
    Detector,
    DetectorCount,
    Incident,
    IncidentEvent,
    IncidentStep,
    Playbook,
    PlaybookStep,
    Severity,
    SLAAlert,
)
from socialcare.models.csat import Survey, SurveyMode
from socialcare.models.customer import (
    AbstractCustomer,
    Customer,
    customer_display_name,
    customer_email,
    customer_model_name,
    get_customer_model,
)
from socialcare.models.delivery import WebhookDelivery
from socialcare.models.event import CaseEvent
from socialcare.models.identity import SocialIdentity
from socialcare.models.macro import Macro, MacroAction
from socialcare.models.outbound import (
    EVENT_TYPES,
    OutboundDelivery,
    OutboundEvent,
    WebhookSubscription,
)
from socialcare.models.platform_app import APP_SECRET_NAMES, PlatformApp
from socialcare.models.post import Post
from socialcare.models.presence import CasePresence
from socialcare.models.privacy import PrivacyRequest
from socialcare.models.replay import DeliveryFingerprint
from socialcare.models.sla import BusinessCalendar, BusinessHours, SLAPolicy
from socialcare.models.team import Team, TeamMembership
from socialcare.models.template import ReplyTemplate
from socialcare.models.verification import IdentityVerification

__all__ = [
    "APP_SECRET_NAMES",
    "EVENT_TYPES",
    "SECRET_NAMES",
    "AbstractCustomer",
    "AgentStatus",
    "ApiKey",
    "AssignmentWait",
    "AutomaticMessage",
    "BusinessCalendar",
    "BusinessHours",
    "Case",
    "CaseEvent",
    "CasePresence",
    "ChangeCounter",
    "Channel",
    "Customer",
    "CustomerMerge",
    "DeliveryFingerprint",
    "Detector",
    "DetectorCount",
    "IdentityVerification",
    "Incident",
    "IncidentEvent",
    "IncidentStep",
    "Macro",
    "MacroAction",
    "OutboundDelivery",
    "OutboundEvent",
    "PlatformApp",
    "Playbook",
    "PlaybookStep",
    "Post",
    "Priority",
    "PrivacyRequest",
    "ReplyTemplate",
    "SLAAlert",
    "SLAPolicy",
    "Severity",
    "SocialIdentity",
    "SupportDashboard",
    "Survey",
    "SurveyMode",
    "Tag",
    "Team",
    "TeamMembership",
    "Visibility",
    "WebhookDelivery",
    "WebhookSubscription",
    "customer_display_name",
    "customer_email",
    "customer_model_name",
    "get_customer_model",
]
