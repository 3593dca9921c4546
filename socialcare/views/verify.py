"""The page a verification link opens: the customer confirms, signs in with the platform."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from socialcare.services import verification as verification_services
from socialcare.views.oauth import backend_title, start


def no_referrer(view):
    """The link's token must not reach the platform in a Referer header."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapper


@never_cache
@login_not_required
@no_referrer
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what the link is for and a "Sign in with …" button. POST: off to the platform."""
    try:
        verification = verification_services.check_link(token)
    except verification_services.VerificationError as exc:
        status = 404 if exc.code == "invalid" else 410
        return render(
            request,
            "socialcare/verify/refused.html",
            {"reason": exc.code, "message": " ".join(exc.messages)},
            status=status,
        )
    if request.method == "POST":
        return start(
            request,
            verification.provider,
            {"flow": "verify", "id": verification.pk, "token": token},
        )
    return render(
        request,
        "socialcare/verify/start.html",
        {
            "verification": verification,
            "identity": verification.identity,
            "provider_title": backend_title(request, verification.provider),
        },
    )
