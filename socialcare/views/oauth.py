"""Starting and completing socialcare's OAuth flows on top of social-auth.

socialcare starts every flow itself (``start``) and answers every provider callback itself
(``complete``, ``/socialcare/oauth/complete/<backend>/``, the redirect URI to register with each
provider): the view that starts a flow binds it in the session, and a failure (declined consent,
a provider error, an expired state) ends on a clear page instead of an exception.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, login
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from social_core.actions import do_auth, do_complete
from social_core.exceptions import AuthCanceled, AuthConfigurationError, SocialAuthBaseException

from socialcare.conf import app_settings
from socialcare.models import IdentityVerification
from socialcare.pipeline import FLOW_KEY, channel_admin_url, refuse_staff
from socialcare.services import verification as verification_services

logger = logging.getLogger("socialcare.signin")

FLOW_STEPS = {
    "verify": "socialcare.pipeline.verify_customer_identity",
    "connect": "socialcare.pipeline.connect_channel",
}


def _backend(request: HttpRequest, name: str) -> Any:
    # Imported here: social_django's module needs its app installed, socialcare's URLs do not.
    from social_django.utils import load_strategy

    strategy = load_strategy(request)
    try:
        return strategy.get_backend(
            name, redirect_uri=reverse("socialcare:oauth-complete", args=[name])
        )
    except AuthConfigurationError as exc:
        raise Http404("No such sign-in service.") from exc


def backend_title(request: HttpRequest, name: str) -> str:
    """How a sign-in service is named to people: ``SOCIAL_AUTH_<BACKEND>_TITLE`` when set, else
    the backend's own title ("X", "Mastodon", "OpenID Connect", ...)."""
    try:
        backend = _backend(request, name)
    except Http404:
        return name
    return str(backend.setting("TITLE") or backend.get_title(backend.strategy))


def start(request: HttpRequest, backend_name: str, flow: dict) -> HttpResponse:
    """Bind ``flow`` to this browser's session and send it to the provider."""
    backend = _backend(request, backend_name)
    pipeline = backend.strategy.get_pipeline(backend)
    if flow["flow"] in ("verify", "connect") and FLOW_STEPS[flow["flow"]] not in pipeline:
        # Without socialcare's step the default pipeline would make the customer a Django user.
        raise ImproperlyConfigured(
            f"SOCIAL_AUTH_PIPELINE must include {FLOW_STEPS[flow['flow']]!r} "
            "(use socialcare.pipeline.PIPELINE; see docs/verification.md)."
        )
    request.session[FLOW_KEY] = {**flow, "backend": backend_name}
    return do_auth(backend, redirect_name=REDIRECT_FIELD_NAME)


def _login(backend: Any, user: Any, social_user: Any) -> None:
    user.backend = f"{backend.__module__}.{backend.__class__.__name__}"
    login(backend.strategy.request, user)


@never_cache
@login_not_required
@csrf_exempt  # the provider's redirect; the OAuth state parameter protects it
@require_GET
def complete(request: HttpRequest, backend: str) -> HttpResponse:
    """The provider's redirect back: run the pipeline; on failure, the flow's own error page."""
    backend_obj = _backend(request, backend)
    flow = request.session.get(FLOW_KEY)
    try:
        return do_complete(
            backend_obj,
            _login,
            user=request.user,
            redirect_name=REDIRECT_FIELD_NAME,
            request=request,
        )
    except SocialAuthBaseException as exc:
        request.session.pop(FLOW_KEY, None)
        logger.warning("Sign-in through %s failed: %s", backend, type(exc).__name__)
        return _failed(request, flow if isinstance(flow, dict) else {}, backend, exc)


def _failed(request: HttpRequest, flow: dict, backend: str, exc: Exception) -> HttpResponse:
    cancelled = isinstance(exc, AuthCanceled)
    if flow.get("flow") == "verify":
        reason = (
            "The customer declined to sign in."
            if cancelled
            else f"Signing in failed ({type(exc).__name__})."
        )
        outcome = (
            IdentityVerification.Outcome.DENIED
            if cancelled
            else IdentityVerification.Outcome.FAILED
        )
        verification_services.record_failure(int(flow["id"]), outcome=outcome, reason=reason)
        message = (
            "You cancelled signing in, so we could not confirm your account. Nothing was "
            "changed. You can open the link again to retry."
            if cancelled
            else "Signing in did not work, so we could not confirm your account. Nothing was "
            "changed. You can open the link again to retry."
        )
        return render(
            request,
            "socialcare/verify/refused.html",
            {
                "reason": "denied" if cancelled else "failed",
                "message": message,
                "token": flow.get("token"),
            },
            status=400,
        )
    if flow.get("flow") == "connect":
        messages.error(
            request,
            "The channel was not connected: "
            + (
                "consent was declined."
                if cancelled
                else f"signing in failed ({type(exc).__name__})."
            ),
        )
        return HttpResponseRedirect(channel_admin_url(flow, flow.get("id")))
    return refuse_staff(
        request,
        "You cancelled signing in." if cancelled else f"Signing in failed ({type(exc).__name__}).",
    )


@never_cache
@login_not_required
@require_POST
def staff_begin(request: HttpRequest, backend: str) -> HttpResponse:
    """Staff sign-in through the company's identity provider (a POST from the admin login page)."""
    if backend not in app_settings.STAFF_SIGNIN_BACKENDS:
        raise Http404("No such sign-in service.")
    return start(request, backend, {"flow": "staff"})
