"""Settings values for social-auth that a host's settings module imports (no models loaded here):

from socialcare.oauth_settings import SOCIAL_AUTH_PIPELINE
"""

#: social-auth's pipeline with socialcare's three flows (customer verification, channel
#: connection, staff sign-in); see ``socialcare.pipeline``. The steps after ``admit_staff`` only
#: ever run for staff sign-in: the other flows end in socialcare's steps.
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "socialcare.pipeline.verify_customer_identity",
    "socialcare.pipeline.connect_channel",
    "socialcare.pipeline.admit_staff",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "social_core.pipeline.social_auth.associate_user",
)
