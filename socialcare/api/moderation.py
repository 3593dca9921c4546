"""Moderating a customer's comment on the platform: ``POST posts/{id}/hide/``, ``unhide/`` and
``delete-on-platform/`` (docs/moderation.md). Every change goes through
``socialcare.services.moderation``; the post is one the caller may see (else 404).

Answers: 200 with the post as it is now; 400 when the platform cannot do it (a DM, the brand's
own post, an X post that is not a reply in a conversation the brand started, a platform without
moderation, an action already done); 409 when the platform refused or did not answer, with its
answer (the attempt is in the case's history: this answer is returned, not raised, so a host's
``ATOMIC_REQUESTS`` keeps that record).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from socialcare.api import case_docs as docs
from socialcare.api.base import GenericViewSet
from socialcare.api.case_serializers import (
    PostSerializer,
    StrictSerializer,
    UserSummarySerializer,
    choice_field,
)
from socialcare.api.cases import post_queryset
from socialcare.api.permissions import KeyScope, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.exceptions import SocialCareError
from socialcare.models import Post
from socialcare.platforms.moderation import DELETE, HIDE, UNHIDE
from socialcare.services import moderation as moderation_services
from socialcare.services.access import visible_posts
from socialcare.services.events import user_label

COMMON = (
    " Needs `socialcare.change_case` and `socialcare.{perm}` (with a key, the `cases:write` and "
    "`posts:moderate` scopes). The post stays in socialcare, marked; the attempt, done or "
    "failed, is recorded on its case and on the case's unresolved incident. **400**: the "
    "platform cannot do it (a private message, the brand's own post, an X post that is not a "
    "reply in a conversation the brand's account started, a platform without moderation, or "
    "already done). **409**: the platform refused or did not answer (`code` "
    "`platform_refused` or `platform_unavailable`); `answer` is what it said."
)
HIDE_DOC = (
    "Hide a customer's comment on the platform: a Facebook or Instagram comment on the brand's "
    "posts (hidden from everyone but its author and their friends), or on X a reply in a "
    'conversation the brand\'s account started (moved behind "hidden replies"; X allows 725 '
    "per conversation)." + COMMON.format(perm="hide_post` or `socialcare.moderate_post")
)
UNHIDE_DOC = "Show a comment the brand hid again." + COMMON.format(
    perm="hide_post` or `socialcare.moderate_post"
)
DELETE_DOC = (
    "Delete a customer's comment on Facebook or Instagram, for everyone and for good (X does "
    "not let an account delete other people's posts: a 400). In socialcare the post is kept, "
    "marked `deleted` with `deleted_at` set." + COMMON.format(perm="moderate_post")
)


class ModerationSerializer(StrictSerializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=moderation_services.MAX_REASON,
        help_text='Why, for the case\'s history (e.g. "abusive"). Optional.',
    )


class ModeratedPostSerializer(serializers.Serializer):
    """The answer: the post, and what the brand did to it on the platform."""

    post = PostSerializer(read_only=True)
    moderation = choice_field(
        "PostModeration",
        [(value, label) for value, label in Post.Moderation.choices if value],
        read_only=True,
        allow_blank=True,
        help_text="`hidden`, `deleted`, or empty (not moderated, or shown again).",
    )
    moderated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    moderated_by = UserSummarySerializer(
        read_only=True, allow_null=True, help_text="Null: the system (a playbook step)."
    )
    answer = serializers.CharField(read_only=True, help_text="The platform's answer, shortened.")


class ModerationFailedSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="`platform_refused` or `platform_unavailable`.")
    detail = serializers.CharField(help_text="A sentence for people, with the platform's reason.")
    answer = serializers.CharField(help_text="The platform's answer body, shortened.")
    retry_after = serializers.FloatField(
        allow_null=True, help_text="Seconds the platform asked to wait, when it said."
    )
    post = serializers.IntegerField(help_text="The post's id.")


REASON_EXAMPLE = OpenApiExample("With a reason", request_only=True, value={"reason": "abusive"})
DONE_EXAMPLE = OpenApiExample(
    "Hidden",
    response_only=True,
    value={
        "post": docs.POST_EXAMPLE.value,
        "moderation": "hidden",
        "moderated_at": "2025-03-04T09:20:00Z",
        "moderated_by": {"id": 7, "username": "alice", "name": "Alice Agent"},
        "answer": '{"data":{"hidden":true}}',
    },
)
FAILED_EXAMPLE = OpenApiExample(
    "Refused by X",
    response_only=True,
    status_codes=[409],
    value={
        "code": "platform_refused",
        "detail": "X refused (HTTP 403): Forbidden",
        "answer": '{"title":"Forbidden","type":"about:blank","status":403,"detail":"Forbidden"}',
        "retry_after": None,
        "post": 314,
    },
)


def _schema(summary: str, description: str) -> Any:
    return extend_schema(
        summary=summary,
        description=description,
        request=ModerationSerializer,
        responses={
            200: ModeratedPostSerializer,
            409: OpenApiResponse(
                ModerationFailedSerializer, description="The platform refused or did not answer."
            ),
            **docs.error_responses(400, 401, 403, 404, 429),
        },
        examples=[REASON_EXAMPLE, DONE_EXAMPLE, FAILED_EXAMPLE],
    )


class CanModerate(permissions.BasePermission):
    """``change_case`` and the moderation permission of the action (any of the two for hide
    and unhide, ``moderate_post`` to delete)."""

    message = "You may not moderate comments on the platform."

    def has_permission(self, request: Request, view: Any) -> bool:
        verb = ACTIONS.get(getattr(view, "action", "") or "")
        if verb is None:
            return True  # not one of ours: the router answers 405 / 404
        user = request.user
        return bool(
            user
            and user.has_perm("socialcare.change_case")
            and moderation_services.may_moderate(user, verb)
        )


ACTIONS = {"hide": HIDE, "unhide": UNHIDE, "delete_on_platform": DELETE}


class PostModerationViewSet(GenericViewSet):
    queryset = Post.objects.all()
    serializer_class = ModeratedPostSerializer
    permission_classes = [StaffOnly, KeyScope, CanModerate]
    filter_backends: list = []
    pagination_class = None

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Post.objects.none()
        return visible_posts(self.request.user, Post.objects.all())

    @_schema("Hide a comment on the platform", HIDE_DOC)
    @action(detail=True, methods=["post"])
    def hide(self, request: Request, pk: str | None = None) -> Response:
        return self._moderate(HIDE)

    @_schema("Show a hidden comment again", UNHIDE_DOC)
    @action(detail=True, methods=["post"])
    def unhide(self, request: Request, pk: str | None = None) -> Response:
        return self._moderate(UNHIDE)

    @_schema("Delete a comment on the platform", DELETE_DOC)
    @action(detail=True, methods=["post"], url_path="delete-on-platform")
    def delete_on_platform(self, request: Request, pk: str | None = None) -> Response:
        return self._moderate(DELETE)

    def _moderate(self, verb: str) -> Response:
        post = self.get_object()
        body = ModerationSerializer(data=self.request.data)
        body.is_valid(raise_exception=True)
        outcome = moderation_services.moderate(
            post, verb, actor=self.request.user, reason=body.validated_data.get("reason", "")
        )
        if outcome.result == moderation_services.SKIPPED:
            raise SocialCareError(outcome.message, code="moderation_refused")
        if outcome.result == moderation_services.FAILED:
            return Response(
                {
                    "code": "platform_unavailable" if outcome.transient else "platform_refused",
                    "detail": outcome.message,
                    "answer": outcome.answer,
                    "retry_after": outcome.retry_after,
                    "post": post.pk,
                },
                status=status.HTTP_409_CONFLICT,
            )
        fresh = post_queryset(Post.objects.filter(pk=post.pk)).select_related("moderated_by").get()
        return Response(
            {
                "post": PostSerializer(fresh).data,
                "moderation": fresh.moderation,
                "moderated_at": serializers.DateTimeField().to_representation(fresh.moderated_at)
                if fresh.moderated_at
                else None,
                "moderated_by": _user(fresh.moderated_by),
                "answer": outcome.answer,
            }
        )


def _user(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.get_username(), "name": user_label(user)}


def register(router: BaseRouter) -> None:
    """Add the moderation actions under ``posts/{id}/`` (the posts list is ``cases.py``'s)."""
    router.register("posts", PostModerationViewSet, basename="post-moderation")
