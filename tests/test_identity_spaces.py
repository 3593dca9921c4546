"""Identity spaces on Meta (docs/ingestion.md): PSIDs per Page, IGSIDs per Instagram account,
kept apart through the real webhook, sent back raw; the "possibly the same person" suggestions in
the admin and the API; and the data migration that re-keys stored identities."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from socialcare.models import Channel, Post, SocialIdentity
from socialcare.platforms.base import ChannelConfig, OutboundMessage, SendError
from socialcare.platforms.meta import MetaAdapter
from socialcare.platforms.meta.ids import (
    account_of,
    id_space,
    is_scoped,
    platform_user_id,
    scoped_id,
    space_for,
)
from socialcare.services import cases as case_services
from socialcare.services.identity_suggestions import link_plan, possibly_same_person
from socialcare.services.replies import deliver_post, send_reply
from tests.fakes.meta_graph import ACCOUNTS, MetaGraphFake
from tests.ingest_helpers import META_SECRET, fixture_bytes, make_channels
from tests.platform_server import platform_server as platform_server
from tests.served import post_meta
from tests.test_api_people import client_for as client_for
from tests.test_api_people import grant

PAGE = "103149398319188"  # the Page of the meta/ fixtures
OTHER_PAGE = "204260409420299"  # a second Page on the same app
IG = "17841405309211844"
SUSIE = "3450429531722233"  # the author of meta/page_feed_comment.json
KENJI = "1068245441393221"  # the author of meta/instagram_comment.json
MIGRATION = ("socialcare", "0021_identity_spaces")


# The scheme ---------------------------------------------------------------------------------------
def test_scoped_ids_name_their_space_and_account_and_give_back_the_raw_id():
    psid = scoped_id("psid", PAGE, SUSIE)
    assert psid == f"psid:{PAGE}:{SUSIE}"
    assert (id_space(psid), account_of(psid), platform_user_id(psid)) == ("psid", PAGE, SUSIE)
    assert scoped_id("psid", PAGE, psid) == psid  # scoping twice changes nothing
    assert (space_for("facebook"), space_for("instagram"), space_for("x")) == ("psid", "igsid", "")
    # Unscoped ids (a Page's own id, other platforms, mention usernames) pass unchanged.
    for raw in (PAGE, "username:kenji.tanaka_", "did:plc:abc", "https://m.social/@a"):
        assert (is_scoped(raw), id_space(raw), platform_user_id(raw)) == (False, "", raw)
    with pytest.raises(ValueError, match="another space or account"):
        scoped_id("psid", OTHER_PAGE, psid)
    with pytest.raises(ValueError, match="Unknown Meta id space"):
        scoped_id("asid", PAGE, SUSIE)
    with pytest.raises(ValueError, match="Not a Meta user id"):
        scoped_id("igsid", IG, "")


# Through the real webhook -------------------------------------------------------------------------
@pytest.fixture
def channels(platform_server):
    made = make_channels()
    other = Channel(name="Second Page", platform="facebook", account_id=OTHER_PAGE)
    other.set_secret("webhook_secret", META_SECRET)
    other.set_secret("access_token", "test-token")
    other.save()
    made[("facebook", OTHER_PAGE)] = other
    for channel in made.values():
        channel.base_url = platform_server.url
        channel.save()
    return made


def deliver(client, channel: Channel, body: bytes, capture) -> None:
    with capture(execute=True):
        post_meta(client, channel, body)


def messenger(page: str, sender: str, mid: str, text: str = "Hello?", **entry: Any) -> bytes:
    """A Messenger delivery to ``page`` from ``sender`` (the shape of meta/messenger_message)."""
    body = json.loads(fixture_bytes("meta/messenger_message.json"))
    body["entry"][0].update(id=page, **entry)
    item = body["entry"][0]["messaging"][0]
    item["sender"]["id"], item["recipient"]["id"] = sender, page
    item["message"].update(mid=mid, text=text)
    return json.dumps(body).encode()


@pytest.mark.django_db
def test_a_psid_equal_to_a_feed_id_on_another_page_is_another_person_with_another_case(
    client, channels, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    deliver(
        client, channels["facebook", PAGE], fixture_bytes("meta/page_feed_comment.json"), capture
    )
    deliver(client, channels["facebook", OTHER_PAGE], messenger(OTHER_PAGE, SUSIE, "m_b1"), capture)

    comment = Post.objects.get(external_id="407298303721936_408074750310958")
    dm = Post.objects.get(external_id="m_b1")
    assert comment.author.external_id == f"psid:{PAGE}:{SUSIE}"
    assert dm.author.external_id == f"psid:{OTHER_PAGE}:{SUSIE}"
    assert SocialIdentity.objects.filter(platform="facebook").count() == 2
    assert comment.case != dm.case
    assert dm.case.identity == dm.author and dm.case.channel.account_id == OTHER_PAGE
    assert dm.conversation_id == f"dm:{SUSIE}"  # Meta's raw id: private replies match on it


@pytest.mark.django_db
def test_a_pages_commenter_and_its_messenger_sender_with_one_psid_are_one_person(
    client, channels, django_capture_on_commit_callbacks
):
    """Meta documents a Page's feed authors and Messenger senders by the same PSID."""
    capture = django_capture_on_commit_callbacks
    deliver(
        client, channels["facebook", PAGE], fixture_bytes("meta/page_feed_comment.json"), capture
    )
    deliver(client, channels["facebook", PAGE], messenger(PAGE, SUSIE, "m_a1"), capture)

    comment = Post.objects.get(external_id="407298303721936_408074750310958")
    assert Post.objects.get(external_id="m_a1").author == comment.author
    assert SocialIdentity.objects.filter(platform="facebook").count() == 1


@pytest.mark.django_db
def test_instagram_comment_and_direct_share_the_igsid_space_not_facebooks(
    client, channels, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    ig = channels["instagram", IG]
    deliver(client, ig, fixture_bytes("meta/instagram_comment.json"), capture)
    body = json.loads(fixture_bytes("meta/instagram_message.json"))
    body["entry"][0]["messaging"][0]["sender"]["id"] = KENJI
    deliver(client, ig, json.dumps(body).encode(), capture)
    deliver(client, channels["facebook", PAGE], messenger(PAGE, KENJI, "m_fb_kenji"), capture)

    comment = Post.objects.get(external_id="17865799348089039")
    direct = Post.objects.get(platform="instagram", kind="direct_message")
    assert comment.author == direct.author
    assert comment.author.external_id == f"igsid:{IG}:{KENJI}"
    assert comment.author.handle == "kenji.tanaka_"
    facebook = Post.objects.get(external_id="m_fb_kenji").author
    assert facebook.external_id == f"psid:{PAGE}:{KENJI}" and facebook != comment.author


@pytest.mark.django_db
def test_a_dm_to_the_scoped_identity_goes_to_the_raw_psid(
    client, channels, platform_server, agent, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    graph = MetaGraphFake(platform_server, accounts=(*ACCOUNTS, OTHER_PAGE))
    deliver(client, channels["facebook", OTHER_PAGE], messenger(OTHER_PAGE, SUSIE, "m_b2"), capture)
    graph.user_wrote(SUSIE, timezone.now() - dt.timedelta(hours=1))
    Post.objects.filter(external_id="m_b2").update(posted_at=timezone.now() - dt.timedelta(hours=1))
    case = Post.objects.get(external_id="m_b2").case

    reply = send_reply(case, "We're on it.", actor=agent, visibility="private")
    with capture(execute=True):
        reply = deliver_post(reply.pk)

    assert reply.send_status == "sent", reply.send_error
    [sent] = graph.sent
    assert sent["recipient"] == {"id": SUSIE}


def test_a_psid_of_another_page_is_refused_before_sending(platform_server):
    page = ChannelConfig(
        platform="facebook",
        account_id=PAGE,
        base_url=platform_server.url,
        secrets={"access_token": "test-token"},
    )
    message = OutboundMessage(
        text="hi", visibility="private", recipient=f"psid:{OTHER_PAGE}:{SUSIE}"
    )
    with pytest.raises(SendError, match=f"belongs to account {OTHER_PAGE}"):
        MetaAdapter().send(page, message, None)
    assert platform_server.requests == []


# Suggestions ---------------------------------------------------------------------------------------
@pytest.fixture
def private_reply(channel, make_identity):
    """Susie commented on case C; the brand's private reply to her comment was answered in
    Messenger by a PSID of its own (``dm:<psid>``): two identities, never linked by ingest."""
    channel.platform, channel.account_id = "facebook", PAGE
    channel.save()
    commenter = make_identity(
        f"psid:{PAGE}:{SUSIE}", platform="facebook", display_name="Susie Avellanosa"
    )
    sender = make_identity(f"psid:{PAGE}:7000000000000001", platform="facebook", display_name="S.")
    case = case_services.open_case(channel=channel, identity=commenter, subject="Hub light")
    now = timezone.now()
    comment = Post.objects.create(
        platform="facebook", external_id="1_2", channel=channel, author=commenter, case=case,
        direction="inbound", kind="comment", visibility="public", text="orange light", posted_at=now,
    )  # fmt: skip
    Post.objects.create(
        platform="facebook", external_id="m_pr", channel=channel, case=case, parent=comment,
        direction="outbound", kind="direct_message", visibility="private", text="Hi Susie",
        conversation_id="dm:7000000000000001", send_status="sent", posted_at=now,
        raw={"private_reply_to": "1_2"},
    )  # fmt: skip
    Post.objects.create(
        platform="facebook", external_id="m_answer", channel=channel, author=sender, case=case,
        direction="inbound", kind="direct_message", visibility="private", text="thanks!",
        conversation_id="dm:7000000000000001", posted_at=now,
    )  # fmt: skip
    return commenter, sender, case


@pytest.mark.django_db
def test_the_answer_to_a_private_reply_suggests_the_commenter_and_back(private_reply):
    commenter, sender, case = private_reply
    reason = (
        f"S. answered the private reply sent to Susie Avellanosa's comment on case {case.reference}"
    )
    [suggestion] = possibly_same_person(sender)
    assert suggestion.identity == commenter
    assert [(r.code, r.text) for r in suggestion.reasons] == [("private_reply", reason)]
    [back] = possibly_same_person(commenter)
    assert back.identity == sender and back.text == reason
    assert sender.customer is None and commenter.customer is None  # nothing was linked


@pytest.mark.django_db
def test_same_name_and_handle_suggest_across_facebook_and_instagram_not_other_platforms(
    make_identity, customer
):
    fb = make_identity(f"psid:{PAGE}:1", platform="facebook", display_name="Susie Avellanosa")
    ig = make_identity(
        f"igsid:{IG}:2", "susie.a", platform="instagram", display_name="susie avellanosa"
    )
    make_identity("3", "susie.a", platform="x", display_name="Susie Avellanosa")  # not Meta
    twin = make_identity(f"igsid:{IG}:4", "SUSIE.A", platform="instagram", customer=customer)
    make_identity(f"psid:{PAGE}:5", platform="facebook", display_name="Sue")  # too short a name

    [found] = possibly_same_person(fb)
    assert (found.identity, found.text) == (ig, 'same name "Susie Avellanosa" on Instagram')
    first, second = possibly_same_person(ig)
    assert (first.identity, first.text) == (twin, "same handle @SUSIE.A")
    assert second.identity == fb
    # Already the same customer's: nothing to suggest.
    ig.customer = customer
    ig.save()
    assert [s.identity for s in possibly_same_person(ig)] == [fb]
    assert link_plan(fb, ig) == (fb, customer)


@pytest.mark.django_db
def test_suggestions_follow_the_team_rule(private_reply, make_user, team):
    _commenter, sender, case = private_reply
    outsider = make_user("outsider", is_staff=True)
    case_services.set_team(case, team)
    assert possibly_same_person(sender, user=outsider) == []


@pytest.mark.django_db
def test_the_api_lists_suggestions_with_their_reasons(private_reply, client_for, make_user):
    commenter, sender, case = private_reply
    reader = grant(
        make_user("reader", is_staff=True),
        "socialcare.view_socialidentity",
        "socialcare.view_all_cases",
    )
    response = client_for(reader).get(f"/socialcare/api/v1/identities/{sender.pk}/suggestions/")
    assert response.status_code == 200, response.content
    [row] = response.json()
    assert row["identity"]["id"] == commenter.pk
    assert row["identity"]["external_id"] == f"psid:{PAGE}:{SUSIE}"
    assert row["identity"]["customer"] is None
    assert row["reasons"][0]["code"] == "private_reply"
    assert case.reference in row["reasons"][0]["text"]

    nobody = make_user("nobody", is_staff=True)
    denied = client_for(nobody).get(f"/socialcare/api/v1/identities/{sender.pk}/suggestions/")
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    missing = client_for(reader).get("/socialcare/api/v1/identities/999999/suggestions/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


@pytest.mark.django_db
def test_the_suggestions_endpoint_is_documented(client_for, admin_user):
    schema = client_for(admin_user).get("/socialcare/api/schema/", {"format": "json"})
    operation = json.loads(schema.content)["paths"][
        "/socialcare/api/v1/identities/{id}/suggestions/"
    ]["get"]
    assert operation["summary"] == "Identities that may be the same person"
    assert {"200", "401", "403", "404", "429"} <= set(operation["responses"])
    assert operation["responses"]["200"]["content"]["application/json"]["examples"]


@pytest.fixture
def admin_user(make_user):
    return make_user("root", is_superuser=True, is_staff=True)


@pytest.mark.django_db
def test_the_identity_page_shows_the_suggestion_and_links_in_one_click(
    client, private_reply, admin_user, customer
):
    commenter, sender, _case = private_reply
    commenter.customer = customer
    commenter.save()
    client.force_login(admin_user)
    page = client.get(f"/admin/socialcare/socialidentity/{sender.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "possibly the same person" in html.lower()
    assert "answered the private reply sent to Susie Avellanosa&#x27;s comment" in html
    link = f"/admin/socialcare/socialidentity/{sender.pk}/link-suggestion/{commenter.pk}/"
    assert f'formaction="{link}"' in html and "Link to Ada Lovelace" in html

    answer = client.post(link, follow=True)
    assert answer.redirect_chain[-1][0] == f"/admin/socialcare/socialidentity/{sender.pk}/change/"
    sender.refresh_from_db()
    assert sender.customer == customer
    assert "is now linked to Ada Lovelace" in answer.content.decode()
    # Linked now: no longer suggested, and a stale click links nothing.
    assert possibly_same_person(sender) == []
    again = client.post(link, follow=True)
    assert "not suggested as the same person" in again.content.decode()


@pytest.mark.django_db
def test_linking_needs_the_change_permission_and_a_post(client, private_reply, make_user):
    commenter, sender, _case = private_reply
    viewer = grant(
        make_user("viewer", is_staff=True),
        "socialcare.view_socialidentity",
        "socialcare.view_all_cases",
    )
    client.force_login(viewer)
    page = client.get(f"/admin/socialcare/socialidentity/{sender.pk}/change/")
    assert page.status_code == 200
    assert "answered the private reply" in page.content.decode()
    assert "formaction" not in page.content.decode()
    link = f"/admin/socialcare/socialidentity/{sender.pk}/link-suggestion/{commenter.pk}/"
    assert client.post(link).status_code == 403
    assert client.get(link).status_code == 405


# The data migration -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_migration_scopes_identities_and_splits_the_ones_two_accounts_shared(make_customer):
    executor = MigrationExecutor(connection)
    executor.migrate([("socialcare", "0020_moderation")])
    try:
        old = executor.loader.project_state([("socialcare", "0020_moderation")]).apps
        OldChannel = old.get_model("socialcare", "Channel")
        OldIdentity = old.get_model("socialcare", "SocialIdentity")
        OldPost = old.get_model("socialcare", "Post")
        OldCase = old.get_model("socialcare", "Case")
        page = OldChannel.objects.create(name="A", platform="facebook", account_id=PAGE)
        other = OldChannel.objects.create(name="B", platform="facebook", account_id=OTHER_PAGE)
        ig = OldChannel.objects.create(name="IG", platform="instagram", account_id=IG)
        susie = make_customer("Susie")  # the host's table: no socialcare migration touches it
        at = timezone.now() - dt.timedelta(days=3)

        def identity(platform: str, external_id: str, **fields: Any) -> Any:
            return OldIdentity.objects.create(platform=platform, external_id=external_id, **fields)

        def post(channel: Any, author: Any, ref: str, kind: str, minutes: int) -> Any:
            case = OldCase.objects.create(channel=channel, identity=author, reference=f"SC-{ref}")
            return OldPost.objects.create(
                platform=channel.platform, external_id=ref, channel=channel, author=author,
                case=case, direction="inbound", kind=kind,
                visibility="private" if kind == "direct_message" else "public",
                posted_at=at + dt.timedelta(minutes=minutes),
            )  # fmt: skip

        mixed = identity("facebook", SUSIE, display_name="Susie", customer_id=susie.pk)
        post(page, mixed, "c1", "comment", 0)  # first seen on Page A
        post(other, mixed, "d1", "direct_message", 5)  # the same digits on Page B
        dm_only = identity("facebook", "9001")
        post(other, dm_only, "d2", "direct_message", 1)
        kenji = identity("instagram", KENJI, handle="kenji.tanaka_")
        post(ig, kenji, "i1", "comment", 2)
        post(ig, kenji, "i2", "direct_message", 3)
        brand = identity("facebook", PAGE)
        post(page, brand, "b1", "comment", 4)
        unknown = identity("facebook", "4242")  # no post, no case: its Page is unknown
        erased = identity("facebook", "erased-0f3a")

        executor = MigrationExecutor(connection)
        executor.migrate([MIGRATION])
        new = executor.loader.project_state([MIGRATION]).apps
        Identity = new.get_model("socialcare", "SocialIdentity")
        Post_ = new.get_model("socialcare", "Post")
        Case_ = new.get_model("socialcare", "Case")

        kept = Identity.objects.get(pk=mixed.pk)
        assert (kept.external_id, kept.customer_id) == (f"psid:{PAGE}:{SUSIE}", susie.pk)
        split = Identity.objects.get(external_id=f"psid:{OTHER_PAGE}:{SUSIE}")
        assert (split.customer_id, split.display_name) == (None, "Susie")
        assert Post_.objects.get(external_id="c1").author_id == kept.pk
        assert Post_.objects.get(external_id="d1").author_id == split.pk
        assert Case_.objects.get(reference="SC-d1").identity_id == split.pk
        assert Case_.objects.get(reference="SC-c1").identity_id == kept.pk
        assert split.first_seen_at == at + dt.timedelta(minutes=5)
        assert Identity.objects.get(pk=dm_only.pk).external_id == f"psid:{OTHER_PAGE}:9001"
        assert Identity.objects.get(pk=kenji.pk).external_id == f"igsid:{IG}:{KENJI}"
        assert Identity.objects.filter(platform="instagram").count() == 1  # comment + DM: one
        for unchanged in (brand, unknown, erased):
            row = Identity.objects.get(pk=unchanged.pk)
            assert row.external_id == unchanged.external_id
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


# The demo -----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_demo_shows_susie_in_two_id_spaces_with_a_suggestion():
    from socialcare.demo import load_demo_data

    load_demo_data(now=dt.datetime(2026, 3, 11, 14, 30, tzinfo=dt.UTC))
    facebook = SocialIdentity.objects.get(external_id=f"psid:{PAGE}:{SUSIE}")
    instagram = SocialIdentity.objects.get(platform="instagram", handle="susie.avellanosa")
    assert id_space(instagram.external_id) == "igsid" and instagram.customer is None
    assert Post.objects.filter(author=instagram, kind="direct_message").exists()
    [suggestion] = possibly_same_person(instagram)
    assert suggestion.identity == facebook
    assert suggestion.text == 'same name "Susie Avellanosa" on Facebook'
    assert link_plan(instagram, facebook) == (instagram, facebook.customer)
    # Every Meta person in the demo is keyed in its space; the brand accounts are not people.
    # (An Instagram mention's author is named by username only: ``username:``, a space of its own.)
    meta = SocialIdentity.objects.filter(platform__in=("facebook", "instagram"))
    for identity in meta.exclude(external_id__startswith="username:"):
        assert is_scoped(identity.external_id), identity.external_id
