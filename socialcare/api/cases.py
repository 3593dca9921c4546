"""Cases, their timeline, replies, notes and merges; posts.

Every queryset starts from ``socialcare.services.access`` (a case of another team is a 404) and
is eager-loaded, so a page costs the same number of queries whatever its size. Every change goes
through ``socialcare.services``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import CharField, F, Field, Func, IntegerField, QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema_view
from rest_framework import filters, mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from socialcare.adapter import get_customer_adapter
from socialcare.api import case_docs as docs
from socialcare.api import collision, verification
from socialcare.api.base import GenericViewSet, ReadOnlyViewSet
from socialcare.api.case_filters import (
    CaseFilter,
    CaseOrdering,
    PostFilter,
    StableOrdering,
    with_sort_keys,
)
from socialcare.api.case_serializers import (
    TAG_NAMES,
    CaseCreateSerializer,
    CaseEventSerializer,
    CaseSerializer,
    CaseUpdateSerializer,
    IdentitySummarySerializer,
    MergeSerializer,
    NoteSerializer,
    PostSerializer,
    TimelineQuerySerializer,
)
from socialcare.api.csat_fields import case_csat_annotations
from socialcare.api.pagination import SyncCursorPagination, TimelinePagination
from socialcare.api.permissions import KeyScope, ModelPermissions, StaffOnly
from socialcare.api.presence import CasePresenceActions
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
    Customer,
    IdentityVerification,
    Incident,
    Post,
    Team,
    get_customer_model,
)
from socialcare.services import cases as case_services
from socialcare.services import verification as verification_services
from socialcare.services.access import merged_case_ids, visible_cases, visible_posts
from socialcare.services.collision import ConversationChanged, send_reply_if_unchanged
from socialcare.services.moderation_state import with_moderation
from socialcare.services.timeline import timeline_events

# Querysets ----------------------------------------------------------------------------------


#: The looked-up table's alias in ``RowLookup``: none Django gives (it relabels a query nested
#: in another one with U0, V0, ...), so the outer row's columns are never shadowed.
ALIAS = "sc_lookup"


class RowLookup(Func):
    """A correlated scalar subquery over one table, written as SQL: ``SELECT <column> FROM
    <table> WHERE <where>``, where ``<where>`` compares the table's columns to the outer row's
    ``key`` column (``%(key)s`` in ``where``) and to constants.

    Equivalent to ``Subquery(Model.objects.filter(...).values(...))``, but compiling it is
    formatting a string: Django compiles a ``Subquery`` as a whole query (select mask, joins,
    where tree) on every request, and the case list has ten of them (~2 ms of each page).
    ``column`` and the names in ``where`` are quoted for the connection; constants are fixed
    choice values, never input."""

    def __init__(
        self,
        key: str,
        table: str,
        column: str,
        where: str,
        output_field: Field,
        **names: str,
    ) -> None:
        super().__init__(F(key), output_field=output_field)
        self.table, self.column, self.where, self.names = table, column, where, names

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: Any = None,
        template: Any = None,
        **extra: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        quote = connection.ops.quote_name
        key_sql, params = compiler.compile(self.source_expressions[0])
        where = self.where % {
            "key": key_sql,
            **{name: f"{ALIAS}.{quote(value)}" for name, value in self.names.items()},
        }
        column = "COUNT(*)" if self.column == "*" else f"{ALIAS}.{quote(self.column)}"
        # Params as a tuple: what Django 6.0 requires of expressions (5.2 takes either).
        return f"(SELECT {column} FROM {quote(self.table)} {ALIAS} WHERE {where})", tuple(params)


def _column(model: type, key: str, column: str, output_field: Field) -> RowLookup:
    """One column of the ``model`` row the case's ``key`` points to (none: NULL)."""
    meta = model._meta
    return RowLookup(
        key,
        meta.db_table,
        meta.get_field(column).column,
        "%(pk)s = %(key)s",
        output_field,
        pk=meta.pk.column,
    )


def _count(model: type, kind: str = "", value: str = "") -> RowLookup:
    """How many ``model`` rows belong to the case (with ``kind`` = ``value`` when given)."""
    meta = model._meta
    names = {"case": meta.get_field("case").column}
    where = "%(case)s = %(key)s"
    if kind:
        # A fixed choice value (an enum member's) as a literal: never input.
        if not value.isidentifier():
            raise ValueError(f"Not a choice value: {value!r}")
        names["kind"] = meta.get_field(kind).column
        where += f" AND %(kind)s = '{value}'"
    return RowLookup("pk", meta.db_table, "*", where, IntegerField(), **names)


class TagNames(Func):
    """The case's tag names as a JSON array in one scalar subquery, so a page of cases needs no
    query of its own for its tags (``prefetch_related`` built a related manager, a queryset and
    tag instances per case, then a second query). PostgreSQL sorts them as ``Tag`` does (by
    name, in the database's collation); SQLite returns them unsorted and ``_tag_names`` sorts
    them by code point, which is SQLite's own ``ORDER BY name``."""

    output_field = CharField()

    def __init__(self) -> None:
        super().__init__(F("pk"))

    def _parts(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...], dict[str, str]]:
        quote = connection.ops.quote_name
        through = Case.tags.through._meta
        tag = Case.tags.field.related_model._meta
        key_sql, params = compiler.compile(self.source_expressions[0])
        names = {
            "through": quote(through.db_table),
            "tag": quote(tag.db_table),
            "tag_pk": quote(tag.pk.column),
            "name": quote(tag.get_field("name").column),
            "case_col": quote(through.get_field("case").column),
            "tag_col": quote(through.get_field("tag").column),
            "key": key_sql,
        }
        return key_sql, tuple(params), names

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple]:
        _, params, n = self._parts(compiler, connection)
        sql = (
            f"(SELECT COALESCE(json_agg(sc_tag.{n['name']} ORDER BY sc_tag.{n['name']}), "
            f"'[]')::text FROM {n['through']} sc_tagged INNER JOIN {n['tag']} sc_tag "
            f"ON sc_tag.{n['tag_pk']} = sc_tagged.{n['tag_col']} "
            f"WHERE sc_tagged.{n['case_col']} = {n['key']})"
        )
        return sql, params

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple]:
        _, params, n = self._parts(compiler, connection)
        sql = (
            f"(SELECT json_group_array(sc_tag.{n['name']}) FROM {n['through']} sc_tagged "
            f"INNER JOIN {n['tag']} sc_tag ON sc_tag.{n['tag_pk']} = sc_tagged.{n['tag_col']} "
            f"WHERE sc_tagged.{n['case_col']} = {n['key']})"
        )
        return sql, params


#: The vendors ``TagNames`` speaks; elsewhere the tags are prefetched.
TAG_NAMES_VENDORS = ("postgresql", "sqlite")


@cache
def _case_annotations() -> dict[str, Any]:
    """The columns ``case_queryset`` adds, built once (``annotate()`` resolves a copy).

    The channel's, the team's, the merged-into case's and the incident's columns are scalar
    subqueries, not joins: with five joins PostgreSQL's planner took 4-10 ms to plan a 2 ms
    query (it searches every join order), with three ~1 ms; 7 joins cost ~40 ms."""
    text = CharField()
    return {
        "channel_name": _column(Channel, "channel_id", "name", text),
        "channel_platform": _column(Channel, "channel_id", "platform", text),
        "channel_handle": _column(Channel, "channel_id", "handle", text),
        "team_name": _column(Team, "team_id", "name", text),
        "merged_into_reference": _column(Case, "merged_into_id", "reference", text),
        "incident_title": _column(Incident, "incident_id", "title", text),
        "post_count": _count(Post),
        "inbound_count": _count(Post, "direction", Post.Direction.INBOUND.value),
        "outbound_count": _count(Post, "direction", Post.Direction.OUTBOUND.value),
        "note_count": _count(CaseEvent, "kind", CaseEvent.Kind.NOTE.value),
        **case_csat_annotations(),
    }


#: User columns a rendering never reads (``_user``: the primary key, the username and the full
#: name): left out of the page's query when the user model has them.
UNREAD_USER_FIELDS = frozenset({"password", "last_login", "date_joined", "is_superuser"})


def _user_columns(relation: str) -> list[str]:
    return [
        f"{relation}__{field.name}"
        for field in get_user_model()._meta.concrete_fields
        if field.name not in UNREAD_USER_FIELDS
    ]


#: The identity summary's fields (the columns its rendering reads).
_IDENTITY_COLUMNS = tuple(f"identity__{name}" for name in IdentitySummarySerializer.Meta.fields)


def _customer_columns() -> list[str]:
    """The customer columns the rendering reads: for socialcare's own model its name and email
    (``str()`` falls back to them) and the configured name and email fields; a swapped model
    is read whole (its display name may come from any of its fields, or a property)."""
    model = get_customer_model()
    adapter = get_customer_adapter()
    fields = {field.name for field in model._meta.concrete_fields}
    wanted = {
        "id",
        "name",
        "email",
        adapter.name_attribute(),
        adapter.email_attribute(),
    }
    if model is not Customer or not wanted <= fields:
        wanted = fields
    return [f"customer__{name}" for name in sorted(wanted)]


def _case_columns() -> tuple[str, ...]:
    """What the case rendering reads of the case and the rows joined to it (``.only()``): a
    page's query then fetches and converts ~45 columns per row instead of ~75."""
    own = [field.name for field in Case._meta.concrete_fields]
    return (*own, *_customer_columns(), *_IDENTITY_COLUMNS, *_user_columns("assignee"))


def case_queryset(queryset: QuerySet) -> QuerySet:
    """Cases with everything ``CaseSerializer`` reads, in one query (their tag names too, as
    ``TAG_NAMES``; on a database ``TagNames`` does not speak, one more query for the tags)."""
    queryset = (
        queryset.select_related("customer", "identity", "assignee")
        .only(*_case_columns())
        .annotate(**_case_annotations())
    )
    if connections[queryset.db].vendor in TAG_NAMES_VENDORS:
        queryset = queryset.annotate(**{TAG_NAMES: TagNames()})
    else:
        queryset = queryset.prefetch_related("tags")
    return with_sort_keys(queryset)


def post_queryset(queryset: QuerySet) -> QuerySet:
    return with_moderation(
        queryset.select_related("channel", "author", "sent_by")
        .defer("raw", "channel__secrets")
        .annotate(case_reference=F("case__reference"))
    )


#: What the timeline rendering reads of an event's post and its author.
TIMELINE_POST_COLUMNS = (
    "post__id",
    "post__direction",
    "post__kind",
    "post__visibility",
    "post__text",
    "post__url",
    "post__send_status",
    "post__send_error",
    "post__posted_at",
    "post__deleted_at",
    "post__author",
    "post__author__id",
    "post__author__handle",
)


@cache
def _event_columns() -> tuple[str, ...]:
    """``.only()`` of the timeline: the event, its actor as ``_user`` renders it and its post
    as ``_timeline_post`` does (no raw payload, HTML, attachments or the author's profile:
    fewer columns fetched, converted and JSON-decoded per event)."""
    own = [field.name for field in CaseEvent._meta.concrete_fields]
    return (*own, *_user_columns("actor"), *TIMELINE_POST_COLUMNS)


def event_queryset(queryset: QuerySet) -> QuerySet:
    return (
        queryset.select_related("actor", "post", "post__author")
        .only(*_event_columns())
        .annotate(case_reference=F("case__reference"))
    )


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
class CaseViewSet(
    CasePresenceActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet
):
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
    ordering_fields = [
        "change_seq",
        "created_at",
        "updated_at",
        "priority",
        "first_response_due_at",
    ]

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
        merged = (
            merged_case_ids(case, request.user) if query.validated_data["include_merged"] else []
        )
        # The one timeline (``services.timeline``): the case page and the export list the same.
        page = self.paginate_queryset(event_queryset(timeline_events(case, merged=merged)))
        data = CaseEventSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="Reply to the customer",
        description=docs.REPLY,
        request=collision.GuardedReplySerializer,
        responses={
            201: PostSerializer,
            409: collision.CONFLICT_RESPONSE,
            **docs.error_responses(400, 401, 403, 404, 429),
        },
        examples=[
            docs.REPLY_EXAMPLE,
            collision.GUARDED_REPLY_EXAMPLE,
            docs.POST_EXAMPLE,
            collision.CHANGED_EXAMPLE,
        ],
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def replies(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        data = self._body(collision.GuardedReplySerializer, case=case)
        try:
            post = send_reply_if_unchanged(
                case,
                data.get("text", ""),
                since=data.get("if_unchanged_since"),
                actor=request.user,
                visibility=data["visibility"],
                in_reply_to=data.get("in_reply_to"),
                template=data.get("template"),
            )
        except ConversationChanged as changed:
            return collision.conflict_response(changed.changes)
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
        examples=[docs.POST_EXAMPLE, docs.HIDDEN_COMMENT_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Get a post",
        description="One post of a case the caller may see, with its author, channel and, for "
        "a reply, who sent it and how sending went; for a customer's comment, what the brand "
        "did to it on the platform (`moderation`).",
        responses={200: PostSerializer, **docs.error_responses(401, 403, 404, 429)},
        examples=[docs.POST_EXAMPLE, docs.HIDDEN_COMMENT_EXAMPLE],
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
