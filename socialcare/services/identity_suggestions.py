""" "Possibly the same person": other identities an agent may want to link to the same customer.

Identities are never linked because they look alike: ids of different spaces (a Facebook PSID, an
Instagram-scoped id, one Page's PSID and another's) are different people to socialcare until an
agent, or the customer's sign-in (verification), says otherwise. This module only suggests, each
with a reason an agent can check (docs/ingestion.md, "Identity spaces on Meta"):

* ``private_reply``: a person answered, in Messenger or Instagram Direct, the private reply the
  brand sent to another identity's comment (the private reply is an outbound private post whose
  parent is the comment and whose conversation is ``dm:<the person's id>``);
* ``same_handle``: the same handle on the same platform, or on the brand's other Meta platform
  (Facebook and Instagram);
* ``same_name``: the same display name, likewise.

Identities already on the same customer are not suggested. With ``user``, only identities that
user may see are suggested and another team's case is not named (``services.access``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from socialcare.exceptions import SocialCareError
from socialcare.models import Post, SocialIdentity, Visibility
from socialcare.platforms.meta.ids import platform_user_id
from socialcare.services.access import OTHER_TEAM_CASE, Viewer, visible_identities
from socialcare.services.customers import link_identity

PRIVATE_REPLY = "private_reply"
SAME_HANDLE = "same_handle"
SAME_NAME = "same_name"
#: Strongest first: the order of a suggestion's reasons and of the suggestions.
RANK = {PRIVATE_REPLY: 0, SAME_HANDLE: 1, SAME_NAME: 2}
#: Platforms whose people one brand meets on both (a Page and its Instagram account).
RELATED_PLATFORMS = {"facebook": ("facebook", "instagram"), "instagram": ("instagram", "facebook")}
META = frozenset(RELATED_PLATFORMS)  # where private replies exist
#: At most this many suggestions, and rows looked at per reason: the page stays cheap.
LIMIT = 10
#: Display names shorter than this say too little to suggest anything.
MIN_NAME = 4
ERASED = "erased-"  # services.privacy.PSEUDONYM_PREFIX: an erased identity is nobody to suggest
DM_PREFIX = "dm:"


@dataclass(frozen=True)
class Reason:
    code: str
    text: str


@dataclass(frozen=True)
class Suggestion:
    """Another identity that may be the same person as the one asked about, and why."""

    identity: SocialIdentity
    reasons: tuple[Reason, ...]

    @property
    def text(self) -> str:
        return "; ".join(reason.text for reason in self.reasons)

    @property
    def rank(self) -> int:
        return min(RANK[reason.code] for reason in self.reasons)


def label(identity: SocialIdentity | None) -> str:
    """How a reason names an identity: ``@handle``, else the display name."""
    if identity is None:
        return "someone"
    return f"@{identity.handle}" if identity.handle else identity.display_name or "someone"


def possibly_same_person(
    identity: SocialIdentity, *, user: Any = None, limit: int = LIMIT
) -> list[Suggestion]:
    """Identities that may be the same person as ``identity``, strongest reason first. Never
    links anything."""
    found: dict[int, tuple[SocialIdentity, list[Reason]]] = {}
    viewer = Viewer(user) if user is not None else None

    def add(other: SocialIdentity, code: str, text: str) -> None:
        _, reasons = found.setdefault(other.pk, (other, []))
        if all(reason.text != text for reason in reasons):
            reasons.append(Reason(code, text))

    candidates = _candidates(identity, user)
    pairs = _private_reply_pairs(identity, candidates) if identity.platform in META else ()
    for other, reply in pairs:
        dm, commenter = (identity, other) if reply.author_side == "dm" else (other, identity)
        add(
            other,
            PRIVATE_REPLY,
            f"{label(dm)} answered the private reply sent to {label(commenter)}'s comment"
            f"{_on_case(reply.post, viewer)}",
        )
    if identity.handle:
        same = candidates.filter(handle__iexact=identity.handle).order_by("-last_seen_at", "pk")
        for other in same[:limit]:
            add(other, SAME_HANDLE, f"same handle @{other.handle}{_elsewhere(identity, other)}")
    name = identity.display_name.strip()
    if len(name) >= MIN_NAME:
        same = candidates.filter(display_name__iexact=name).order_by("-last_seen_at", "pk")
        for other in same[:limit]:
            add(other, SAME_NAME, f'same name "{name}"{_elsewhere(identity, other)}')
    suggestions = [
        Suggestion(other, tuple(sorted(reasons, key=lambda r: RANK[r.code])))
        for other, reasons in found.values()
    ]
    suggestions.sort(key=lambda s: (s.rank, -len(s.reasons), -s.identity.last_seen_at.timestamp()))
    return suggestions[:limit]


def _candidates(identity: SocialIdentity, user: Any) -> QuerySet:
    platforms = RELATED_PLATFORMS.get(identity.platform, (identity.platform,))
    queryset = (
        SocialIdentity.objects.filter(platform__in=platforms)
        .exclude(pk=identity.pk)
        .exclude(external_id__startswith=ERASED)
        .select_related("customer")
    )
    if identity.customer_id is not None:
        queryset = queryset.exclude(customer_id=identity.customer_id)
    if user is not None:
        queryset = visible_identities(user, queryset)
    return queryset


@dataclass(frozen=True)
class _Reply:
    post: Post
    author_side: str  # "dm": the identity asked about answered; "comment": it wrote the comment


def _private_reply_pairs(identity: SocialIdentity, candidates: QuerySet):
    """(other identity, the private reply) pairs: the identity answered a private reply sent to
    the other's comment, or the other answered one sent to the identity's comment."""
    replies = Post.objects.filter(
        direction=Post.Direction.OUTBOUND,
        visibility=Visibility.PRIVATE,
        conversation_id__startswith=DM_PREFIX,
        parent__isnull=False,
    ).select_related("case", "parent")
    # The identity answered: private replies sent into its conversations, to others' comments.
    mine = set(
        Post.objects.filter(
            author=identity, direction=Post.Direction.INBOUND, visibility=Visibility.PRIVATE
        )
        .filter(conversation_id__startswith=DM_PREFIX)
        .values_list("conversation_id", flat=True)
        .distinct()[:LIMIT]
    )
    mine.add(f"{DM_PREFIX}{platform_user_id(identity.external_id)}")
    sent_to_me = replies.filter(platform=identity.platform, conversation_id__in=mine)
    commenters = {
        other.pk: other
        for other in candidates.filter(pk__in=sent_to_me.values("parent__author")).distinct()[
            :LIMIT
        ]
    }
    for reply in sent_to_me.filter(parent__author__in=list(commenters)).order_by("-posted_at")[
        :LIMIT
    ]:
        yield commenters[reply.parent.author_id], _Reply(reply, "dm")
    # Someone else answered a private reply sent to the identity's comment.
    to_my_comments = list(replies.filter(parent__author=identity).order_by("-posted_at")[:LIMIT])
    for reply in to_my_comments:
        answers = Post.objects.filter(
            platform=reply.platform,
            direction=Post.Direction.INBOUND,
            visibility=Visibility.PRIVATE,
            conversation_id=reply.conversation_id,
        ).exclude(author=identity)
        for other in candidates.filter(Q(pk__in=answers.values("author")))[:LIMIT]:
            yield other, _Reply(reply, "comment")


def _on_case(post: Post, viewer: Viewer | None) -> str:
    case = post.case
    if case is None or not case.reference:
        return ""
    if viewer is not None and not viewer.sees_reference(case.reference):
        return f" on {OTHER_TEAM_CASE}"
    return f" on case {case.reference}"


def _elsewhere(identity: SocialIdentity, other: SocialIdentity) -> str:
    if other.platform == identity.platform:
        return ""
    return f" on {other.get_platform_display()}"


# Linking ---------------------------------------------------------------------------------------


def link_plan(identity: SocialIdentity, other: SocialIdentity) -> tuple[SocialIdentity, Any]:
    """What "link" does for the suggestion ``other`` on ``identity``'s page: (the identity that
    moves, the customer it joins). ``identity`` joins ``other``'s customer when ``other`` has one;
    else ``other`` joins ``identity``'s. ``SocialCareError`` when neither has a customer or both
    already share one."""
    if identity.pk == other.pk:
        raise SocialCareError("An identity cannot be linked to itself.")
    if other.customer_id is not None:
        if other.customer_id == identity.customer_id:
            raise SocialCareError(f"{identity} and {other} are already the same customer's.")
        return identity, other.customer
    if identity.customer_id is not None:
        return other, identity.customer
    raise SocialCareError(
        f"Neither {identity} nor {other} is linked to a customer yet: link one of them to a "
        "customer first."
    )


def link_suggested(
    identity: SocialIdentity, other: SocialIdentity, *, actor: Any = None
) -> SocialIdentity:
    """Link the suggested ``other`` and ``identity`` to one customer (``link_plan``), through
    ``services.customers.link_identity`` (its cases follow; timeline events; the
    ``identity_linked`` signal). Returns the identity that moved."""
    moving, customer = link_plan(identity, other)
    return link_identity(moving, customer, actor=actor)
