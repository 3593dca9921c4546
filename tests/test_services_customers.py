"""Customer services: linking and unlinking identities, merging customers. These run against the
default customer model and, with ``--ds=tests.settings_swapped``, against ``testapp.Contact``."""

from __future__ import annotations

import pytest
from django.core.exceptions import FieldDoesNotExist

from socialcare import signals
from socialcare.conf import app_settings
from socialcare.exceptions import MergeError, SocialCareError
from socialcare.models import Case, CaseEvent, CustomerMerge, SocialIdentity, get_customer_model
from socialcare.services import cases as case_services
from socialcare.services.customers import link_identity, merge_customers, unlink_identity

pytestmark = pytest.mark.django_db

K = CaseEvent.Kind


def needs_field(name: str) -> None:
    try:
        get_customer_model()._meta.get_field(name)
    except FieldDoesNotExist:
        pytest.skip(f"the customer model has no {name!r} field")


@pytest.fixture
def received():
    log: list[tuple[str, dict]] = []

    def on_linked(sender, **kwargs):
        log.append(("identity_linked", kwargs))

    def on_merged(sender, **kwargs):
        log.append(("customers_merged", kwargs))

    signals.identity_linked.connect(on_linked)
    signals.customers_merged.connect(on_merged)
    yield log
    signals.identity_linked.disconnect(on_linked)
    signals.customers_merged.disconnect(on_merged)


def has_merged_into() -> bool:
    try:
        get_customer_model()._meta.get_field("merged_into")
    except FieldDoesNotExist:
        return False
    return True


def customer_events(case):
    return list(CaseEvent.objects.filter(case=case, kind=K.CUSTOMER_CHANGED).order_by("pk"))


def name_of(customer) -> str:
    return getattr(customer, app_settings.CUSTOMER_NAME_FIELD)


def email_of(customer) -> str:
    return getattr(customer, app_settings.CUSTOMER_EMAIL_FIELD)


# Linking -------------------------------------------------------------------------------------


def test_linking_an_unknown_author_attributes_their_cases(
    channel,
    make_identity,
    make_customer,
    customer,
    agent,
    received,
    django_capture_on_commit_callbacks,
):
    anon = make_identity("77", "anon")
    case = case_services.open_case(channel=channel, identity=anon)
    assert case.customer is None
    # A case an agent already gave to someone else stays theirs.
    elsewhere = case_services.open_case(channel=channel, identity=anon, customer=make_customer("X"))
    with django_capture_on_commit_callbacks(execute=True):
        result = link_identity(anon, customer, actor=agent)
    assert result is anon
    assert anon.customer == customer
    assert Case.objects.get(pk=case.pk).customer == customer
    assert Case.objects.get(pk=elsewhere.pk).customer == elsewhere.customer
    assert customer_events(elsewhere) == []
    [event] = customer_events(case)
    assert event.actor == agent
    assert event.data["from"] == ""
    assert event.data["to"] == "Ada Lovelace"
    assert event.data["to_id"] == str(customer.pk)
    assert event.data["identity"] == "@anon (X (Twitter))"
    assert [(n, kw["identity"].pk, kw["customer"], kw["previous"]) for n, kw in received] == [
        ("identity_linked", anon.pk, customer, None)
    ]


def test_moving_an_identity_takes_its_previous_customers_cases_only(
    channel, identity, customer, make_customer
):
    right = make_customer("Ada King")
    third = make_customer("Third Party")
    hers = case_services.open_case(channel=channel, identity=identity)
    theirs = case_services.open_case(channel=channel, identity=identity, customer=third)
    unowned = case_services.open_case(channel=channel, identity=identity)
    Case.objects.filter(pk=unowned.pk).update(customer=None)
    link_identity(identity, right)
    assert Case.objects.get(pk=hers.pk).customer == right
    assert Case.objects.get(pk=unowned.pk).customer == right
    assert Case.objects.get(pk=theirs.pk).customer == third
    assert customer_events(theirs) == []
    assert customer_events(hers)[0].data["from"] == "Ada Lovelace"


def test_linking_to_the_same_customer_changes_nothing(case, identity, customer, received):
    link_identity(identity, customer)
    assert customer_events(case) == []
    assert received == []


def test_linking_needs_a_saved_customer(identity):
    model = get_customer_model()
    with pytest.raises(SocialCareError, match="Pick a saved customer"):
        link_identity(identity, model())
    with pytest.raises(SocialCareError, match="Pick a saved customer"):
        link_identity(identity, None)


def test_unlinking_keeps_history_and_notes_open_cases(channel, identity, customer, agent):
    open_case = case_services.open_case(channel=channel, identity=identity)
    done = case_services.open_case(channel=channel, identity=identity)
    case_services.change_status(done, "resolved")
    result = unlink_identity(identity, actor=agent)
    assert result.customer is None
    assert SocialIdentity.objects.get(pk=identity.pk).customer is None
    assert Case.objects.get(pk=open_case.pk).customer == customer
    [note] = CaseEvent.objects.filter(case=open_case, kind=K.NOTE)
    assert note.data["text"] == "@ada (X (Twitter)) was unlinked from Ada Lovelace."
    assert note.actor == agent
    assert not CaseEvent.objects.filter(case=done, kind=K.NOTE).exists()


def test_unlinking_an_unlinked_identity_is_refused(make_identity):
    anon = make_identity("88", "anon")
    with pytest.raises(SocialCareError, match="is not linked to a customer"):
        unlink_identity(anon)


# Merging -------------------------------------------------------------------------------------


@pytest.fixture
def duplicate(make_customer, make_identity, channel):
    """A second record of Ada, with her Mastodon identity and a case."""
    dup = make_customer("", "ada@work.example")
    mastodon = make_identity("m-1", "ada", platform="mastodon", customer=dup)
    case = case_services.open_case(channel=channel, identity=mastodon)
    return dup, mastodon, case


def test_merge_moves_identities_and_cases_and_audits(
    customer, identity, duplicate, agent, received, django_capture_on_commit_callbacks
):
    dup, mastodon, dup_case = duplicate
    with django_capture_on_commit_callbacks(execute=True):
        merge = merge_customers(dup, customer, actor=agent)
    assert SocialIdentity.objects.get(pk=mastodon.pk).customer == customer
    assert SocialIdentity.objects.get(pk=identity.pk).customer == customer
    assert Case.objects.get(pk=dup_case.pk).customer == customer
    assert (merge.identities_moved, merge.cases_moved) == (1, 1)
    assert merge.target == customer
    assert merge.merged_by == agent
    assert merge.source_id == str(dup.pk)
    assert merge.source_snapshot[app_settings.CUSTOMER_EMAIL_FIELD] == "ada@work.example"
    assert list(CustomerMerge.objects.all()) == [merge]
    [event] = customer_events(dup_case)
    assert event.data["reason"] == "customers merged"
    assert event.data["to"] == "Ada Lovelace"
    # The source record is kept for the host CRM's own data.
    assert get_customer_model().objects.filter(pk=dup.pk).exists()
    assert [(n, kw["source"].pk, kw["target"].pk, kw["merge"]) for n, kw in received] == [
        ("customers_merged", dup.pk, customer.pk, merge)
    ]


def test_merge_fills_blank_name_and_email_without_overwriting(make_customer):
    keeper = make_customer("", "keeper@example.com")
    source = make_customer("Ada Lovelace", "other@example.com")
    merge_customers(source, keeper)
    keeper.refresh_from_db()
    assert name_of(keeper) == "Ada Lovelace"
    assert email_of(keeper) == "keeper@example.com"


def test_merge_appends_the_sources_notes(make_customer):
    needs_field("notes")
    keeper = make_customer("Ada", notes="Prefers email.")
    source = make_customer("Ada L.", notes="VIP since 2019.")
    merge_customers(source, keeper)
    keeper.refresh_from_db()
    assert keeper.notes == "Prefers email.\n\n[Merged from Ada L.]\nVIP since 2019."


def test_merged_customer_is_marked_and_cannot_be_merged_again(customer, duplicate, make_customer):
    dup, _, _ = duplicate
    merge = merge_customers(dup, customer)
    assert merge.merged_customer == dup  # the mark, on any customer model
    if has_merged_into():
        dup.refresh_from_db()
        assert dup.merged_into == customer
    third = make_customer("Third")
    with pytest.raises(
        MergeError, match=r"was merged into Ada Lovelace on .*cannot be merged again"
    ):
        merge_customers(dup, third)
    with pytest.raises(MergeError, match="a merged record cannot be merged into"):
        merge_customers(third, dup)
    assert CustomerMerge.objects.count() == 1


def test_records_merged_before_the_merge_row_marked_them_stay_refused(customer, make_customer):
    """A built-in customer marked only by ``merged_into`` (merged before migration 0017)."""
    needs_field("merged_into")
    old = make_customer("Old duplicate", merged_into=customer)
    with pytest.raises(MergeError, match="was already merged into another customer"):
        merge_customers(old, make_customer("Third"))


def test_merge_refuses_itself_and_missing_customers(customer, make_customer):
    with pytest.raises(MergeError, match="cannot be merged into itself"):
        merge_customers(customer, get_customer_model().objects.get(pk=customer.pk))
    gone = make_customer("Gone")
    gone_pk = gone.pk
    gone.delete()
    gone.pk = gone_pk
    with pytest.raises(MergeError, match="Both customers must exist"):
        merge_customers(gone, customer)
    assert not CustomerMerge.objects.exists()


def test_cases_of_merged_customers_can_then_be_merged(customer, identity, duplicate, channel):
    dup, _, dup_case = duplicate
    mine = case_services.open_case(channel=channel, identity=identity)
    with pytest.raises(MergeError, match="different customers"):
        case_services.merge_cases(dup_case, mine)
    merge_customers(dup, customer)
    case_services.merge_cases(dup_case, mine)
    assert Case.objects.get(pk=dup_case.pk).merged_into == mine
