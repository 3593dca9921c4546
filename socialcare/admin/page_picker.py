"""Choosing the Facebook Page of a channel after Facebook Login (``services.page_tokens``).

``begin`` answers the OAuth callback (``pipeline.connect_channel``): it keeps the pending pick
in the admin's session and sends them to ``pick_page``, a page listing the Pages they manage,
the channel's own first and preselected, the others shown with the reason they cannot be
picked (another Page, tasks missing). Posting the choice stores that Page's token.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import Channel
from socialcare.services import page_tokens


def urls(model_admin: Any) -> list:
    """The picker's URL, for ``ChannelAdmin.get_urls``."""

    def view(request: HttpRequest, object_id: str) -> HttpResponse:
        return pick_page(model_admin, request, object_id)

    return [
        path(
            "<path:object_id>/facebook-page/",
            model_admin.admin_site.admin_view(view),
            name="socialcare_channel_pick_page",
        )
    ]


def begin(
    request: HttpRequest, flow: dict, channel: Channel, backend: Any, uid: Any, response: dict
) -> HttpResponse:
    """After Facebook Login: list the person's Pages, keep the pick in the session, go to the
    picker; or back to the channel with the reason nothing was stored."""
    from socialcare.pipeline import channel_admin_url

    site = str(flow.get("site") or app_settings.ADMIN_SITE.name)
    app_id, app_secret = backend.get_key_and_secret()
    try:
        pending = page_tokens.begin(
            channel,
            backend_name=backend.name,
            uid=str(uid),
            user_token=str(response.get("access_token") or ""),
            app_id=str(app_id or ""),
            app_secret=str(app_secret or ""),
            actor=request.user,
        )
    except SocialCareError as exc:
        request.session.pop(page_tokens.PENDING_KEY, None)
        messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(channel_admin_url(flow, channel.pk))
    request.session[page_tokens.PENDING_KEY] = pending
    url = reverse("admin:socialcare_channel_pick_page", args=[channel.pk], current_app=site)
    return HttpResponseRedirect(url)


def pick_page(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: the Pages to choose from. POST ``page``: store its token, back to the channel."""
    channel = model_admin.get_object(request, object_id)
    if channel is None:
        raise Http404("No such channel.")
    if not model_admin.has_change_permission(request, channel):
        raise PermissionDenied
    site = model_admin.admin_site.name
    back = reverse("admin:socialcare_channel_change", args=[channel.pk], current_app=site)
    try:
        pending = page_tokens.pending_for(
            channel, request.session.get(page_tokens.PENDING_KEY), actor=request.user
        )
    except SocialCareError as exc:
        request.session.pop(page_tokens.PENDING_KEY, None)
        model_admin.message_user(request, " ".join(exc.messages), messages.ERROR)
        return HttpResponseRedirect(back)
    status = 200
    if request.method == "POST":
        page_id = str(request.POST.get("page") or "").strip()
        if not page_id:
            model_admin.message_user(request, "Choose a Page.", messages.ERROR)
            status = 400
        else:
            try:
                chosen = page_tokens.choose(channel, pending, page_id, actor=request.user)
            except SocialCareError as exc:
                model_admin.message_user(request, " ".join(exc.messages), messages.ERROR)
                status = 400
            else:
                request.session.pop(page_tokens.PENDING_KEY, None)
                model_admin.message_user(
                    request,
                    f"{channel} is connected to the Facebook Page {chosen.name} ({chosen.id}). "
                    "Its Page access token is stored encrypted; it does not expire.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
    options = page_tokens.choices(channel, pending)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Choose the Facebook Page of {channel}",
        "opts": Channel._meta,
        "original": channel,
        "choices": options,
        "selected": next((c.id for c in options if c.is_channels and not c.refusal), ""),
        "required": sorted(page_tokens.required_tasks(channel)),
        "back": back,
    }
    return TemplateResponse(request, "socialcare/channel/page_picker.html", context, status=status)
