"""socialcare's URLs. Include them under a prefix of your choice::

path("socialcare/", include("socialcare.urls")),

Webhooks: ``webhooks/<platform>/<channel id>/`` (one channel) and
``webhooks/<platform>/app/<app key>/`` (every account of an X or Meta app). Besides webhooks and
the API: the customer verification page (``verify/<token>/``), staff
sign-in (``signin/<backend>/``) and the OAuth callback of every socialcare sign-in flow
(``oauth/complete/<backend>/``: the redirect URI to register with each provider).
"""

from django.urls import include, path

from socialcare import health, webhooks
from socialcare.views import csat, oauth, verify

app_name = "socialcare"

urlpatterns = [
    path("webhooks/<str:platform>/<int:channel_id>/", webhooks.webhook, name="webhook"),
    path("webhooks/<str:platform>/app/<slug:app_key>/", webhooks.app_webhook, name="app-webhook"),
    path("api/", include("socialcare.api.urls")),
    path("verify/<str:token>/", verify.verify, name="verify"),
    path("csat/<str:token>/", csat.survey, name="csat"),
    path("signin/<str:backend>/", oauth.staff_begin, name="staff-signin"),
    path("oauth/complete/<str:backend>/", oauth.complete, name="oauth-complete"),
    path("health/", health.health, name="health"),
]
