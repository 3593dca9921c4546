"""Every post on a case gets its timeline event (issue #19, "one timeline").

Posts that joined a case without one (the brand's on-platform reply seen before its case and
joined later, posts moved by a merge) get what ``services.timeline.record_post_events`` records
now: "post added" for a customer's post, "replied" for the brand's (``via="platform"`` when no
agent sent it), at the post's time. In batches of 1,000; reversing it leaves them (no-op).
"""

from django.db import migrations
from django.db.models import Exists, OuterRef

BATCH = 1000
POST_EVENTS = ("post_added", "replied")


def _author(identity) -> str:
    if identity is None:
        return "unknown"
    label = (
        f"@{identity.handle}" if identity.handle else identity.display_name or identity.external_id
    )
    platform = getattr(identity, "get_platform_display", lambda: identity.platform)()
    return f"{label} ({platform})"


def _event(CaseEvent, post):
    if post.direction == "inbound":
        kind, actor_id = "post_added", None
        data = {"text": post.text[:280], "author": _author(post.author)}
    elif post.sent_by_id:
        kind, actor_id = "replied", post.sent_by_id
        data = {"text": post.text[:2000], "visibility": post.visibility}
    else:
        kind, actor_id = "replied", None
        data = {"text": post.text[:280], "via": "platform"}
    return CaseEvent(
        case_id=post.case_id,
        kind=kind,
        post_id=post.pk,
        at=post.posted_at,
        actor_id=actor_id,
        data=data,
    )


def add_missing_post_events(apps, schema_editor):
    Post = apps.get_model("socialcare", "Post")
    CaseEvent = apps.get_model("socialcare", "CaseEvent")
    db = schema_editor.connection.alias
    has_event = CaseEvent.objects.using(db).filter(
        case_id=OuterRef("case_id"), post_id=OuterRef("pk"), kind__in=POST_EVENTS
    )
    missing = (
        Post.objects.using(db)
        .filter(case__isnull=False)
        .filter(~Exists(has_event))
        .select_related("author")
        .only(
            "pk",
            "case",
            "direction",
            "text",
            "visibility",
            "posted_at",
            "sent_by",
            "author__handle",
            "author__display_name",
            "author__external_id",
            "author__platform",
        )
        .order_by("pk")
    )
    last = 0
    while True:
        batch = list(missing.filter(pk__gt=last)[:BATCH])
        if not batch:
            return
        CaseEvent.objects.using(db).bulk_create([_event(CaseEvent, post) for post in batch])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0023_backfill_horizon"),
    ]

    operations = [
        migrations.RunPython(add_missing_post_events, migrations.RunPython.noop),
    ]
