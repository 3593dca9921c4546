"""The host deletes its own rows that socialcare points at (issue #16, item 2): customers (through
the ORM, in bulk, in its admin, by a cascade from its company model), users and teams. A delete is
never blocked by socialcare's audit rows and never half done; the cases are kept with an event
that says what was deleted and by whom, or (``CUSTOMER_DELETE = "refuse"``) the delete is refused
with a clear message naming the cases. Runs with the default and the swapped customer model."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.urls import reverse

from socialcare import signals
from socialcare.exceptions import CustomerDeleteRefused
from socialcare.models import (
    Case,
    CaseEvent,
    CustomerMerge,
    SocialIdentity,
    Team,
    get_customer_model,
)
from socialcare.services import cases as case_services
from socialcare.services.apikeys import create_api_key
from socialcare.services.customer_delete import acting_as, check_customer_delete, current_actor
from socialcare.services.customers import merge_customers

pytestmark = pytest.mark.django_db

K = CaseEvent.Kind
IS_SWAPPED = getattr(django_settings, "SOCIALCARE_CUSTOMER_MODEL", "") == "testapp.Contact"
swapped = pytest.mark.skipif(not IS_SWAPPED, reason="needs --ds=tests.settings_swapped")
MIDDLEWARE = "socialcare.middleware.CurrentUserMiddleware"


@pytest.fixture
def refuse(socialcare_settings: Any) -> Any:
    with socialcare_settings(CUSTOMER_DELETE="refuse"):
        yield


@pytest.fixture
def with_middleware(settings: Any) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


@pytest.fixture
def updates() -> Any:
    log: list[dict[str, Any]] = []

    def on_updated(sender: Any, **kwargs: Any) -> None:
        log.append(kwargs)

    signals.case_updated.connect(on_updated)
    yield log
    signals.case_updated.disconnect(on_updated)


def admin_url(model: Any, view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def deleted_events(case: Case, kind: str = K.CUSTOMER_CHANGED) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case, kind=kind, data__has_key="deleted_by"))


def exists(customer: Any) -> bool:
    return get_customer_model()._default_manager.filter(pk=customer.pk).exists()


# Customers through the ORM ---------------------------------------------------------------------


def test_deleting_a_customer_keeps_their_cases_and_says_who_deleted_whom(
    customer, identity, case, agent, updates, django_capture_on_commit_callbacks
):
    pk = customer.pk
    with acting_as(agent), django_capture_on_commit_callbacks(execute=True):
        customer.delete()
    assert not get_customer_model()._default_manager.filter(pk=pk).exists()
    kept = Case.objects.get(pk=case.pk)
    assert kept.customer_id is None
    assert SocialIdentity.objects.get(pk=identity.pk).customer_id is None
    [event] = deleted_events(case)
    assert event.actor == agent
    assert event.data["from"] == "Ada Lovelace" and event.data["from_id"] == str(pk)
    assert event.data["to"] == "" and event.data["reason"] == "customer deleted"
    assert event.data["text"] == "Customer Ada Lovelace was deleted by Alice Agent."
    assert [(u["case"].pk, u["field"], u["old"], u["new"]) for u in updates] == [
        (case.pk, "customer", str(pk), None)
    ]


def test_who_deleted_is_unknown_without_a_request_or_acting_as(customer, case):
    assert current_actor() is None
    customer.delete()
    [event] = deleted_events(case)
    assert event.actor is None
    assert event.data["deleted_by"] == "unknown"
    assert event.data["text"] == "Customer Ada Lovelace was deleted by unknown."


def test_a_customer_without_cases_is_deleted_without_events(make_customer):
    lone = make_customer("Lone")
    pk = lone.pk
    lone.delete()
    assert not get_customer_model()._default_manager.filter(pk=pk).exists()
    assert not CaseEvent.objects.filter(kind=K.CUSTOMER_CHANGED).exists()


def test_bulk_delete_keeps_every_case(make_customer, channel, agent):
    people = [make_customer(f"Person {i}") for i in range(3)]
    cases = [case_services.open_case(channel=channel, customer=p) for p in people]
    with acting_as(agent):
        get_customer_model()._default_manager.filter(pk__in=[p.pk for p in people]).delete()
    assert Case.objects.filter(pk__in=[c.pk for c in cases], customer__isnull=True).count() == 3
    for i, case in enumerate(cases):
        [event] = deleted_events(case)
        assert event.data["from"] == f"Person {i}"
        assert event.actor == agent


def test_merge_audit_rows_never_block_deleting_either_customer(customer, make_customer, channel):
    dup = make_customer("Ada L.", "ada@work.example")
    case_services.open_case(channel=channel, customer=dup)
    merge = merge_customers(dup, customer)
    target_pk, source_pk = customer.pk, dup.pk
    customer.delete()  # the kept record, with the merge row and the moved case
    dup.delete()  # the merged record
    merge.refresh_from_db()
    assert merge.target_id is None and merge.merged_customer_id is None
    assert merge.target_ref == str(target_pk) and merge.source_id == str(source_pk)
    assert str(merge) == f"Customer {source_pk} merged into customer {target_pk} (deleted)"
    assert CustomerMerge.objects.count() == 1


def test_refused_delete_names_the_cases_and_changes_nothing(refuse, customer, case, channel):
    second = case_services.open_case(channel=channel, customer=customer)
    with pytest.raises(CustomerDeleteRefused) as refused:
        customer.delete()
    message = str(refused.value)
    assert message.startswith("Cannot delete customer Ada Lovelace: socialcare cases ")
    assert case.reference in message and second.reference in message
    assert 'SOCIALCARE["CUSTOMER_DELETE"] = "keep_cases"' in message
    assert refused.value.restricted_objects == {case, second}
    # Django's admin and ``except IntegrityError`` catch it; Django's collector would have
    # replaced a ProtectedError by a generic one without this message.
    assert isinstance(refused.value, RestrictedError)
    assert not isinstance(refused.value, ProtectedError)
    assert exists(customer)
    assert Case.objects.filter(customer=customer).count() == 2
    assert not CaseEvent.objects.filter(kind=K.CUSTOMER_CHANGED).exists()


def test_refused_bulk_delete_deletes_none(refuse, make_customer, channel):
    free = make_customer("Free")
    busy = make_customer("Busy")
    case = case_services.open_case(channel=channel, customer=busy)
    with pytest.raises(
        CustomerDeleteRefused, match=f"customer Busy: socialcare cases {case.reference} "
    ):
        get_customer_model()._default_manager.filter(pk__in=[free.pk, busy.pk]).delete()
    assert exists(free) and exists(busy)


def test_refusal_lists_ten_references_then_counts(refuse, customer, channel):
    cases = [case_services.open_case(channel=channel, customer=customer) for _ in range(12)]
    tenth = re.escape(cases[9].reference)
    with pytest.raises(CustomerDeleteRefused, match=rf"{tenth} and 2 more belong to them"):
        customer.delete()


def test_a_host_tool_can_ask_first_and_never_half_does(refuse, customer, case, make_customer):
    """The host's "delete duplicate" tool: move its own data, then delete. Asking first, it
    changes nothing when the delete would be refused."""
    keep = make_customer("Ada King")
    with pytest.raises(CustomerDeleteRefused, match=case.reference):
        check_customer_delete([customer])
    check_customer_delete([keep])  # no cases: nothing to refuse
    with pytest.raises(CustomerDeleteRefused), transaction.atomic():
        case_services.set_customer(case, keep)
        case_services.set_customer(case, customer)
        customer.delete()
    assert Case.objects.get(pk=case.pk).customer == customer


def test_keep_cases_needs_no_asking(customer, case):
    check_customer_delete([customer])


def test_an_unknown_policy_is_a_configuration_error(socialcare_settings, customer, case):
    with (
        socialcare_settings(CUSTOMER_DELETE="cascade"),
        pytest.raises(ImproperlyConfigured, match='"keep_cases" or "refuse", got \'cascade\''),
    ):
        customer.delete()
    assert exists(customer)


@swapped
def test_deleting_a_company_deletes_its_contacts_and_keeps_their_cases(channel, agent):
    from tests.testapp.models import Company, Contact, Deal

    acme = Company.objects.create(name="Acme")
    grace = Contact.objects.create(full_name="Grace Hopper", company=acme)
    Deal.objects.create(contact=grace, title="Renewal")
    case = case_services.open_case(channel=channel, customer=grace)
    with acting_as(agent):
        acme.delete()
    assert not Contact.objects.exists() and not Deal.objects.exists()
    assert Case.objects.get(pk=case.pk).customer is None
    [event] = deleted_events(case)
    assert event.data["text"] == "Customer Grace Hopper was deleted by Alice Agent."


@swapped
def test_a_host_tool_that_moves_a_deal_then_deletes_completes(channel, agent):
    from tests.testapp.models import Contact, Deal

    keep = Contact.objects.create(full_name="Grace Hopper")
    dup = Contact.objects.create(full_name="G. Hopper")
    deal = Deal.objects.create(contact=dup, title="Renewal")
    case = case_services.open_case(channel=channel, customer=dup)
    Deal.objects.filter(contact=dup).update(contact=keep)
    dup.delete()
    assert Deal.objects.get(pk=deal.pk).contact == keep
    assert Case.objects.get(pk=case.pk).customer is None


# Customers in the host's admin -----------------------------------------------------------------


@pytest.fixture
def merged_into(customer, make_customer):
    """A merge row pointing at ``customer`` (it used to cascade, and block the admin)."""
    dup = make_customer("Ada L.")
    merge_customers(dup, customer)
    return dup


def test_admin_deletes_a_customer_with_cases_and_merge_rows(
    with_middleware, admin_client, admin_user, customer, case, merged_into
):
    url = admin_url(get_customer_model(), "delete", customer.pk)
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"permission to delete" not in page.content
    assert b"protected related objects" not in page.content
    assert not deleted_events(case)  # the confirmation page only collects
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302, response.content[:2000]
    assert not exists(customer)
    assert Case.objects.get(pk=case.pk).customer is None
    [event] = deleted_events(case)
    assert event.actor == admin_user
    assert event.data["text"] == "Customer Ada Lovelace was deleted by admin."
    assert CustomerMerge.objects.get().target is None


def test_admin_delete_selected_keeps_the_cases(
    with_middleware, admin_client, admin_user, customer, case, make_customer, channel
):
    other = make_customer("Bob Builder")
    other_case = case_services.open_case(channel=channel, customer=other)
    url = admin_url(get_customer_model(), "changelist")
    data = {"action": "delete_selected", "_selected_action": [customer.pk, other.pk]}
    page = admin_client.post(url, data)
    assert page.status_code == 200 and b"protected related objects" not in page.content
    response = admin_client.post(url, {**data, "post": "yes"})
    assert response.status_code == 302
    assert not exists(customer) and not exists(other)
    for kept in (case, other_case):
        assert Case.objects.get(pk=kept.pk).customer is None
        assert deleted_events(kept)[0].actor == admin_user


def test_admin_shows_the_refusal_as_protected_objects(
    refuse, admin_client, customer, case, make_customer
):
    url = admin_url(get_customer_model(), "delete", customer.pk)
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"protected related objects" in page.content
    assert case.reference.encode() in page.content
    assert admin_client.post(url, {"post": "yes"}).status_code == 200
    assert exists(customer)
    other = make_customer("Bob Builder")
    changelist = admin_url(get_customer_model(), "changelist")
    data = {"action": "delete_selected", "_selected_action": [customer.pk, other.pk], "post": "yes"}
    page = admin_client.post(changelist, data)
    assert page.status_code == 200 and b"protected related objects" in page.content
    assert exists(customer) and exists(other)


# Users and teams -------------------------------------------------------------------------------


def test_deleting_an_assignee_keeps_the_cases_unassigned(
    case, agent, other_agent, updates, django_capture_on_commit_callbacks
):
    case_services.assign_case(case, agent)
    create_api_key(agent, "agent's key")
    user_pk = agent.pk
    with acting_as(other_agent), django_capture_on_commit_callbacks(execute=True):
        agent.delete()
    kept = Case.objects.get(pk=case.pk)
    assert kept.assignee_id is None
    [event] = deleted_events(case, K.ASSIGNEE_CHANGED)
    assert event.actor == other_agent
    assert event.data["from"] == "Alice Agent" and event.data["from_id"] == user_pk
    assert event.data["text"] == "Assignee Alice Agent was deleted by Bob Backup."
    assert [(u["field"], u["old"], u["new"]) for u in updates] == [("assignee", user_pk, None)]


def test_admin_deletes_a_user_who_is_an_assignee(with_middleware, admin_client, case, agent):
    case_services.assign_case(case, agent, actor=agent)
    url = admin_url(get_user_model(), "delete", agent.pk)
    assert b"protected related objects" not in admin_client.get(url).content
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not get_user_model().objects.filter(pk=agent.pk).exists()
    assert Case.objects.get(pk=case.pk).assignee_id is None
    [event] = deleted_events(case, K.ASSIGNEE_CHANGED)
    assert event.data["deleted_by"] == "admin"
    # What the user did stays on the timeline, without them.
    assigned = CaseEvent.objects.get(case=case, kind=K.ASSIGNEE_CHANGED, data__to="Alice Agent")
    assert assigned.actor is None


def test_deleting_a_team_keeps_its_cases(with_middleware, admin_client, case, team, channel):
    assert case.team == team
    url = admin_url(Team, "delete", team.pk)
    assert b"protected related objects" not in admin_client.get(url).content
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    kept = Case.objects.get(pk=case.pk)
    assert kept.team_id is None
    channel.refresh_from_db()
    assert channel.default_team_id is None
    [event] = deleted_events(case, K.TEAM_CHANGED)
    assert event.data["text"] == "Team Care was deleted by admin."
