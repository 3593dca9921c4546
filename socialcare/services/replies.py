"""Replies from a case: queued as outbound posts, sent by a worker with retries.

A reply is stored (``queued``) and recorded in the timeline at once; the worker sends it through
the channel's transport. Rate limits and platform errors are retried with exponential backoff
(honouring Retry-After); a reply the platform refuses, or that runs out of attempts, is marked
``failed`` with the error on the case. X direct messages wait for X's send limits instead, and
X's 429 for them is not a failed attempt (``services.send_pacing``). First-response time is the
moment a reply is sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import Case, CaseEvent, Post, ReplyTemplate, Visibility
from socialcare.platforms import x as x_platform
from socialcare.platforms import x_text
from socialcare.platforms.base import (
    OutboundMessage,
    RateLimited,
    SendError,
    TransientSendError,
)
from socialcare.services import (
    interrupted_replies,
    out_of_hours,
    private_replies,
    reply_limits,
    send_pacing,
)
from socialcare.services.db_retry import retry_on_deadlock
from socialcare.services.events import record_event
from socialcare.services.reply_window import (
    META_PLATFORMS,
    ReplyWindow,
    allows_public_reply,
    public_reply_refusal,
    reply_target,
    reply_window,
)
from socialcare.services.templates import check_length, render_reply_template
from socialcare.transports import UnconfirmedSend

logger = logging.getLogger("socialcare.replies")

#: Backoff before retry n (1-based), in seconds, unless the platform asks for longer.
BACKOFF_BASE_SECONDS = 15


@retry_on_deadlock
@transaction.atomic
def send_reply(
    case: Case,
    text: str = "",
    *,
    actor: Any,
    visibility: str = Visibility.PUBLIC,
    in_reply_to: Post | None = None,
    template: ReplyTemplate | None = None,
    preapproved: bool = False,
) -> Post:
    """Queue a reply on ``case``: public (threaded to ``in_reply_to`` or the latest customer post)
    or private (a direct message, or an email on email channels). Returns the outbound post.

    Refused before anything is stored when the platform would refuse it: a private message
    outside the case's reply window (``services.reply_window``: Meta's 24 hours, or 7 days with
    the Human Agent permission) — unless, on Facebook and Instagram, it can go as the one private
    reply to the customer's latest comment (``services.private_replies``) —, a public reply on X
    to a post that does not @mention the brand or quote it, a post on X over 280 weighted
    characters, a Mastodon reply over its server's limit with the ``@user`` it starts with
    counted (``services.reply_limits``).

    While the case's incident requires approval, a public reply by an agent is stored
    ``awaiting_approval`` instead of queued (see ``approve_reply``); replies by the system and
    ``preapproved`` ones (a playbook's holding reply) are not held."""
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("channel", "identity", "customer")
        .get(pk=case.pk)
    )
    if template is not None and not text:
        text = render_reply_template(template, case, actor)
    text = (text or "").strip()
    if not text:
        raise SocialCareError("A reply needs some text.")
    if case.merged_into_id:
        raise SocialCareError(f"{case.reference} was merged; reply on the case it was merged into.")
    if case.status == Case.Status.CLOSED:
        raise SocialCareError(
            f"{case.reference} is closed; open a new case to write to the customer."
        )
    channel = case.channel
    if channel is None:
        raise SocialCareError(f"{case.reference} has no channel to reply through.")
    if visibility not in Visibility.values:
        raise SocialCareError(f"Unknown visibility {visibility!r}.")
    if channel.platform == "x" and visibility == Visibility.PUBLIC:
        check_x_length(text)
    elif channel.platform == "mastodon":  # the server's own limit, the @mention counted
        reply_limits.check_mastodon_length(text, channel, getattr(case.identity, "handle", ""))
    else:
        check_length(text, channel.platform, visibility)
    parent = private_reply_to = None
    if visibility == Visibility.PUBLIC:
        if not channel.can_reply_public:
            raise SocialCareError(f"{channel} cannot reply publicly; send a private message.")
        parent = in_reply_to or reply_target(case)
        if parent is None:
            raise SocialCareError(
                public_reply_refusal(case)
                or f"{case.reference} has no public customer post to reply to; send a private "
                "message."
            )
        if parent.case_id != case.pk:
            raise SocialCareError("That post is not part of this case.")
        if not allows_public_reply(parent, channel):
            raise SocialCareError(
                f"That post does not @mention the brand or quote one of its posts: "
                f"{x_platform.REPLY_RULE}. Send a direct message instead."
            )
        kind = Post.Kind.REPLY
    else:
        if not channel.can_message_private:
            raise SocialCareError(f"{channel} cannot send private messages.")
        if channel.platform != "email" and case.identity_id is None:
            raise SocialCareError(f"{case.reference} has no social identity to message.")
        window = reply_window(case, automated=not getattr(actor, "pk", None))
        if not window.open and channel.platform in META_PLATFORMS:
            # A commenter can still get one private reply to their comment (7 days).
            private_reply_to = private_replies.private_reply_fallback(case, window)
        elif not window.open:
            raise SocialCareError(window.refusal)
        parent = private_reply_to or in_reply_to
        kind = Post.Kind.EMAIL if channel.platform == "email" else Post.Kind.DIRECT_MESSAGE
    post = Post.objects.create(
        platform=channel.platform,
        channel=channel,
        direction=Post.Direction.OUTBOUND,
        kind=kind,
        visibility=visibility,
        text=text,
        parent=parent,
        in_reply_to_external_id=(parent.external_id or "") if parent else "",
        conversation_id=parent.conversation_id if parent else "",
        posted_at=timezone.now(),
        case=case,
        sent_by=actor if getattr(actor, "pk", None) else None,
        send_status=Post.SendStatus.QUEUED,
        **private_replies.queued_fields(private_reply_to),
    )
    held = needs_approval(case, visibility, actor) and not preapproved
    record_event(
        case,
        CaseEvent.Kind.REPLIED,
        actor=actor,
        post=post,
        text=text[:2000],
        visibility=visibility,
        template=template.name if template else "",
        held_for_approval=held,
    )
    if held:
        Post.objects.filter(pk=post.pk).update(send_status=Post.SendStatus.AWAITING_APPROVAL)
        post.send_status = Post.SendStatus.AWAITING_APPROVAL
    else:
        queue_send(post)
    return post


def check_x_length(text: str) -> None:
    """Refuse a post X would refuse for its length: over 280 weighted characters
    (``platforms.x_text.weighted_length``: CJK characters and emoji count 2, every link 23)."""
    weight = x_text.weighted_length(text)
    if weight > x_text.MAX_WEIGHTED_LENGTH:
        raise SocialCareError(
            f"{weight} characters is over the {x_text.MAX_WEIGHTED_LENGTH}-character limit "
            "for a post on X, counted as X counts them (CJK characters and emoji 2, every link "
            "23)."
        )


def needs_approval(case: Case, visibility: str, actor: Any) -> bool:
    """A public reply by an agent on a case whose active incident requires approval."""
    if visibility != Visibility.PUBLIC or not getattr(actor, "pk", None) or not case.incident_id:
        return False
    incident = case.incident
    return incident.requires_approval and incident.is_active


@transaction.atomic
def approve_reply(post: Post, *, approver: Any) -> Post:
    """A second agent lets a held public reply go out."""
    post = Post.objects.select_for_update(of=("self",)).select_related("case").get(pk=post.pk)
    if post.send_status != Post.SendStatus.AWAITING_APPROVAL:
        raise SocialCareError("This reply is not waiting for approval.")
    if not approver.has_perm("socialcare.approve_reply"):
        raise SocialCareError("You do not have permission to approve replies.")
    if post.sent_by_id == approver.pk:
        raise SocialCareError("A reply must be approved by someone other than its author.")
    Post.objects.filter(pk=post.pk).update(send_status=Post.SendStatus.QUEUED)
    post.refresh_from_db()
    record_event(
        post.case,
        CaseEvent.Kind.NOTE,
        actor=approver,
        post=post,
        text=f"Reply approved by {approver.get_username()}.",
        approval="approved",
    )
    queue_send(post)
    return post


@transaction.atomic
def reject_reply(post: Post, *, approver: Any, reason: str = "") -> Post:
    """A second agent stops a held public reply; it is kept, marked failed, with the reason."""
    post = Post.objects.select_for_update(of=("self",)).select_related("case").get(pk=post.pk)
    if post.send_status != Post.SendStatus.AWAITING_APPROVAL:
        raise SocialCareError("This reply is not waiting for approval.")
    if not approver.has_perm("socialcare.approve_reply"):
        raise SocialCareError("You do not have permission to approve replies.")
    error = f"Not approved by {approver.get_username()}" + (f": {reason}" if reason else ".")
    Post.objects.filter(pk=post.pk).update(send_status=Post.SendStatus.FAILED, send_error=error)
    post.refresh_from_db()
    record_event(
        post.case, CaseEvent.Kind.NOTE, actor=approver, post=post, text=error, approval="rejected"
    )
    return post


def queue_send(post: Post, delay: float = 0) -> None:
    from socialcare import tasks

    transaction.on_commit(lambda: tasks.enqueue_send_post(post.pk, delay=delay))


def outbound_message(post: Post, window: ReplyWindow | None = None) -> OutboundMessage:
    """What the transport needs to send ``post`` (a private message with the Meta messaging
    type and tag of ``window``)."""
    from socialcare.models import customer_email

    case = post.case
    identity = case.identity if case else None
    parent = post.parent
    recipient = identity.external_id if identity else ""
    if case and post.platform in META_PLATFORMS and post.visibility == Visibility.PRIVATE:
        # The customer's Messenger / Direct conversation: after a private reply, its author is
        # not the case's identity (the commenter).
        recipient = private_replies.private_recipient(case) or recipient
    if post.platform == "email":
        recipient = customer_email(case.customer) if case else ""
        recipient = recipient or (
            identity.external_id if identity and identity.platform == "email" else ""
        )
    return OutboundMessage(
        text=post.text,
        visibility=post.visibility,
        in_reply_to=parent.external_id or "" if parent else "",
        in_reply_to_local_id=parent.local_id if parent else "",
        conversation_id=post.conversation_id or (case.subject if case else ""),
        recipient=recipient,
        recipient_handle=identity.handle if identity else "",
        idempotency_key=f"socialcare-post-{post.pk}",
        parent_raw=dict(parent.raw) if parent else {},
        messaging_type=window.messaging_type if window else "",
        tag=window.tag if window else "",
        private_reply_to=private_replies.private_reply_comment_id(post),
    )


def deliver_post(post_id: int) -> Post | None:
    """Send a queued outbound post once. Only a ``queued`` post is claimed, so a duplicate task
    never sends twice. Returns the post (sent, re-queued with a delay, or failed)."""
    from socialcare.transports import get_transport

    claim = send_pacing.claim(post_id)  # X DMs wait for X's send limits (services/send_pacing)
    post = (
        Post.objects.select_related("channel", "case", "parent", "case__identity", "case__customer")
        .filter(pk=post_id)
        .first()
    )
    if claim.wait_until is not None and post is not None:
        return send_pacing.wait(post, claim)
    if not claim.claimed or post is None:
        return post
    window = None
    if private_replies.is_private_reply(post):  # its own rule (7 days, once), not the window
        refusal = private_replies.send_time_refusal(post)
        if refusal:
            return _fail(post, refusal)
    elif post.visibility == Visibility.PRIVATE and post.platform in META_PLATFORMS and post.case_id:
        # It may have closed since the reply was queued.
        window = reply_window(post.case, automated=post.sent_by_id is None)
        if not window.open:
            return _fail(post, window.refusal)
    try:
        sent = get_transport().send(post.channel, outbound_message(post, window))
    except TransientSendError as exc:
        return _retry_or_fail(post, exc)
    except UnconfirmedSend as exc:  # may be out: never re-sent automatically
        return _fail(post, str(exc), unconfirmed=True)
    except SendError as exc:
        return _fail(post, str(exc))
    except Exception as exc:  # an unexpected transport bug must not leave the post "sending"
        logger.exception("Sending post %s failed", post.pk)
        return _fail(post, f"{type(exc).__name__}: {exc}")
    with transaction.atomic():
        Post.objects.filter(pk=post.pk).update(
            send_status=Post.SendStatus.SENT,
            send_error="",
            external_id=sent.external_id or None,
            url=sent.url[:1000],
            local_id=sent.local_id[:100],
            posted_at=sent.posted_at or timezone.now(),
            **private_replies.sent_fields(post, sent),
        )
        post.refresh_from_db()
        if post.case_id and out_of_hours.counts_as_response(post):  # not an acknowledgement
            note_response(post.case, post.posted_at)
        transaction.on_commit(lambda: signals.reply_sent.send(Post, post=post, case=post.case))
    return post


def _retry_or_fail(post: Post, exc: TransientSendError) -> Post:
    if isinstance(exc, RateLimited) and send_pacing.is_paced(post):  # not a failed attempt
        return send_pacing.wait_for_reset(post, exc)
    if post.send_attempts >= app_settings.SEND_MAX_ATTEMPTS:
        return _fail(post, f"{exc} (gave up after {post.send_attempts} attempts)")
    delay = max(exc.retry_after or 0, BACKOFF_BASE_SECONDS * 2 ** (post.send_attempts - 1))
    with transaction.atomic():
        Post.objects.filter(pk=post.pk).update(
            send_status=Post.SendStatus.QUEUED, send_error=f"{exc}; retrying in {int(delay)} s"
        )
        post.refresh_from_db()
        if post.case_id and post.send_attempts == 1:  # once, not a note per attempt
            record_event(
                post.case,
                CaseEvent.Kind.NOTE,
                post=post,
                text=f"Reply not sent yet: {exc} Retrying in {int(delay)} s "
                f"(up to {app_settings.SEND_MAX_ATTEMPTS} attempts).",
                send_retry=int(delay),
            )
        queue_send(post, delay=delay)
    return post


@transaction.atomic
def _fail(
    post: Post, error: str, *, unconfirmed: bool = False, only_from: str | None = None
) -> Post:
    """Mark ``post`` failed with ``error`` and say so in its case's timeline. ``unconfirmed``:
    it may have been published (see ``UnconfirmedSend``). ``only_from``: only if its status is
    still that one (a sweeper racing a worker that finished)."""
    posts = Post.objects.filter(pk=post.pk)
    if only_from is not None:
        posts = posts.filter(send_status=only_from)
    updated = posts.update(send_status=Post.SendStatus.FAILED, send_error=error[:2000])
    post.refresh_from_db()
    if updated and post.case_id:
        text = (
            f"Reply may have been published; not sent again: {error}"
            if unconfirmed
            else f"Reply could not be sent: {error}"
        )
        record_event(
            post.case,
            CaseEvent.Kind.NOTE,
            post=post,
            text=text,
            **({"unconfirmed_send": True} if unconfirmed else {}),
        )
    return post


def sweep_stale() -> tuple[int, int]:
    """Pick up replies a lost task or a dead worker left behind (the "re-queue stuck replies"
    schedule). A reply still ``queued`` ``STALE_REPLY_AFTER`` after it was written, with no
    retry scheduled, is queued again: the claim in ``deliver_post`` sends it once even if its
    first task turns up after all. A reply still ``sending`` then had its worker die with the
    request maybe out: ``services.interrupted_replies`` looks on the platform (or re-sends with
    the same idempotency key) and marks it sent or queues it again; where the platform cannot be
    asked it is failed as unconfirmed, for an agent to check (never sent twice). Returns
    (re-queued, failed)."""
    from socialcare import tasks

    cutoff = timezone.now() - app_settings.STALE_REPLY_AFTER
    stale = Post.objects.filter(direction=Post.Direction.OUTBOUND, posted_at__lt=cutoff)
    scheduled = tasks.scheduled_sends()
    requeue = [
        pk
        for pk in stale.filter(send_status=Post.SendStatus.QUEUED).values_list("pk", flat=True)
        if pk not in scheduled
    ]
    failed = 0
    sending = stale.filter(send_status=Post.SendStatus.SENDING).order_by("posted_at", "pk")
    sending = sending.select_related("case", "channel", "parent", "case__identity")
    began = time.monotonic()
    for post in sending[: interrupted_replies.LOOKUPS_PER_SWEEP]:
        if time.monotonic() - began > interrupted_replies.SWEEP_BUDGET.total_seconds():
            break  # the others at the next sweep
        outcome = interrupted_replies.settle_interrupted(post)  # looks on the platform first
        if outcome == interrupted_replies.Outcome.REQUEUED:
            requeue.append(post.pk)
        failed += outcome == interrupted_replies.Outcome.FAILED
    for pk in requeue:
        tasks.enqueue_send_post(pk)
    if requeue or failed:
        logger.warning(
            "Reply sweeper: %s re-queued, %s failed as unconfirmed", len(requeue), failed
        )
    return len(requeue), failed


@transaction.atomic
def retry_post(post: Post, *, actor: Any = None) -> Post:
    """Queue a failed reply again (an agent's "retry"). A reply a second agent rejected is not
    retried: that would send it past the approval it was refused."""
    rejected = CaseEvent.objects.filter(
        post=post, kind=CaseEvent.Kind.NOTE, data__approval="rejected"
    ).exists()
    if rejected:
        raise SocialCareError("This reply was not approved; write a new one instead.")
    updated = Post.objects.filter(pk=post.pk, send_status=Post.SendStatus.FAILED).update(
        send_status=Post.SendStatus.QUEUED, send_attempts=0, send_error=""
    )
    if not updated:
        raise SocialCareError("Only a failed reply can be retried.")
    post.refresh_from_db()
    queue_send(post)
    return post


def note_response(case: Case, at: dt.datetime) -> None:
    """A reply reached the customer at ``at``: first response (once), last reply, next-response
    clock stopped."""
    Case.objects.filter(pk=case.pk, first_responded_at__isnull=True).update(first_responded_at=at)
    Case.objects.filter(pk=case.pk).update(next_response_due_at=None, updated_at=timezone.now())
    Case.objects.filter(pk=case.pk).exclude(last_outbound_at__gte=at).update(last_outbound_at=at)
    case.refresh_from_db()
