"""The Graph API version is a setting (SOCIALCARE["META_GRAPH_VERSION"]): every Facebook and
Instagram call uses it, and checks socialcare.W013 / E008 watch Meta's end date for it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from django.core.checks import Error, Warning, run_checks

from socialcare import checks
from socialcare.conf import DEFAULTS
from socialcare.models import Channel
from socialcare.platforms.base import OutboundMessage, ParseError, SendError
from socialcare.platforms.meta import MetaAdapter
from socialcare.platforms.meta.graph import DEFAULT_GRAPH_VERSION, GRAPH_VERSIONS, version_number
from socialcare.platforms.moderation import HIDE, MetaModerator, ModerationRequest
from socialcare.services.ingest import channel_config

V21_END = dt.date(2027, 1, 21)
PAGE = "103149398319188"
IG_ACCOUNT = "17841405309211844"
COMMENT = "407298303721936_408075000000001"


def ids(messages: list) -> list[str]:
    return [m.id for m in messages]


@pytest.fixture
def graph_version(settings: Any) -> Any:
    def use(version: Any, **more: Any) -> None:
        settings.SOCIALCARE = {**settings.SOCIALCARE, "META_GRAPH_VERSION": version, **more}

    return use


# The check ------------------------------------------------------------------------------------
def test_warns_59_days_before_the_end() -> None:
    [message] = checks.graph_version_messages("v21.0", V21_END - dt.timedelta(days=59))
    assert isinstance(message, Warning) and message.id == "socialcare.W013"
    assert "available until 2027-01-21" in message.msg and "59 day(s) left" in message.msg
    assert "'v27.0'" in message.hint


def test_warns_from_60_days_and_is_quiet_at_61() -> None:
    assert ids(checks.graph_version_messages("v21.0", V21_END - dt.timedelta(days=60))) == [
        "socialcare.W013"
    ]
    assert checks.graph_version_messages("v21.0", V21_END - dt.timedelta(days=61)) == []


def test_errors_once_the_version_has_ended() -> None:
    [message] = checks.graph_version_messages("v21.0", V21_END + dt.timedelta(days=1))
    assert isinstance(message, Error) and message.id == "socialcare.E008"
    assert "was available until 2027-01-21" in message.msg
    [ended] = checks.graph_version_messages("v20.0", dt.date(2026, 12, 7))
    assert ended.id == "socialcare.E008"


@pytest.mark.parametrize("version", ["21.0", "v21", "latest", "", None, 21.0, "v2.0", "v15.0"])
def test_refuses_a_version_it_does_not_know(version: Any) -> None:
    [message] = checks.graph_version_messages(version, dt.date(2026, 12, 7))
    assert isinstance(message, Error) and message.id == "socialcare.E008"
    assert repr(version) in message.msg
    assert "v27.0, v26.0, v25.0" in message.hint and "v21.0" in message.hint


def test_a_newer_version_than_the_table_is_a_warning() -> None:
    [message] = checks.graph_version_messages("v28.0", dt.date(2026, 12, 7))
    assert isinstance(message, Warning) and message.id == "socialcare.W013"
    assert "newer than every Graph API version socialcare knows (newest: v27.0)" in message.msg


def test_a_version_without_an_announced_end_is_quiet() -> None:
    assert GRAPH_VERSIONS["v27.0"] is None
    assert checks.graph_version_messages("v27.0", dt.date(2030, 1, 1)) == []


def test_the_default_is_the_newest_version_meta_documents() -> None:
    newest = max(GRAPH_VERSIONS, key=version_number)
    assert DEFAULTS["META_GRAPH_VERSION"] == DEFAULT_GRAPH_VERSION == newest == "v27.0"
    # Every table entry is a version string the URLs accept, with its documented end date.
    assert all(version_number(v) for v in GRAPH_VERSIONS)
    assert GRAPH_VERSIONS["v21.0"] == V21_END
    assert GRAPH_VERSIONS["v25.0"] == dt.date(2028, 7, 29)


@pytest.mark.django_db  # Django 6.1's model checks read the database's features (run_checks)
def test_run_checks_reports_the_configured_version(graph_version: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(checks, "_today", lambda: dt.date(2026, 12, 7))
    graph_version("v21.0")  # 45 days left on 7 December 2026
    assert "socialcare.W013" in ids(run_checks())
    graph_version("v20.0")
    assert "socialcare.E008" in ids(run_checks())
    graph_version("v27.0")
    found = ids(run_checks())
    assert "socialcare.W013" not in found and "socialcare.E008" not in found
    # No Meta platform, no Graph API calls: nothing to say.
    graph_version("v20.0", PLATFORMS=["x", "mastodon"])
    assert "socialcare.E008" not in ids(run_checks())


# The calls ------------------------------------------------------------------------------------
@pytest.fixture
def recorded() -> Any:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "1_2", "success": True})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    yield client, seen
    client.close()


def page_channel(**fields: Any) -> Channel:
    channel = Channel(name="Acme", platform="facebook", account_id=PAGE, **fields)
    channel.set_secret("access_token", "EAApage-token-1234")
    return channel


def test_replies_and_moderation_use_the_configured_version(
    graph_version: Any, recorded: Any
) -> None:
    client, seen = recorded
    graph_version("v24.0")
    config = channel_config(page_channel())

    MetaAdapter().send(config, OutboundMessage("Sorry!", "public", in_reply_to=COMMENT), client)
    MetaModerator().moderate(config, ModerationRequest(HIDE, COMMENT), client)

    assert [str(r.url).split("?")[0] for r in seen] == [
        f"https://graph.facebook.com/v24.0/{COMMENT}/comments",
        f"https://graph.facebook.com/v24.0/{COMMENT}",
    ]


def test_a_channels_base_url_still_wins(graph_version: Any, recorded: Any) -> None:
    client, seen = recorded
    graph_version("v24.0")
    config = channel_config(page_channel(base_url="http://127.0.0.1:9/graph"))
    MetaAdapter().send(config, OutboundMessage("Hi", "public", in_reply_to=COMMENT), client)
    assert str(seen[0].url) == f"http://127.0.0.1:9/graph/{COMMENT}/comments"


def test_instagram_mentions_name_the_configured_version(graph_version: Any) -> None:
    graph_version("v25.0")
    channel = Channel(name="Acme IG", platform="instagram", account_id=IG_ACCOUNT)
    body = json.dumps(
        {
            "object": "instagram",
            "entry": [
                {
                    "id": IG_ACCOUNT,
                    "time": 1700000000,
                    "changes": [{"field": "mentions", "value": {"media_id": "17918195224117851"}}],
                }
            ],
        }
    ).encode()
    [mention] = MetaAdapter().parse(body, channel_config(channel))
    assert mention.url == "https://graph.facebook.com/v25.0/17918195224117851"


def test_a_malformed_version_fails_with_the_setting_named(
    graph_version: Any, recorded: Any
) -> None:
    client, seen = recorded
    graph_version("latest")
    config = channel_config(page_channel())
    with pytest.raises(SendError, match=r"META_GRAPH_VERSION'\] is 'latest'"):
        MetaAdapter().send(config, OutboundMessage("Hi", "public", in_reply_to=COMMENT), client)
    assert seen == []  # nothing left for a made-up URL
    channel = Channel(name="Acme IG", platform="instagram", account_id=IG_ACCOUNT)
    body = json.dumps(
        {"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": 1700000000, "changes": []}]}
    ).encode()
    with pytest.raises(ParseError, match="not a Graph API version"):
        MetaAdapter().parse(body, channel_config(channel))
