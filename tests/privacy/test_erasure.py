"""Erasure: the person and their words are gone everywhere, the case statistics stay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from socialcare.exceptions import SocialCareError
from socialcare.models import (
    Case,
    CaseEvent,
    IdentityVerification,
    Post,
    PrivacyRequest,
    SocialIdentity,
    WebhookDelivery,
    customer_display_name,
    customer_email,
)
from socialcare.services.ingest import ingest_post
from socialcare.services.privacy import erase_customer
from tests.privacy.conftest import HANDLE, NEEDLES, SECRET, Story, findable, grant, tweet

pytestmark = pytest.mark.django_db


def statistics(case: Case) -> dict[str, Any]:
    case.refresh_from_db()
    posts = list(case.posts.order_by("pk").values("posted_at", "sentiment", "reach", "direction"))
    return {
        "case": [
            case.reference,
            case.status,
            case.priority,
            case.created_at,
            case.first_responded_at,
            case.first_response_due_at,
            case.last_inbound_at,
            case.customer_id,
            case.identity_id,
        ],
        "posts": posts,
        "events": list(case.events.order_by("pk").values_list("kind", "at")),
    }


def test_erasure_leaves_nothing_findable_and_keeps_the_statistics(
    story: Story, agent: Any, robustness: Any
) -> None:
    assert len(findable()) > 10  # the scan does see the data before
    before = statistics(story.case)
    assert story.inbound.sentiment is not None

    record = erase_customer(story.customer, actor=agent, reason="Customer asked (ticket 77)")

    leaks = findable()
    robustness.lost(len(leaks))
    assert leaks == []
    assert statistics(story.case) == before
    story.inbound.refresh_from_db()
    assert story.inbound.text == "" and story.inbound.raw == {} and story.inbound.attachments == []
    assert story.inbound.external_id == "9001"  # a redelivery is still recognised
    identity = SocialIdentity.objects.get(pk=story.identity.pk)
    assert identity.external_id.startswith("erased-")
    assert identity.handle == identity.external_id
    assert identity.followers_count == 120
    assert customer_display_name(story.customer).startswith("Erased customer erased-")
    assert customer_email(story.customer) == ""
    assert record.customer_id == str(story.customer.pk)
    assert record.customer_pseudonym in customer_display_name(story.customer)
    assert record.counts["posts"] == 2 and record.counts["identities"] == 1
    assert record.counts["customers"] == 2  # the record merged into it too
    assert record.reason == "Customer asked (ticket 77)"
    assert record.actor == agent
    timeline = list(CaseEvent.objects.filter(case=story.case).values_list("kind", "data"))
    assert ("note", {"removed": "erasure"}) in timeline


def test_erasure_is_idempotent(story: Story, agent: Any) -> None:
    first = erase_customer(story.customer, actor=agent, reason="asked")
    identity = SocialIdentity.objects.get(pk=story.identity.pk)
    second = erase_customer(story.customer, actor=agent, reason="asked again")

    assert SocialIdentity.objects.get(pk=story.identity.pk).external_id == identity.external_id
    assert second.customer_pseudonym == first.customer_pseudonym
    changed = {k: v for k, v in second.counts.items() if not k.endswith("_kept")}
    assert set(changed.values()) == {0}
    assert PrivacyRequest.objects.erasures().count() == 2


def test_redelivered_post_stays_erased_and_a_returning_account_is_a_new_person(
    story: Story, channel: Any, agent: Any
) -> None:
    erase_customer(story.customer, actor=agent, reason="asked")

    again = ingest_post(
        channel, tweet("9001", f"@acme my order {SECRET} never arrived", story.started)
    )
    assert again.action == "duplicate"
    assert Post.objects.get(external_id="9001").text == ""

    later = ingest_post(channel, tweet("9003", "hello again", story.started))
    assert later.created
    assert later.post.author.pk != story.identity.pk
    assert later.post.author.customer is None
    assert later.case.pk != story.case.pk


def test_audit_record_holds_no_personal_data(story: Story, agent: Any) -> None:
    record = erase_customer(story.customer, actor=agent, reason="GDPR art. 17 request")
    text = json.dumps(
        list(PrivacyRequest.objects.filter(pk=record.pk).values()), default=str
    ).lower()
    assert not [n for n in NEEDLES if n.lower() in text]


def test_erasure_needs_a_reason(story: Story, agent: Any, robustness: Any) -> None:
    for reason in ("", "   "):
        robustness.bad_inputs()
        with pytest.raises(SocialCareError, match="Say why"):
            erase_customer(story.customer, actor=agent, reason=reason)
    assert PrivacyRequest.objects.count() == 0
    assert Post.objects.get(pk=story.inbound.pk).text != ""


def test_erasure_is_one_transaction(story: Story, agent: Any, monkeypatch: Any) -> None:
    from socialcare.services import privacy

    def boom(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(privacy, "_scrub_admin_log", boom)
    with pytest.raises(RuntimeError):
        erase_customer(story.customer, actor=agent, reason="asked")
    assert Post.objects.get(pk=story.inbound.pk).text.startswith("@acme")
    assert SocialIdentity.objects.get(pk=story.identity.pk).handle == HANDLE
    assert not PrivacyRequest.objects.exists()


def test_other_customers_are_untouched(
    story: Story, channel: Any, agent: Any, make_customer: Any
) -> None:
    from socialcare.platforms.base import InboundIdentity

    bob = InboundIdentity(platform="x", external_id="2002", handle="bob_sc", display_name="Bob")
    other = ingest_post(channel, tweet("9100", f"bob says {SECRET}", story.started, author=bob))
    erase_customer(story.customer, actor=agent, reason="asked")
    other.post.refresh_from_db()
    assert other.post.text == f"bob says {SECRET}"
    assert other.post.author.handle == "bob_sc"
    assert WebhookDelivery.objects.get(pk=story.delivery.pk).body == b""


# Command ----------------------------------------------------------------------------------------


def test_command_erases_by_handle_with_reason(story: Story, capsys: Any) -> None:
    call_command("socialcare_erase_customer", f"x:{HANDLE}", "--reason", "asked by mail", "--yes")
    out = capsys.readouterr().out
    assert "Erased customer" in out and "Privacy request #" in out
    record = PrivacyRequest.objects.get()
    assert record.source == "command"
    assert findable() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["424242", "--reason", "x", "--yes"], "No customer with id '424242'"),
        (["x:nobody", "--reason", "x", "--yes"], "No x account 'nobody'"),
        (["abc", "--reason", "x", "--yes"], "No customer with id 'abc'"),
        (["x:ada_sc", "--reason", "  ", "--yes"], "Give a --reason"),
        (["x:ada_sc", "--reason", "x", "--by", "ghost", "--yes"], "There is no user 'ghost'"),
    ],
)
def test_command_refuses_bad_input(
    story: Story, args: list[str], message: str, robustness: Any
) -> None:
    robustness.bad_inputs()
    with pytest.raises(CommandError, match=message):
        call_command("socialcare_erase_customer", *args)
    assert not PrivacyRequest.objects.exists()


def test_command_without_yes_and_no_terminal_changes_nothing(
    story: Story, monkeypatch: Any
) -> None:
    def no_terminal(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", no_terminal)
    with pytest.raises(CommandError, match="pass --yes"):
        call_command("socialcare_erase_customer", str(story.customer.pk), "--reason", "x")
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Nothing erased"):
        call_command("socialcare_erase_customer", str(story.customer.pk), "--reason", "x")
    assert Post.objects.get(pk=story.inbound.pk).text != ""


# Admin ------------------------------------------------------------------------------------------


def _changelist(customer: Any) -> str:
    opts = customer._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


@pytest.fixture
def default_model_only(settings: Any) -> None:
    if getattr(settings, "SOCIALCARE_CUSTOMER_MODEL", "socialcare.Customer") != (
        "socialcare.Customer"
    ):
        pytest.skip("socialcare's own customer admin (the swapped model's is the host's)")


def test_admin_action_asks_then_erases_and_search_finds_nothing(
    story: Story, client: Any, make_user: Any, default_model_only: None
) -> None:
    root = make_user("root", is_superuser=True)
    client.force_login(root)
    url = _changelist(story.customer)
    form = {"action": "erase_customer_data", "_selected_action": [story.customer.pk]}

    page = client.post(url, form)
    assert page.status_code == 200
    assert b"cannot be undone" in page.content
    assert Post.objects.get(pk=story.inbound.pk).text != ""

    missing = client.post(url, {**form, "confirm": "yes", "reason": " "})
    assert b"Say why" in missing.content
    assert not PrivacyRequest.objects.exists()

    done = client.post(url, {**form, "confirm": "yes", "reason": "asked"}, follow=True)
    assert b"Erased the personal data of 1 customer" in done.content
    assert PrivacyRequest.objects.get().source == "admin"

    for admin_url, term in [
        (reverse("admin:socialcare_post_changelist"), SECRET),
        (reverse("admin:socialcare_post_changelist"), HANDLE),
        (reverse("admin:socialcare_case_changelist"), SECRET),
        (reverse("admin:socialcare_socialidentity_changelist"), HANDLE),
        (url, "Lovelace"),
        (url, HANDLE),
    ]:
        response = client.get(admin_url, {"q": term})
        assert response.status_code == 200
        assert response.context["cl"].result_count == 0, (admin_url, term)


def test_agent_without_permission_has_no_erase_action(
    story: Story, client: Any, agent: Any, default_model_only: None
) -> None:
    from tests.privacy.conftest import customer_perm

    agent = grant(agent, customer_perm("view"), customer_perm("change"))
    client.force_login(agent)
    response = client.post(
        _changelist(story.customer),
        {"action": "erase_customer_data", "_selected_action": [story.customer.pk], "confirm": "yes",
         "reason": "x"},
    )  # fmt: skip
    assert response.status_code in (200, 302)
    assert not PrivacyRequest.objects.exists()
    assert Post.objects.get(pk=story.inbound.pk).text != ""


def test_host_admin_with_the_mixin_erases_a_swapped_customer(
    story: Story, rf: Any, make_user: Any
) -> None:
    """The documented way for a host's own customer admin (any model)."""
    from django.contrib import admin
    from django.contrib.messages.storage.fallback import FallbackStorage

    from socialcare.admin.privacy import CustomerPrivacyActionsMixin

    model = type(story.customer)
    host_admin = type("HostAdmin", (CustomerPrivacyActionsMixin, admin.ModelAdmin), {})(
        model, admin.site
    )
    root = make_user("root", is_superuser=True)
    request = rf.post("/", {"confirm": "yes", "reason": "asked"})
    request.user = root
    request.session = {}
    request._messages = FallbackStorage(request)
    assert "erase_customer_data" in host_admin.get_actions(request)
    host_admin.erase_customer_data(request, model._default_manager.filter(pk=story.customer.pk))
    assert findable() == []


# API --------------------------------------------------------------------------------------------


def test_api_erase(story: Story, api_for: Any, make_user: Any, robustness: Any) -> None:
    root = make_user("root", is_superuser=True)
    api = api_for(root)
    url = f"/socialcare/api/v1/customers/{story.customer.pk}/erase/"

    robustness.bad_inputs(3)
    assert api.post(url, {}, format="json").status_code == 400
    assert api.post(url, {"reason": ""}, format="json").status_code == 400
    missing = api.post("/socialcare/api/v1/customers/999999/erase/", {"reason": "x"}, format="json")
    assert missing.status_code == 404 and "No customer" in missing.json()["detail"]

    response = api.post(url, {"reason": "asked"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["kind"] == "erasure" and body["source"] == "api" and body["actor"] == "root"
    for path, term in [("posts", SECRET), ("cases", SECRET), ("customers", "Lovelace")]:
        found = api.get(f"/socialcare/api/v1/{path}/", {"search": term})
        assert found.status_code == 200
        assert found.json()["results"] == [], (path, term)


def test_api_erase_needs_the_erase_permission(story: Story, api_for: Any, make_user: Any) -> None:
    from socialcare.services.roles import assign_role, install_roles

    install_roles()
    supervisor = make_user("sue")
    assign_role(supervisor, "supervisor")
    url = f"/socialcare/api/v1/customers/{story.customer.pk}/erase/"
    assert api_for(supervisor).post(url, {"reason": "x"}, format="json").status_code == 403
    admin = make_user("adam")
    assign_role(admin, "admin")
    assert api_for(admin).post(url, {"reason": "x"}, format="json").status_code == 200
    assert IdentityVerification.objects.get().signed_in_as == ""
