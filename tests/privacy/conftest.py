"""A customer with everything socialcare can hold about a person, and a scan of the whole
database for what must be gone after an erasure."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from rest_framework.test import APIClient

from socialcare.models import (
    Case,
    Channel,
    IdentityVerification,
    OutboundEvent,
    Post,
    SocialIdentity,
    WebhookDelivery,
    get_customer_model,
)
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services import cases as case_services
from socialcare.services import outbound_payloads as payloads
from socialcare.services.apikeys import create_api_key
from socialcare.services.customers import link_identity, merge_customers
from socialcare.services.ingest import ingest_post

#: Words only the erased customer's data contains: none may be found anywhere afterwards.
SECRET = "ZEBRAQUARTZ"
HANDLE = "ada_sc"
NAME = "Lovelace"
EMAIL = "ada@example.com"
PHONE_IN_NOTE = "7700 900123"
OLD_EMAIL = "ada.old@example.com"
NEEDLES = (SECRET, HANDLE, NAME, EMAIL, PHONE_IN_NOTE, OLD_EMAIL, "pbs.example/ada")


@dataclass
class Story:
    customer: Any
    duplicate: Any
    identity: SocialIdentity
    case: Case
    inbound: Post
    reply: Post
    delivery: WebhookDelivery
    started: dt.datetime


def tweet(external_id: str, text: str, at: dt.datetime, **kwargs: Any) -> InboundPost:
    author = kwargs.pop(
        "author",
        InboundIdentity(
            platform="x",
            external_id="1001",
            handle=HANDLE,
            display_name="Ada Lovelace",
            profile_url=f"https://x.com/{HANDLE}",
            avatar_url="https://pbs.example/ada.jpg",
            followers_count=120,
        ),
    )
    return InboundPost(
        platform="x",
        external_id=external_id,
        author=author,
        kind=kwargs.pop("kind", "mention"),
        visibility="public",
        text=text,
        posted_at=at,
        url=f"https://x.com/{HANDLE}/status/{external_id}",
        raw={"id_str": external_id, "text": text, "user": {"screen_name": HANDLE}},
        **kwargs,
    )


@pytest.fixture
def story(channel: Channel, customer: Any, make_customer: Callable[..., Any], agent: Any) -> Story:
    started = timezone.now() - dt.timedelta(days=3)
    first = ingest_post(
        channel,
        tweet(
            "9001",
            f"@acme my order {SECRET} never arrived and I am furious",
            started,
            attachments=({"type": "photo", "url": "https://pbs.example/ada/receipt.jpg"},),
        ),
    )
    case = first.case
    identity = first.post.author
    link_identity(identity, customer, actor=agent)
    brand = InboundIdentity(platform="x", external_id=channel.account_id, handle="acme")
    reply = ingest_post(
        channel,
        InboundPost(
            platform="x",
            external_id="9002",
            author=brand,
            kind="reply",
            visibility="public",
            text=f"@{HANDLE} sorry Ada, order {SECRET} is on its way",
            posted_at=started + dt.timedelta(minutes=10),
            in_reply_to="9001",
            direction="outbound",
        ),
    ).post
    case_services.add_note(case, f"Called Ada {NAME} on {PHONE_IN_NOTE}", actor=agent)
    duplicate = make_customer(f"Ada {NAME} (old)", OLD_EMAIL)
    merge_customers(duplicate, customer, actor=agent)
    IdentityVerification.objects.create(
        case=case,
        identity=identity,
        provider="twitter-oauth2",
        token_hash="f" * 64,
        expires_at=started + dt.timedelta(days=1),
        used_at=started + dt.timedelta(hours=1),
        outcome=IdentityVerification.Outcome.VERIFIED,
        signed_in_as=f"1001 @{HANDLE}",
    )
    body = json.dumps(
        {"for_user_id": channel.account_id, "tweet_create_events": [first.post.raw]}
    ).encode()
    delivery = WebhookDelivery.objects.create(
        channel=channel,
        platform="x",
        body=body,
        headers={"x-twitter-webhooks-signature": "sha256=abc"},
        status=WebhookDelivery.Status.PROCESSED,
        received_at=started,
    )
    OutboundEvent.objects.create(
        type="post.created",
        payload=json.loads(
            json.dumps(
                {"post": payloads.post_data(first.post), "case": payloads.case_data(case)},
                default=str,
            )
        ),
    )
    LogEntry.objects.log_actions(
        user_id=agent.pk,
        queryset=[customer],
        action_flag=CHANGE,
        change_message=f'[{{"changed": {{"fields": ["{EMAIL}"]}}}}]',
        single_object=True,
    )
    case.refresh_from_db()
    first.post.refresh_from_db()
    reply.refresh_from_db()
    return Story(customer, duplicate, identity, case, first.post, reply, delivery, started)


def _values(obj: models.Model) -> str:
    values = {}
    for field in obj._meta.concrete_fields:
        value = getattr(obj, field.attname)
        if isinstance(value, bytes | memoryview):
            value = bytes(value).decode("utf-8", "replace")
        values[field.attname] = value
    return json.dumps(values, default=str, ensure_ascii=False)


#: The brand's own set-up, never data about a customer (left out of the scan).
CONFIGURATION = {
    "ApiKey",
    "Channel",
    "Team",
    "TeamMembership",
    "SLAPolicy",
    "BusinessCalendar",
    "BusinessHours",
    "ReplyTemplate",
    "Tag",
    "Playbook",
    "PlaybookStep",
    "Detector",
    "WebhookSubscription",
}


def findable(needles: tuple[str, ...] = NEEDLES) -> list[str]:
    """Every row of every socialcare model, the customer model and admin's history that still
    holds one of ``needles``: ``["Post 3 ZEBRAQUARTZ", ...]``."""
    models_to_scan = [
        *apps.get_app_config("socialcare").get_models(),
        get_customer_model(),
        LogEntry,
    ]
    found = []
    for model in models_to_scan:
        if model._meta.proxy or model.__name__ in CONFIGURATION:
            continue
        for obj in model._default_manager.all():
            text = _values(obj).lower()
            found += [
                f"{model.__name__} {obj.pk} {needle}"
                for needle in needles
                if needle.lower() in text
            ]
    return found


def grant(user: Any, *perms: str) -> Any:
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return type(user)._default_manager.get(pk=user.pk)


@pytest.fixture
def api_for() -> Callable[..., APIClient]:
    def make(user: Any) -> APIClient:
        _, plain = create_api_key(user, f"key of {user}")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
        return client

    return make


def customer_perm(action: str) -> str:
    opts = get_customer_model()._meta
    return f"{opts.app_label}.{action}_{opts.model_name}"


def content_type_of(model: type[models.Model]) -> ContentType:
    return ContentType.objects.get_for_model(model)
