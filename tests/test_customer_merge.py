"""Customer merges on any customer model (issue #16, item 1): the snapshot serializes every field
type, repeat / reverse / cyclic merges are refused with the reason, the host's own relations move
to the kept record where safe (and what is left is said), the merged record is marked by its
merge row and offered in no customer choice, and the host's customer admin has the merge action.
Runs with the default and (``--ds=tests.settings_swapped``) the swapped customer model; the host's
data lives in tests/testapp."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from socialcare.admin.case_forms import CaseForm
from socialcare.api.people_serializers import IdentityLinkSerializer, MergeRequestSerializer
from socialcare.conf import app_settings
from socialcare.exceptions import MergeError, SocialCareError
from socialcare.models import (
    Case,
    CustomerMerge,
    SocialIdentity,
    customer_model_name,
    get_customer_model,
)
from socialcare.services import cases as case_services
from socialcare.services.customer_merge import (
    ONE_PER_CUSTOMER,
    UNIQUE_CLASH,
    move_customer_relations,
    snapshot,
)
from socialcare.services.customers import link_identity, merge_customers
from tests.testapp.models import (
    Campaign,
    Company,
    Contact,
    ContactProfile,
    Deal,
    Note,
    Subscription,
    Tag,
)

pytestmark = pytest.mark.django_db

IS_SWAPPED = getattr(settings, "SOCIALCARE_CUSTOMER_MODEL", "") == "testapp.Contact"
swapped = pytest.mark.skipif(not IS_SWAPPED, reason="needs --ds=tests.settings_swapped")


def by_relation(rows: list[dict]) -> dict[str, Any]:
    return {row["relation"]: (row["count"], row.get("reason")) for row in rows}


@pytest.fixture
def crm() -> dict[str, Any]:
    """A host contact with data of every kind, its duplicate's, and the kept contact's."""
    navy, vip = Tag.objects.create(name="navy"), Tag.objects.create(name="vip")
    acme = Company.objects.create(name="Acme")
    keep = Contact.objects.create(full_name="Grace Hopper", email_address="grace@example.com")
    dup = Contact.objects.create(
        full_name="G. Hopper",
        phone="+1 555 0100",
        account_number="ACC-7",
        company=acme,
        birthday=dt.date(1906, 12, 9),
        credit=Decimal("12.50"),
        photo="contacts/grace.png",
        preferences={"lang": "en", "since": 1943},
    )
    keep.tags.add(navy)
    dup.tags.add(navy, vip)
    Deal.objects.create(contact=dup, title="Renewal")
    Deal.objects.create(contact=dup, title="Upsell")
    Subscription.objects.create(contact=keep, newsletter="weekly")
    Subscription.objects.create(contact=dup, newsletter="weekly")  # the kept one has it
    Subscription.objects.create(contact=dup, newsletter="monthly")
    ContactProfile.objects.create(contact=dup, tier="vip")
    launch = Campaign.objects.create(name="Launch")
    launch.contacts.add(dup)
    content_type = ContentType.objects.get_for_model(Contact)
    Note.objects.create(content_type=content_type, object_id=str(dup.pk), text="Called")
    return {"keep": keep, "dup": dup, "navy": navy, "vip": vip, "acme": acme, "launch": launch}


EXPECTED_MOVED = {
    "testapp.Contact.tags": (2, None),
    "testapp.Deal.contact": (2, None),
    "testapp.Subscription.contact": (1, None),
    "testapp.Campaign.contacts": (1, None),
    "testapp.Note.subject": (1, None),
}
EXPECTED_LEFT = {
    "testapp.Subscription.contact": (1, UNIQUE_CLASH),
    "testapp.ContactProfile.contact": (1, ONE_PER_CUSTOMER),
}


# The snapshot ----------------------------------------------------------------------------------


def test_the_snapshot_serializes_every_field_type(crm):
    """Any model: many-to-many and foreign keys as ids, dates ISO, decimals as text, files by
    name, JSON as it is."""
    dup = crm["dup"]
    data = snapshot(dup)
    assert data["id"] == dup.pk
    assert sorted(data["tags"]) == sorted([crm["navy"].pk, crm["vip"].pk])
    assert data["company"] == crm["acme"].pk
    assert data["birthday"] == "1906-12-09"
    assert data["credit"] == "12.50"
    assert data["photo"] == "contacts/grace.png"
    assert data["preferences"] == {"lang": "en", "since": 1943}
    assert data["phone"] == "+1 555 0100"


# Moving the host's relations -------------------------------------------------------------------


def test_move_customer_relations_moves_what_is_safe_and_says_what_it_left(crm):
    keep, dup = crm["keep"], crm["dup"]
    with transaction.atomic():
        result = move_customer_relations(dup, keep)
    assert by_relation(result["moved"]) == EXPECTED_MOVED
    assert by_relation(result["left"]) == EXPECTED_LEFT
    assert set(keep.tags.all()) == {crm["navy"], crm["vip"]}
    assert not dup.tags.exists()
    assert set(Deal.objects.values_list("contact", flat=True)) == {keep.pk}
    assert sorted(keep.subscriptions.values_list("newsletter", flat=True)) == ["monthly", "weekly"]
    assert list(dup.subscriptions.values_list("newsletter", flat=True)) == ["weekly"]
    assert ContactProfile.objects.get().contact == dup
    assert list(crm["launch"].contacts.all()) == [keep]
    assert Note.objects.get().object_id == str(keep.pk)


def test_relations_named_in_the_setting_stay(crm, socialcare_settings):
    keep, dup = crm["keep"], crm["dup"]
    with socialcare_settings(MERGE_LEAVE_RELATIONS=["testapp.Note", "testapp.Deal.contact"]):
        result = move_customer_relations(dup, keep)
    left = by_relation(result["left"])
    reason = 'named in SOCIALCARE["MERGE_LEAVE_RELATIONS"]'
    assert left["testapp.Note.subject"] == (1, reason)
    assert left["testapp.Deal.contact"] == (2, reason)
    assert Deal.objects.filter(contact=dup).count() == 2


@swapped
def test_merging_contacts_with_tags_moves_the_hosts_data(crm, channel, make_identity, agent):
    """The 500 of the issue: a host contact with a many-to-many ``tags`` field."""
    keep, dup = crm["keep"], crm["dup"]
    make_identity("g-2", "amazing_grace", customer=dup)
    case = case_services.open_case(channel=channel, customer=dup)
    merge = merge_customers(dup, keep, actor=agent)
    assert (merge.identities_moved, merge.cases_moved) == (1, 1)
    assert Case.objects.get(pk=case.pk).customer == keep
    assert merge.source_snapshot["credit"] == "12.50"
    assert sorted(merge.source_snapshot["tags"]) == sorted([crm["navy"].pk, crm["vip"].pk])
    assert by_relation(merge.relations["moved"]) == EXPECTED_MOVED
    assert by_relation(merge.relations["left"]) == EXPECTED_LEFT
    assert merge.relations["filled"] == ["account_number", "phone"]
    keep.refresh_from_db()
    assert (keep.phone, keep.account_number) == ("+1 555 0100", "ACC-7")
    assert keep.email_address == "grace@example.com"  # set: not overwritten
    # The merged record is kept, marked by its merge row.
    assert merge.merged_customer == dup and merge.target_ref == str(keep.pk)
    assert Contact.objects.get(pk=dup.pk).socialcare_merged == merge


# Refused merges --------------------------------------------------------------------------------


@pytest.fixture
def three(make_customer) -> tuple[Any, Any, Any]:
    return make_customer("Ada"), make_customer("Ada L."), make_customer("A. Lovelace")


def test_a_repeat_merge_is_refused(three):
    a, b, _ = three
    merge_customers(b, a)
    with pytest.raises(
        MergeError,
        match=r"Ada L\. was merged into Ada on \d{4}-\d\d-\d\d; it cannot be merged again",
    ):
        merge_customers(b, a)
    assert CustomerMerge.objects.count() == 1


def test_merging_the_kept_record_back_is_refused(three, channel):
    a, b, _ = three
    case = case_services.open_case(channel=channel, customer=a)
    merge_customers(b, a)
    with pytest.raises(MergeError, match="merging Ada back into it would undo that merge"):
        merge_customers(a, b)
    assert Case.objects.get(pk=case.pk).customer == a
    assert CustomerMerge.objects.count() == 1


def test_a_cyclic_merge_is_refused(three):
    a, b, c = three
    merge_customers(a, b)  # Ada -> Ada L.
    merge_customers(b, c)  # Ada L. -> A. Lovelace
    with pytest.raises(
        MergeError,
        match=r"Ada was merged into Ada L\. on .* and lives on as A\. Lovelace: merging "
        r"A\. Lovelace into it would make a cycle\.",
    ):
        merge_customers(c, a)
    assert CustomerMerge.objects.count() == 2


def test_merging_into_a_merged_record_names_the_live_one(three):
    a, b, c = three
    merge_customers(a, b)
    with pytest.raises(MergeError, match=r"cannot be merged into\. Merge into Ada L\. instead\."):
        merge_customers(c, a)


def test_one_merge_row_per_merged_record(three):
    a, b, c = three
    merge = merge_customers(b, a)
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerMerge.objects.create(source_id=str(b.pk), merged_customer=b, target=c)
    assert CustomerMerge.objects.get() == merge


def test_a_merge_into_a_deleted_record_still_marks_the_merged_one(three):
    a, b, c = three
    merge_customers(b, a)
    a.delete()
    with pytest.raises(MergeError, match=r"was merged into customer \d+ \(deleted\)"):
        merge_customers(b, c)


# The merged record is no choice ----------------------------------------------------------------


def test_the_merged_record_is_offered_in_no_customer_choice(three, identity):
    a, b, c = three
    merge_customers(b, a)
    case_form = CaseForm()
    assert set(case_form.fields["customer"].queryset) == {a, c, identity.customer}
    for serializer in (MergeRequestSerializer(), IdentityLinkSerializer()):
        field = next(iter(f for f in serializer.fields.values() if hasattr(f, "get_choices")))
        assert b.pk not in field.get_choices()
        assert a.pk in field.get_choices()
    with pytest.raises(SocialCareError, match=r"Ada L\. was merged into Ada; link it to Ada\."):
        link_identity(identity, b)
    assert SocialIdentity.objects.get(pk=identity.pk).customer == identity.customer


def test_the_admins_customer_pickers_leave_the_merged_record_out(admin_client, three, case):
    a, b, _ = three
    merge_customers(b, a)
    for url in (
        reverse("admin:socialcare_case_change", args=[case.pk]),
        reverse("admin:socialcare_case_add"),
        reverse("admin:socialcare_socialidentity_change", args=[case.identity.pk]),
    ):
        page = admin_client.get(url)
        assert page.status_code == 200, url
        choices = page.context["adminform"].form.fields["customer"].queryset
        assert a in choices and b not in choices, url


# The admin action ------------------------------------------------------------------------------


def merge_in_admin(client: Any, keep: Any, *others: Any) -> Any:
    opts = get_customer_model()._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    action = "merge_customers" if IS_SWAPPED else "merge_selected"
    data = {
        "action": action,
        "_selected_action": [keep.pk, *(o.pk for o in others)],
        "confirm": "yes",
        "keep": str(keep.pk),
    }
    return client.post(url, data, follow=True)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_admin_action_merges_and_refuses_a_repeat_with_the_reason(admin_client, three):
    a, b, _ = three
    said = messages_of(merge_in_admin(admin_client, a, b))
    assert "Merged 1 record(s) into Ada." in said
    assert CustomerMerge.objects.get().merged_customer == b
    said = messages_of(merge_in_admin(admin_client, a, b))
    assert any("Ada L. was merged into Ada on" in m and "cannot be merged again" in m for m in said)
    said = messages_of(merge_in_admin(admin_client, b, a))
    assert any("merging Ada back into it would undo that merge" in m for m in said)
    assert CustomerMerge.objects.count() == 1


@swapped
def test_the_hosts_contact_admin_merges_and_says_what_it_moved_and_left(admin_client, crm):
    said = messages_of(merge_in_admin(admin_client, crm["keep"], crm["dup"]))
    assert "Merged 1 record(s) into Grace Hopper." in said
    [detail] = [m for m in said if m.startswith("G. Hopper: moved ")]
    assert "testapp.Deal.contact (2)" in detail
    assert f"left testapp.ContactProfile.contact (1) on it: {ONE_PER_CUSTOMER}" in detail
    assert detail.endswith("filled account_number, phone.")


# The migration ---------------------------------------------------------------------------------

MIGRATION = ("socialcare", "0017_customer_delete_and_merge")


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_earlier_merges_and_keeps_the_kept_ids():
    """Merges made before 0017: each merged record that still exists is marked by its earliest
    merge (a repeated one, from before repeats were refused, stays an audit row only)."""
    executor = MigrationExecutor(connection)
    before = [
        (app, name)
        for app, name in executor.loader.get_migration(*MIGRATION).dependencies
        if app == "socialcare" and name != "__first__"
    ]
    executor.migrate(before)
    try:
        others = [n for n in executor.loader.graph.leaf_nodes() if n[0] != "socialcare"]
        old = executor.loader.project_state([*before, *others]).apps
        Customer = old.get_model(*customer_model_name().split("."))
        OldMerge = old.get_model("socialcare", "CustomerMerge")
        name = app_settings.CUSTOMER_NAME_FIELD
        kept, dup = (Customer.objects.create(**{name: n}) for n in ("Kept", "Dup"))
        first = OldMerge.objects.create(source_id=str(dup.pk), target=kept)
        repeat = OldMerge.objects.create(source_id=str(dup.pk), target=kept)
        gone = OldMerge.objects.create(source_id="999999", target=kept)
        executor = MigrationExecutor(connection)
        executor.migrate([MIGRATION])
        new = executor.loader.project_state([MIGRATION]).apps.get_model(
            "socialcare", "CustomerMerge"
        )
        rows = {m.pk: (m.merged_customer_id, m.target_ref) for m in new.objects.all()}
        assert rows == {
            first.pk: (dup.pk, str(kept.pk)),
            repeat.pk: (None, str(kept.pk)),
            gone.pk: (None, str(kept.pk)),
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
