"""socialcare inside each host CRM shape (tests/hosts/profiles.py): the customer a new social
account gets when it opens a case, and the customer API. Run once per shape::

    pytest --ds=tests.hosts.settings_splitname tests/hosts   # also _uuidpk, _owntools
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from socialcare.api.urls import router
from socialcare.models import Case, CaseEvent, SocialIdentity, get_customer_model
from socialcare.models.event import FOUND_CUSTOMER
from socialcare.services import cases as case_services
from tests.hosts.conftest import PRIYA
from tests.hosts.profiles import HostProfile, api_id, read_path

pytestmark = pytest.mark.django_db

V1 = "/socialcare/api/v1"
K = CaseEvent.Kind


def customers() -> Any:
    return get_customer_model()._default_manager


def found_events(case: Case) -> list[dict[str, Any]]:
    """The "customer changed" events written when the case opened."""
    events = CaseEvent.objects.filter(case=case, kind=K.CUSTOMER_CHANGED, data__has_key="found")
    return [event.data for event in events]


def test_the_hosts_migrations_match_its_models(host: HostProfile) -> None:
    """The host app's 0001 (and socialcare's, with the host's customer model) are complete."""
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        pytest.fail(f"makemigrations would write migrations:\n{out.getvalue()}")


# Customers for new cases -------------------------------------------------------------------------


def test_a_new_account_opens_a_case_with_a_customer_made_by_the_adapter(
    host: HostProfile, tweet: Callable[..., Any]
) -> None:
    post = tweet("9001", "My order never came")
    case = post.case
    identity = SocialIdentity.objects.get(pk=post.author_id)
    if not host.creates_customers:
        assert case.customer is None and identity.customer is None
        assert not customers().exists()
        assert not found_events(case)
        assert not case.events.filter(kind=K.NOTE).exists()  # declining is by design, no problem
        return
    customer = case.customer
    for path, value in host.created.items():
        assert read_path(customer, path) == value, path
    assert host.name_of(customer) == "Priya R Shah"
    assert identity.customer == customer
    [found] = found_events(case)
    assert found["found"] == "created" and found["to"] == "Priya R Shah"
    assert found["to_id"] == str(customer.pk)
    event = case.events.get(kind=K.CUSTOMER_CHANGED)
    assert event.summary() == f"Customer: Priya R Shah ({FOUND_CUSTOMER['created']})"


def test_the_same_account_writing_again_keeps_its_customer(
    host: HostProfile, tweet: Callable[..., Any]
) -> None:
    first = tweet("9001", "My order never came").case
    second = tweet("9002", "Still waiting, day three").case
    assert second.pk != first.pk
    assert second.customer_id == first.customer_id
    assert customers().count() == (1 if host.creates_customers else 0)
    assert not found_events(second)  # linked already: nothing found anew


def test_an_email_from_a_customers_address_is_linked_to_them(
    host: HostProfile, email_from: Callable[..., Case]
) -> None:
    ann = host.make_customer("Ann Lee", "ann@example.com")
    case = email_from("Ann@Example.com", "Where is my invoice?", name="A. Lee")
    assert case.customer == ann
    assert SocialIdentity.objects.get(platform="email").customer == ann
    assert customers().count() == 1
    [found] = found_events(case)
    assert found["found"] == "matched" and found["to"] == host.name_of(ann) == "Ann Lee"


def test_an_email_from_an_unknown_address(
    host: HostProfile, email_from: Callable[..., Case]
) -> None:
    host.make_customer("Ann Lee", "ann@example.com")
    case = email_from("bo@example.com", "Hello", name="Bo Diaz")
    if host.creates_customers:
        assert host.name_of(case.customer) == "Bo Diaz"
        assert customers().count() == 2
    else:
        assert case.customer is None and customers().count() == 1


def test_an_x_account_whose_handle_the_host_stores_is_matched(
    host: HostProfile, tweet: Callable[..., Any]
) -> None:
    if not host.stores_x_handles:
        pytest.skip(f"the {host.name} host stores no X handles")
    priya = host.make_customer("Priya Shah", "priya@example.com")
    priya.x_handle = "@Priya_Shah"
    priya.save()
    case = tweet("9001", "Charged twice").case
    assert case.customer == priya
    assert customers().count() == 1
    assert found_events(case)[0]["found"] == "matched"


def test_match_only_links_known_people_and_creates_nobody(
    host: HostProfile,
    settings: Any,
    tweet: Callable[..., Any],
    email_from: Callable[..., Case],
) -> None:
    settings.SOCIALCARE = {**settings.SOCIALCARE, "CUSTOMERS_FOR_CASES": "match"}
    ann = host.make_customer("Ann Lee", "ann@example.com")
    assert tweet("9001", "My order never came").case.customer is None
    assert email_from("ann@example.com", "Where is my invoice?").customer == ann
    assert customers().count() == 1


def test_an_agent_links_an_account_the_host_declined(
    host: HostProfile, tweet: Callable[..., Any], api: APIClient
) -> None:
    """Where socialcare creates no customer, the agent links the account to one; its case
    follows."""
    if host.creates_customers:
        pytest.skip(f"the {host.name} host gets a customer for every new account")
    case = tweet("9001", "Charged twice").case
    priya = host.make_customer("Priya Shah", "priya@example.com")
    linked = api.post(
        f"{V1}/identities/{case.identity_id}/link/", {"customer": api_id(priya)}, format="json"
    )
    assert linked.status_code == 200, linked.content
    assert Case.objects.get(pk=case.pk).customer == priya


# The customer API ------------------------------------------------------------------------------


def test_creating_a_customer_without_the_hosts_required_data_names_the_field(
    host: HostProfile, api: APIClient
) -> None:
    if host.incomplete is None:
        pytest.skip(f"the {host.name} host requires nothing")
    body, field = host.incomplete
    response = api.post(f"{V1}/customers/", body, format="json")
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["code"] == "invalid" and answer["detail"]
    assert field in answer["errors"], answer
    assert not customers().exists()


def test_creating_a_customer_through_the_api(host: HostProfile, api: APIClient) -> None:
    if not host.api_creates:
        pytest.skip(f"the {host.name} host needs data the API does not carry")
    body = {"name": "Priya R Shah", "email": "priya@example.com"}
    response = api.post(f"{V1}/customers/", body, format="json")
    assert response.status_code == 201, response.content
    created = customers().get()
    assert response.json()["id"] == api_id(created)
    assert response.json()["name"] == host.name_of(created) == "Priya R Shah"


def test_renaming_a_customer_writes_the_hosts_name_fields(
    host: HostProfile, api: APIClient
) -> None:
    priya = host.make_customer("Priya Shah", "priya@example.com")
    url = f"{V1}/customers/{priya.pk}/"
    response = api.patch(url, {"name": "Priya R Shah"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Priya R Shah"
    priya.refresh_from_db()
    assert host.name_of(priya) == "Priya R Shah"
    if host.name == "splitname":
        assert (priya.first_name, priya.middle_name, priya.last_name) == ("Priya", "R", "Shah")
        assert priya.company.name == "Acme Ltd"  # the rest of the contact is untouched
    shown = api.get(url).json()
    assert shown["name"] == "Priya R Shah" and shown["email"] == "priya@example.com"


def test_blank_values_are_written_or_refused_never_dropped(
    host: HostProfile, api: APIClient
) -> None:
    priya = host.make_customer("Priya Shah", "priya@example.com")
    url = f"{V1}/customers/{priya.pk}/"
    cleared = api.patch(url, {"email": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["email"] == ""
    blank = api.patch(url, {"name": ""}, format="json")
    if host.name_required:
        assert blank.status_code == 400, blank.content
        assert list(blank.json()["errors"]) == ["name"]
        priya.refresh_from_db()
        assert host.name_of(priya) == "Priya Shah"
    else:
        assert blank.status_code == 200 and blank.json()["name"] == ""


def test_customer_search_goes_through_the_adapters_fields(
    host: HostProfile, api: APIClient
) -> None:
    priya = host.make_customer("Priya R Shah", "priya@example.com")
    host.make_customer("Bo Diaz", "bo@example.com")
    for term in ("Shah", "priya@example", "Priya"):
        found = api.get(f"{V1}/customers/", {"search": term})
        assert found.status_code == 200, found.content
        assert [row["id"] for row in found.json()["results"]] == [api_id(priya)], term


def test_no_api_answer_is_a_500_or_html(
    host: HostProfile, api: APIClient, tweet: Callable[..., Any], x_channel: Any
) -> None:
    priya = host.make_customer("Priya Shah", "priya@example.com")
    SocialIdentity.objects.create(
        platform="x", external_id=PRIYA["id_str"], handle="priya_shah", customer=priya
    )
    case = tweet("9001", "Charged twice").case
    other = host.make_customer("Bo Diaz", "")
    case_services.open_case(channel=x_channel, customer=other)
    pk, missing = api_id(priya), uuid.uuid4() if not isinstance(priya.pk, int) else 999999
    reads = {
        "customers/": 200,
        "customers/?search=Shah&ordering=-id&page_size=1": 200,
        f"customers/{pk}/": 200,
        f"customers/{pk}/history/": 200,
        f"customers/{missing}/": 404,
        "customers/not-an-id/": 404,
        f"identities/?customer={pk}": 200,
        "identities/?customer=not-an-id": 400,
        f"cases/?customer={pk}": 200,
        "cases/?customer=not-an-id": 400,
        f"cases/{case.pk}/": 200,
        **{f"{prefix}/": None for prefix, _, _ in router.registry},  # every list: no 500
    }
    for path, status in reads.items():
        response = api.get(f"{V1}/{path}")
        expected = response.status_code < 500 if status is None else response.status_code == status
        assert expected, (path, response.status_code)
        assert response["Content-Type"].startswith("application/json"), path
    writes = [
        (api.post, f"customers/{pk}/merge/", {"into": "not-an-id"}, 400),
        (api.post, f"customers/{pk}/merge/", {"into": str(missing)}, 400),
        (api.post, f"customers/{pk}/merge/", {"into": pk}, 409),
        (api.post, f"customers/{missing}/merge/", {"into": pk}, 404),
        (api.patch, f"customers/{pk}/", {"email": "not-an-address"}, 400),
        (api.patch, f"customers/{missing}/", {"name": "Nobody"}, 404),
    ]
    for method, path, body, status in writes:
        response = method(f"{V1}/{path}", body, format="json")
        assert response.status_code == status, (path, body, response.content)
        assert response["Content-Type"].startswith("application/json"), path
    schema = api.get("/socialcare/api/schema/", {"format": "json"})
    assert schema.status_code == 200 and "/socialcare/api/v1/customers/" in schema.json()["paths"]
    # What the filters found, by the host's ids.
    identities = api.get(f"{V1}/identities/", {"customer": pk}).json()["results"]
    assert [row["handle"] for row in identities] == ["priya_shah"]
    cases = api.get(f"{V1}/cases/", {"customer": pk}).json()["results"]
    assert [row["reference"] for row in cases] == [case.reference]
