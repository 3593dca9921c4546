"""The social identity page's "Possibly the same person" panel: the suggestions of
``services.identity_suggestions`` with their reasons, and a one-click link for each (a POST to
``<identity>/link-suggestion/<other>/`` that calls ``services.customers.link_identity`` through
``link_suggested``). Nothing is ever linked without that click."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from socialcare.models import SocialIdentity, customer_display_name
from socialcare.services.identity_suggestions import link_plan, link_suggested, possibly_same_person

_FIELD = "_socialcare_suggestions_field"


class IdentitySuggestionsMixin:
    """For ``SocialIdentityAdmin``: the panel (a read-only field of the change page, made per
    request so it knows who reads it) and the link view."""

    admin_site: Any
    model: type[SocialIdentity]
    get_object: Callable[..., Any]
    has_change_permission: Callable[..., bool]
    message_user: Callable[..., None]
    admin_view_name = "socialcare_socialidentity_link_suggestion"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = list(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        if obj is not None and obj.pk is not None:
            fields.append(self._suggestions_field(request))
        return fields

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(require_POST(self.link_suggestion_view))
        mine = [
            path(
                "<path:object_id>/link-suggestion/<int:identity>/", view, name=self.admin_view_name
            )
        ]
        return mine + super().get_urls()  # type: ignore[misc]

    # The panel ---------------------------------------------------------------------------------
    def _suggestions_field(self, request: HttpRequest) -> Callable[[SocialIdentity], str]:
        # One function per request: the admin compares the fields it lists by identity.
        field = getattr(request, _FIELD, None)
        if field is not None:
            return field

        def possibly_the_same_person(identity: SocialIdentity) -> str:
            return self.render_suggestions(request, identity)

        possibly_the_same_person.short_description = "possibly the same person"  # type: ignore[attr-defined]
        setattr(request, _FIELD, possibly_the_same_person)
        return possibly_the_same_person

    def render_suggestions(self, request: HttpRequest, identity: SocialIdentity) -> str:
        found = possibly_same_person(identity, user=request.user)
        if not found:
            return "No other identity looks like the same person."
        may_link = self.has_change_permission(request, identity)
        rows = []
        for suggestion in found:
            other = suggestion.identity
            url = reverse(
                "admin:socialcare_socialidentity_change",
                args=[other.pk],
                current_app=self.admin_site.name,
            )
            customer = customer_display_name(other.customer) if other.customer_id else ""
            rows.append(
                (
                    url,
                    str(other),
                    suggestion.text,
                    f"customer: {customer}" if customer else "no customer yet",
                    self._link_button(request, identity, other) if may_link else "",
                )
            )
        items = format_html_join("", '<li><a href="{}">{}</a>: {} ({}) {}</li>', rows)
        return format_html(
            '<ul class="socialcare-suggestions">{}</ul><p class="help">Never linked '
            "automatically: check the reason, then link.</p>",
            items,
        )

    def _link_button(self, request: HttpRequest, identity: SocialIdentity, other: Any) -> str:
        try:
            moving, customer = link_plan(identity, other)
        except ValidationError as exc:
            return format_html('<span class="help">{}</span>', " ".join(exc.messages))
        action = reverse(
            f"admin:{self.admin_view_name}",
            args=[identity.pk, other.pk],
            current_app=self.admin_site.name,
        )
        name = customer_display_name(customer)
        label = f"Link to {name}" if moving.pk == identity.pk else f"Link {other} to {name}"
        # Inside the change form: ``formaction`` posts the form (and its CSRF token) to the view.
        return format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post" '
            "formnovalidate>{}</button>",
            action,
            label,
        )

    # The link ----------------------------------------------------------------------------------
    def link_suggestion_view(
        self, request: HttpRequest, object_id: str, identity: int
    ) -> HttpResponse:
        """Link the page's identity (``object_id``) and the suggested one (``identity``, its
        id) to one customer, if that one is still suggested to this user."""
        asked = self.get_object(request, unquote(object_id))
        if asked is None:
            raise Http404("No such social identity.")
        if not self.has_change_permission(request, asked):
            raise PermissionDenied
        back = reverse(
            "admin:socialcare_socialidentity_change",
            args=[asked.pk],
            current_app=self.admin_site.name,
        )
        suggested = {
            s.identity.pk: s.identity for s in possibly_same_person(asked, user=request.user)
        }
        other = suggested.get(identity)
        if other is None:
            self.message_user(
                request,
                "That identity is not suggested as the same person (any more): nothing was "
                "linked. Link it from its own page if you are sure.",
                messages.ERROR,
            )
            return HttpResponseRedirect(back)
        try:
            moved = link_suggested(asked, other, actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(
            request,
            f"{moved} is now linked to {customer_display_name(moved.customer)}; its cases of "
            "no customer (or of its previous one) followed it.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(back)
