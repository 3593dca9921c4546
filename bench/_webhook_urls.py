"""The benchmark server's URLs: the demo project's, plus the reference view."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from project.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def floor(request: HttpRequest, platform: str, channel_id: int) -> HttpResponse:
    """The server floor: same routing depth, middleware and body read, no work at all."""
    request.read()
    return JsonResponse({"status": "accepted", "delivery": 0})


urlpatterns = [
    path("bench/floor/<str:platform>/<int:channel_id>/", floor, name="bench-floor"),
    *project_urlpatterns,
]
