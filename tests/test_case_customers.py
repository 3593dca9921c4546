"""A customer for every case (``SOCIALCARE["CUSTOMERS_FOR_CASES"]``): an identity with no customer
that opens a case is matched to an existing customer or gets a new one, through the customer
adapter; a refusal leaves the case without one and says why. Runs against the default customer
model and, with ``--ds=tests.settings_swapped``, against ``testapp.Contact``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from socialcare.adapter import CustomerAdapter
from socialcare.conf import DEFAULTS
from socialcare.models import Case, CaseEvent, Post, SocialIdentity, get_customer_model
from socialcare.models.customer import customer_display_name, customer_email
from socialcare.platforms.base import InboundIdentity, InboundPost
from socialcare.services import cases as case_services
from socialcare.services.customers import link_identity, merge_customers
from socialcare.services.ingest import ingest

pytestmark = pytest.mark.django_db

K = CaseEvent.Kind


def post(external_id: str, author: InboundIdentity, *, platform: str = "x") -> InboundPost:
    return InboundPost(
        platform=platform,
        external_id=external_id,
        author=author,
        kind="mention" if platform == "x" else "email",
        visibility="public" if platform == "x" else "private",
        text="@acme my order never arrived",
        posted_at=timezone.now() - dt.timedelta(minutes=int(external_id[-1:] or 0)),
        raw={},
    )


GRACE = InboundIdentity(platform="x", external_id="2002", handle="grace", display_name="Grace H")


def case_of(external_id: str) -> Case:
    return Post.objects.select_related("case__customer").get(external_id=external_id).case


@pytest.fixture
def mode(socialcare_settings):
    """``with mode("create"):`` -- CUSTOMERS_FOR_CASES for the block."""
    return lambda value, **more: socialcare_settings(CUSTOMERS_FOR_CASES=value, **more)


def test_a_new_install_creates_customers_for_cases():
    assert DEFAULTS["CUSTOMERS_FOR_CASES"] == "create"


def test_a_new_identity_gets_a_customer_named_after_it_and_keeps_it(channel, mode):
    Customer = get_customer_model()
    with mode("create"):
        ingest(channel, post("9001", GRACE))
        first = case_of("9001")
        assert first.customer is not None
        assert customer_display_name(first.customer) == "Grace H"
        identity = SocialIdentity.objects.get(platform="x", external_id="2002")
        assert identity.customer_id == first.customer.pk
        Case.objects.filter(pk=first.pk).update(status=Case.Status.CLOSED)
        ingest(channel, post("9002", GRACE))
    second = case_of("9002")
    assert second.pk != first.pk
    assert second.customer_id == first.customer_id
    assert Customer._default_manager.count() == 1
    [event] = first.events.filter(kind=K.CUSTOMER_CHANGED)
    assert event.summary() == "Customer: Grace H (a new customer record for this identity)"


def test_an_email_identity_is_matched_to_the_customer_with_that_address(
    channel, mode, make_customer
):
    known = make_customer("Grace Hopper", "grace@example.com")
    author = InboundIdentity(platform="email", external_id="Grace@Example.com", display_name="G")
    with mode("create"):
        ingest(channel, post("9003", author, platform="email"))
    case = case_of("9003")
    assert case.customer_id == known.pk
    assert get_customer_model()._default_manager.count() == 1
    [event] = case.events.filter(kind=K.CUSTOMER_CHANGED)
    assert "matched an existing customer" in event.summary()


def test_match_mode_links_known_people_and_creates_nobody(channel, mode, make_customer):
    known = make_customer("Grace Hopper", "grace@example.com")
    author = InboundIdentity(platform="email", external_id="grace@example.com")
    with mode("match"):
        ingest(channel, post("9004", GRACE))
        ingest(channel, post("9005", author, platform="email"))
    assert case_of("9004").customer is None
    assert case_of("9005").customer_id == known.pk
    assert get_customer_model()._default_manager.count() == 1


def test_manual_mode_leaves_every_case_to_an_agent(channel, mode, make_customer):
    make_customer("Grace Hopper", "grace@example.com")
    author = InboundIdentity(platform="email", external_id="grace@example.com")
    with mode("manual"):
        ingest(channel, post("9006", author, platform="email"))
    case = case_of("9006")
    assert case.customer is None
    assert not case.events.filter(kind__in=[K.CUSTOMER_CHANGED, K.NOTE]).exists()


def test_two_customers_with_the_address_link_neither_and_the_case_says_so(
    channel, mode, make_customer
):
    make_customer("Grace Hopper", "grace@example.com")
    make_customer("Grace B. Hopper", "GRACE@example.com")
    author = InboundIdentity(platform="email", external_id="grace@example.com")
    with mode("create"):
        ingest(channel, post("9007", author, platform="email"))
    case = case_of("9007")
    assert case.customer is None
    assert get_customer_model()._default_manager.count() == 2
    [note] = case.events.filter(kind=K.NOTE)
    assert "More than one customer matches" in note.summary()


def test_a_merged_record_is_never_matched(channel, mode, make_customer):
    old = make_customer("Grace (old)", "grace@example.com")
    kept = make_customer("Grace Hopper", "")
    merge_customers(old, kept)
    author = InboundIdentity(platform="email", external_id="grace@example.com")
    with mode("match"):
        ingest(channel, post("9008", author, platform="email"))
    # the merge filled the kept record's blank e-mail from the merged one
    assert case_of("9008").customer_id == kept.pk


class RequiresAccountNumber(CustomerAdapter):
    """A host whose model insists on something socialcare cannot know."""

    def validate(self, customer: Any) -> None:
        from django.core.exceptions import ValidationError

        raise ValidationError({"account_number": ["This field is required."]})


class CreatesNobody(CustomerAdapter):
    def new_customer_for(self, identity: SocialIdentity) -> None:
        return None


def test_a_customer_the_model_refuses_leaves_the_case_without_one_and_says_why(channel, mode):
    with mode("create", CUSTOMER_ADAPTER=f"{__name__}.RequiresAccountNumber"):
        result = ingest(channel, post("9009", GRACE))
    case = case_of("9009")
    assert result is not None
    assert case.customer is None
    assert Post.objects.filter(external_id="9009").exists()
    [note] = case.events.filter(kind=K.NOTE)
    assert note.summary() == (
        f"No customer record was created for {case.identity}: the customer model refused it "
        "(account_number: This field is required.)."
    )
    assert get_customer_model()._default_manager.count() == 0


def test_an_adapter_that_creates_nobody_adds_no_note(channel, mode):
    with mode("create", CUSTOMER_ADAPTER=f"{__name__}.CreatesNobody"):
        ingest(channel, post("9010", GRACE))
    case = case_of("9010")
    assert case.customer is None
    assert not case.events.filter(kind__in=[K.CUSTOMER_CHANGED, K.NOTE]).exists()


def test_an_identity_linked_by_hand_is_not_given_another_customer(
    channel, mode, make_customer, make_identity
):
    ada = make_customer("Ada Lovelace", "ada@example.com")
    identity = make_identity("2002", "grace")
    link_identity(identity, ada)
    with mode("create"):
        ingest(channel, post("9011", GRACE))
    assert case_of("9011").customer_id == ada.pk
    assert get_customer_model()._default_manager.count() == 1


def test_a_case_opened_by_an_agent_for_a_new_identity_gets_a_customer_too(
    channel, mode, make_identity, agent
):
    identity = make_identity("3003", "lin", display_name="Lin Q")
    with mode("create"):
        case = case_services.open_case(channel=channel, identity=identity, actor=agent)
    assert customer_display_name(case.customer) == "Lin Q"
    assert customer_email(case.customer) == ""
