"""A customer's data export: what it holds, and the command, admin action and API giving it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from socialcare.models import PrivacyRequest
from socialcare.services.privacy import export_customer, stream_customer_export
from tests.privacy.conftest import HANDLE, PHONE_IN_NOTE, SECRET, Story

pytestmark = pytest.mark.django_db


def test_export_holds_identities_posts_cases_events_and_verifications(
    story: Story, agent: Any
) -> None:
    data = export_customer(story.customer, actor=agent)

    assert data["format"] == "socialcare.customer-export" and data["version"] == 1
    assert data["customer"]["id"] == str(story.customer.pk)
    assert "ada@example.com" in json.dumps(data["customer"])
    assert [c["id"] for c in data["merged_records"]] == [str(story.duplicate.pk)]
    [identity] = data["identities"]
    assert identity["handle"] == HANDLE and identity["platform_user_id"] == "1001"
    [case] = data["cases"]
    assert case["reference"] == story.case.reference
    texts = {p["platform_post_id"]: (p["from"], p["text"]) for p in data["posts"]}
    assert texts["9001"][0] == "customer" and SECRET in texts["9001"][1]
    assert texts["9002"][0] == "brand" and SECRET in texts["9002"][1]  # the brand's reply
    kinds = [e["kind"] for e in data["case_events"]]
    assert "post_added" in kinds and "note" in kinds
    note = next(e for e in data["case_events"] if e["kind"] == "note")
    assert PHONE_IN_NOTE in note["details"]["text"]
    assert note["by"] == "staff"  # staff are not named in a customer's export
    assert "alice" not in json.dumps(data).lower()
    [verification] = data["identity_verifications"]
    assert verification["outcome"] == "verified" and "token_hash" not in verification

    record = PrivacyRequest.objects.get()
    assert record.kind == "export" and record.actor == agent
    assert record.counts["posts"] == 2 and record.counts["complete"] is True


def test_export_without_notes(story: Story) -> None:
    data = export_customer(story.customer, include_notes=False)
    assert "note" not in [e["kind"] for e in data["case_events"]]
    assert PHONE_IN_NOTE not in json.dumps(data)


def test_export_streams_in_small_pieces(story: Story) -> None:
    pieces = list(stream_customer_export(story.customer))
    assert len(pieces) > 10
    assert max(len(p) for p in pieces) < 4000
    assert json.loads("".join(pieces))["customer"]["id"] == str(story.customer.pk)


def test_command_writes_a_file_by_handle(story: Story, tmp_path: Path) -> None:
    out = tmp_path / "ada.json"
    call_command("socialcare_export_customer", f"x:@{HANDLE}", "--output", str(out))
    data = json.loads(out.read_text())
    assert data["customer"]["id"] == str(story.customer.pk)
    assert PrivacyRequest.objects.get().source == "command"


def test_command_prints_to_stdout_by_id(story: Story, capsys: Any) -> None:
    call_command("socialcare_export_customer", str(story.customer.pk))
    assert json.loads(capsys.readouterr().out)["identities"][0]["handle"] == HANDLE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999999"], "No customer with id '999999'"),
        (["not-a-number"], "No customer with id"),
        (["x:ghost"], "No x account 'ghost'"),
        ([""], "Name a customer"),
        (["1", "--output", "/nonexistent-dir/x.json"], "does not exist"),
    ],
)
def test_command_refuses_unknown_customers(
    story: Story, args: list[str], message: str, robustness: Any
) -> None:
    robustness.bad_inputs()
    if args[0] == "1":
        args[0] = str(story.customer.pk)
    with pytest.raises(CommandError, match=message):
        call_command("socialcare_export_customer", *args)


def test_unlinked_identity_is_named_clearly(story: Story, make_identity: Any) -> None:
    make_identity("555", "lonely")
    with pytest.raises(CommandError, match="not linked to a customer"):
        call_command("socialcare_export_customer", "x:lonely")


def test_admin_action_downloads_json(story: Story, client: Any, make_user: Any, settings: Any):
    if getattr(settings, "SOCIALCARE_CUSTOMER_MODEL", "socialcare.Customer") != (
        "socialcare.Customer"
    ):
        pytest.skip("socialcare's own customer admin")
    client.force_login(make_user("root", is_superuser=True))
    url = reverse("admin:socialcare_customer_changelist")
    response = client.post(
        url, {"action": "export_customer_data", "_selected_action": [story.customer.pk]}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename=")
    data = json.loads(b"".join(response.streaming_content))
    assert data["customer"]["id"] == str(story.customer.pk)
    two = client.post(
        url,
        {
            "action": "export_customer_data",
            "_selected_action": [story.customer.pk, story.duplicate.pk],
        },
        follow=True,
    )
    assert b"Select exactly one customer" in two.content


def test_api_export(story: Story, api_for: Any, make_user: Any, robustness: Any) -> None:
    from socialcare.services.roles import assign_role, install_roles

    install_roles()
    sue, ann = make_user("sue"), make_user("ann")
    assign_role(sue, "supervisor")
    assign_role(ann, "agent")
    url = f"/socialcare/api/v1/customers/{story.customer.pk}/export/"

    for method in ("get", "post"):
        response = getattr(api_for(sue), method)(url)
        assert response.status_code == 200
        data = json.loads(b"".join(response.streaming_content))
        assert data["cases"][0]["reference"] == story.case.reference
    no_notes = api_for(sue).get(url, {"notes": "false"})
    assert PHONE_IN_NOTE not in b"".join(no_notes.streaming_content).decode()

    robustness.bad_inputs(3)
    assert api_for(ann).get(url).status_code == 403
    missing = api_for(sue).get("/socialcare/api/v1/customers/999999/export/")
    assert missing.status_code == 404 and missing.json()["code"]
    assert api_for(sue).get(url, {"notes": "maybe"}).status_code == 400
    assert PrivacyRequest.objects.filter(source="api").count() == 3


def test_api_lists_privacy_requests(story: Story, api_for: Any, make_user: Any) -> None:
    from socialcare.services.privacy import erase_customer

    root = make_user("root", is_superuser=True)
    export_customer(story.customer, actor=root)
    erase_customer(story.customer, actor=root, reason="asked")
    api = api_for(root)
    rows = api.get("/socialcare/api/v1/privacy-requests/").json()["results"]
    assert [r["kind"] for r in rows] == ["erasure", "export"]
    erasures = api.get("/socialcare/api/v1/privacy-requests/", {"kind": "erasure"}).json()
    assert [r["reason"] for r in erasures["results"]] == ["asked"]
    assert api.post("/socialcare/api/v1/privacy-requests/", {}).status_code == 405
    schema = api.get("/socialcare/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/socialcare/api/v1/privacy-requests/" in paths
    assert "/socialcare/api/v1/customers/{id}/export/" in paths
    assert "/socialcare/api/v1/customers/{id}/erase/" in paths


def test_admin_audit_list_is_read_only(story: Story, client: Any, make_user: Any) -> None:
    export_customer(story.customer)
    client.force_login(make_user("root", is_superuser=True))
    listing = client.get(reverse("admin:socialcare_privacyrequest_changelist"), {"kind": "export"})
    assert listing.status_code == 200 and listing.context["cl"].result_count == 1
    record = PrivacyRequest.objects.get()
    page = client.get(reverse("admin:socialcare_privacyrequest_change", args=[record.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.get(reverse("admin:socialcare_privacyrequest_add")).status_code == 403
