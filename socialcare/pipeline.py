"""social-auth pipeline steps for socialcare's three sign-in flows.

Use ``PIPELINE`` as ``SOCIAL_AUTH_PIPELINE``. Which flow a callback belongs to is bound in the
session by the view that started it (``socialcare.views.oauth.start``):

- customer identity verification (``verify_customer_identity``) and channel connection
  (``connect_channel``) answer the callback themselves with a page or a redirect, so the
  pipeline stops there: the customer never becomes a Django user and no ``UserSocialAuth`` row
  (whose ``extra_data`` is plain JSON) is written with platform tokens;
- anything else is a staff sign-in: ``admit_staff`` refuses backends not in
  ``SOCIALCARE["STAFF_SIGNIN_BACKENDS"]`` and people who are neither active staff nor of an
  allowed domain; the rest of the pipeline associates the account and signs the user in.
  ``load_extra_data`` is left out on purpose: socialcare needs none of the tokens.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import Channel
from socialcare.oauth_settings import SOCIAL_AUTH_PIPELINE
from socialcare.services import channel_oauth, page_tokens
from socialcare.services import verification as verification_services

logger = logging.getLogger("socialcare.signin")

#: The session key holding the flow a view started: {"flow": "verify"|"connect"|"staff", ...}.
FLOW_KEY = "socialcare_oauth_flow"

#: The pipeline to use as ``SOCIAL_AUTH_PIPELINE`` (defined where settings can import it).
PIPELINE = SOCIAL_AUTH_PIPELINE


def _flow(strategy: Any, backend: Any, kind: str) -> dict | None:
    """The flow of ``kind`` started for this backend, taken out of the session (one use)."""
    flow = strategy.session_get(FLOW_KEY)
    if not isinstance(flow, dict) or flow.get("flow") != kind:
        return None
    if flow.get("backend") != backend.name:
        return None
    strategy.session_pop(FLOW_KEY)
    return flow


def verify_customer_identity(
    strategy: Any, backend: Any, uid: Any, details: dict, *args: Any, **kwargs: Any
) -> HttpResponse | None:
    """Match the signed-in platform account to the verification's identity; answer with the
    outcome page. Does nothing outside a verification flow."""
    flow = _flow(strategy, backend, "verify")
    if flow is None:
        return None
    request = strategy.request
    try:
        verification = verification_services.complete(
            int(flow["id"]),
            provider=backend.name,
            uid=str(uid),
            handle=str(details.get("username") or ""),
        )
    except verification_services.VerificationError as exc:
        return render(
            request,
            "socialcare/verify/refused.html",
            {"reason": exc.code, "message": " ".join(exc.messages), "token": flow.get("token")},
            status=403 if exc.code == "mismatch" else 410,
        )
    return render(request, "socialcare/verify/done.html", {"verification": verification})


def connect_channel(
    strategy: Any,
    backend: Any,
    uid: Any,
    details: dict,
    response: dict,
    *args: Any,
    user: Any = None,
    **kwargs: Any,
) -> HttpResponse | None:
    """Store the brand account's tokens on the channel an admin is connecting; answer with a
    redirect to the channel. Does nothing outside a channel-connection flow."""
    flow = _flow(strategy, backend, "connect")
    if flow is None:
        return None
    request = strategy.request
    channel = Channel.objects.filter(pk=flow.get("id")).first()
    if channel is None:
        messages.error(request, "The channel being connected no longer exists.")
        return HttpResponseRedirect(channel_admin_url(flow))
    target = channel_admin_url(flow, channel.pk)
    if (
        user is None
        or not user.is_authenticated
        or str(user.pk) != str(flow.get("user"))
        or not user.has_perm("socialcare.change_channel")
    ):
        messages.error(request, "Sign in to admin as the person who started the connection.")
        return HttpResponseRedirect(target)
    if page_tokens.uses_page_tokens(channel, backend):  # a Page's token, not the person's
        from socialcare.admin.page_picker import begin

        return begin(request, flow, channel, backend, uid, response)
    try:
        channel_oauth.connect(
            channel,
            backend_name=backend.name,
            uid=str(uid),
            handle=str(details.get("username") or ""),
            response=response,
            actor=user,
        )
    except SocialCareError as exc:
        messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(target)
    messages.success(
        request,
        f"{channel} is connected through {backend.name}. Its tokens are stored encrypted.",
    )
    return HttpResponseRedirect(target)


def channel_admin_url(flow: dict, channel_id: Any = None) -> str:
    """The channel's admin page (or the channel list), on the admin site the connection was
    started from (the flow remembers it), else on ``SOCIALCARE["ADMIN_SITE"]``."""
    site = str(flow.get("site") or app_settings.ADMIN_SITE.name)
    if channel_id is None:
        return reverse("admin:socialcare_channel_changelist", current_app=site)
    return reverse("admin:socialcare_channel_change", args=[channel_id], current_app=site)


def refuse_staff(request: Any, message: str) -> HttpResponse:
    # Staff sign-in is not an admin request: back to the login page of the configured site.
    login_url = reverse("admin:login", current_app=app_settings.ADMIN_SITE.name)
    context = {"message": message, "login_url": login_url}
    return render(request, "socialcare/signin/refused.html", context, status=403)


def admit_staff(
    strategy: Any,
    backend: Any,
    uid: Any,
    details: dict,
    response: dict,
    *args: Any,
    user: Any = None,
    **kwargs: Any,
) -> dict | HttpResponse:
    """Admit a staff sign-in: the backend must be one of ``STAFF_SIGNIN_BACKENDS``; the person an
    account already linked to an active staff user, an active staff user with the (verified)
    e-mail address, or someone of ``STAFF_ALLOWED_DOMAINS`` (a staff account is created, with
    no permissions but those of ``STAFF_DEFAULT_GROUP``). Everyone else gets a refusal page."""
    request = strategy.request
    strategy.session_pop(FLOW_KEY)
    if backend.name not in app_settings.STAFF_SIGNIN_BACKENDS:
        return refuse_staff(request, "This sign-in service is not open for staff sign-in.")
    social = strategy.storage.user.get_social_auth(backend.name, str(uid))
    if social is not None:
        linked = social.user
        if linked.is_active and linked.is_staff:
            return {"user": linked}
        return refuse_staff(request, "Your account is not allowed to sign in to the admin.")
    email = str(details.get("email") or "").strip().lower()
    if not email or "@" not in email or response.get("email_verified") is False:
        return refuse_staff(
            request, "Your identity provider did not confirm an e-mail address for you."
        )
    User = get_user_model()
    email_field = User.get_email_field_name()
    users = list(User.objects.filter(**{f"{email_field}__iexact": email})[:2])
    if len(users) == 1:
        found = users[0]
        if found.is_active and found.is_staff:
            logger.info("Staff user %s signed in through %s", found.pk, backend.name)
            return {"user": found}
        return refuse_staff(request, "Your account is not allowed to sign in to the admin.")
    if len(users) > 1:
        return refuse_staff(
            request, "Several accounts use your e-mail address; ask an administrator."
        )
    domain = email.rsplit("@", 1)[1]
    allowed = {d.lower().lstrip("@") for d in app_settings.STAFF_ALLOWED_DOMAINS}
    if domain not in allowed:
        return refuse_staff(
            request,
            "There is no staff account for your e-mail address. Ask an administrator to "
            "create one.",
        )
    created = _create_staff(email, details)
    logger.info("Created staff user %s on first sign-in through %s", created.pk, backend.name)
    return {"user": created, "is_new": True}


def _create_staff(email: str, details: dict) -> Any:
    User = get_user_model()
    username_field = User.USERNAME_FIELD
    base = email[: User._meta.get_field(username_field).max_length or 150]
    username, n = base, 1
    while User.objects.filter(**{username_field: username}).exists():
        n += 1
        username = f"{base[:140]}-{n}"
    fields = {username_field: username, User.get_email_field_name(): email}
    for name in ("first_name", "last_name"):
        if details.get(name) and any(f.name == name for f in User._meta.get_fields()):
            fields[name] = str(details[name])[:150]
    user = User.objects.create_user(**fields, password=None)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    group = Group.objects.filter(name=app_settings.STAFF_DEFAULT_GROUP).first()
    if group is not None and hasattr(user, "groups"):
        user.groups.add(group)
    return user
