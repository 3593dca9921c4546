"""socialcare's URLs. Include them under a prefix of your choice::

path("socialcare/", include("socialcare.urls")),
"""

from django.urls import include, path

from socialcare import webhooks

app_name = "socialcare"

urlpatterns = [
    path("webhooks/<str:platform>/<int:channel_id>/", webhooks.webhook, name="webhook"),
    path("api/", include("socialcare.api.urls")),
]
