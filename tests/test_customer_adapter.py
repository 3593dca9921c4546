"""The customer adapter: names and e-mails read from a field, a property or a method; names
written through it; the API's customer writes validated by the model (400 naming each field,
never a 500); the system checks of its settings. Runs against the default customer model and,
with ``--ds=tests.settings_swapped``, against ``testapp.Contact``."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from socialcare.adapter import CustomerAdapter, get_customer_adapter, split_name
from socialcare.models import get_customer_model
from socialcare.models.customer import customer_display_name

pytestmark = pytest.mark.django_db

URL = "/socialcare/api/v1/customers/"


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("Priya", ("Priya", "", "")),
        ("Priya Shah", ("Priya", "", "Shah")),
        ("  Priya   R.  Shah ", ("Priya", "R.", "Shah")),
        ("Maria de la Cruz", ("Maria", "de la", "Cruz")),
        ("", ("", "", "")),
    ],
)
def test_split_name(name, parts):
    assert split_name(name) == parts


class Person:
    """Stands in for a host model: the adapter only reads attributes."""

    def __init__(self) -> None:
        self.first, self.last = "Priya", "Shah"

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"

    def primary_email(self) -> str:
        return "priya@example.com"

    def __str__(self) -> str:
        return "Person #1"


class PropertyAdapter(CustomerAdapter):
    name_field = "full_name"
    email_field = "primary_email"


def test_the_name_and_email_may_be_a_property_and_a_method():
    adapter = PropertyAdapter()
    assert adapter.get_name(Person()) == "Priya Shah"
    assert adapter.get_email(Person()) == "priya@example.com"


def test_an_empty_name_shows_the_record_itself(make_customer):
    customer = make_customer("", "")
    assert get_customer_adapter().get_name(customer) == ""
    assert customer_display_name(customer) == str(customer)


def test_a_name_that_is_computed_cannot_be_written(settings):
    class Computed(CustomerAdapter):
        name_field = "__str__"

    customer = get_customer_model()()
    with pytest.raises(ValidationError) as caught:
        Computed().set_name(customer, "Priya")
    assert "cannot be written" in caught.value.message_dict["name"][0]


# The API's writes -------------------------------------------------------------------------------


@pytest.fixture
def api(make_user) -> APIClient:
    user = make_user("admin", is_superuser=True)
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_creates_and_renames_a_customer_through_the_adapter(api):
    created = api.post(URL, {"name": "Priya Shah", "email": "priya@example.com"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "Priya Shah"
    renamed = api.patch(f"{URL}{created.json()['id']}/", {"name": "Priya R Shah"}, format="json")
    assert renamed.status_code == 200
    customer = get_customer_model()._default_manager.get(pk=created.json()["id"])
    assert customer_display_name(customer) == "Priya R Shah"


def test_a_name_longer_than_the_model_allows_is_a_400_naming_it(api):
    answer = api.post(URL, {"name": "P" * 900, "email": ""}, format="json")
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/json")
    assert list(answer.json()["errors"]) == ["name"]
    assert get_customer_model()._default_manager.count() == 0


def test_a_bad_email_is_a_400_and_changes_nothing(api, make_customer):
    customer = make_customer("Ada", "ada@example.com")
    answer = api.patch(f"{URL}{customer.pk}/", {"email": "not an address"}, format="json")
    assert answer.status_code == 400
    assert "email" in answer.json()["errors"]
    customer.refresh_from_db()
    assert get_customer_adapter().get_email(customer) == "ada@example.com"


class NeedsAccount(CustomerAdapter):
    """A host model that requires a field the API cannot fill."""

    def validate(self, customer: Any) -> None:
        super().validate(customer)
        raise ValidationError({"account_number": ["This field is required."]})


def test_a_host_required_field_is_named_in_a_400(api, socialcare_settings):
    with socialcare_settings(CUSTOMER_ADAPTER=f"{__name__}.NeedsAccount"):
        answer = api.post(URL, {"name": "Priya"}, format="json")
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {"account_number": ["This field is required."]}
    assert get_customer_model()._default_manager.count() == 0


# Checks -----------------------------------------------------------------------------------------


def ids(messages: list) -> list[str]:
    return sorted(m.id for m in messages if m.id.startswith("socialcare."))


def test_a_name_attribute_the_model_lacks_is_an_error(socialcare_settings):
    with socialcare_settings(CUSTOMER_NAME_FIELD="nickname"):
        messages = run_checks()
    [error] = [m for m in messages if m.id == "socialcare.E004"]
    assert "'nickname'" in error.msg


def test_an_adapter_that_reads_the_name_itself_needs_no_field(socialcare_settings):
    with socialcare_settings(
        CUSTOMER_NAME_FIELD="nickname", CUSTOMER_ADAPTER=f"{__name__}.ReadsItsOwnName"
    ):
        assert "socialcare.E004" not in ids(run_checks())


class ReadsItsOwnName(CustomerAdapter):
    def get_name(self, customer: Any) -> str:
        return str(customer.pk)


def test_an_adapter_path_that_does_not_import_is_an_error(socialcare_settings):
    with socialcare_settings(CUSTOMER_ADAPTER="crm.nowhere.Adapter"):
        messages = run_checks()
    [error] = [m for m in messages if m.id == "socialcare.E004"]
    assert "cannot be imported" in error.msg


@pytest.mark.parametrize("setting", ["CUSTOMERS_FOR_CASES", "CUSTOMER_DELETE"])
def test_a_setting_of_words_refuses_other_words(socialcare_settings, setting):
    with socialcare_settings(**{setting: "sometimes"}):
        messages = run_checks()
    [error] = [m for m in messages if m.id == "socialcare.E007"]
    assert setting in error.msg
