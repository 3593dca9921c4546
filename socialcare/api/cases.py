"""Cases, their timeline, replies, notes and merges; posts.

Every queryset starts from ``socialcare.services.access`` (a case of another team is a 404) and
is eager-loaded, so a page costs the same number of queries whatever its size. Every change goes
through ``socialcare.services``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Count,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema_view
from rest_framework import filters, mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from socialcare.api import case_docs as docs
from socialcare.api import verification
from socialcare.api.base import GenericViewSet, ReadOnlyViewSet
from socialcare.api.case_filters import (
    CaseFilter,
    CaseOrdering,
    PostFilter,
    StableOrdering,
    with_sort_keys,
)
from socialcare.api.case_serializers import (
    CaseCreateSerializer,
    CaseEventSerializer,
    CaseSerializer,
    CaseUpdateSerializer,
    MergeSerializer,
    NoteSerializer,
    PostSerializer,
    ReplySerializer,
    TimelineQuerySerializer,
)
from socialcare.api.pagination import SyncCursorPagination, TimelinePagination
from socialcare.api.permissions import KeyScope, ModelPermissions, StaffOnly
from socialcare.api.schema import extend_schema
from socialcare.api.verification import (
    CREATE as VERIFICATION_CREATE,
)
from socialcare.api.verification import (
    CREATED_EXAMPLE,
    LIST_EXAMPLE,
    VerificationCreatedSerializer,
    VerificationSerializer,
    verification_queryset,
)
from socialcare.models import (
    Case,
    CaseEvent,
    Channel,
    IdentityVerification,
    Incident,
    Post,
    Team,
)
from socialcare.services import cases as case_services
from socialcare.services import replies as reply_services
from socialcare.services import verification as verification_services
from socialcare.services.access import visible_cases, visible_posts

# Querysets ----------------------------------------------------------------------------------


def _count(queryset: QuerySet) -> Coalesce:
    """A correlated COUNT subquery: one query for a whole page, and no row multiplication."""
    counted = queryset.order_by().values("case").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _column(model: type, key: str, column: str) -> Subquery:
    """One column of the ``model`` row the case's ``key`` points to."""
    return Subquery(model._default_manager.filter(pk=OuterRef(key)).order_by().values(column)[:1])


def case_queryset(queryset: QuerySet) -> QuerySet:
    """Cases with everything ``CaseSerializer`` reads, in one query plus one for the tags."""
    posts = Post.objects.filter(case=OuterRef("pk"))
    return with_sort_keys(
        # The channel's and the team's few columns are scalar subqueries, not joins: with five
        # joins PostgreSQL's planner took 4-10 ms to plan a 2 ms query (it searches every join
        # order), with three ~1 ms.
        queryset.select_related("customer", "identity", "assignee")
        .prefetch_related("tags")
        .annotate(
            channel_name=_column(Channel, "channel_id", "name"),
            channel_platform=_column(Channel, "channel_id", "platform"),
            channel_handle=_column(Channel, "channel_id", "handle"),
            team_name=_column(Team, "team_id", "name"),
        )
        .annotate(
            # Scalar subqueries, not joins: each join more multiplies the join orders
            # PostgreSQL's planner tries (7 joins cost ~40 ms of planning for a 1 ms query).
            merged_into_reference=Subquery(
                Case.objects.filter(pk=OuterRef("merged_into_id")).values("reference")[:1]
            ),
            incident_title=Subquery(
                Incident.objects.filter(pk=OuterRef("incident_id")).values("title")[:1]
            ),
            post_count=_count(posts),
            inbound_count=_count(posts.filter(direction=Post.Direction.INBOUND)),
            outbound_count=_count(posts.filter(direction=Post.Direction.OUTBOUND)),
            note_count=_count(
                CaseEvent.objects.filter(case=OuterRef("pk"), kind=CaseEvent.Kind.NOTE)
            ),
        )
    )


def post_queryset(queryset: QuerySet) -> QuerySet:
    return (
        queryset.select_related("channel", "author", "sent_by")
        .defer("raw", "channel__secrets")
        .annotate(case_reference=F("case__reference"))
    )


def event_queryset(queryset: QuerySet) -> QuerySet:
    return (
        queryset.select_related("actor", "post", "post__author")
        .defer("post__raw", "post__html")
        .annotate(case_reference=F("case__reference"))
    )


def merged_case_ids(case: Case) -> list[int]:
    """Cases merged into ``case``, and those merged into them, and so on."""
    found: list[int] = []
    frontier = [case.pk]
    while frontier:
        frontier = list(
            Case.objects.filter(merged_into__in=frontier)
            .exclude(pk__in=found)
            .values_list("pk", flat=True)
        )
        found += frontier
    return found


# Permissions --------------------------------------------------------------------------------


class ActionPermissions(ModelPermissions):
    """Model permissions, with the ones an action names in ``view.action_perms`` instead of
    ``add_*`` for every POST. A method the view does not offer is left to its 405."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(view, "action", "") is None:
            return True
        perms = getattr(view, "action_perms", {}).get(view.action)
        if perms is None:
            return super().has_permission(request, view)
        return bool(request.user and request.user.has_perms(perms))


# Views --------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List cases",
        description=docs.CASE_LIST,
        responses={200: CaseSerializer(many=True), **docs.error_responses(400, 401, 403, 429)},
        examples=[docs.CASE_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Get a case",
        description="A case with its customer, identity, channel, team, assignee, tags, SLA "
        "due times and post counts.",
        responses={200: CaseSerializer, **docs.error_responses(401, 403, 404, 429)},
        examples=[docs.CASE_EXAMPLE],
    ),
)
class CaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    queryset = Case.objects.all()
    serializer_class = CaseSerializer
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]
    action_perms = {
        "replies": ["socialcare.change_case"],
        "notes": ["socialcare.change_case"],
        "merge": ["socialcare.merge_case"],
    }

    def get_permissions(self) -> list:
        # Reading a case's links needs view_case (the default GET rule); creating, change_case.
        if self.action == "verification_links" and self.request.method == "POST":
            self.action_perms = {
                **self.action_perms,
                "verification_links": ["socialcare.change_case"],
            }
        return super().get_permissions()

    filter_backends = [DjangoFilterBackend, filters.SearchFilter, CaseOrdering]
    filterset_class = CaseFilter
    search_fields = ["reference", "subject", "identity__handle"]
    ordering_fields = ["created_at", "updated_at", "priority", "first_response_due_at"]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Case.objects.none()
        # Built once per request (the permission check asks for it too; building the annotated
        # queryset costs milliseconds). Callers chain on it, which clones: it is never evaluated.
        built = getattr(self, "_built_queryset", None)
        if built is None:
            visible = visible_cases(self.request.user, Case.objects.all())
            # Actions on one case reload it as they answer: only reads need the eager loading.
            built = case_queryset(visible) if self.action in ("list", "retrieve") else visible
            self._built_queryset = built
        return built

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _case(self, case: Case, status_code: int = status.HTTP_200_OK) -> Response:
        """``case`` as the list shows it (reloaded: services changed it since it was read)."""
        fresh = case_queryset(Case.objects.filter(pk=case.pk)).get()
        return Response(
            CaseSerializer(fresh, context=self.get_serializer_context()).data, status_code
        )

    def _body(self, serializer_class: type, **context: Any) -> dict[str, Any]:
        serializer = serializer_class(
            data=self.request.data, context={**self.get_serializer_context(), **context}
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(
        summary="Open a case",
        description=docs.CASE_CREATE,
        request=CaseCreateSerializer,
        responses={201: CaseSerializer, **docs.error_responses(400, 401, 403, 429)},
        examples=[docs.CREATE_FROM_POST, docs.CREATE_PLAIN, docs.CASE_EXAMPLE],
    )
    def create(self, request: Request) -> Response:
        data = self._body(CaseCreateSerializer)
        post = data.pop("post", None)
        if post is not None:
            case = case_services.open_case_for_post(post, actor=request.user, **data)
        else:
            case = case_services.open_case(actor=request.user, **data)
        return self._case(case, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a case",
        description=docs.CASE_UPDATE,
        request=CaseUpdateSerializer,
        responses={200: CaseSerializer, **docs.error_responses(400, 401, 403, 404, 409, 429)},
        examples=[docs.UPDATE_EXAMPLE, docs.CASE_EXAMPLE],
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        case_services.update_case(case, actor=request.user, **self._body(CaseUpdateSerializer))
        return self._case(case)

    @extend_schema(
        summary="A case's history",
        description=docs.TIMELINE,
        parameters=[
            OpenApiParameter(
                "include_merged",
                bool,
                description="Also the events of cases merged into this one.",
            )
        ],
        responses={
            200: CaseEventSerializer(many=True),
            **docs.error_responses(400, 401, 403, 404, 429),
        },
        examples=[docs.EVENT_EXAMPLE],
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=TimelinePagination)
    def timeline(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        query = TimelineQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        cases = [case.pk]
        if query.validated_data["include_merged"]:
            cases += merged_case_ids(case)
        page = self.paginate_queryset(event_queryset(CaseEvent.objects.filter(case__in=cases)))
        data = CaseEventSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="Reply to the customer",
        description=docs.REPLY,
        request=ReplySerializer,
        responses={201: PostSerializer, **docs.error_responses(400, 401, 403, 404, 429)},
        examples=[docs.REPLY_EXAMPLE, docs.POST_EXAMPLE],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def replies(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        data = self._body(ReplySerializer, case=case)
        post = reply_services.send_reply(
            case,
            data.get("text", ""),
            actor=request.user,
            visibility=data["visibility"],
            in_reply_to=data.get("in_reply_to"),
            template=data.get("template"),
        )
        post = post_queryset(Post.objects.filter(pk=post.pk)).get()
        return Response(PostSerializer(post).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Add an internal note",
        description="A note on the case's timeline for colleagues; never sent to the customer. "
        "Needs `socialcare.change_case`.",
        request=NoteSerializer,
        responses={201: CaseEventSerializer, **docs.error_responses(400, 401, 403, 404, 429)},
        examples=[docs.NOTE_EXAMPLE],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def notes(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        event = case_services.add_note(case, self._body(NoteSerializer)["text"], actor=request.user)
        event = event_queryset(CaseEvent.objects.filter(pk=event.pk)).get()
        return Response(CaseEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["POST"],
        summary="Create an identity verification link",
        description=VERIFICATION_CREATE,
        request=None,
        responses={
            201: VerificationCreatedSerializer,
            **docs.error_responses(400, 401, 403, 404, 429),
        },
        examples=[CREATED_EXAMPLE],
    )
    @extend_schema(
        methods=["GET"],
        summary="A case's identity verification links",
        description="The case's verification links, newest first, with their outcome; never "
        "the links themselves.",
        responses={
            200: VerificationSerializer(many=True),
            **docs.error_responses(401, 403, 404, 429),
        },
        examples=[LIST_EXAMPLE],
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="verification-links",
        filter_backends=[],
        pagination_class=None,
    )
    def verification_links(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        if request.method == "GET":
            links = verification_queryset(
                IdentityVerification.objects.filter(case=case).order_by("-created_at", "-id")
            )[:100]
            return Response(VerificationSerializer(links, many=True).data)
        link = verification_services.create_link(case, actor=request.user)
        created = verification_queryset(
            IdentityVerification.objects.filter(pk=link.verification.pk)
        ).get()
        created.url = request.build_absolute_uri(link.path)
        return Response(VerificationCreatedSerializer(created).data, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Merge this case into another",
        description=docs.MERGE,
        request=MergeSerializer,
        responses={200: CaseSerializer, **docs.error_responses(400, 401, 403, 404, 409, 429)},
        examples=[docs.MERGE_EXAMPLE, docs.CASE_EXAMPLE],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def merge(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        target = self._body(MergeSerializer)["into"]
        kept = case_services.merge_cases(source=case, target=target, actor=request.user)
        return self._case(kept)


class PostPagination(SyncCursorPagination):
    """Posts have no ``updated_at``: they sync in the order they arrived."""

    ordering = ("received_at", "id")


@extend_schema_view(
    list=extend_schema(
        summary="List posts",
        description=docs.POST_LIST,
        responses={200: PostSerializer(many=True), **docs.error_responses(400, 401, 403, 429)},
        examples=[docs.POST_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Get a post",
        description="One post of a case the caller may see, with its author, channel and, for "
        "a reply, who sent it and how sending went.",
        responses={200: PostSerializer, **docs.error_responses(401, 403, 404, 429)},
        examples=[docs.POST_EXAMPLE],
    ),
)
class PostViewSet(ReadOnlyViewSet):
    queryset = Post.objects.all()
    serializer_class = PostSerializer
    permission_classes = [StaffOnly, KeyScope, ActionPermissions]
    pagination_class = PostPagination
    filter_backends = [DjangoFilterBackend, filters.SearchFilter, StableOrdering]
    filterset_class = PostFilter
    search_fields = ["text"]
    ordering_fields = ["posted_at", "received_at"]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return Post.objects.none()
        return post_queryset(visible_posts(self.request.user, Post.objects.all()))


def register(router: BaseRouter) -> None:
    """Add this module's viewsets to the API router."""
    router.register("cases", CaseViewSet, basename="case")
    router.register("posts", PostViewSet, basename="post")
    verification.register(router)
