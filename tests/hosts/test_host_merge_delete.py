"""Merging, deleting and erasing the host's customers, in each host CRM shape
(tests/hosts/profiles.py): through socialcare's API, the host's own admin, the ORM and (the
billing host) the host's own tools. A merge carries the host's data along and is refused when
repeated or reversed; a delete keeps the cases or is refused cleanly; nothing is ever left half
done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from socialcare.exceptions import CustomerDeleteRefused
from socialcare.models import (
    Case,
    CaseEvent,
    CustomerMerge,
    SocialIdentity,
    customer_email,
    get_customer_model,
)
from socialcare.services import cases as case_services
from socialcare.services.customer_delete import acting_as
from socialcare.services.privacy import erase_customer
from tests.hosts.profiles import HostProfile, api_id

pytestmark = pytest.mark.django_db

V1 = "/socialcare/api/v1"


def exists(customer: Any) -> bool:
    return get_customer_model()._default_manager.filter(pk=customer.pk).exists()


def host_data(host: HostProfile, customer: Any) -> list[str]:
    return host.host_data(customer) if host.host_data else []


@pytest.fixture
def pair(host: HostProfile, x_channel: Any, make_identity: Callable[..., Any]) -> dict[str, Any]:
    """Priya's record and her duplicate, which has her X account, a case and host data."""
    keep = host.make_customer("Priya R Shah", "priya@example.com")
    dup = host.make_customer("P. Shah", "")
    identity = make_identity("4242", "priya_shah", customer=dup)
    case = case_services.open_case(channel=x_channel, identity=identity, subject="Charged twice")
    assert case.customer == dup
    if host.add_host_data:
        host.add_host_data(keep, "K-1")
        host.add_host_data(dup, "D-1")
        host.add_host_data(dup, "D-2")
    return {"keep": keep, "dup": dup, "identity": identity, "case": case}


def assert_merged_once(host: HostProfile, pair: dict[str, Any]) -> None:
    """One merge, everything on the kept record, the duplicate kept as it was merged."""
    keep, dup = pair["keep"], pair["dup"]
    assert CustomerMerge.objects.count() == 1
    assert CustomerMerge.objects.get().merged_customer_id == dup.pk
    assert Case.objects.get(pk=pair["case"].pk).customer_id == keep.pk
    assert SocialIdentity.objects.get(pk=pair["identity"].pk).customer_id == keep.pk
    if host.host_data:
        assert host_data(host, keep) == ["D-1", "D-2", "K-1"]
        assert host_data(host, dup) == []
    assert exists(dup)


# Merging ---------------------------------------------------------------------------------------


def test_merging_through_the_api(host: HostProfile, api: APIClient, pair: dict[str, Any]) -> None:
    keep, dup = pair["keep"], pair["dup"]
    url = f"{V1}/customers/{api_id(dup)}/merge/"
    response = api.post(url, {"into": api_id(keep)}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["customer"]["id"] == api_id(keep)
    assert body["customer"]["name"] == "Priya R Shah"
    assert [row["handle"] for row in body["customer"]["identities"]] == ["priya_shah"]
    if host.host_relation:
        assert {"relation": host.host_relation, "count": 2} in body["merge"]["relations"]["moved"]
    assert_merged_once(host, pair)

    again = api.post(url, {"into": api_id(keep)}, format="json")
    assert again.status_code == 409, again.content
    assert again.json()["code"] == "merge_refused"
    assert "it cannot be merged again" in again.json()["detail"]
    back = api.post(f"{V1}/customers/{api_id(keep)}/merge/", {"into": api_id(dup)}, format="json")
    assert back.status_code == 409, back.content
    assert "back into it would undo that merge" in back.json()["detail"]
    assert_merged_once(host, pair)


def test_merge_refusals_name_the_customers_as_socialcare_shows_them(
    host: HostProfile, api: APIClient, pair: dict[str, Any]
) -> None:
    """By the adapter's name, as on the case page and in the API's ``name``, not by the host's
    ``__str__`` (the split-name CRM's is "Shah, Priya R")."""
    keep, dup = pair["keep"], pair["dup"]
    url = f"{V1}/customers/{api_id(dup)}/merge/"
    assert api.post(url, {"into": api_id(keep)}, format="json").status_code == 200
    again = api.post(url, {"into": api_id(keep)}, format="json").json()["detail"]
    assert again.startswith("P. Shah was merged into Priya R Shah on ")
    back = api.post(f"{V1}/customers/{api_id(keep)}/merge/", {"into": api_id(dup)}, format="json")
    detail = back.json()["detail"]
    assert detail.startswith("P. Shah was merged into Priya R Shah on ")
    assert "merging Priya R Shah back into it would undo that merge" in detail


def merge_in_admin(client: Any, host: HostProfile, keep: Any, *others: Any, **extra: Any) -> Any:
    data = {
        "action": host.merge_action,
        "_selected_action": [str(keep.pk), *(str(o.pk) for o in others)],
        "confirm": "yes",
        "keep": str(keep.pk),
        **extra,
    }
    return client.post(host.customer_url("changelist"), data, follow=True)


def messages_of(response: Any) -> list[str]:
    assert response.status_code == 200, response.status_code
    return [str(m) for m in response.context["messages"]]


def test_merging_in_the_hosts_admin(
    host: HostProfile, superuser_client: Any, pair: dict[str, Any]
) -> None:
    keep, dup = pair["keep"], pair["dup"]
    confirm = superuser_client.post(
        host.customer_url("changelist"),
        {"action": host.merge_action, "_selected_action": [str(keep.pk), str(dup.pk)]},
    )
    assert confirm.status_code == 200  # the page where the user picks the record to keep
    assert {str(o.pk) for o in confirm.context["objects"]} == {str(keep.pk), str(dup.pk)}
    assert not CustomerMerge.objects.exists()

    said = messages_of(merge_in_admin(superuser_client, host, keep, dup))
    assert f"Merged 1 record(s) into {keep}." in said
    if host.host_relation:
        assert any(f"moved {host.host_relation} (2)" in m for m in said), said
    assert_merged_once(host, pair)

    said = messages_of(merge_in_admin(superuser_client, host, keep, dup))
    assert any("cannot be merged again" in m for m in said), said
    said = messages_of(merge_in_admin(superuser_client, host, dup, keep))
    assert any("would undo that merge" in m for m in said), said
    assert_merged_once(host, pair)


# Deleting --------------------------------------------------------------------------------------


def deleted_event(case: Case) -> CaseEvent:
    [event] = CaseEvent.objects.filter(
        case=case, kind=CaseEvent.Kind.CUSTOMER_CHANGED, data__has_key="deleted_by"
    )
    return event


@pytest.fixture
def refuse(settings: Any) -> None:
    settings.SOCIALCARE = {**settings.SOCIALCARE, "CUSTOMER_DELETE": "refuse"}


def test_deleting_a_customer_with_cases_keeps_the_cases(
    priya: Any, priya_case: Case, agent: Any
) -> None:
    pk = str(priya.pk)
    with acting_as(agent):
        priya.delete()
    assert not exists(priya)
    case = Case.objects.get(pk=priya_case.pk)
    assert case.customer is None
    assert SocialIdentity.objects.get(pk=case.identity_id).customer is None
    event = deleted_event(case)
    assert event.data["from"] == "Priya R Shah" and event.data["from_id"] == pk
    assert event.data["text"] == "Customer Priya R Shah was deleted by Alice Agent."


def test_deleting_in_the_hosts_admin_keeps_the_cases(
    host: HostProfile, superuser_client: Any, superuser: Any, priya: Any, priya_case: Case
) -> None:
    url = host.customer_url("delete", priya.pk)
    page = superuser_client.get(url)
    assert page.status_code == 200
    assert b"protected related objects" not in page.content
    assert b"permission to delete" not in page.content
    response = superuser_client.post(url, {"post": "yes"})
    assert response.status_code == 302, response.content[:2000]
    assert not exists(priya)
    case = Case.objects.get(pk=priya_case.pk)
    assert case.customer is None
    event = deleted_event(case)
    assert event.actor == superuser
    assert event.data["text"] == "Customer Priya R Shah was deleted by root."


def test_a_refused_delete_names_the_cases_and_deletes_nothing(
    host: HostProfile, refuse: None, superuser_client: Any, priya: Any, priya_case: Case
) -> None:
    with pytest.raises(CustomerDeleteRefused) as refused:
        priya.delete()
    assert str(refused.value).startswith("Cannot delete customer Priya R Shah: socialcare cases ")
    assert priya_case.reference in str(refused.value)

    url = host.customer_url("delete", priya.pk)
    page = superuser_client.get(url)
    assert page.status_code == 200
    assert b"protected related objects" in page.content
    assert priya_case.reference.encode() in page.content
    assert superuser_client.post(url, {"post": "yes"}).status_code == 200
    selected = {"action": "delete_selected", "_selected_action": [str(priya.pk)], "post": "yes"}
    bulk = superuser_client.post(host.customer_url("changelist"), selected)
    assert bulk.status_code == 200 and b"protected related objects" in bulk.content
    assert exists(priya)
    assert Case.objects.get(pk=priya_case.pk).customer_id == priya.pk
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.CUSTOMER_CHANGED).exists()


def test_erasing_a_customer_empties_the_hosts_name_and_email(
    host: HostProfile, superuser: Any, priya: Any, priya_case: Case
) -> None:
    record = erase_customer(priya, actor=superuser, reason="Erasure request by e-mail")
    priya.refresh_from_db()
    name = host.name_of(priya)
    assert name == f"Erased customer {record.customer_pseudonym}"
    assert "Priya" not in name and "Shah" not in name
    assert customer_email(priya) == ""
    assert record.customer_id == str(priya.pk)
    assert Case.objects.get(pk=priya_case.pk).customer_id == priya.pk  # the case stays hers


# The billing host's own tools ------------------------------------------------------------------


@pytest.fixture
def billing(host: HostProfile) -> Any:
    if host.name != "owntools":
        pytest.skip("the billing host's own tools")
    from tests.hosts.owntools import tools

    return tools


def invoices_of(customer: Any) -> list[str]:
    return sorted(customer.invoices.values_list("number", flat=True))


def test_the_hosts_tools_never_half_do_a_refused_delete(
    billing: Any, refuse: None, pair: dict[str, Any]
) -> None:
    keep, dup = pair["keep"], pair["dup"]
    reference = pair["case"].reference
    with pytest.raises(CustomerDeleteRefused, match=reference):
        billing.merge_duplicate(keep, dup)
    with pytest.raises(CustomerDeleteRefused, match=reference):
        billing.delete_client(dup, move_invoices_to=keep)
    with pytest.raises(billing.ClientHasInvoices):
        billing.delete_client(dup)
    assert exists(dup)
    assert invoices_of(dup) == ["D-1", "D-2"] and invoices_of(keep) == ["K-1"]
    assert Case.objects.get(pk=pair["case"].pk).customer_id == dup.pk


def test_the_hosts_tools_complete_keeping_the_cases(billing: Any, pair: dict[str, Any]) -> None:
    keep, dup = pair["keep"], pair["dup"]
    assert billing.merge_duplicate(keep, dup) == 2
    assert not exists(dup)
    assert invoices_of(keep) == ["D-1", "D-2", "K-1"]
    case = Case.objects.get(pk=pair["case"].pk)
    assert case.customer is None
    assert deleted_event(case).data["from"] == "P. Shah"


def test_the_hosts_admin_tools_report_a_refusal_and_change_nothing(
    billing: Any, refuse: None, superuser_client: Any, pair: dict[str, Any]
) -> None:
    keep, dup = pair["keep"], pair["dup"]
    for action in ("merge_duplicates", "delete_moving_invoices"):
        data = {"action": action, "_selected_action": [str(keep.pk), str(dup.pk)]}
        response = superuser_client.post("/admin/hosts_owntools/client/", data, follow=True)
        said = messages_of(response)
        assert any(pair["case"].reference in m for m in said), (action, said)
        assert exists(dup) and invoices_of(dup) == ["D-1", "D-2"]


def test_socialcares_merge_moves_invoices_the_hosts_way(
    billing: Any, api: APIClient, pair: dict[str, Any]
) -> None:
    """The adapter's merge hook uses the host's own invoice move: the duplicate client stays
    (socialcare never deletes it), without invoices, so the host may delete it later."""
    keep, dup = pair["keep"], pair["dup"]
    response = api.post(f"{V1}/customers/{dup.pk}/merge/", {"into": keep.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["merge"]["relations"]["moved"] == [
        {"relation": "hosts_owntools.Invoice.client", "count": 2}
    ]
    billing.delete_client(dup)  # nothing left on it to protect it
    assert not exists(dup) and invoices_of(keep) == ["D-1", "D-2", "K-1"]
