"""The swappable customer model. Tests marked ``swapped`` run with ``--ds=tests.settings_swapped``
(``SOCIALCARE_CUSTOMER_MODEL = "testapp.Contact"``), ``default`` ones with the default settings."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from socialcare.models import (
    Case,
    Customer,
    CustomerMerge,
    ReplyTemplate,
    SocialIdentity,
    customer_display_name,
    customer_email,
    customer_model_name,
    get_customer_model,
)
from socialcare.services.cases import open_case
from socialcare.services.customers import merge_customers
from socialcare.services.templates import render_reply_template
from tests.testapp.models import Contact

pytestmark = pytest.mark.django_db

IS_SWAPPED = getattr(settings, "SOCIALCARE_CUSTOMER_MODEL", "") == "testapp.Contact"
swapped = pytest.mark.skipif(not IS_SWAPPED, reason="needs --ds=tests.settings_swapped")
default = pytest.mark.skipif(IS_SWAPPED, reason="needs the default customer model")


def test_foreign_keys_point_at_the_active_customer_model():
    model = get_customer_model()
    assert customer_model_name() == model._meta.label
    assert Case._meta.get_field("customer").related_model is model
    assert SocialIdentity._meta.get_field("customer").related_model is model
    assert CustomerMerge._meta.get_field("target").related_model is model


@pytest.mark.parametrize("value", ["crm.Person", "Person"])
def test_an_unusable_setting_names_itself(value):
    with (
        override_settings(SOCIALCARE_CUSTOMER_MODEL=value),
        pytest.raises(ImproperlyConfigured, match=f"SOCIALCARE_CUSTOMER_MODEL .* got '{value}'"),
    ):
        get_customer_model()


# Default customer model ---------------------------------------------------------------------


@default
def test_default_model_is_socialcares_customer():
    assert get_customer_model() is Customer
    assert "socialcare_customer" in connection.introspection.table_names()


@default
def test_default_customer_str_falls_back_to_email_then_id():
    assert str(Customer.objects.create(name="Ada")) == "Ada"
    assert str(Customer.objects.create(email="ada@example.com")) == "ada@example.com"
    anonymous = Customer.objects.create()
    assert str(anonymous) == f"Customer #{anonymous.pk}"
    assert customer_display_name(anonymous) == f"Customer #{anonymous.pk}"


# Swapped customer model ---------------------------------------------------------------------


@swapped
def test_swapped_model_replaces_socialcares_customer():
    assert get_customer_model() is Contact
    assert Customer._meta.swapped == "testapp.Contact"
    assert apps.get_model("socialcare", "Customer") is Customer
    assert "socialcare_customer" not in connection.introspection.table_names()
    with pytest.raises(AttributeError, match=r"swapped for 'testapp\.Contact'"):
        Customer.objects.all()


@swapped
def test_cases_and_identities_belong_to_contacts(channel, make_identity):
    contact = Contact.objects.create(full_name="Grace Hopper", email_address="grace@example.com")
    identity = make_identity("g-1", "grace", customer=contact)
    case = open_case(channel=channel, identity=identity)
    assert case.customer == contact
    assert list(contact.socialcare_cases.all()) == [case]
    assert list(contact.social_identities.all()) == [identity]
    assert customer_display_name(contact) == "Grace Hopper"
    assert customer_email(contact) == "grace@example.com"


@swapped
def test_reply_templates_use_the_contacts_name(channel, make_identity, agent):
    contact = Contact.objects.create(full_name="Grace Hopper")
    case = open_case(channel=channel, identity=make_identity("g-1", "grace", customer=contact))
    template = ReplyTemplate(name="Hello", text="Hi {{ customer }}, {{ agent }} here.")
    assert render_reply_template(template, case, agent) == "Hi Grace Hopper, Alice here."


@swapped
def test_merging_contacts_keeps_the_hosts_own_fields(channel, make_identity):
    keeper = Contact.objects.create(full_name="Grace Hopper")
    dup = Contact.objects.create(
        full_name="G. Hopper", email_address="grace@navy.example", account_number="ACC-7"
    )
    make_identity("g-2", "amazing_grace", customer=dup)
    merge = merge_customers(dup, keeper)
    keeper.refresh_from_db()
    assert keeper.email_address == "grace@navy.example"
    assert keeper.full_name == "Grace Hopper"
    assert merge.source_snapshot["account_number"] == "ACC-7"
    assert keeper.social_identities.get().handle == "amazing_grace"
    # Contact has no merged_into: the host's record stays untouched.
    assert Contact.objects.get(pk=dup.pk).account_number == "ACC-7"
