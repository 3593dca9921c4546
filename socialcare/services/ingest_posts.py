"""One event into posts on cases (``services.ingest`` runs them per delivery or batch): a new
post de-duplicated, scored and threaded into its case (the threading rules of
docs/ingestion.md), the brand's own posts coming back, edits and platform deletes. A post that
arrives out of order has its case put right by ``services.case_facts``."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.models import Case, CaseEvent, Channel, Post, SocialIdentity
from socialcare.models.choices import PRIORITY_RANK, Priority
from socialcare.platforms.base import (
    InboundPost,
    PostDeletion,
    PostEdit,
)
from socialcare.services import (
    case_facts,
    change_seq,
    history,
    private_replies,
    private_threads,
    sla,
)
from socialcare.services import cases as case_services
from socialcare.services.csat import answers as csat_answers
from socialcare.services.events import record_event, written_together
from socialcare.services.identities import (
    upsert_identity,
)
from socialcare.services.ingest_batch import (
    _batch,
    _childless,
    _known,
    _known_absent,
    _lock_channel,
    _silent,
)
from socialcare.services.routing.after_commit import routed_together
from socialcare.services.timeline import record_post_event, record_post_events

logger = logging.getLogger("socialcare.ingest")


OUTBOUND = Post.Direction.OUTBOUND
INBOUND = Post.Direction.INBOUND


@dataclass(frozen=True)
class IngestResult:
    action: str  # created | duplicate | edited | deleted | tombstone
    post: Post | None = None
    case: Case | None = None
    case_created: bool = False

    @property
    def created(self) -> bool:
        return self.action == "created"


def find_post(channel: Channel, platform: str, ref: str) -> Post | None:
    """The post a platform reference names: its global id, or its id on the brand's server."""
    if not ref or _known("no_post", (platform, ref)):
        return None
    return (
        Post.objects.filter(platform=platform)
        .filter(Q(external_id=ref) | Q(channel=channel, local_id=ref))
        .select_related("case")
        .first()
    )


_live = case_facts.live_case


@transaction.atomic(savepoint=False)  # a batch's event already runs in its own savepoint
def ingest_post(
    channel: Channel, item: InboundPost, *, edited_at: dt.datetime | None = None
) -> IngestResult:
    _lock_channel(channel)
    if _known_absent(item.platform, item.external_id):
        existing = None
    else:
        existing = Post.objects.filter(platform=item.platform, external_id=item.external_id).first()
    deleted_at = None
    if existing is not None:
        if not (existing.raw or {}).get("tombstone"):
            _redate_edited_first(existing, item)
            return IngestResult("duplicate", existing, existing.case)
        # Its delete came first. Record the post as one ordered pass would have, then delete it.
        deleted_at = existing.deleted_at
        existing.delete()
    result = _ingest_new_post(channel, item, edited_at)
    if deleted_at is not None:
        ingest_deletion(channel, PostDeletion(item.platform, item.external_id, deleted_at))
    return result


def _redate_edited_first(post: Post, item: InboundPost) -> None:
    """A post recorded from its edit (the edit came first: Messenger's ``message_edit`` is dated
    when edited) takes its real time when the original comes, and its case follows."""
    if post.edited_at is None or item.posted_at >= post.posted_at:
        return
    Post.objects.filter(pk=post.pk).update(posted_at=item.posted_at)
    CaseEvent.objects.filter(
        post=post, kind__in=(CaseEvent.Kind.POST_ADDED, CaseEvent.Kind.REPLIED), at=post.posted_at
    ).update(at=item.posted_at)
    if post.case_id:  # a case it opened opened then (``settle`` moves the rest)
        Case.objects.filter(pk=post.case_id, created_at=post.posted_at).update(
            created_at=item.posted_at
        )
        CaseEvent.objects.filter(
            case=post.case_id, kind=CaseEvent.Kind.CREATED, at=post.posted_at
        ).update(at=item.posted_at)
    post.posted_at = item.posted_at
    if post.case_id:
        case_facts.settle(_live(post.case))


def _ingest_new_post(
    channel: Channel, item: InboundPost, edited_at: dt.datetime | None
) -> IngestResult:
    parent = find_post(channel, item.platform, item.in_reply_to)
    if item.direction == OUTBOUND:
        return _ingest_outbound(channel, item, parent)

    # Some deliveries do not name the author (Instagram mentions): no identity, never a shared one.
    batch = _batch.get()
    key = (item.author.platform, item.author.external_id)
    unseen = batch is not None and key in batch.identities and batch.identities[key] is None
    identity = (
        upsert_identity(
            item.author,
            seen_at=item.posted_at,
            cache=batch.identities if batch is not None else None,
        )
        if item.author.external_id
        else None
    )
    if unseen and identity is not None and identity.pk in batch.identities.created:
        batch.caseless.add(identity.pk)  # created by this batch: no case can have it yet
    from socialcare import scoring

    mood = scoring.sentiment(item.text, language=item.language)
    score = scoring.priority_score(
        sentiment=mood,
        followers=identity.followers_count if identity else 0,
        verified=identity.platform_verified if identity else False,
    )
    priority = scoring.priority_for(score, mood)
    old = history.is_history(item.posted_at)
    talked = item.visibility == "private" and not _known(
        "quiet", (item.platform, item.conversation_id)
    )
    with written_together():  # the case's "created" event and this post's, one INSERT
        case, case_created = _case_for(channel, identity, item, parent, priority, old)
        post = _store_post(
            channel,
            item,
            parent,
            case,
            author=identity,
            direction=INBOUND,
            edited_at=edited_at,
            sentiment=mood,
            reach=identity.followers_count if identity else 0,
            from_history=old,
        )
        record_event(
            case,
            CaseEvent.Kind.POST_ADDED,
            post=post,
            at=item.posted_at,
            text=item.text[:280],
            author=str(identity) if identity else "unknown",
            score=score,
            case_created=case_created,
        )
    if parent is not None and parent.direction == OUTBOUND and parent.case_id is None:
        # The brand's message this answers (an echo seen before any case) joins the case too.
        Post.objects.filter(pk=parent.pk).update(case=case)
        record_post_events(case, [parent.pk])  # its "replied" event, at its time
    late = _after_inbound(case, post, priority, case_created)
    if case.status == Case.Status.RESOLVED and post.visibility == "private":
        csat_answers.record_from_post(post, case)  # the answer to its CSAT survey, if it is one
    if batch is not None:
        batch.stored(post)
        batch.caseless.discard(identity.pk if identity else None)
        if not old:
            batch.observed.append(post)  # shown to the detectors once the batch commits
    elif not old:
        transaction.on_commit(lambda: _watch_for_crisis([post]))
    adopted = _adopt_children(channel, post, case)
    echoes = talked and not _known("echoless", (post.platform, post.conversation_id))
    if (echoes and private_threads.adopt_echoes(post, case)) or adopted or late:
        case_facts.settle(_live(case))  # arrived out of order: what an in-order pass gives
    from socialcare.services.mention_details import after_ingest

    after_ingest(post)  # an Instagram mention names only ids: its text and author are fetched
    transaction.on_commit(
        lambda: signals.post_received.send(Post, post=post, case=case, case_created=case_created)
    )
    return IngestResult("created", post, case, case_created)


def _store_post(
    channel: Channel, item: InboundPost, parent: Post | None, case: Case | None, **fields: Any
) -> Post:
    """INSERT the post a platform item describes (its texts, ids and times cut to the columns),
    with the direction-specific ``fields``."""
    return Post.objects.create(
        platform=item.platform,
        external_id=item.external_id,
        channel=channel,
        kind=item.kind,
        visibility=item.visibility,
        text=item.text,
        html=item.html,
        url=item.url[:1000],
        in_reply_to_external_id=item.in_reply_to[:500],
        parent=parent,
        conversation_id=item.conversation_id[:500],
        local_id=item.local_id[:100],
        language=item.language[:16],
        posted_at=item.posted_at,
        attachments=list(item.attachments),
        raw=dict(item.raw),
        case=case,
        **fields,
    )


def _watch_for_crisis(posts: list[Post]) -> None:
    """Step 3 of the flow: detectors see every committed customer post (a batch's posts in one
    pass). A detector failing must not fail the delivery (the posts are stored); it is logged."""
    from socialcare.services import detectors

    if not posts:
        return
    try:
        # The cases the detectors and the playbooks' steps change take their change numbers
        # once, at the end, and auto-assignment looks at them together after the commit.
        with (
            transaction.atomic(),
            sla.policies_cached(),
            change_seq.bumped_together(),
            routed_together(),
        ):
            detectors.observe_posts(posts)
    except Exception:
        logger.exception("Detectors failed on posts %s", [p.pk for p in posts])
    from socialcare.services.out_of_hours import posts_arrived

    posts_arrived(posts)  # after the detectors: an incident they open gates it


def _case_for(
    channel: Channel,
    identity: SocialIdentity,
    item: InboundPost,
    parent: Post | None,
    priority: str,
    from_history: bool,
) -> tuple[Case, bool]:
    """The case this customer post belongs to, reopening or opening one as the rules say."""
    for candidate in _candidate_cases(channel, identity, item, parent):
        case = _usable(candidate, item)
        if case is not None:
            return case, False
    subject = case_facts.auto_subject(item.text, item.kind, identity)
    case = case_services.open_case(
        channel=channel,
        identity=identity,
        subject=subject,
        priority=priority,
        visibility=item.visibility,
        opened_at=item.posted_at,
        last_inbound_at=item.posted_at,
        from_history=from_history,
    )
    return case, True


def _candidate_cases(
    channel: Channel, identity: SocialIdentity, item: InboundPost, parent: Post | None
):
    """Cases this post may join, best first: its parent's, its early-arrived replies', its
    conversation's, and for private messages the customer's open one. Only cases of this same
    customer qualify: someone else replying in a thread gets a case of their own."""

    if identity is None:
        return  # an unnamed author matches nobody's case

    def mine(case: Case | None) -> Case | None:
        case = _live(case)
        if case is not None and case.identity_id in (identity.pk, None):
            return case
        return None

    if parent is not None and parent.case_id:
        yield mine(parent.case)
    if item.visibility == "private" and not _known("quiet", (item.platform, item.conversation_id)):
        yield private_replies.answered_case(item, _usable)  # answers a private reply: its case
    refs = [r for r in (item.external_id, item.local_id) if r]
    child = (
        Post.objects.filter(
            platform=item.platform, in_reply_to_external_id__in=refs, case__isnull=False
        )
        .filter(Q(author=identity) | Q(direction=OUTBOUND))
        .select_related("case")
        .order_by("posted_at", "pk")
        .first()
        if not _childless(item.platform, refs)
        else None
    )
    if child is not None:
        yield mine(child.case)
    if (
        item.conversation_id
        and not _known("quiet", (item.platform, item.conversation_id))
        and not _silent(item.platform, item.conversation_id, identity.pk)
    ):
        sibling = (
            Post.objects.filter(
                platform=item.platform,
                conversation_id=item.conversation_id,
                author=identity,
                case__isnull=False,
            )
            .select_related("case")
            .order_by("-posted_at", "-pk")
            .first()
        )
        if sibling is not None:
            yield mine(sibling.case)
    if item.visibility == "private" and not _known("caseless", identity.pk):
        recent = (
            Case.objects.filter(identity=identity, merged_into__isnull=True)
            .exclude(status=Case.Status.CLOSED)
            .order_by(
                # An open case first, then the most recently resolved one.
                F("resolved_at").desc(nulls_first=True),
                "-created_at",
            )
            .first()
        )
        yield recent


def _usable(case: Case | None, item: InboundPost) -> Case | None:
    """``case`` if this post may join it (reopening it when needed), else None."""
    if case is None:
        return None
    if case.is_open:
        if case.status == Case.Status.WAITING_ON_CUSTOMER:
            case_services.change_status(case, Case.Status.OPEN, reason="customer replied")
        return case
    ended_at = case.closed_at if case.status == Case.Status.CLOSED else case.resolved_at
    if ended_at is not None and item.posted_at <= ended_at:
        return case  # a late delivery of something said before the case ended
    if case.status == Case.Status.RESOLVED and csat_answers.answers_survey(
        case, item.text, item.visibility, item.language
    ):
        return case  # a rating answering the case's CSAT survey joins it without reopening it
    if (
        case.status == Case.Status.RESOLVED
        and timezone.now() - case.resolved_at <= app_settings.REOPEN_WINDOW
    ):
        if history.is_history(item.posted_at):
            return case  # history joins quietly: it pages no one, so it reopens nothing
        case_services.reopen_case(case, reason="customer wrote again")
        return case
    return None


def _after_inbound(case: Case, post: Post, priority: str, case_created: bool) -> bool:
    """Keep the case's clocks and priority in step with a new customer post. Returns whether
    the post came out of order (older than what the case holds, or the first live post of a
    case from history): ``case_facts.settle`` then puts the case right."""
    updates: dict = {}
    late = not case_created and (
        post.posted_at < max(filter(None, (case.created_at, case.last_outbound_at)))
        or (case.from_history and not post.from_history)
    )
    if case.last_inbound_at is None or post.posted_at > case.last_inbound_at:
        updates["last_inbound_at"] = post.posted_at
        policy = case.sla_policy
        if (
            case.first_responded_at
            and policy
            and policy.next_response_minutes
            and not post.from_history
        ):
            calendar = sla.calendar_for(case)
            updates["next_response_due_at"] = sla.add_business_time(
                post.posted_at, dt.timedelta(minutes=policy.next_response_minutes), calendar
            )
    if updates:
        Case.objects.update_by_pk(case.pk, **updates, updated_at=timezone.now())
        for name, value in updates.items():
            setattr(case, name, value)
    if (
        not case_created
        and PRIORITY_RANK[Priority(priority)] > PRIORITY_RANK[Priority(case.priority)]
    ):
        case_services.raise_priority(case, priority, reason=f"new post scored {priority}")
    return late


def _adopt_children(channel: Channel, post: Post, case: Case | None) -> bool:
    """Link replies that arrived before this post, and fold this customer's cases that such
    replies opened into this post's case (what one ordered pass would have given). Returns
    whether any was linked."""
    refs = [r for r in (post.external_id, post.local_id) if r]
    if _childless(post.platform, refs):
        return False
    children = Post.objects.filter(
        platform=post.platform, in_reply_to_external_id__in=refs, parent__isnull=True
    ).exclude(pk=post.pk)
    if not children.exists():
        return False
    children.update(parent=post)
    if case is None:
        return True
    for child in Post.objects.filter(parent=post).exclude(case=case).select_related("case"):
        other = _live(child.case)
        if other is None:
            if child.direction == OUTBOUND:
                Post.objects.filter(pk=child.pk).update(case=case)
                record_post_events(case, [child.pk])  # its "replied" event, at its time
            continue
        if (
            other.pk != case.pk
            and other.identity_id == case.identity_id
            and not other.merged_into_id
        ):
            case_services.merge_cases(other, case)
    return True


def _ingest_outbound(channel: Channel, item: InboundPost, parent: Post | None) -> IngestResult:
    """The brand's own post seen coming back (sent natively on the platform, or an echo)."""
    case = _live(parent.case) if parent is not None else None
    refs = [r for r in (item.external_id, item.local_id) if r]
    if case is None and not _childless(item.platform, refs):
        child = (
            Post.objects.filter(
                platform=item.platform, in_reply_to_external_id__in=refs, case__isnull=False
            )
            .select_related("case")
            .first()
        )
        case = _live(child.case) if child else None
    if case is None and not _known("quiet", (item.platform, item.conversation_id)):
        case = private_threads.echo_case(item)  # a DM from the platform's inbox
    post = _store_post(
        channel, item, parent, case, direction=OUTBOUND, send_status=Post.SendStatus.SENT
    )
    batch = _batch.get()
    if batch is not None:
        batch.stored(post)
    if case is not None:
        record_post_event(case, post)  # "replied", via the platform, at the post's time
        from socialcare.services.replies import note_response

        note_response(case, post.posted_at)
    _adopt_children(channel, post, case)
    if case is not None:
        # Made on the platform, it may answer a post that came after it, or precede the post
        # it answers: the case's response times and alerts follow what happened.
        case = case_facts.settle(_live(case))
    return IngestResult("created", post, case)


# Edits and deletes -----------------------------------------------------------------------------
@transaction.atomic
def ingest_edit(channel: Channel, edit: PostEdit) -> IngestResult:
    _lock_channel(channel)
    item = edit.post
    post = Post.objects.filter(platform=item.platform, external_id=item.external_id).first()
    if post is None:
        return ingest_post(channel, item, edited_at=edit.edited_at)
    if post.deleted_at or (post.edited_at and edit.edited_at <= post.edited_at):
        return IngestResult("duplicate", post, post.case)
    alias = item.local_id[:100]
    if alias and post.local_id != alias:
        # X: each version has an id of its own; replies to the newest one thread to this post.
        Post.objects.filter(pk=post.pk).update(local_id=alias)
        post.local_id = alias
        _adopt_children(channel, post, post.case)
    if post.text == item.text:
        return IngestResult("duplicate", post, post.case)
    old_text = post.text
    Post.objects.filter(pk=post.pk).update(text=item.text, html=item.html, edited_at=edit.edited_at)
    post.refresh_from_db()
    if post.case_id and post.direction == INBOUND:
        # A subject taken from this post's words follows them (an edit that arrives before
        # its post gives the same subject); one an agent wrote stays.
        old_subject = case_facts.auto_subject(old_text, post.kind, post.author)
        Case.objects.filter(pk=post.case_id, subject=old_subject).update(
            subject=case_facts.auto_subject(item.text, post.kind, post.author)[:200]
        )
    if post.case_id:
        record_event(
            post.case,
            CaseEvent.Kind.POST_EDITED,
            post=post,
            at=edit.edited_at,
            old_text=old_text,
            text=item.text[:2000],
        )
    return IngestResult("edited", post, post.case)


@transaction.atomic
def ingest_deletion(channel: Channel, deletion: PostDeletion) -> IngestResult:
    """Honour the customer's delete: the post's text, HTML, URL, media and raw payload are
    removed and the words quoted in its case events dropped; the row stays (its times, case
    link, sentiment) so the case statistics hold. A delete that arrives before its post leaves
    a tombstone, so the late post is never shown (docs/privacy.md)."""
    from socialcare.services.privacy import clear_post_content, scrub_events

    _lock_channel(channel)
    post = Post.objects.filter(
        platform=deletion.platform, external_id=deletion.external_id
    ).first() or (
        # X: deleting any version of an edited post deletes it; a later version's id is the
        # post's alias (``ingest_edit``).
        Post.objects.filter(
            platform=deletion.platform, channel=channel, local_id=deletion.external_id
        ).first()
    )
    if post is None:
        post = Post.objects.create(
            platform=deletion.platform,
            external_id=deletion.external_id,
            channel=channel,
            direction=INBOUND,
            kind=Post.Kind.MENTION,
            visibility="public",
            posted_at=deletion.deleted_at,
            deleted_at=deletion.deleted_at,
            raw={"tombstone": True},
        )
        _adopt_children(channel, post, None)
        return IngestResult("tombstone", post, None)
    if post.deleted_at:
        return IngestResult("duplicate", post, post.case)
    Post.objects.filter(pk=post.pk).update(deleted_at=deletion.deleted_at)
    clear_post_content(Post.objects.filter(pk=post.pk))
    scrub_events(CaseEvent.objects.filter(post=post), "deleted on the platform")
    quoted = " ".join(post.text.split())[:120]
    if post.case_id and quoted:
        # A case opened by this post took its words as the subject.
        Case.objects.filter(pk=post.case_id, subject=quoted).update(subject="")
    post.refresh_from_db()
    if post.case_id:
        record_event(
            post.case,
            CaseEvent.Kind.POST_DELETED,
            post=post,
            at=deletion.deleted_at,
            text="The customer deleted this post on the platform.",
        )
    return IngestResult("deleted", post, post.case)
