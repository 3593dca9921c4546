"""Hiding, unhiding and deleting customers' comments on the platform (docs/moderation.md).

Agents do it from the case page or the API, crisis playbooks with the ``hide_matching`` step.
What the platform cannot do is refused before anything is sent (a DM, the brand's own post, an X
post that is not a reply in a conversation the brand started, a platform without moderation);
the rest goes through the configured transport (``console`` in the demo: logged, no network).

The customer's post is never removed from socialcare: it is marked (``Post.moderation``,
``moderated_at``, ``moderated_by``; a deleted comment also gets ``deleted_at``, so it is no
longer a reply target and the platform's later "removed" webhook does not mistake the brand's
delete for the customer's). Every attempt, done or failed, is a "moderated" event on the post's
case and, while the case is in an unresolved incident, an event of that incident.

The platform call is made outside any transaction of ours (no row stays locked while a
platform answers); the marks and events are then written in one transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from socialcare import signals
from socialcare.exceptions import SocialCareError
from socialcare.models import Case, CaseEvent, Incident, Post, Visibility
from socialcare.platforms.base import RateLimited, SendError, TransientSendError
from socialcare.platforms.moderation import (
    DELETE,
    HIDE,
    UNHIDE,
    ModerationRefused,
    ModerationRequest,
    supported_actions,
)
from socialcare.services.events import record_event, user_label
from socialcare.services.incidents import incident_event

logger = logging.getLogger("socialcare.moderation")

ACTIONS = (HIDE, UNHIDE, DELETE)
DONE, FAILED, SKIPPED = "done", "failed", "skipped"

#: Hiding and unhiding need one of these; deleting needs ``DELETE_PERMISSION``.
HIDE_PERMISSIONS = ("socialcare.hide_post", "socialcare.moderate_post")
DELETE_PERMISSION = "socialcare.moderate_post"

#: Which kinds of customer post each platform lets the brand moderate: comments on the Page's or
#: the Instagram account's own posts, and on X replies (in conversations the brand started).
MODERATED_KINDS: dict[str, frozenset[str]] = {
    "facebook": frozenset({Post.Kind.COMMENT}),
    "instagram": frozenset({Post.Kind.COMMENT}),
    "x": frozenset({Post.Kind.REPLY}),
}
#: How far up a reply chain socialcare looks for the post that started an X conversation.
MAX_THREAD_HOPS = 50
MAX_REASON = 500

_DONE_WORDS = {HIDE: "hidden", UNHIDE: "unhidden", DELETE: "deleted"}


class ModerationFailed(SocialCareError):
    """The platform refused or did not answer. The attempt is recorded on the case; ``answer``
    is the platform's answer body, ``retry_after`` seconds to wait when it asked for that."""

    code = "platform_refused"

    def __init__(self, outcome: Outcome) -> None:
        code = "platform_unavailable" if outcome.transient else self.code
        super().__init__(outcome.message, code=code)
        self.outcome = outcome
        self.post = outcome.post
        self.answer = outcome.answer
        self.retry_after = outcome.retry_after


@dataclass
class Outcome:
    """What came of one moderation request."""

    post: Post
    action: str
    result: str  # done | failed | skipped
    message: str
    answer: str = ""
    transient: bool = False
    retry_after: float | None = None

    @property
    def done(self) -> bool:
        return self.result == DONE


# What may be done -------------------------------------------------------------------------------
def may_moderate(user: Any, action: str) -> bool:
    """Whether ``user`` holds the permission for ``action``."""
    if user is None:
        return False
    if action == DELETE:
        return user.has_perm(DELETE_PERMISSION)
    return any(user.has_perm(perm) for perm in HIDE_PERMISSIONS)


def noun(post: Post) -> str:
    """How the platform calls a customer's post the brand moderates: "Reply" on X, else
    "Comment"."""
    return "Reply" if post.platform == "x" else "Comment"


def offered_actions(post: Post) -> list[str]:
    """The actions the case page offers on ``post``, from its own fields (no query): those its
    platform supports for its kind and state. Whether an X reply is in a conversation the brand
    started is checked when the action is asked for (``refusal``)."""
    if (
        post.direction != Post.Direction.INBOUND
        or post.visibility != Visibility.PUBLIC
        or post.kind not in MODERATED_KINDS.get(post.platform, ())
        or not post.external_id
        or post.deleted_at is not None
        or post.moderation == Post.Moderation.DELETED
    ):
        return []
    supported = supported_actions(post.platform)
    offered = [UNHIDE if post.moderation == Post.Moderation.HIDDEN else HIDE]
    offered.append(DELETE)
    return [action for action in offered if action in supported]


def refusal(post: Post, action: str) -> str:
    """Why ``action`` cannot be done to ``post`` ("" when it can be asked of the platform)."""
    platform = post.get_platform_display()
    what = noun(post).lower()
    if action not in ACTIONS:
        return f"Unknown moderation action {action!r}: use hide, unhide or delete."
    if post.direction != Post.Direction.INBOUND:
        return "This is the brand's own post: moderation is for customers' comments."
    if post.visibility != Visibility.PUBLIC or post.kind == Post.Kind.DIRECT_MESSAGE:
        return "A private message cannot be hidden or deleted on the platform; only the public is."
    supported = supported_actions(post.platform)
    if not supported:
        return f"socialcare cannot hide or delete posts on {platform}."
    if action not in supported:
        if post.platform == "x" and action == DELETE:
            return "X does not let an account delete other people's posts: hide the reply instead."
        return f"{platform} does not let the brand {action} a customer's {what}."
    if post.kind not in MODERATED_KINDS.get(post.platform, ()):
        if post.platform == "x":
            return (
                "X hides replies only, in conversations the brand's account started: this post "
                "is not a reply."
            )
        return (
            f"Only comments on the brand's own {platform} posts can be moderated; this is a "
            f"{post.get_kind_display().lower()}."
        )
    if not post.external_id:
        return "This post has no platform id to act on."
    if post.moderation == Post.Moderation.DELETED:
        return f"This {what} was already deleted on {platform} by the brand."
    if post.deleted_at is not None:
        return f"The customer's {what} was already deleted on {platform}."
    if action == HIDE and post.moderation == Post.Moderation.HIDDEN:
        return f"This {what} is already hidden on {platform}."
    if action == UNHIDE and post.moderation != Post.Moderation.HIDDEN:
        return f"This {what} is not hidden on {platform}."
    if post.case_id is None:
        return "This post is not part of a case: moderation is recorded on the post's case."
    if post.channel_id is None:
        return "This post came through no channel: there is no account to moderate it with."
    if post.platform == "x":
        return _x_conversation_refusal(post)
    return ""


def _x_conversation_refusal(post: Post) -> str:
    """X hides only replies in a conversation the authenticated account started. When the post
    that started it is stored and is not the brand's, refuse; when the chain stops at a post
    socialcare never saw, X decides (its refusal is shown)."""
    root = post
    for _ in range(MAX_THREAD_HOPS):
        if root.parent_id is None:
            break
        parent = Post.objects.select_related("author").filter(pk=root.parent_id).first()
        if parent is None:
            break
        root = parent
    if root.in_reply_to_external_id:
        return ""  # the start of the conversation is not stored: unknown
    account = post.channel.account_id if post.channel_id else ""
    brand_started = root.direction == Post.Direction.OUTBOUND or (
        root.author is not None and root.author.external_id == account
    )
    if brand_started:
        return ""
    # Not naming who started it: that post may belong to a case of another team.
    brand = f"@{post.channel.handle.lstrip('@')}" if post.channel.handle else "the brand"
    return (
        "X lets an account hide only replies in conversations it started; this conversation "
        f"was started by another account, not by {brand}."
    )


# Doing it --------------------------------------------------------------------------------------
def hide_post(post: Post, *, actor: Any, reason: str = "") -> Post:
    """Hide the customer's comment (an X reply) on the platform. Raises ``SocialCareError``
    when the platform cannot do it, ``ModerationFailed`` when it refused or did not answer
    (recorded on the case), ``PermissionDenied`` when ``actor`` may not."""
    return _act(post, HIDE, actor, reason)


def unhide_post(post: Post, *, actor: Any, reason: str = "") -> Post:
    """Show a comment hidden by the brand again; raises as ``hide_post`` does."""
    return _act(post, UNHIDE, actor, reason)


def delete_comment(post: Post, *, actor: Any, reason: str = "") -> Post:
    """Delete the customer's comment on the platform (Facebook, Instagram). The post stays in
    socialcare, marked deleted; raises as ``hide_post`` does."""
    return _act(post, DELETE, actor, reason)


def _act(post: Post, action: str, actor: Any, reason: str) -> Post:
    outcome = moderate(post, action, actor=actor, reason=reason)
    if outcome.result == SKIPPED:
        raise SocialCareError(outcome.message, code="moderation_refused")
    if outcome.result == FAILED:
        raise ModerationFailed(outcome)
    return outcome.post


def moderate(
    post: Post,
    action: str,
    *,
    actor: Any,
    reason: str = "",
    source: str = "",
    incident: Incident | None = None,
    check_permission: bool = True,
) -> Outcome:
    """Ask the platform to ``action`` ``post`` and record the attempt. Returns the outcome:
    ``skipped`` (refused before anything was sent; nothing recorded), ``failed`` (the platform
    refused or did not answer; recorded) or ``done`` (post marked; recorded). ``source`` says
    who acted when it was not a person (a playbook step); ``check_permission=False`` for steps
    the playbook's author already allowed."""
    reason = " ".join((reason or "").split())[:MAX_REASON]
    if check_permission and getattr(actor, "pk", None) and not may_moderate(actor, action):
        raise PermissionDenied(
            "You may not delete comments on the platform."
            if action == DELETE
            else "You may not hide comments on the platform."
        )
    post = (
        Post.objects.select_related("channel", "case", "case__incident", "author")
        .filter(pk=post.pk)
        .first()
    )
    if post is None:
        raise SocialCareError("This post does not exist any more.")
    why = refusal(post, action)
    if why:
        return Outcome(post, action, SKIPPED, why)
    outcome = _ask_platform(post, action)
    with transaction.atomic():
        _record(outcome, actor=actor, reason=reason, source=source, incident=incident)
    return outcome


def _ask_platform(post: Post, action: str) -> Outcome:
    from socialcare.transports import get_transport

    transport = get_transport()
    moderate_on = getattr(transport, "moderate", None)
    if not callable(moderate_on):
        return Outcome(
            post,
            action,
            FAILED,
            f"The reply transport {type(transport).__name__} cannot moderate posts "
            "(it has no moderate method).",
        )
    platform = post.get_platform_display()
    try:
        result = moderate_on(post.channel, ModerationRequest(action, post.external_id or ""))
    except ModerationRefused as exc:
        return Outcome(post, action, FAILED, str(exc), answer=exc.answer)
    except TransientSendError as exc:
        wait = exc.retry_after if isinstance(exc, RateLimited) else None
        message = f"{platform} did not do it: {exc} Nothing was marked here; try again later."
        return Outcome(post, action, FAILED, message, transient=True, retry_after=wait)
    except SendError as exc:
        return Outcome(post, action, FAILED, str(exc))
    except Exception as exc:  # a transport bug must be reported, not lose the audit trail
        logger.exception("Moderating post %s failed", post.pk)
        return Outcome(post, action, FAILED, f"{type(exc).__name__}: {exc}")
    return Outcome(
        post,
        action,
        DONE,
        f"{noun(post)} {_DONE_WORDS[action]} on {platform}.",
        answer=result.answer,
    )


def _record(
    outcome: Outcome, *, actor: Any, reason: str, source: str, incident: Incident | None
) -> None:
    """Mark the post (when done) and write the case's and the incident's events."""
    post = outcome.post
    person = actor if getattr(actor, "pk", None) else None
    if outcome.done:
        now = timezone.now()
        marks: dict[str, Any] = {"moderated_at": now, "moderated_by": person}
        if outcome.action == HIDE:
            marks["moderation"] = Post.Moderation.HIDDEN
        elif outcome.action == UNHIDE:
            marks["moderation"] = Post.Moderation.NONE
        else:
            marks["moderation"] = Post.Moderation.DELETED
            Post.objects.filter(pk=post.pk, deleted_at__isnull=True).update(deleted_at=now)
        Post.objects.filter(pk=post.pk).update(**marks)
        post.refresh_from_db()
    event = record_event(
        post.case,
        CaseEvent.Kind.MODERATED,
        actor=person,
        post=post,
        **_event_data(outcome, person, reason, source),
    )
    _tell_incident(post.case, event, person, incident)
    if outcome.done:  # outbound webhook ``post.moderated`` (outbound_signals)
        action, case = outcome.action, post.case
        transaction.on_commit(
            lambda: signals.post_moderated.send(
                Post,
                post=post,
                case=case,
                action=action,
                actor=person,
                reason=reason,
                source=source,
            )
        )


def record_outcome(outcome: Outcome, *, actor: Any, reason: str = "", source: str = "") -> None:
    """Mark and audit what a platform answered outside ``moderate`` as ``moderate`` does (the
    demo replays a past hide this way)."""
    with transaction.atomic():
        _record(outcome, actor=actor, reason=reason, source=source, incident=None)


def _event_data(outcome: Outcome, person: Any, reason: str, source: str) -> dict[str, Any]:
    post = outcome.post
    data: dict[str, Any] = {
        "action": outcome.action,
        "outcome": outcome.result,
        "what": noun(post),
        "platform": post.platform,
        "platform_label": str(post.get_platform_display()),
        "by": user_label(person) or source or "the system",
        "reason": reason,
    }
    if source:
        data["source"] = source
    if not outcome.done:
        data["error"] = outcome.message[:2000]
    if outcome.answer:
        data["answer"] = outcome.answer
    return data


def _tell_incident(case: Case, event: CaseEvent, person: Any, incident: Incident | None) -> None:
    """The same line on the case's incident, while it is not resolved."""
    incident = incident or case.incident
    if incident is None or incident.status == Incident.Status.RESOLVED:
        return
    incident_event(
        incident,
        "moderated",
        actor=person,
        summary=f"{case.reference}: {event.summary()}",
        cases=[case.reference],
    )


def record_skip(outcome: Outcome, *, actor: Any, reason: str, source: str) -> CaseEvent:
    """A comment a step left alone because its platform cannot do it, on the post's case."""
    post = outcome.post
    person = actor if getattr(actor, "pk", None) else None
    return record_event(
        post.case,
        CaseEvent.Kind.MODERATED,
        actor=person,
        post=post,
        **_event_data(outcome, person, reason, source),
    )


# The playbook step ------------------------------------------------------------------------------
@dataclass
class MatchReport:
    hidden: int = 0
    skipped: int = 0
    failed: int = 0


def matching_word(text: str, words: Iterable[str]) -> str:
    """The first of ``words`` that ``text`` contains (case-insensitive), or ""."""
    folded = text.casefold()
    for word in words:
        if word and word.casefold() in folded:
            return word
    return ""


def hide_matching(
    case: Case,
    words: list[str],
    *,
    actor: Any,
    source: str,
    incident: Incident | None = None,
    paused: dict[str, float] | None = None,
) -> MatchReport:
    """Hide ``case``'s inbound public comments whose text contains one of ``words``
    (case-insensitive): each attempt is audited; a comment its platform cannot hide is recorded
    as skipped. ``paused`` (platform → monotonic time) carries rate limits from case to case of
    one step run, so a platform that said "slow down" is not asked again in that run."""
    report = MatchReport()
    paused = paused if paused is not None else {}
    posts = (
        Post.objects.filter(
            case=case,
            direction=Post.Direction.INBOUND,
            visibility=Visibility.PUBLIC,
            moderation=Post.Moderation.NONE,
            deleted_at__isnull=True,
        )
        .exclude(text="")
        .order_by("posted_at", "pk")
    )
    for post in posts:
        word = matching_word(post.text, words)
        if not word:
            continue
        reason = f"contains {word!r} ({source})"
        until = paused.get(post.platform, 0.0)
        if until > time.monotonic():
            outcome = Outcome(
                post,
                HIDE,
                SKIPPED,
                f"{post.get_platform_display()} asked us to slow down; hide it from the case "
                "page later.",
            )
        else:
            outcome = moderate(
                post,
                HIDE,
                actor=actor,
                reason=reason,
                source=source,
                incident=incident,
                check_permission=False,
            )
        if outcome.result == SKIPPED:
            post.case = case
            record_skip(outcome, actor=actor, reason=reason, source=source)
            report.skipped += 1
        elif outcome.done:
            report.hidden += 1
        else:
            report.failed += 1
            if outcome.transient and outcome.retry_after:
                paused[post.platform] = time.monotonic() + outcome.retry_after
    return report
