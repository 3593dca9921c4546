"""The admin: every page renders, and edits made there go through the services into the timeline."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from socialcare.conf import app_settings
from socialcare.models import (
    BusinessCalendar,
    Case,
    CaseEvent,
    Channel,
    CustomerMerge,
    Detector,
    Incident,
    IncidentStep,
    Playbook,
    Post,
    ReplyTemplate,
    SLAAlert,
    SLAPolicy,
    SocialIdentity,
    Tag,
    Team,
    WebhookDelivery,
    customer_model_name,
    get_customer_model,
)
from socialcare.services import cases as case_services
from socialcare.services import customers as customer_services

pytestmark = pytest.mark.django_db


def make_customer(name: str, email: str = "") -> object:
    Customer = get_customer_model()
    return Customer.objects.create(
        **{app_settings.CUSTOMER_NAME_FIELD: name, app_settings.CUSTOMER_EMAIL_FIELD: email}
    )


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")


@pytest.fixture
def client_in(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def world(superuser):
    """One of everything, made the way the product makes it."""
    team = Team.objects.create(name="Social Care")
    calendar = BusinessCalendar.objects.create(name="Berlin office", timezone="Europe/Berlin")
    policy = SLAPolicy.objects.create(name="Urgent", priority="urgent", first_response_minutes=15)
    channel = Channel(name="Acme on X", platform="x", account_id="100", handle="acme")
    channel.set_secret("webhook_secret", "super-secret-consumer-key-1234")
    channel.save()
    customer = make_customer("Tanu Learns", "tanu@example.com")
    identity = SocialIdentity.objects.create(
        platform="x", external_id="1247048165561270272", handle="TanuLearns", customer=customer
    )
    case = case_services.open_case(
        channel=channel, identity=identity, subject="Late parcel", actor=superuser
    )
    post = Post.objects.create(
        platform="x",
        external_id="1332557345071644672",
        channel=channel,
        author=identity,
        direction="inbound",
        kind="mention",
        visibility="public",
        text="@acme where is my parcel? <script>alert(1)</script>",
        case=case,
    )
    delivery = WebhookDelivery.objects.create(
        channel=channel, platform="x", body=b'{"for_user_id": "100"}'
    )
    template = ReplyTemplate.objects.create(name="Thanks", text="Thanks {{ customer }}!")
    tag = Tag.objects.create(name="shipping")
    other = make_customer("Tanu L.", "")
    merge = customer_services.merge_customers(other, customer, actor=superuser)
    from socialcare.crisis_playbooks import install_playbooks
    from socialcare.models import SLAAlert
    from socialcare.services.incidents import open_incident_from_case

    install_playbooks()
    escalated = case_services.open_case(
        channel=channel, identity=identity, subject="We will sue you", actor=superuser
    )
    incident = open_incident_from_case(
        escalated, actor=superuser, playbook=Playbook.objects.get(slug="legal-threat")
    )
    SLAAlert.objects.create(
        case=case, target="first_response", level="breach", due_at=case.created_at
    )
    return {
        "team": team,
        "calendar": calendar,
        "policy": policy,
        "channel": channel,
        "customer": customer,
        "identity": identity,
        "case": case,
        "post": post,
        "delivery": delivery,
        "template": template,
        "tag": tag,
        "merge": merge,
        "incident": incident,
        "event": case.events.first(),
    }


MODELS = [
    ("case", Case),
    ("caseevent", CaseEvent),
    ("channel", Channel),
    ("customermerge", CustomerMerge),
    ("post", Post),
    ("replytemplate", ReplyTemplate),
    ("slapolicy", SLAPolicy),
    ("socialidentity", SocialIdentity),
    ("tag", Tag),
    ("team", Team),
    ("webhookdelivery", WebhookDelivery),
    ("businesscalendar", BusinessCalendar),
    ("playbook", Playbook),
    ("detector", Detector),
    ("incident", Incident),
    ("incidentstep", IncidentStep),
    ("slaalert", SLAAlert),
]


@pytest.mark.parametrize(("name", "model"), MODELS)
def test_every_model_changelist_and_change_page_render(client_in, world, name, model):
    response = client_in.get(reverse(f"admin:socialcare_{name}_changelist"))
    assert response.status_code == 200
    obj = model.objects.first()
    assert obj is not None
    response = client_in.get(reverse(f"admin:socialcare_{name}_change", args=[obj.pk]))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "case",
        "channel",
        "replytemplate",
        "slapolicy",
        "socialidentity",
        "tag",
        "team",
        "businesscalendar",
    ],
)
def test_add_pages_render(client_in, name):
    assert client_in.get(reverse(f"admin:socialcare_{name}_add")).status_code == 200


def test_history_pages_cannot_be_added_by_hand(client_in):
    for name in ("post", "caseevent", "webhookdelivery", "customermerge"):
        assert client_in.get(reverse(f"admin:socialcare_{name}_add")).status_code == 403


def test_customer_admin_shows_identities_inline(client_in, world):
    Customer = get_customer_model()
    opts = Customer._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[world["customer"].pk])
    response = client_in.get(url)
    assert response.status_code == 200
    assert b"TanuLearns" in response.content
    assert b"social identities" in response.content.lower()


def test_customer_changelist_renders(client_in, world):
    opts = get_customer_model()._meta
    response = client_in.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200
    assert b"Tanu Learns" in response.content


def test_case_page_shows_conversation_and_timeline_escaped(client_in, world):
    response = client_in.get(reverse("admin:socialcare_case_change", args=[world["case"].pk]))
    body = response.content.decode()
    assert world["case"].reference in body
    assert "where is my parcel?" in body
    assert "<script>alert(1)</script>" not in body
    assert "Case opened" in body  # the timeline's first event


def test_case_search_by_reference_and_handle(client_in, world):
    url = reverse("admin:socialcare_case_changelist")
    case = world["case"]

    def found(q: str) -> list:
        return list(client_in.get(url, {"q": q}).context["cl"].result_list)

    assert found(case.reference) == [case]
    assert case in found("tanulearns")
    assert found("nobody-here") == []


def case_form_data(case: Case, **changes) -> dict:
    data = {
        "subject": case.subject,
        "customer": case.customer_id or "",
        "status": case.status,
        "priority": case.priority,
        "team": case.team_id or "",
        "assignee": case.assignee_id or "",
        "tag_names": ", ".join(t.name for t in case.tags.all()),
        "note": "",
        "posts-TOTAL_FORMS": "0",
        "posts-INITIAL_FORMS": "0",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_editing_a_case_goes_through_services_and_lands_in_timeline(client_in, world, superuser):
    # The case page: tags in the details form, priority and assignee in the work form, the note
    # in the note form (see tests/test_admin_case_view.py for the rest of the workspace).
    case = world["case"]
    url = reverse("admin:socialcare_case_change", args=[case.pk])
    response = client_in.post(url, case_form_data(case, tag_names="shipping, VIP"))
    assert response.status_code == 302, response.content.decode()[:2000]
    work = reverse("admin:socialcare_case_work", args=[case.pk])
    response = client_in.post(
        work, {"status": case.status, "priority": "urgent", "assignee": superuser.pk}
    )
    assert response.status_code == 302
    note = reverse("admin:socialcare_case_note", args=[case.pk])
    assert client_in.post(note, {"text": "Called the courier."}).status_code == 302
    case.refresh_from_db()
    assert case.priority == "urgent"
    assert case.assignee == superuser
    assert case.status == Case.Status.OPEN  # assigning a new case opens it
    assert sorted(t.name for t in case.tags.all()) == ["VIP", "shipping"]
    kinds = list(case.events.values_list("kind", flat=True))
    for kind in ("priority_changed", "assignee_changed", "status_changed", "tags_changed", "note"):
        assert kind in kinds
    # The urgent SLA policy now applies: 15 minutes from opening.
    assert case.sla_policy == world["policy"]
    assert (case.first_response_due_at - case.created_at).total_seconds() == 15 * 60
    assert case.events.get(kind="note").actor == superuser


def test_illegal_transition_is_refused_with_a_message_not_a_500(client_in, world, superuser):
    case = world["case"]
    case_services.change_status(case, "closed", actor=superuser)
    url = reverse("admin:socialcare_case_work", args=[case.pk])
    data = {"status": "waiting_on_customer", "priority": case.priority, "assignee": ""}
    response = client_in.post(url, data, follow=True)
    assert response.status_code == 200
    assert "cannot go from Closed to Waiting on customer" in response.content.decode()
    case.refresh_from_db()
    assert case.status == "closed"


def test_adding_a_case_in_admin_opens_it_through_the_service(client_in, world):
    response = client_in.post(
        reverse("admin:socialcare_case_add"),
        {
            "subject": "Phoned in",
            "customer": world["customer"].pk,
            "identity": world["identity"].pk,
            "channel": world["channel"].pk,
            "visibility": "private",
            "status": "new",
            "priority": "high",
            "team": world["team"].pk,
            "assignee": "",
            "tag_names": "",
            "note": "",
            "posts-TOTAL_FORMS": "0",
            "posts-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    case = Case.objects.get(subject="Phoned in")
    assert case.reference == f"SC-{case.pk:06d}"
    assert case.events.filter(kind="created").count() == 1
    assert case.first_response_due_at is not None


def test_bulk_status_action_reports_illegal_moves(client_in, world, superuser):
    case = world["case"]
    closed = case_services.open_case(channel=world["channel"], subject="Old")
    case_services.change_status(closed, "closed", actor=superuser)
    response = client_in.post(
        reverse("admin:socialcare_case_changelist"),
        {"action": "mark_resolved", "_selected_action": [case.pk, closed.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert "1 case(s) marked resolved" in text
    assert "cannot go from Closed to Resolved" in text
    case.refresh_from_db()
    assert case.status == "resolved"


def test_merge_cases_action_asks_which_to_keep_then_merges(client_in, world):
    keep = world["case"]
    dup = case_services.open_case(
        channel=world["channel"], identity=world["identity"], subject="Dup"
    )
    url = reverse("admin:socialcare_case_changelist")
    response = client_in.post(
        url, {"action": "merge_selected", "_selected_action": [keep.pk, dup.pk]}
    )
    assert response.status_code == 200
    assert b"Choose the case to keep" in response.content
    response = client_in.post(
        url,
        {
            "action": "merge_selected",
            "_selected_action": [keep.pk, dup.pk],
            "confirm": "yes",
            "keep": keep.pk,
        },
        follow=True,
    )
    assert b"Merged 1 record(s)" in response.content
    dup.refresh_from_db()
    assert dup.merged_into == keep
    assert dup.status == "closed"


def test_merging_too_many_cases_at_once_is_refused_with_a_message(client_in, world, monkeypatch):
    from socialcare.admin import merge

    monkeypatch.setattr(merge, "MAX_MERGE", 2)
    cases = [
        case_services.open_case(channel=world["channel"], subject=f"Dup {n}") for n in range(3)
    ]
    response = client_in.post(
        reverse("admin:socialcare_case_changelist"),
        {"action": "merge_selected", "_selected_action": [c.pk for c in cases]},
        follow=True,
    )
    assert b"Merge at most 2 records at a time" in response.content
    assert not Case.objects.filter(merged_into__isnull=False).exists()


def test_agent_without_merge_permission_does_not_get_the_merge_action(client, world):
    User = get_user_model()
    agent = User.objects.create_user("agent", password="pw", is_staff=True)
    from django.contrib.auth.models import Permission

    agent.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_case", "change_case"])
    )
    client.force_login(agent)
    response = client.get(reverse("admin:socialcare_case_changelist"))
    assert response.status_code == 200
    assert b"assign_to_me" in response.content
    assert b"merge_selected" not in response.content


def test_channel_secrets_are_write_only_and_redacted(client_in, world):
    channel = world["channel"]
    url = reverse("admin:socialcare_channel_change", args=[channel.pk])
    body = client_in.get(url).content.decode()
    assert "super-secret-consumer-key-1234" not in body
    assert "••••1234" in body
    data = {
        "name": channel.name,
        "platform": "x",
        "account_id": channel.account_id,
        "handle": channel.handle,
        "base_url": "",
        "is_active": "on",
        "can_reply_public": "on",
        "can_message_private": "on",
        "default_team": "",
        "sla_policy": "",
        "secret_webhook_secret": "",  # blank keeps the stored value
        "secret_access_token": "new-access-token-9876",
    }
    assert client_in.post(url, data).status_code == 302
    channel.refresh_from_db()
    assert channel.get_secret("webhook_secret") == "super-secret-consumer-key-1234"
    assert channel.get_secret("access_token") == "new-access-token-9876"
    data.update(secret_access_token="", clear_secrets=["access_token"])
    assert client_in.post(url, data).status_code == 302
    channel.refresh_from_db()
    assert channel.get_secret("access_token") == ""
    assert channel.get_secret("webhook_secret") == "super-secret-consumer-key-1234"


def test_relinking_identity_in_admin_moves_its_cases_with_events(client_in, world):
    identity = world["identity"]
    new_owner = make_customer("Someone Else", "else@example.com")
    url = reverse("admin:socialcare_socialidentity_change", args=[identity.pk])
    data = {
        "platform": "x",
        "external_id": identity.external_id,
        "handle": identity.handle,
        "display_name": "",
        "profile_url": "",
        "avatar_url": "",
        "followers_count": 20,
        "customer": new_owner.pk,
    }
    response = client_in.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    case = world["case"]
    case.refresh_from_db()
    assert case.customer_id == new_owner.pk
    assert case.events.filter(kind="customer_changed").exists()


def test_delivery_page_shows_raw_body_escaped(client_in, world):
    delivery = WebhookDelivery.objects.create(
        channel=world["channel"], platform="x", body=b"<img src=x onerror=alert(1)>\xff"
    )
    body = client_in.get(
        reverse("admin:socialcare_webhookdelivery_change", args=[delivery.pk])
    ).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "<img src=x onerror" not in body


@pytest.mark.skipif(
    customer_model_name() == "socialcare.Customer", reason="only with a swapped customer model"
)
def test_swapped_model_hides_socialcare_customer_admin(client_in):
    response = client_in.get("/admin/socialcare/customer/")
    assert response.status_code == 404
    assert client_in.get(reverse("admin:testapp_contact_changelist")).status_code == 200


def test_reply_from_the_case_page_is_queued_through_the_reply_service(
    client_in, world, superuser, django_capture_on_commit_callbacks, settings
):
    settings.SOCIALCARE = {
        **settings.SOCIALCARE,
        "REPLY_TRANSPORT": "socialcare.transports.console.ConsoleTransport",
    }
    case = world["case"]
    url = reverse("admin:socialcare_case_reply", args=[case.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client_in.post(
            url,
            {"text": "Sorry Tanu, on it!", "visibility": "public", "send_anyway": "1"},
            follow=True,
        )
    assert b"Reply queued for sending." in response.content
    reply = case.posts.get(direction="outbound")
    assert reply.text == "Sorry Tanu, on it!"
    assert reply.parent == world["post"]
    assert reply.send_status == "sent"
    case.refresh_from_db()
    assert case.first_responded_at is not None


def test_reply_over_the_platform_limit_is_refused_with_a_message(client_in, world):
    case = world["case"]
    url = reverse("admin:socialcare_case_reply", args=[case.pk])
    response = client_in.post(url, {"text": "x" * 300, "visibility": "public"}, follow=True)
    assert b"280-character limit" in response.content
    assert not case.posts.filter(direction="outbound").exists()


def test_failed_delivery_can_be_retried_from_admin(
    client_in, world, django_capture_on_commit_callbacks
):
    delivery = world["delivery"]
    delivery.status = WebhookDelivery.Status.FAILED
    delivery.last_error = "boom"
    delivery.save()
    changelist = reverse("admin:socialcare_webhookdelivery_changelist")
    assert b"boom" in client_in.get(changelist).content
    with django_capture_on_commit_callbacks(execute=True):
        response = client_in.post(
            changelist, {"action": "retry_selected", "_selected_action": [delivery.pk]}, follow=True
        )
    assert b"queued again" in response.content
    delivery.refresh_from_db()
    assert delivery.attempts == 1  # the worker took it again
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.last_error == ""


def test_incident_page_shows_steps_cases_and_evidence(client_in, world):
    incident = world["incident"]
    body = client_in.get(
        reverse("admin:socialcare_incident_change", args=[incident.pk])
    ).content.decode()
    assert "Hold public replies for approval" in body
    assert "We will sue you" in body
    assert "Opened by" in body


def test_skipping_a_step_needs_a_comment_and_is_audited(client_in, world, superuser):
    step = world["incident"].steps.get(automatic=False, kind="checklist")
    url = reverse("admin:socialcare_incidentstep_change", args=[step.pk])
    response = client_in.post(url, {"decision": "skip", "comment": ""})
    assert response.status_code == 200
    assert "Say why the step is skipped." in response.content.decode()
    response = client_in.post(url, {"decision": "skip", "comment": "Legal is on holiday"})
    assert response.status_code == 302
    step.refresh_from_db()
    assert step.status == "skipped"
    assert step.done_by == superuser
    assert world["incident"].events.filter(kind="step_skipped").exists()


def test_playbook_step_kind_is_a_choice_of_known_kinds(client_in, world):
    playbook = Playbook.objects.get(slug="service-outage")
    body = client_in.get(
        reverse("admin:socialcare_playbook_change", args=[playbook.pk])
    ).content.decode()
    assert "Post a holding reply to every linked case" in body
    assert "Require approval for public replies" in body


def test_reply_on_a_case_under_an_approval_incident_is_held(client_in, world, superuser):
    case = world["incident"].cases.get()
    Post.objects.create(
        platform="x",
        external_id="5550001",
        channel=world["channel"],
        author=world["identity"],
        direction="inbound",
        kind="mention",
        visibility="public",
        text="I will sue",
        case=case,
    )
    url = reverse("admin:socialcare_case_reply", args=[case.pk])
    data = {"text": "We hear you.", "visibility": "public", "send_anyway": "1"}
    response = client_in.post(url, data, follow=True)
    assert b"held until another agent approves it" in response.content
    assert (
        case.posts.get(direction="outbound", sent_by=superuser).send_status == "awaiting_approval"
    )
