"""Moderation: hiding, unhiding and deleting customers' comments on the platform, from the case
page, the API and the ``hide_matching`` playbook step, against a fake platform that answers as
the real APIs do (Graph API error 100 for a comment already deleted, X's 403 for a reply in a
conversation the brand did not start); the post is always kept and marked, every attempt is
audited on the case and the incident, and permissions and scopes are enforced."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.api.case_serializers import PostSerializer
from socialcare.api.cases import post_queryset
from socialcare.demo import load_demo_data
from socialcare.models import (
    CaseEvent,
    Channel,
    IncidentEvent,
    IncidentStep,
    Playbook,
    PlaybookStep,
    Post,
    WebhookSubscription,
)
from socialcare.platforms.base import RateLimited
from socialcare.platforms.moderation import (
    DELETE,
    HIDE,
    MetaModerator,
    ModerationRefused,
    ModerationRequest,
    XModerator,
)
from socialcare.services import cases as case_services
from socialcare.services import moderation
from socialcare.services.apikeys import create_api_key
from socialcare.services.incidents import complete_step, open_incident
from socialcare.services.ingest import channel_config
from socialcare.services.playbook_steps import get_kind, kind_choices
from tests.platform_server import Answer, PlatformServer, Recorded, platform_server
from tests.test_api_fast_render import assert_same

__all__ = ["platform_server"]

pytestmark = pytest.mark.django_db
API = "/socialcare/api/v1"

#: What the Graph API answers for an object that is gone (the shape of every Graph error:
#: developers.facebook.com/docs/graph-api/guides/error-handling).
GRAPH_GONE = {
    "error": {
        "message": "Unsupported delete request. Object with ID '{id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read the "
        "Graph API documentation at https://developers.facebook.com/docs/graph-api",
        "type": "GraphMethodException",
        "code": 100,
        "error_subcode": 33,
        "fbtrace_id": "AbCdEfGhIjK",
    }
}
#: X API v2's answer to a hide request it refuses: an RFC 7807 problem (X API v2 "Response codes
#: and errors": `about:blank` for a generic error of the HTTP status).
X_FORBIDDEN = {
    "title": "Forbidden",
    "type": "about:blank",
    "status": 403,
    "detail": "Forbidden",
}


class FakePlatform:
    """Facebook/Instagram comments and X replies with state, served by ``PlatformServer``."""

    def __init__(self, server: PlatformServer) -> None:
        self.server = server
        self.hidden: dict[str, bool] = {}
        self.deleted: set[str] = set()

    def graph_comment(self, comment_id: str, *, deleted: bool = False) -> None:
        self.hidden[comment_id] = False
        if deleted:
            self.deleted.add(comment_id)
        self.server.route("POST", f"/{comment_id}", self._graph_update)
        self.server.route("DELETE", f"/{comment_id}", self._graph_delete)

    def x_reply(self, tweet_id: str, *, brand_started: bool = True) -> None:
        self.hidden[tweet_id] = False
        answer = self._x_hide if brand_started else Answer(403, X_FORBIDDEN)
        self.server.route("PUT", f"/2/tweets/{tweet_id}/hidden", answer)

    def _id(self, record: Recorded) -> str:
        return unquote(record.path.strip("/"))

    def _graph_update(self, record: Recorded) -> Answer:
        comment = self._id(record)
        if comment in self.deleted:
            return _gone(comment)
        flag = record.query.get("is_hidden") or record.query.get("hide") or [""]
        if flag[0] not in ("true", "false"):
            return Answer(400, {"error": {"message": "(#100) Invalid parameter", "code": 100}})
        self.hidden[comment] = flag[0] == "true"
        return Answer(200, {"success": True})

    def _graph_delete(self, record: Recorded) -> Answer:
        comment = self._id(record)
        if comment in self.deleted:
            return _gone(comment)
        self.deleted.add(comment)
        return Answer(200, {"success": True})

    def _x_hide(self, record: Recorded) -> Answer:
        tweet = record.path.split("/")[3]
        hidden = record.json()["hidden"]
        self.hidden[tweet] = hidden
        return Answer(200, {"data": {"hidden": hidden}})


def _gone(comment: str) -> Answer:
    body = {"error": {**GRAPH_GONE["error"]}}
    body["error"]["message"] = body["error"]["message"].replace("{id}", comment)
    return Answer(400, body)


# Fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def fake(platform_server: PlatformServer) -> FakePlatform:
    return FakePlatform(platform_server)


def _channel(platform: str, account: str, server: PlatformServer, team: Any, **fields: Any):
    channel = Channel(
        name=f"Acme on {platform}",
        platform=platform,
        account_id=account,
        base_url=server.url,
        default_team=team,
        **fields,
    )
    channel.set_secret("access_token", f"{platform}-token")
    channel.save()
    return channel


@pytest.fixture
def facebook(platform_server: PlatformServer, team: Any) -> Channel:
    return _channel("facebook", "page-1", platform_server, team)


@pytest.fixture
def instagram(platform_server: PlatformServer, team: Any) -> Channel:
    return _channel("instagram", "ig-1", platform_server, team)


@pytest.fixture
def x_channel(channel: Channel, platform_server: PlatformServer) -> Channel:
    channel.base_url = platform_server.url
    channel.set_secret("access_token", "x-token")
    channel.save()
    return channel


@pytest.fixture
def supervisor(make_user: Any) -> Any:
    return make_user("sam", first_name="Sam", last_name="Super")


def make_post(channel: Channel, case: Any, external_id: str, text: str, **fields: Any) -> Post:
    fields.setdefault("kind", Post.Kind.COMMENT)
    fields.setdefault("author", case.identity if case else None)
    return Post.objects.create(
        platform=channel.platform,
        channel=channel,
        direction=fields.pop("direction", Post.Direction.INBOUND),
        visibility=fields.pop("visibility", "public"),
        external_id=external_id,
        text=text,
        case=case,
        posted_at=timezone.now(),
        **fields,
    )


def case_on(channel: Channel, identity: Any, subject: str = "Abuse") -> Any:
    return case_services.open_case(channel=channel, identity=identity, subject=subject)


def moderation_events(case: Any) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.MODERATED).order_by("pk"))


def action_url(case: Any, name: str, post: Post) -> str:
    return reverse(f"admin:socialcare_case_{name}", args=[case.pk, post.pk])


def page_url(case: Any) -> str:
    return reverse("admin:socialcare_case_change", args=[case.pk])


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def api_client(user: Any, **options: Any) -> APIClient:
    _, plain = create_api_key(user, "tests", **options)
    client = APIClient()
    client.default_format = "json"
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    return client


# The case page ----------------------------------------------------------------------------------
def test_agent_hides_and_unhides_a_facebook_comment_from_the_case_page(
    client: Any, agent: Any, sign_in: Any, facebook: Channel, identity: Any, fake: FakePlatform
) -> None:
    case = case_on(facebook, identity)
    post = make_post(facebook, case, "post-1_c-1", "You are all idiots")
    fake.graph_comment("post-1_c-1")
    sign_in(client, agent, "agent")

    page = client.get(page_url(case)).content.decode()
    assert action_url(case, "hide", post) in page
    assert "Delete on Facebook" not in page  # deleting is the supervisor's

    response = client.post(action_url(case, "hide", post), {"reason": "abusive"}, follow=True)
    assert response.status_code == 200
    assert any("Comment hidden on Facebook" in m for m in messages_of(response))
    request = fake.server.requests_to("POST", "/post-1_c-1")[0]
    assert request.query == {"is_hidden": ["true"]}
    assert request.headers["authorization"] == "Bearer facebook-token"
    assert fake.hidden["post-1_c-1"] is True

    post.refresh_from_db()
    assert post.moderation == Post.Moderation.HIDDEN
    assert post.moderated_by_id == agent.pk and post.moderated_at is not None
    assert post.text == "You are all idiots" and post.deleted_at is None
    [event] = moderation_events(case)
    assert event.summary() == "Comment hidden on Facebook by Alice Agent: abusive"
    assert event.actor_id == agent.pk and event.post_id == post.pk
    body = response.content.decode()
    assert 'data-moderation="hidden"' in body
    assert action_url(case, "unhide", post) in body

    client.post(action_url(case, "unhide", post))
    post.refresh_from_db()
    assert post.moderation == "" and fake.hidden["post-1_c-1"] is False
    assert moderation_events(case)[-1].summary() == "Comment unhidden on Facebook by Alice Agent"


def test_only_a_supervisor_deletes_and_the_post_is_kept_and_marked(
    client: Any,
    agent: Any,
    supervisor: Any,
    sign_in: Any,
    facebook: Channel,
    identity: Any,
    fake: FakePlatform,
) -> None:
    case = case_on(facebook, identity)
    post = make_post(facebook, case, "post-1_c-2", "Buy cheap followers at spam.example")
    fake.graph_comment("post-1_c-2")
    sign_in(client, agent, "agent")
    assert client.post(action_url(case, "delete_on_platform", post)).status_code == 403
    assert fake.server.requests == []

    sign_in(client, supervisor, "supervisor")
    assert "Delete on Facebook" in client.get(page_url(case)).content.decode()
    response = client.post(
        action_url(case, "delete_on_platform", post), {"reason": "spam"}, follow=True
    )
    assert any("deleted on Facebook" in m for m in messages_of(response))
    assert [r.method for r in fake.server.requests] == ["DELETE"]

    post.refresh_from_db()
    assert Post.objects.filter(pk=post.pk).exists()
    assert post.moderation == Post.Moderation.DELETED and post.deleted_at is not None
    assert post.text == "Buy cheap followers at spam.example"
    assert moderation_events(case)[-1].summary() == (
        "Comment deleted on Facebook by Sam Super: spam"
    )
    body = response.content.decode()
    assert 'data-moderation="deleted"' in body
    assert action_url(case, "hide", post) not in body  # nothing left to do on the platform


def test_deleting_a_comment_already_gone_shows_graph_error_100_and_marks_nothing(
    client: Any, supervisor: Any, sign_in: Any, facebook: Channel, identity: Any, fake: FakePlatform
) -> None:
    case = case_on(facebook, identity)
    post = make_post(facebook, case, "post-1_c-3", "rude words")
    fake.graph_comment("post-1_c-3", deleted=True)
    sign_in(client, supervisor, "supervisor")

    response = client.post(action_url(case, "delete_on_platform", post), follow=True)
    [message] = messages_of(response)
    assert "Meta refused (HTTP 400, code 100, subcode 33)" in message
    assert "does not exist" in message and "GraphMethodException" in message  # its answer
    post.refresh_from_db()
    assert post.moderation == "" and post.deleted_at is None
    [event] = moderation_events(case)
    assert event.data["outcome"] == "failed"
    assert event.summary().startswith("Comment not deleted on Facebook (Sam Super): Meta refused")


def test_instagram_uses_its_own_hide_flag(
    client: Any, agent: Any, sign_in: Any, instagram: Channel, identity: Any, fake: FakePlatform
) -> None:
    case = case_on(instagram, identity)
    post = make_post(instagram, case, "17890001", "ugly")
    fake.graph_comment("17890001")
    sign_in(client, agent, "agent")
    client.post(action_url(case, "hide", post))
    assert fake.server.requests_to("POST", "/17890001")[0].query == {"hide": ["true"]}
    post.refresh_from_db()
    assert post.moderation == Post.Moderation.HIDDEN


def test_refusals_are_messages_on_the_page_and_nothing_is_sent(
    client: Any, agent: Any, sign_in: Any, facebook: Channel, identity: Any, fake: FakePlatform
) -> None:
    case = case_on(facebook, identity)
    dm = make_post(facebook, case, "m_1", "hi", kind=Post.Kind.DIRECT_MESSAGE, visibility="private")
    sign_in(client, agent, "agent")
    response = client.post(action_url(case, "hide", dm), follow=True)
    assert messages_of(response) == [
        "A private message cannot be hidden or deleted on the platform; only the public is."
    ]
    assert fake.server.requests == []
    other = case_on(facebook, identity, "Another")
    assert client.post(action_url(other, "hide", dm)).status_code == 404


# The API ----------------------------------------------------------------------------------------
def test_api_hides_an_x_reply_in_a_conversation_the_brand_started(
    agent: Any, sign_in: Any, client: Any, x_channel: Channel, case: Any, fake: FakePlatform
) -> None:
    sign_in(client, agent, "agent")
    brand_tweet = make_post(
        x_channel, None, "500", "We're back up!", direction="outbound", kind=Post.Kind.MENTION
    )
    reply = make_post(
        x_channel,
        case,
        "501",
        "@acme you people are a scam",
        kind=Post.Kind.REPLY,
        parent=brand_tweet,
        in_reply_to_external_id="500",
    )
    fake.x_reply("501")
    api = api_client(agent)
    response = api.post(f"{API}/posts/{reply.pk}/hide/", {"reason": "abusive"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["moderation"] == "hidden" and body["post"]["id"] == reply.pk
    assert body["moderated_by"]["username"] == "alice"
    assert body["answer"] == '{"data": {"hidden": true}}'
    request = fake.server.requests_to("PUT", "/2/tweets/501/hidden")[0]
    assert request.json() == {"hidden": True}
    assert request.headers["authorization"] == "Bearer x-token"
    assert moderation_events(case)[0].summary() == (
        "Reply hidden on X (Twitter) by Alice Agent: abusive"
    )

    again = api.post(f"{API}/posts/{reply.pk}/hide/")
    assert again.status_code == 400 and again.json()["code"] == "moderation_refused"
    shown = api.post(f"{API}/posts/{reply.pk}/unhide/")
    assert shown.status_code == 200 and shown.json()["moderation"] == ""
    assert fake.hidden["501"] is False


def test_api_refuses_what_x_cannot_do_before_asking_it(
    agent: Any,
    supervisor: Any,
    sign_in: Any,
    client: Any,
    x_channel: Channel,
    case: Any,
    make_identity: Any,
    fake: FakePlatform,
) -> None:
    sign_in(client, agent, "agent")
    someone = make_identity("2002", "bea")
    their_tweet = make_post(
        x_channel, None, "600", "acme broke again", author=someone, kind=Post.Kind.MENTION
    )
    reply = make_post(
        x_channel,
        case,
        "601",
        "@bea @acme scam",
        kind=Post.Kind.REPLY,
        parent=their_tweet,
        in_reply_to_external_id="600",
    )
    mention = make_post(x_channel, case, "602", "@acme scam", kind=Post.Kind.MENTION)
    api = api_client(agent)

    refused = api.post(f"{API}/posts/{reply.pk}/hide/").json()
    assert refused["code"] == "moderation_refused"
    assert "started by another account, not by @acme" in refused["detail"]
    assert "not a reply" in api.post(f"{API}/posts/{mention.pk}/hide/").json()["detail"]
    sign_in(client, supervisor, "supervisor")
    not_on_x = api_client(supervisor).post(f"{API}/posts/{reply.pk}/delete-on-platform/")
    assert not_on_x.status_code == 400
    assert not_on_x.json()["detail"].startswith("X does not let an account delete")
    assert fake.server.requests == []
    assert moderation_events(case) == []


def test_x_refuses_a_reply_whose_conversation_socialcare_never_saw(
    agent: Any, sign_in: Any, client: Any, x_channel: Channel, case: Any, fake: FakePlatform
) -> None:
    sign_in(client, agent, "agent")
    reply = make_post(
        x_channel, case, "701", "@acme scam", kind=Post.Kind.REPLY, in_reply_to_external_id="700"
    )
    fake.x_reply("701", brand_started=False)
    response = api_client(agent).post(f"{API}/posts/{reply.pk}/hide/", {"reason": "abusive"})
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "platform_refused"
    assert body["detail"] == "X refused (HTTP 403): Forbidden"
    assert '"type": "about:blank"' in body["answer"] and body["post"] == reply.pk
    reply.refresh_from_db()
    assert reply.moderation == ""
    [event] = moderation_events(case)  # the attempt is kept, with X's answer
    assert event.data["outcome"] == "failed" and event.data["answer"] == body["answer"]


def test_api_permissions_scopes_and_the_team_rule(
    agent: Any,
    supervisor: Any,
    make_user: Any,
    sign_in: Any,
    client: Any,
    facebook: Channel,
    identity: Any,
    fake: FakePlatform,
) -> None:
    case = case_on(facebook, identity)
    post = make_post(facebook, case, "post-1_c-9", "idiots")
    fake.graph_comment("post-1_c-9")
    sign_in(client, agent, "agent")
    sign_in(client, supervisor, "supervisor")
    agent_api = api_client(agent)

    refused = agent_api.post(f"{API}/posts/{post.pk}/delete-on-platform/")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    no_scope = api_client(supervisor, scopes=["posts:read", "cases:write"])
    assert no_scope.post(f"{API}/posts/{post.pk}/hide/").status_code == 403
    read_only = api_client(supervisor, read_only=True)
    assert read_only.post(f"{API}/posts/{post.pk}/hide/").status_code == 403
    outsider = make_user("olga")
    sign_in(client, outsider, "agent")  # an agent of no team: the case is not theirs
    assert api_client(outsider).post(f"{API}/posts/{post.pk}/hide/").status_code == 404
    bad = api_client(supervisor).post(f"{API}/posts/{post.pk}/hide/", {"why": "x"})
    assert bad.status_code == 400
    assert fake.server.requests == []

    deleted = api_client(supervisor).post(f"{API}/posts/{post.pk}/delete-on-platform/")
    assert deleted.status_code == 200 and deleted.json()["moderation"] == "deleted"
    assert deleted.json()["post"]["deleted_at"] is not None


# Incidents and the playbook step ---------------------------------------------------------------
def test_moderation_is_recorded_on_the_open_incident(
    agent: Any, sign_in: Any, client: Any, facebook: Channel, identity: Any, fake: FakePlatform
) -> None:
    case = case_on(facebook, identity)
    post = make_post(facebook, case, "post-1_c-4", "morons")
    fake.graph_comment("post-1_c-4")
    incident, _ = open_incident(title="Wave", cases=[case])
    sign_in(client, agent, "agent")
    client.post(action_url(case, "hide", post), {"reason": "abusive"})
    [event] = IncidentEvent.objects.filter(incident=incident, kind="moderated")
    assert event.actor_id == agent.pk
    assert event.data["summary"] == (
        f"{case.reference}: Comment hidden on Facebook by Alice Agent: abusive"
    )
    assert event.data["cases"] == [case.reference]


def test_hide_matching_step_hides_matching_comments_and_records_what_it_skips(
    supervisor: Any,
    sign_in: Any,
    client: Any,
    facebook: Channel,
    x_channel: Channel,
    identity: Any,
    make_identity: Any,
    fake: FakePlatform,
) -> None:
    sign_in(client, supervisor, "supervisor")
    assert "hide_matching" in dict(kind_choices())
    assert get_kind("hide_matching").case_scoped
    fb_case = case_on(facebook, identity, "Outage")
    scam = make_post(facebook, fb_case, "post-1_c-5", "This is a SCAM, total fraud")
    calm = make_post(facebook, fb_case, "post-1_c-6", "When will it be back?")
    gone = make_post(facebook, fb_case, "post-1_c-7", "scam!!")
    fake.graph_comment("post-1_c-5")
    fake.graph_comment("post-1_c-7", deleted=True)
    x_case = case_on(x_channel, make_identity("3003", "cy"), "Outage on X")
    mention = make_post(x_channel, x_case, "801", "@acme scam", kind=Post.Kind.MENTION)

    playbook = Playbook.objects.create(slug="abuse", name="Abuse wave", severity="high")
    PlaybookStep.objects.create(
        playbook=playbook,
        title="Hide scam comments",
        kind="hide_matching",
        automatic=False,
        config={"words": ["scam", "fraud"]},
    )
    incident, _ = open_incident(title="Abuse", playbook=playbook, cases=[fb_case, x_case])
    step = IncidentStep.objects.get(incident=incident)
    step = complete_step(step, actor=supervisor)
    assert step.status == IncidentStep.Status.DONE, step.result

    scam.refresh_from_db()
    calm.refresh_from_db()
    gone.refresh_from_db()
    assert scam.moderation == "hidden" and scam.moderated_by_id == supervisor.pk
    assert calm.moderation == "" and gone.moderation == ""
    assert [r.path for r in fake.server.requests] == ["/post-1_c-5", "/post-1_c-7"]
    source = f"playbook step 'Hide scam comments' of incident #{incident.pk}"
    by_post = {e.post_id: e for e in moderation_events(fb_case)}
    assert by_post[scam.pk].summary() == (
        f"Comment hidden on Facebook by Sam Super: contains 'scam' ({source})"
    )
    assert by_post[gone.pk].data["outcome"] == "failed"
    assert "code 100" in by_post[gone.pk].data["error"]
    [skipped] = moderation_events(x_case)
    assert skipped.post_id == mention.pk and skipped.data["outcome"] == "skipped"
    assert "not a reply" in skipped.summary()
    summaries = [
        e.data["summary"] for e in IncidentEvent.objects.filter(incident=incident, kind="moderated")
    ]
    assert len(summaries) == 2  # the hidden comment and the refused one; skips stay on the case
    assert any("Comment hidden on Facebook" in s for s in summaries)


def test_hide_matching_without_words_fails_with_the_reason(facebook: Channel, identity: Any):
    playbook = Playbook.objects.create(slug="empty", name="Empty", severity="high")
    PlaybookStep.objects.create(
        playbook=playbook, title="Hide", kind="hide_matching", automatic=False, config={}
    )
    incident, _ = open_incident(title="X", playbook=playbook, cases=[case_on(facebook, identity)])
    step = complete_step(IncidentStep.objects.get(incident=incident), actor=None)
    assert step.status == IncidentStep.Status.FAILED
    assert "no words to match" in step.result


# Transports and moderators ----------------------------------------------------------------------
def test_console_transport_moderates_without_network(
    socialcare_settings: Any,
    facebook: Channel,
    identity: Any,
    agent: Any,
    sign_in: Any,
    client: Any,
    fake: FakePlatform,
) -> None:
    sign_in(client, agent, "agent")
    case = case_on(facebook, identity)
    post = make_post(facebook, case, "post-1_c-8", "idiots")
    with socialcare_settings(REPLY_TRANSPORT="socialcare.transports.console.ConsoleTransport"):
        moderation.hide_post(post, actor=type(agent).objects.get(pk=agent.pk), reason="demo")
    post.refresh_from_db()
    assert post.moderation == "hidden"
    assert fake.server.requests == []


def test_moderators_map_platform_answers(
    fake: FakePlatform, facebook: Channel, x_channel: Channel
) -> None:
    fake.server.route("POST", "/c-429", 400, {"error": {"message": "Too many calls", "code": 4}})
    partial = {"errors": [{"title": "Not Found", "detail": "Could not find tweet with id: [9]."}]}
    fake.server.route("PUT", "/2/tweets/9/hidden", 200, partial)
    with httpx.Client() as client:
        with pytest.raises(RateLimited):
            MetaModerator().moderate(
                channel_config(facebook), ModerationRequest(HIDE, "c-429"), client
            )
        with pytest.raises(ModerationRefused, match="Could not find tweet"):
            XModerator().moderate(channel_config(x_channel), ModerationRequest(HIDE, "9"), client)
        with pytest.raises(ModerationRefused, match="does not offer 'delete'"):
            XModerator().moderate(channel_config(x_channel), ModerationRequest(DELETE, "9"), client)


# Where moderation shows: the posts API, outbound webhooks, the demo -----------------------------
def test_the_posts_api_shows_and_filters_what_the_brand_did_on_the_platform(
    agent: Any, sign_in: Any, client: Any, facebook: Channel, identity: Any, fake: FakePlatform
) -> None:
    sign_in(client, agent, "agent")
    case = case_on(facebook, identity)
    rude = make_post(facebook, case, "post-1_c-20", "You are all idiots")
    kind = make_post(facebook, case, "post-1_c-21", "Thanks for the quick fix")
    fake.graph_comment("post-1_c-20")
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    Post.objects.filter(pk__in=[rude.pk, kind.pk]).update(
        posted_at=an_hour_ago, received_at=an_hour_ago
    )
    before = timezone.now()
    api = api_client(agent)
    assert api.post(f"{API}/posts/{rude.pk}/hide/", {"reason": "abusive"}).status_code == 200

    def listed(**query: Any) -> list[int]:
        response = api.get(f"{API}/posts/", query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    shown = api.get(f"{API}/posts/{rude.pk}/").json()
    assert shown["moderation"] == "hidden"
    assert shown["moderated_by"] == {"id": agent.pk, "username": "alice", "name": "Alice Agent"}
    assert dt.datetime.fromisoformat(shown["moderated_at"]) >= before
    assert json.loads(shown["moderation_answer"]) == {"success": True}  # what the Graph API said
    untouched = api.get(f"{API}/posts/{kind.pk}/").json()
    assert (untouched["moderation"], untouched["moderated_at"]) == ("", None)
    assert (untouched["moderated_by"], untouched["moderation_answer"]) == (None, None)

    assert listed(moderation="hidden") == [rude.pk]
    assert listed(moderation="none") == [kind.pk]
    assert listed(moderation=["hidden", "deleted"]) == [rude.pk]
    assert listed(moderated_after=before.isoformat()) == [rude.pk]
    assert listed(updated_since=before.isoformat()) == [rude.pk]  # a sync client sees it
    bad = api.get(f"{API}/posts/", {"moderation": "muted"})
    assert bad.status_code == 400 and "moderation" in bad.json()["errors"]

    assert api.post(f"{API}/posts/{rude.pk}/unhide/").status_code == 200
    again = api.get(f"{API}/posts/{rude.pk}/").json()
    assert again["moderation"] == "" and again["moderated_at"] is not None  # shown again
    assert listed(moderation="none") == [rude.pk, kind.pk]


def test_a_page_of_moderated_posts_costs_the_same_queries_whatever_its_size(
    agent: Any,
    supervisor: Any,
    sign_in: Any,
    client: Any,
    facebook: Channel,
    identity: Any,
    django_assert_num_queries: Any,
) -> None:
    sign_in(client, agent, "agent")
    case = case_on(facebook, identity)
    for n in range(55):
        post = make_post(facebook, case, f"post-2_c-{n}", f"comment {n}")
        if n % 3:  # by Alice, by Sam, or by a playbook step (no one)
            who = [None, agent, supervisor][n % 3] if n % 2 else supervisor
            done = moderation.Outcome(
                post, HIDE, moderation.DONE, "hidden", answer=f'{{"success":true,"n":{n}}}'
            )
            moderation.record_outcome(done, actor=who, reason="abusive")
    api = api_client(agent)
    api.get(f"{API}/posts/?page_size=1")  # the key's last use is recorded once a minute
    # key + user, user and group permissions, the page (who moderated and the answer in it)
    for size in (5, 50):
        with django_assert_num_queries(4):
            rows = api.get(f"{API}/posts/?page_size={size}").json()["results"]
        assert len(rows) == size
    answers = {r["id"]: r["moderation_answer"] for r in rows if r["moderation"]}
    assert answers and all(json.loads(a)["success"] for a in answers.values())
    assert {r["moderated_by"]["username"] for r in rows if r["moderated_by"]} == {"alice", "sam"}


def test_moderated_posts_render_as_the_declared_fields_do(
    agent: Any, facebook: Channel, identity: Any
) -> None:
    case = case_on(facebook, identity)
    by_agent = make_post(facebook, case, "post-3_c-1", "idiots")
    by_step = make_post(facebook, case, "post-3_c-2", "scam")
    make_post(facebook, case, "post-3_c-3", "fine")
    for post, who in ((by_agent, agent), (by_step, None)):
        done = moderation.Outcome(post, HIDE, moderation.DONE, "hidden", answer='{"success":true}')
        moderation.record_outcome(done, actor=who)
    assert_same(PostSerializer, post_queryset(Post.objects.all()))


def test_a_moderation_done_is_sent_to_outbound_webhooks_and_a_refusal_is_not(
    agent: Any,
    sign_in: Any,
    client: Any,
    facebook: Channel,
    identity: Any,
    fake: FakePlatform,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sign_in(client, agent, "agent")
    fake.server.route("POST", "/hooks", 200, {"ok": True})
    WebhookSubscription.objects.create(
        name="CRM",
        url=f"{fake.server.url}/hooks",
        secrets={"secret": "whsec_test-0123456789abcdef"},
        event_types=["post.moderated"],
    )
    case = case_on(facebook, identity)
    rude = make_post(facebook, case, "post-4_c-1", "You are all idiots")
    gone = make_post(facebook, case, "post-4_c-2", "morons")
    fake.graph_comment("post-4_c-1")
    fake.graph_comment("post-4_c-2", deleted=True)
    actor = type(agent).objects.get(pk=agent.pk)

    with django_capture_on_commit_callbacks(execute=True):
        moderation.hide_post(rude, actor=actor, reason="abusive")
        with pytest.raises(moderation.ModerationFailed):
            moderation.hide_post(gone, actor=actor)  # Graph error 100: nothing happened

    [request] = fake.server.requests_to("POST", "/hooks")
    sent = request.json()
    assert sent["type"] == "post.moderated"
    data = sent["data"]
    assert (data["action"], data["reason"], data["source"]) == ("hide", "abusive", None)
    assert data["actor"] == {"id": agent.pk, "username": "alice", "name": "Alice Agent"}
    assert data["case"]["reference"] == case.reference
    post = data["post"]
    assert (post["id"], post["moderation"], post["text"]) == (rude.pk, "hidden", rude.text)
    assert post["moderated_by"]["username"] == "alice" and post["moderated_at"].endswith("Z")
    assert json.loads(post["moderation_answer"]) == {"success": True}


def test_the_demo_has_a_comment_the_brand_hid(admin_user: Any) -> None:
    now = dt.datetime(2026, 3, 11, 14, 30, tzinfo=dt.UTC)
    load_demo_data(now=now)
    (hidden,) = Post.objects.filter(moderation=Post.Moderation.HIDDEN).select_related(
        "moderated_by", "case"
    )
    assert (hidden.platform, hidden.kind) == ("instagram", Post.Kind.COMMENT)
    assert "AC-52117" in hidden.text  # an order number, in public
    assert hidden.moderated_by.get_username() == "sofia"
    assert hidden.received_at < hidden.moderated_at < now
    [event] = moderation_events(hidden.case)
    assert event.at == hidden.moderated_at
    assert event.summary() == (
        "Comment hidden on Instagram by Sofia Rossi: order number posted in public; asked to "
        "send it by DM"
    )
    rows = api_client(admin_user).get(f"{API}/posts/", {"moderation": "hidden"}).json()
    assert [(r["id"], r["moderation_answer"]) for r in rows["results"]] == [
        (hidden.pk, '{"success":true}')
    ]
