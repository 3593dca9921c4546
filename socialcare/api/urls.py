"""API routes, included by ``socialcare.urls`` under ``api/``: ``v1/`` resources, ``schema/``
(OpenAPI 3), ``docs/`` (Swagger UI) and ``redoc/``."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from socialcare.api import (
    apikeys,
    automatic_messages,
    availability,
    cases,
    channels,
    crisis,
    csat,
    events,
    macros,
    moderation,
    people,
    platform_apps,
    privacy,
)
from socialcare.api.schema import RedocView, SchemaView, SwaggerView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
cases.register(router)
moderation.register(router)
people.register(router)
crisis.register(router)
privacy.register(router)
apikeys.register(router)
automatic_messages.register(router)
csat.register(router)
macros.register(router)
availability.register(router)

urlpatterns = [
    path("v1/", include(router.urls)),
    # Staff sessions only, not API keys: see socialcare.api.platform_apps and .channels.
    path("v1/", include(platform_apps.urlpatterns)),
    path("v1/", include(channels.urlpatterns)),
    path("v1/", include(macros.urlpatterns)),
    path(
        "v1/customers/<str:pk>/export/",
        privacy.CustomerExportView.as_view(),
        name="customer-export",
    ),
    path(
        "v1/customers/<str:pk>/erase/", privacy.CustomerEraseView.as_view(), name="customer-erase"
    ),
    path("v1/events/", events.EventFeedView.as_view(), name="event-feed"),
    path("v1/me/status/", availability.MyStatusView.as_view(), name="agent-status"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="socialcare:api-schema"), name="api-docs"),
    path("redoc/", RedocView.as_view(url_name="socialcare:api-schema"), name="api-redoc"),
]
