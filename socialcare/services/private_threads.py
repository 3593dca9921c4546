"""The brand's own messages in a private conversation (DMs), made on the platform.

A message the brand sends from the platform's own inbox (Messenger, Instagram Direct, X DMs)
comes back as an echo that names no post it answers: it belongs to the case of the customer's
message it follows in the same conversation. Echoes and customer messages arrive in any order,
so both sides look for the other:

- an echo joins the case of the customer's latest message before it in that conversation;
- a customer's message takes the echoes after it that no case has yet (they arrived first).

Either way the echo is a reply on the case's timeline (``replied``, ``via: platform``) and counts
as a response (``case_facts.settle`` puts the response times right).
"""

from __future__ import annotations

from socialcare.models import Case, Post
from socialcare.platforms.base import InboundPost
from socialcare.services.case_facts import live_case
from socialcare.services.timeline import record_post_events

INBOUND = Post.Direction.INBOUND
OUTBOUND = Post.Direction.OUTBOUND


def echo_case(item: InboundPost) -> Case | None:
    """The case a brand's private message ``item`` (an echo naming no post) belongs to."""
    if item.visibility != "private" or not item.conversation_id:
        return None
    before = (
        Post.objects.filter(
            platform=item.platform,
            conversation_id=item.conversation_id,
            direction=INBOUND,
            case__isnull=False,
            posted_at__lte=item.posted_at,
        )
        .select_related("case")
        .order_by("-posted_at", "-pk")
        .first()
    )
    return live_case(before.case) if before is not None else None


def adopt_echoes(post: Post, case: Case) -> bool:
    """Give ``case`` the brand's caseless messages after the customer's ``post`` in its private
    conversation (they arrived first). Returns whether any was taken."""
    if post.visibility != "private" or not post.conversation_id:
        return False
    echoes = list(
        Post.objects.only("pk")
        .filter(
            platform=post.platform,
            conversation_id=post.conversation_id,
            direction=OUTBOUND,
            case__isnull=True,
            posted_at__gte=post.posted_at,
        )
        .order_by("posted_at", "pk")
    )
    if not echoes:
        return False
    ids = [e.pk for e in echoes]
    Post.objects.filter(pk__in=ids).update(case=case)
    record_post_events(case, ids)  # "replied", via the platform, at each one's time
    return True
