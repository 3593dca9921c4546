"""The case page's moderation actions: hide, unhide and delete a customer's comment on the
platform (docs/moderation.md). Mixed into the case workspace; each is a POST to its own URL that
calls ``services.moderation`` and redirects back to the page with what the platform answered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from socialcare.models import Case, Post
from socialcare.platforms.moderation import DELETE, HIDE, UNHIDE
from socialcare.services import moderation as moderation_services
from socialcare.services.case_page import CasePage

#: (URL name after ``socialcare_case_``, the action's path segment, the action).
MODERATION_ACTIONS = (("hide", HIDE), ("unhide", UNHIDE), ("delete-on-platform", DELETE))
_LABELS = {HIDE: "Hide", UNHIDE: "Unhide"}


@dataclass(frozen=True)
class ModerationChoice:
    """One button under a post of the case page."""

    action: str
    label: str
    url_name: str

    @property
    def destructive(self) -> bool:
        return self.action == DELETE


class CaseModerationMixin:
    """Handlers for ``CaseWorkspaceMixin.get_urls`` (``_run`` has checked that the user sees
    the case and may change it) and the per-post choices of the page."""

    message_user: Callable[..., None]

    def moderation_urls(self, action: Callable[..., Any]) -> list:
        """The three action URLs, made by the workspace's ``action`` helper."""
        handlers = {HIDE: self._hide, UNHIDE: self._unhide, DELETE: self._delete_on_platform}
        return [action(name, handlers[verb], "<int:post_id>/") for name, verb in MODERATION_ACTIONS]

    def moderation_context(self, request: HttpRequest, page: CasePage) -> dict[str, Any]:
        """Puts on each post of the timeline the moderation buttons this user may press
        (``post.sc_moderation``), from the posts' own fields: no query per post."""
        user = request.user
        allowed = {
            verb for verb in (HIDE, UNHIDE, DELETE) if moderation_services.may_moderate(user, verb)
        }
        offered = 0
        for item in page.timeline.items:
            post = item.post
            if post is None:
                continue
            choices = [
                _choice(verb, post)
                for verb in moderation_services.offered_actions(post)
                if verb in allowed
            ]
            post.sc_moderation = choices
            offered += bool(choices)
        return {"can_hide": HIDE in allowed, "can_delete": DELETE in allowed, "offered": offered}

    # Handlers ------------------------------------------------------------------------------------
    def _hide(self, request: HttpRequest, case: Case, post_id: int) -> None:
        self._moderate(request, case, post_id, HIDE)

    def _unhide(self, request: HttpRequest, case: Case, post_id: int) -> None:
        self._moderate(request, case, post_id, UNHIDE)

    def _delete_on_platform(self, request: HttpRequest, case: Case, post_id: int) -> None:
        self._moderate(request, case, post_id, DELETE)

    def _moderate(self, request: HttpRequest, case: Case, post_id: int, action: str) -> None:
        if not moderation_services.may_moderate(request.user, action):
            raise PermissionDenied
        post = Post.objects.filter(pk=post_id, case=case).first()
        if post is None:
            raise Http404("No such post on this case.")
        reason = request.POST.get("reason", "")
        act = {
            HIDE: moderation_services.hide_post,
            UNHIDE: moderation_services.unhide_post,
            DELETE: moderation_services.delete_comment,
        }[action]
        try:
            done = act(post, actor=request.user, reason=reason)
        except moderation_services.ModerationFailed as exc:
            answer = f" The platform answered: {exc.answer}" if exc.answer else ""
            self.message_user(request, f"{' '.join(exc.messages)}{answer}", messages.ERROR)
            return
        # SocialCareError (what the platform cannot do) is shown by ``_run``.
        word = {HIDE: "hidden", UNHIDE: "shown again", DELETE: "deleted"}[action]
        self.message_user(
            request,
            f"{moderation_services.noun(done)} {word} on {done.get_platform_display()}; "
            "it stays in this case's history.",
            messages.SUCCESS,
        )


def _choice(action: str, post: Post) -> ModerationChoice:
    label = _LABELS.get(action) or f"Delete on {post.get_platform_display()}"
    name = {verb: name for name, verb in MODERATION_ACTIONS}[action]
    return ModerationChoice(action, label, f"admin:socialcare_case_{name.replace('-', '_')}")
