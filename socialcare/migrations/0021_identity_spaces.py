"""Identity spaces on Meta (docs/ingestion.md, "Identity spaces on Meta").

Facebook and Instagram identities were keyed by the raw id a webhook named. Those ids are scoped
by Meta: a PSID to one Page (Messenger senders and the authors of Page feed posts and comments),
an IGSID to one Instagram professional account (comment authors and Instagram Direct senders).
From now on they are stored as ``psid:<page id>:<id>`` / ``igsid:<ig account id>:<id>``
(``socialcare.platforms.meta.ids``). This migration re-keys the stored ones:

* the account is the ``account_id`` of the channel of the identity's posts (and cases);
* an identity seen on one account gets that account's scoped id, keeping everything (customer,
  verification, cases);
* an identity seen on several accounts (the wrong merge: equal digits under two Pages, or two
  Instagram accounts) keeps the account it was first seen on; for each other account a new
  scoped identity is made, with no customer (linking it is an agent's decision, helped by the
  "possibly the same person" suggestion), and takes that account's posts and the cases of that
  account's channels;
* left as they are: the brand accounts' own identities (a Page or Instagram account id is
  global), identities with no post or case on a channel (their account is unknown), identities
  already scoped and erased ones (``erased-`` pseudonyms).

In batches of 500 identities (keyset pagination), with the historical models; SQLite and
PostgreSQL alike. Not reversed: going back leaves the scoped ids (the previous release would
then create unscoped identities beside them).
"""

from __future__ import annotations

from django.db import migrations
from django.db.models import Max, Min

SPACES = {"facebook": "psid", "instagram": "igsid"}
BATCH = 500
ERASED = "erased-"


def scope_identities(apps, schema_editor) -> None:
    SocialIdentity = apps.get_model("socialcare", "SocialIdentity")
    Channel = apps.get_model("socialcare", "Channel")
    for platform, space in SPACES.items():
        brand = set(Channel.objects.filter(platform=platform).values_list("account_id", flat=True))
        todo = (
            SocialIdentity.objects.filter(platform=platform)
            .exclude(external_id="")
            .exclude(external_id__contains=":")
            .exclude(external_id__startswith=ERASED)
            .exclude(external_id__in=brand)
        )
        last = 0
        while True:
            chunk = list(
                todo.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH]
            )
            if not chunk:
                break
            last = chunk[-1]
            _scope_chunk(apps, platform, space, chunk)


def _first_seen_accounts(apps, platform: str, pks: list[int]) -> dict[int, list[str]]:
    """Per identity, the accounts of the channels of its posts and cases, first seen first."""
    Post = apps.get_model("socialcare", "Post")
    Case = apps.get_model("socialcare", "Case")
    first: dict[tuple[int, str], object] = {}
    posts = (
        Post.objects.filter(author_id__in=pks, channel__platform=platform)
        .values("author_id", "channel__account_id")
        .annotate(at=Min("posted_at"))
        .order_by()
    )
    cases = (
        Case.objects.filter(identity_id__in=pks, channel__platform=platform)
        .values("identity_id", "channel__account_id")
        .annotate(at=Min("created_at"))
        .order_by()
    )
    rows = [(r["author_id"], r["channel__account_id"], r["at"]) for r in posts]
    rows += [(r["identity_id"], r["channel__account_id"], r["at"]) for r in cases]
    for pk, account, at in rows:
        if account and ((pk, account) not in first or at < first[pk, account]):
            first[pk, account] = at
    accounts: dict[int, list[str]] = {}
    for (pk, account), _at in sorted(first.items(), key=lambda item: (item[1], item[0][1])):
        accounts.setdefault(pk, []).append(account)
    return accounts


def _scope_chunk(apps, platform: str, space: str, pks: list[int]) -> None:
    SocialIdentity = apps.get_model("socialcare", "SocialIdentity")
    Post = apps.get_model("socialcare", "Post")
    Case = apps.get_model("socialcare", "Case")
    accounts = _first_seen_accounts(apps, platform, pks)
    wanted = {
        f"{space}:{account}:{identity.external_id}": (identity.pk, account)
        for identity in SocialIdentity.objects.filter(pk__in=list(accounts))
        for account in accounts[identity.pk]
    }
    existing = {
        other.external_id: other
        for other in SocialIdentity.objects.filter(platform=platform, external_id__in=list(wanted))
    }
    for identity in SocialIdentity.objects.filter(pk__in=list(accounts)).order_by("pk"):
        raw = identity.external_id
        for position, account in enumerate(accounts[identity.pk]):
            key = f"{space}:{account}:{raw}"
            target = existing.get(key)
            if target is None and position == 0:
                identity.external_id = key
                identity.save(update_fields=["external_id"])
                continue
            posts = Post.objects.filter(
                author_id=identity.pk, channel__platform=platform, channel__account_id=account
            )
            if target is None:
                seen = posts.aggregate(first=Min("posted_at"), last=Max("posted_at"))
                target = SocialIdentity.objects.create(
                    platform=platform,
                    external_id=key,
                    handle=identity.handle,
                    display_name=identity.display_name,
                    profile_url=identity.profile_url,
                    avatar_url=identity.avatar_url,
                    followers_count=identity.followers_count,
                    platform_verified=identity.platform_verified,
                    first_seen_at=seen["first"] or identity.first_seen_at,
                    last_seen_at=seen["last"] or identity.last_seen_at,
                )
            posts.update(author_id=target.pk)
            Case.objects.filter(
                identity_id=identity.pk, channel__platform=platform, channel__account_id=account
            ).update(identity_id=target.pk)


class Migration(migrations.Migration):
    dependencies = [("socialcare", "0020_moderation")]

    operations = [
        migrations.RunPython(scope_identities, migrations.RunPython.noop, elidable=False),
    ]
