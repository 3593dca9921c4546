"""Presence on the case page (who else is viewing, who is typing) and the collision guard: a reply
written against a conversation that moved on is not sent blindly, on the page (confirm, text
kept) and in the API (``if_unchanged_since`` → 409 with what changed)."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.conf import app_settings
from socialcare.models import CasePresence, Post, Team, TeamMembership
from socialcare.services import cases as case_services
from socialcare.services import presence
from socialcare.services.access import OTHER_TEAM_CASE
from socialcare.services.apikeys import create_api_key
from socialcare.services.collision import (
    ConversationChanged,
    changes_since,
    send_reply_if_unchanged,
)
from socialcare.services.replies import send_reply
from tests.test_admin_case_view import action_url, grant, inbound, messages_of, page_url, textarea
from tests.test_api_cases import API, WORK
from tests.test_api_cases import grant as grant_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(agent):
    return grant(agent, "view_case", "change_case")


@pytest.fixture
def bob(other_agent):
    return grant(other_agent, "view_case", "change_case")


@pytest.fixture
def answerable(case):
    """The case with a public customer post to reply to."""
    inbound(case, "Where is my parcel? Thanks")
    return case


def presence_url(case, query=""):
    return reverse("admin:socialcare_case_presence", args=[case.pk]) + query


def seen_at(body: str) -> str:
    return re.search(r'name="seen_at" value="([^"]+)"', body).group(1)


# The service ------------------------------------------------------------------------------


def test_others_see_who_is_viewing_and_typing_until_it_goes_stale(case, alice, bob):
    start = timezone.now()
    presence.heartbeat(case, alice, now=start)
    presence.heartbeat(case, bob, typing=True, now=start)
    [seen_by_alice] = presence.others_on(case, alice, now=start)
    assert (seen_by_alice.name, seen_by_alice.typing) == ("Bob Backup", True)
    assert [p.name for p in presence.others_on(case, bob, now=start)] == ["Alice Agent"]

    # Typing fades first (8 s), then viewing (20 s) unless the page reports again.
    later = start + dt.timedelta(seconds=10)
    assert [(p.name, p.typing) for p in presence.others_on(case, alice, now=later)] == [
        ("Bob Backup", False)
    ]
    assert presence.others_on(case, alice, now=start + dt.timedelta(seconds=25)) == []
    presence.heartbeat(case, bob, now=start + dt.timedelta(seconds=24))
    assert len(presence.others_on(case, alice, now=start + dt.timedelta(seconds=25))) == 1

    presence.leave(case, bob)
    assert presence.others_on(case, alice, now=start + dt.timedelta(seconds=25)) == []


def test_one_row_per_agent_and_case_and_old_rows_are_pruned(case, alice, bob, socialcare_settings):
    long_ago = timezone.now() - dt.timedelta(days=2)
    presence.heartbeat(case, bob, now=long_ago)
    for _ in range(3):  # two tabs, several reports
        presence.heartbeat(case, alice, typing=True)
    assert CasePresence.objects.filter(case=case, user=alice).count() == 1
    assert not CasePresence.objects.filter(user=bob).exists()  # pruned: a day without report
    with socialcare_settings(PRESENCE_TIMEOUT=dt.timedelta(minutes=5)):
        presence.heartbeat(case, bob, now=timezone.now() - dt.timedelta(minutes=4))
        assert [p.name for p in presence.others_on(case, alice)] == ["Bob Backup"]


def test_an_agent_with_a_case_page_open_does_not_go_offline_for_inactivity(case, alice, bob):
    from socialcare.services.routing import availability

    for agent in (alice, bob):
        availability.set_status(agent, "online")
    idle = timezone.now() + app_settings.AGENT_IDLE_TIMEOUT + dt.timedelta(minutes=1)
    presence.heartbeat(case, alice, now=idle - dt.timedelta(seconds=5))  # alice's page reports
    assert availability.go_offline_when_idle(now=idle) == 1
    assert [availability.status_of(a).status for a in (alice, bob)] == ["online", "offline"]


def test_changes_since_counts_what_was_recorded_after_not_what_was_posted_after(case, alice, bob):
    inbound(case, "First post")
    since = timezone.now()
    assert not changes_since(case, since)
    # A post that arrives late, dated on the platform before ``since``, is still new here.
    inbound(case, "Also: it was damaged", at=since - dt.timedelta(hours=1))
    send_reply(case, "On it, thanks!", actor=bob, visibility="public")
    case_services.add_note(case, "Refund approved", actor=bob)
    changes = changes_since(case, since)
    assert changes.count == 3
    assert [(c.kind, c.label, c.text) for c in changes.items] == [
        ("post", "Ada L. wrote", "Also: it was damaged"),
        ("reply", "Bob Backup replied", "On it, thanks!"),
        ("note", "Bob Backup added a note", "Refund approved"),
    ]
    assert changes.items[1].status == Post.SendStatus.QUEUED


def test_a_stale_reply_is_refused_and_nothing_is_stored(answerable, alice, bob):
    since = timezone.now()
    send_reply(answerable, "Bob was first, thanks!", actor=bob)
    with pytest.raises(ConversationChanged) as refused:
        send_reply_if_unchanged(answerable, "Alice too, thanks!", since=since, actor=alice)
    assert refused.value.changes.items[0].text == "Bob was first, thanks!"
    assert list(answerable.posts.filter(direction="outbound").values_list("text", flat=True)) == [
        "Bob was first, thanks!"
    ]
    # Read up to now: it goes.
    post = send_reply_if_unchanged(
        answerable, "Alice too, thanks!", since=timezone.now(), actor=alice
    )
    assert post.text == "Alice too, thanks!"


@pytest.mark.django_db(transaction=True)
def test_two_agents_sending_at_once_against_one_state_send_one_reply(
    answerable, alice, bob, socialcare_settings
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")
    since = timezone.now()
    barrier = threading.Barrier(2)
    sent, refused, errors = [], [], []

    def agent_sends(user) -> None:
        try:
            barrier.wait()
            post = send_reply_if_unchanged(
                answerable, f"{user.first_name} here, thanks!", since=since, actor=user
            )
            sent.append(post.text)
        except ConversationChanged as changed:
            refused.append(changed.changes.items[0].text)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        threads = [threading.Thread(target=agent_sends, args=(u,)) for u in (alice, bob)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(sent) == 1 and refused == sent  # the second was shown the first one's reply
    assert answerable.posts.filter(direction="outbound").count() == 1


# The endpoint -----------------------------------------------------------------------------


def test_presence_endpoint_reports_and_answers_who_else_is_here(client, case, alice, bob):
    client.force_login(bob)
    answer = client.post(presence_url(case), {"typing": "1"})
    assert answer.status_code == 200 and answer.json()["others"] == []

    client.force_login(alice)
    body = client.get(presence_url(case)).json()
    assert [(o["name"], o["typing"]) for o in body["others"]] == [("Bob Backup", True)]
    assert body["poll_ms"] == 5000
    # And Alice's page shows it when drawn, too.
    page = client.get(page_url(case)).content.decode()
    assert re.search(r'id="sc-presence-viewing"[^>]*>Also here: .*Bob Backup', page)
    assert re.search(r'id="sc-presence-typing"[^>]*>.*Bob Backup.*is typing a reply', page)

    client.force_login(bob)
    assert client.post(presence_url(case), {"leaving": "1"}).json() == {"left": True}
    client.force_login(alice)
    assert client.get(presence_url(case)).json()["others"] == []
    page = client.get(page_url(case)).content.decode()
    assert re.search(r'<p id="sc-presence-viewing"[^>]* hidden>', page)


def test_presence_endpoint_lists_changes_since_the_page_time(client, case, alice, bob):
    client.force_login(alice)
    since = seen_at(client.get(page_url(case)).content.decode())
    case_services.add_note(case, "Customer called", actor=bob)
    changed = client.get(presence_url(case, f"?since={since}")).json()["changed"]
    assert changed["count"] == 1
    assert changed["changes"][0]["by"] == "Bob Backup"
    assert changed["changes"][0]["text"] == "Customer called"


def test_presence_endpoint_refuses_what_it_should(client, case, alice, make_user):
    client.force_login(alice)
    bad = client.get(presence_url(case, "?since=yesterday"))
    assert bad.status_code == 400 and "since" in bad.json()["error"]
    assert client.put(presence_url(case)).status_code == 405
    # An agent of another team does not learn the case exists.
    carol = grant(make_user("carol"), "view_case", "change_case")
    TeamMembership.objects.create(team=Team.objects.create(name="Billing"), user=carol)
    client.force_login(carol)
    assert client.post(presence_url(case), {"typing": "1"}).status_code == 404
    assert not CasePresence.objects.filter(user=carol).exists()
    # Not signed in: the admin's login page, no JSON.
    client.logout()
    assert client.get(presence_url(case)).status_code == 302


# The case page's collision guard ----------------------------------------------------------


def test_second_to_send_sees_the_first_reply_and_must_confirm(client, answerable, alice, bob):
    client.force_login(alice)
    page = client.get(page_url(answerable)).content.decode()
    loaded = seen_at(page)
    # Bob answers while Alice is still typing.
    send_reply(answerable, "Bob here: we are on it, thanks!", actor=bob)

    mine = "Alice here: sorry, thanks for waiting! We'll DM you."
    form = {"text": mine, "visibility": "public", "seen_at": loaded}
    response = client.post(action_url(answerable, "reply"), form, follow=True)
    body = response.content.decode()
    assert any("the conversation changed" in m for m in messages_of(response))
    assert answerable.posts.filter(direction="outbound").count() == 1  # not sent
    assert textarea(body, "sc-reply-text") == mine  # nothing typed is lost
    collision = re.search(r'<div id="sc-collision".*?</div>', body, re.S).group(0)
    assert "Bob Backup replied" in collision and "Bob here: we are on it" in collision
    confirm = re.search(r'name="confirm_changes" value="([^"]+)"', collision).group(1)
    assert seen_at(body) == loaded  # the form still says when Alice read the case

    # Sending again without ticking the box: refused again, text kept again.
    form["text"] = mine + " (edited)"
    response = client.post(action_url(answerable, "reply"), form, follow=True)
    assert answerable.posts.filter(direction="outbound").count() == 1
    assert textarea(response.content.decode(), "sc-reply-text") == mine + " (edited)"

    # Ticked: sent, as written.
    form["confirm_changes"] = confirm
    response = client.post(action_url(answerable, "reply"), form, follow=True)
    assert "Reply queued for sending." in messages_of(response)
    assert list(
        answerable.posts.filter(direction="outbound").order_by("pk").values_list("text", flat=True)
    ) == ["Bob here: we are on it, thanks!", mine + " (edited)"]


def test_confirming_does_not_cover_what_arrives_after_the_confirming_page(
    client, answerable, alice, bob
):
    client.force_login(alice)
    loaded = seen_at(client.get(page_url(answerable)).content.decode())
    case_services.add_note(answerable, "Careful: VIP", actor=bob)
    form = {"text": "Thanks, we'll DM you.", "visibility": "public", "seen_at": loaded}
    body = client.post(action_url(answerable, "reply"), form, follow=True).content.decode()
    form["confirm_changes"] = re.search(r'name="confirm_changes" value="([^"]+)"', body).group(1)
    inbound(answerable, "Hello?? Anyone?")  # arrives after the page that asked to confirm
    body = client.post(action_url(answerable, "reply"), form, follow=True).content.decode()
    assert answerable.posts.filter(direction="outbound").count() == 0
    assert "Hello?? Anyone?" in re.search(r'<div id="sc-collision".*?</div>', body, re.S).group(0)


def test_unchanged_conversation_sends_at_once_and_typing_stops(client, answerable, alice, bob):
    client.force_login(alice)
    loaded = seen_at(client.get(page_url(answerable)).content.decode())
    presence.heartbeat(answerable, alice, typing=True)
    form = {"text": "Thanks, we'll DM you.", "visibility": "public", "seen_at": loaded}
    response = client.post(action_url(answerable, "reply"), form, follow=True)
    assert "Reply queued for sending." in messages_of(response)
    assert [p.typing for p in presence.others_on(answerable, bob)] == [False]


def test_a_form_without_or_with_a_broken_time_is_not_guarded(client, answerable, alice, bob):
    client.force_login(alice)
    send_reply(answerable, "Bob first, thanks", actor=bob)
    for seen in ("", "not a time"):
        form = {"text": f"Thanks, we'll DM you ({seen!r}).", "visibility": "public"}
        response = client.post(action_url(answerable, "reply"), {**form, "seen_at": seen})
        assert response.status_code == 302
    assert answerable.posts.filter(direction="outbound").count() == 3


# The API: if_unchanged_since ----------------------------------------------------------------


def client_for(user, **options) -> APIClient:
    """An API client with a new key of ``user``'s (``read_only``, ``scopes``)."""
    _, plain = create_api_key(user, "tests", **options)
    client = APIClient()
    client.default_format = "json"
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


@pytest.fixture
def api(agent):
    grant_api(agent, *WORK)
    return client_for(agent)


def test_api_reply_with_if_unchanged_since_is_409_with_what_changed(api, answerable, bob):
    since = timezone.now().isoformat().replace("+00:00", "Z")
    send_reply(answerable, "Bob was first, thanks!", actor=bob)
    case_services.add_note(answerable, "Told her on the phone", actor=bob)
    url = f"{API}/cases/{answerable.pk}/replies/"

    response = api.post(url, {"text": "Thanks! DM us.", "if_unchanged_since": since})
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "conversation_changed" and body["detail"]
    assert body["count"] == 2
    assert [(c["kind"], c["by"], c["text"]) for c in body["changes"]] == [
        ("reply", "Bob Backup", "Bob was first, thanks!"),
        ("note", "Bob Backup", "Told her on the phone"),
    ]
    assert answerable.posts.filter(direction="outbound").count() == 1  # nothing sent

    now = timezone.now().isoformat()
    assert api.post(url, {"text": "Thanks! DM us.", "if_unchanged_since": now}).status_code == 201
    assert api.post(url, {"text": "Thanks again!"}).status_code == 201  # no guard asked for
    bad = api.post(url, {"text": "Thanks!", "if_unchanged_since": "last tuesday"})
    assert bad.status_code == 400 and "if_unchanged_since" in bad.json()["errors"]


def test_api_schema_documents_if_unchanged_since_and_the_409(api):
    schema = api.get("/socialcare/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    operation = schema.json()["paths"]["/socialcare/api/v1/cases/{id}/replies/"]["post"]
    assert "409" in operation["responses"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = schema.json()["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert "if_unchanged_since" in component["properties"]


def test_api_presence_reports_and_lists_other_agents(api, agent, case, bob, make_user):
    url = f"{API}/cases/{case.pk}/presence/"
    presence.heartbeat(case, bob, typing=True)
    body = api.get(url).json()
    assert [(o["name"], o["typing"]) for o in body["others"]] == [("Bob Backup", True)]
    assert body["poll_seconds"] == 5

    # Alice reports typing through the API: Bob sees her.
    assert api.post(url, {"typing": True}).status_code == 200
    assert [(p.name, p.typing) for p in presence.others_on(case, bob)] == [("Alice Agent", True)]
    assert api.post(url, {"leaving": True}).json()["others"][0]["name"] == "Bob Backup"
    assert presence.others_on(case, bob) == []

    for body, field in (({"typing": "maybe"}, "typing"), ({"mood": "happy"}, "mood")):
        bad = api.post(url, body)
        assert bad.status_code == 400 and list(bad.json()["errors"]) == [field]
    # A key that may only read cases may look, not report (read-only keys never write).
    reader = client_for(agent, read_only=True)
    assert reader.get(url).status_code == 200
    assert reader.post(url, {"typing": True}).status_code == 403
    # Another team's agent: no such case.
    carol = grant_api(make_user("carol"), *WORK)
    TeamMembership.objects.create(team=Team.objects.create(name="Billing"), user=carol)
    assert client_for(carol).get(url).status_code == 404


def test_changes_name_no_case_of_another_team(case, channel, identity, alice, bob):
    billing = Team.objects.create(name="Billing")
    hidden = case_services.open_case(channel=channel, identity=identity, team=billing)
    since = timezone.now()
    case_services.add_note(case, f"Same customer as {hidden.reference}", actor=bob)
    [note] = changes_since(case, since, user=alice).items
    assert hidden.reference not in note.text
    assert note.text == f"Same customer as {OTHER_TEAM_CASE}"
