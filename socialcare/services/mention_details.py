"""Instagram mentions arrive as ids only: their text and author are fetched after ingest.

The ``mentions`` webhook names a media (and, for a mention in a comment, a comment); ingest
stores the post with no text and no author and opens its case ("Mention from unknown author").
:func:`after_ingest` then queues :func:`fetch_details`, which asks the Graph API through the
channel's token (``platforms.meta.mentions``) and completes the post:

- its text (the caption or comment), its URL (the media's permalink), its time (Meta's
  ``timestamp``), sentiment, and ``raw`` = the webhook's ids plus Meta's answer under
  ``"mention"`` (what answering it needs);
- its author: Instagram names the author of a mention by **username only** (never an id), so the
  identity is keyed ``username:<lowercased username>`` (``handle`` = the username as given,
  ``profile_url`` = its instagram.com page). That key is a space of its own: never taken for
  the Instagram-scoped id (``igsid:...``) of a commenter or messager, even with the same handle;
  linking them is an agent's decision. When Meta names no author, the post keeps none;
- its case, opened with the empty text: the subject becomes the text (unless an agent changed
  it), the case gets the identity (and its customer, as a case opened with it would), and the
  priority is scored again with the text (set when untouched since opening; otherwise only
  raised); the timeline says what was fetched.

A fetch that fails for a while (throttled, Meta or the network down) is retried with backoff
(30 s, 60 s, ... up to ``FETCH_ATTEMPTS``), noted on the case's timeline once; a mention Meta
will not show (deleted, no longer visible to the account, no permission, comments disabled) or
that is still failing after the last attempt stays as it is, with a timeline note saying why.
The post is never lost.
"""

from __future__ import annotations

import logging

import httpx
from django.db import transaction
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import Case, CaseEvent, Post
from socialcare.models.choices import PRIORITY_RANK, Priority
from socialcare.platforms.base import (
    InboundIdentity,
    PlatformError,
    TransientSendError,
)
from socialcare.platforms.meta import mentions
from socialcare.services.events import record_event

logger = logging.getLogger("socialcare.mentions")

#: Tries before a mention is left unfetched, and the backoff before retry n (1-based): 30 s · 2ⁿ⁻¹.
FETCH_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 30
#: How an identity known only by its Instagram username is keyed (``external_id``).
USERNAME_KEY = "username:"


def username_key(username: str) -> str:
    """The ``external_id`` of the Instagram identity known only by ``username``."""
    return f"{USERNAME_KEY}{username.strip().lstrip('@').lower()}"


def needs_details(post: Post) -> bool:
    """An Instagram mention still as the webhook left it: inbound, no text, no author, not
    deleted, ids in ``raw`` and nothing fetched yet."""
    raw = post.raw if isinstance(post.raw, dict) else {}
    return (
        post.platform == "instagram"
        and post.kind == Post.Kind.MENTION
        and post.direction == Post.Direction.INBOUND
        and not post.text
        and post.author_id is None
        and post.deleted_at is None
        and mentions.DETAILS_KEY not in raw
        and mentions.mention_ids(raw) is not None
    )


def after_ingest(post: Post) -> None:
    """Queue the fetch of ``post``'s text and author once the ingest commits (when it is an
    Instagram mention that needs it)."""
    if not needs_details(post):
        return
    from socialcare import tasks

    transaction.on_commit(lambda: tasks.enqueue_fetch_mention(post.pk))


def fetch_details(post_id: int, *, attempt: int = 1) -> Post | None:
    """Fetch and store the text and author of the mention ``post_id`` (the worker's task).
    Safe to run twice: a mention already completed is left alone. Returns the post."""
    post = Post.objects.select_related("channel", "case").filter(pk=post_id).first()
    if post is None or not needs_details(post):
        return post
    media_id, comment_id = mentions.mention_ids(post.raw) or ("", "")
    try:
        details = _ask_meta(post, media_id, comment_id)
    except TransientSendError as exc:
        return _retry_or_give_up(post, attempt, exc)
    except PlatformError as exc:  # refused (deleted, not visible, permission), or unreadable
        return _unfetched(post, str(exc))
    except Exception as exc:  # a bug must not lose the post, nor leave no trace
        logger.exception("Fetching mention %s failed", post.pk)
        return _unfetched(post, f"{type(exc).__name__}: {exc}")
    return complete(post, details)


def _ask_meta(post: Post, media_id: str, comment_id: str) -> mentions.MentionDetails:
    from socialcare.services import channel_oauth
    from socialcare.services.ingest import channel_config

    if post.channel is None:
        raise PlatformError("The post has no channel to ask Instagram through.")
    try:
        channel = channel_oauth.refresh_if_expired(post.channel)
    except channel_oauth.ChannelConnectError as exc:
        error = PlatformError if exc.code == "no_refresh_token" else TransientSendError
        raise error(" ".join(exc.messages)) from exc
    with httpx.Client(timeout=app_settings.HTTP_TIMEOUT, follow_redirects=False) as client:
        return mentions.fetch(channel_config(channel), media_id, comment_id, client)


@transaction.atomic
def complete(post: Post, details: mentions.MentionDetails) -> Post:
    """Store what Meta said of the mention ``post``: text, link, time, author, and its case's
    subject, identity and priority (module docstring)."""
    from socialcare import scoring
    from socialcare.services.identities import upsert_identity

    locked = Post.objects.select_for_update().filter(pk=post.pk).first()
    if locked is None or not needs_details(locked):
        return locked or post
    posted_at = details.posted_at or locked.posted_at
    identity = None
    if details.username:
        identity = upsert_identity(
            InboundIdentity(
                platform="instagram",
                external_id=username_key(details.username),
                handle=details.username,
                profile_url=details.profile_url,
            ),
            seen_at=posted_at,
        )
    mood = scoring.sentiment(details.text)
    Post.objects.filter(pk=locked.pk).update(
        text=details.text,
        url=details.permalink or locked.url,
        posted_at=posted_at,
        raw={**locked.raw, mentions.DETAILS_KEY: details.answer},
        author=identity,
        sentiment=mood,
        reach=identity.followers_count if identity else 0,
    )
    locked.refresh_from_db()
    if locked.case_id:
        _complete_case(locked, identity, mood)
    return locked


def _complete_case(post: Post, identity, mood: float) -> None:
    from socialcare import scoring
    from socialcare.services import cases as case_services
    from socialcare.services.case_customers import customer_for_identity, note_on_case

    case = Case.objects.select_for_update().get(pk=post.case_id)
    kind = post.kind.replace("_", " ").capitalize()
    placeholder = f"{kind} from unknown author"  # what ingest names a case with no text
    subject = " ".join(post.text.split())[:120] or (f"{kind} from {identity}" if identity else "")
    updates: dict = {"updated_at": timezone.now()}
    if subject and case.subject == placeholder:
        updates["subject"] = subject
    if identity is not None and case.identity_id is None:
        updates["identity"] = identity
        if case.customer_id is None:
            found = customer_for_identity(identity)
            if found.customer is not None:
                updates["customer"] = found.customer
            note_on_case(case, found)
    Case.objects.filter(pk=case.pk).update(**updates)
    case.refresh_from_db()
    author = f"@{identity.handle}" if identity else "an author Instagram did not name"
    quoted = " ".join(post.text.split())[:280]
    record_event(
        case,
        CaseEvent.Kind.NOTE,
        post=post,
        text=f"Instagram mention fetched: {author} wrote “{quoted}”."
        if quoted
        else f"Instagram mention fetched: {author}, no text.",
        mention="fetched",
        author=identity.handle if identity else "",
    )
    score = scoring.priority_score(sentiment=mood, followers=post.reach, verified=False)
    priority = scoring.priority_for(score, mood)
    reason = f"the fetched mention scored {priority}"
    untouched = not case.events.filter(kind=CaseEvent.Kind.PRIORITY_CHANGED).exists()
    if untouched:
        case_services.change_priority(case, priority, reason=reason)
    elif PRIORITY_RANK[Priority(priority)] > PRIORITY_RANK[Priority(case.priority)]:
        case_services.raise_priority(case, priority, reason=reason)


def _retry_or_give_up(post: Post, attempt: int, exc: TransientSendError) -> Post:
    if attempt >= FETCH_ATTEMPTS:
        return _unfetched(post, f"{exc} (gave up after {attempt} attempts)")
    from socialcare import tasks

    delay = max(exc.retry_after or 0, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    with transaction.atomic():
        if post.case_id and attempt == 1:  # once, not a note per attempt
            record_event(
                post.case,
                CaseEvent.Kind.NOTE,
                post=post,
                text=f"Instagram mention not fetched yet: {exc} Retrying in {int(delay)} s "
                f"(up to {FETCH_ATTEMPTS} attempts).",
                mention="retrying",
            )
        transaction.on_commit(
            lambda: tasks.enqueue_fetch_mention(post.pk, attempt=attempt + 1, delay=delay)
        )
    return post


def _unfetched(post: Post, reason: str) -> Post:
    """Leave the mention as the webhook described it, and say why on its case."""
    logger.warning("Instagram mention %s not fetched: %s", post.pk, reason)
    if post.case_id:
        record_event(
            post.case,
            CaseEvent.Kind.NOTE,
            post=post,
            text=f"The text and author of this Instagram mention could not be fetched: {reason} "
            "The post is kept with the ids Meta sent; look it up on Instagram.",
            mention="unfetched",
            error=reason[:2000],
        )
    return post
