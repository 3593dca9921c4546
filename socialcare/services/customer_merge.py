"""The parts of a customer merge that work on any customer model: which merges are refused, the
audit snapshot, filling the kept record's blank fields and moving the host's own relations.

``services.customers.merge_customers`` runs them in one transaction; the customer adapter's
default merge hook calls ``move_customer_relations`` (docs/customers.md).
"""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import CustomerMerge, customer_display_name
from socialcare.models.fields import has_field

#: Fields of the built-in customer model the merge itself writes (never "filled").
MERGE_FIELDS = {"merged_into", "notes"}


# Which merges are refused ---------------------------------------------------------------------


def merge_record(customer: Any) -> CustomerMerge | None:
    """The merge that merged ``customer`` into another record (its mark), if any."""
    if customer is None or customer.pk is None:
        return None
    return CustomerMerge.objects.select_related("target").filter(merged_customer=customer).first()


def kept_record(customer: Any) -> Any:
    """The record ``customer`` lives on: itself, or the end of its merges (None if deleted)."""
    seen = set()
    while (merge := merge_record(customer)) is not None and customer.pk not in seen:
        seen.add(customer.pk)
        customer = merge.target
    return customer


def refuse_merged(customer: Any, what: str) -> None:
    """``SocialCareError`` (code ``customer_merged``) when ``customer`` was merged into another
    record: ``what`` (e.g. "link the identity") goes to the record it lives on instead."""
    merged = merge_record(customer)
    if merged is None:
        return
    live = kept_record(customer)
    where = f"; {what} to {customer_display_name(live)}" if live is not None else ""
    raise SocialCareError(
        f"{customer_display_name(customer)} was merged into {merged.target_label}{where}.",
        code="customer_merged",
    )


def _merged_text(merge: CustomerMerge) -> str:
    return f"was merged into {merge.target_label} on {merge.merged_at:%Y-%m-%d}"


def merge_refusal(source: Any, target: Any) -> str | None:
    """Why ``source`` may not be merged into ``target``, or None.

    A merged record is kept as it was at merge time: it is merged only once (no repeat) and is
    never a merge target (no reverse merge, no cycle); the message names the record to use.
    """
    if source.pk == target.pk:
        return "A customer cannot be merged into itself."
    source_name, target_name = customer_display_name(source), customer_display_name(target)
    done = merge_record(source)
    if done is not None:
        return f"{source_name} {_merged_text(done)}; it cannot be merged again."
    done = merge_record(target)
    if done is not None:
        if done.target_id == source.pk:
            return (
                f"{target_name} {_merged_text(done)}: merging {source_name} back into it would undo "
                "that merge and move everything onto the stale record. Merges are not undone."
            )
        live = kept_record(target)
        if live is not None and live.pk == source.pk:
            return (
                f"{target_name} {_merged_text(done)} and lives on as {source_name}: merging "
                f"{source_name} "
                "into it would make a cycle."
            )
        instead = f" Merge into {customer_display_name(live)} instead." if live is not None else ""
        return (
            f"{target_name} {_merged_text(done)}; a merged record cannot be merged into.{instead}"
        )
    if has_field(type(source), "merged_into"):
        # Records merged before merges were marked by a CustomerMerge row.
        for customer in (source, target):
            if customer.merged_into_id:
                return f"{customer} was already merged into another customer."
    return None


# The snapshot ---------------------------------------------------------------------------------


def snapshot(customer: Any) -> dict[str, Any]:
    """Every concrete field and many-to-many of ``customer`` as JSON: foreign keys and
    many-to-many as primary keys, files as their names, dates ISO, decimals and UUIDs as
    strings, unknown types as ``str()``, through Django's own serializer."""
    opts = customer._meta
    data: dict[str, Any] = {opts.pk.name: customer.pk}
    # Django's serializer writes a model's own fields: a parent (multi-table inheritance) is
    # serialized as itself, from the values the child already holds.
    for model in [*reversed(opts.all_parents), opts.concrete_model]:
        instance = customer
        if model is not opts.concrete_model:
            instance = model(
                **{f.attname: getattr(customer, f.attname) for f in model._meta.concrete_fields}
            )
        data.update(_serialized_fields(instance))
        for field in model._meta.local_many_to_many:
            if field.name not in data:  # a many-to-many with its own through model
                data[field.name] = list(getattr(customer, field.name).values_list("pk", flat=True))
    return json.loads(json.dumps(data, cls=SnapshotEncoder))


def _serialized_fields(instance: Any) -> dict[str, Any]:
    try:
        [row] = json.loads(serializers.serialize("json", [instance], cls=SnapshotEncoder))
        return row["fields"]
    except Exception:  # a host field Django cannot serialize: its text
        return {
            f.name: str(f.value_from_object(instance)) for f in instance._meta.local_concrete_fields
        }


class SnapshotEncoder(DjangoJSONEncoder):
    """``DjangoJSONEncoder`` that writes any other value (a file, a host's own type) as text."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


# Filling blanks -------------------------------------------------------------------------------


def fill_blank_fields(source: Any, target: Any) -> list[str]:
    """Copy ``source``'s text fields onto ``target`` where ``target``'s are blank (name, email,
    phone, ...): editable, not unique, without choices. Returns the names; nothing is saved."""
    blank = (None, "")
    filled = [
        field.name
        for field in target._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField)
        and field.editable
        and not (field.primary_key or field.unique or field.choices)
        and field.name not in MERGE_FIELDS
        and getattr(target, field.name, None) in blank
        and getattr(source, field.name, None) not in blank
    ]
    for name in filled:
        setattr(target, name, getattr(source, name))
    return filled


# Moving the host's relations ------------------------------------------------------------------


class _Report:
    def __init__(self) -> None:
        self.moved: list[dict[str, Any]] = []
        self.left: list[dict[str, Any]] = []

    def add(self, relation: str, moved: int, left: int = 0, reason: str = "") -> None:
        if moved:
            self.moved.append({"relation": relation, "count": moved})
        if left:
            self.left.append({"relation": relation, "count": left, "reason": reason})

    def result(self) -> dict[str, list[dict[str, Any]]]:
        return {"moved": self.moved, "left": self.left}


UNIQUE_CLASH = "the kept customer already has one (a unique constraint)"
ONE_PER_CUSTOMER = "one per customer (one-to-one): the merge hook of the customer adapter decides"


def move_customer_relations(source: Any, target: Any) -> dict[str, list[dict[str, Any]]]:
    """Move the host's own rows that point at ``source`` over to ``target`` (deals, notes, tags):
    what a CRM user expects a merge to do. Call it in the merge's transaction.

    Moved: many-to-many links of either side (the kept record gains them, the merged one loses
    them), foreign keys of other models, and generic foreign keys (content type + object id).
    Left on ``source``, and said why: one-to-one relations, foreign keys that are not editable,
    rows that would break a unique constraint, relations named in
    ``SOCIALCARE["MERGE_LEAVE_RELATIONS"]``. socialcare's own rows (cases, identities, merges)
    are the merge's business, not this function's.

    Returns ``{"moved": [{"relation", "count"}], "left": [{"relation", "count", "reason"}]}``,
    ``relation`` naming the field: ``"app_label.Model.field"``.
    """
    report = _Report()
    model = source._meta.concrete_model
    for field in model._meta.many_to_many:
        if _ours(field.model) or not field.remote_field.through._meta.auto_created:
            continue  # a through model's own foreign key is moved as one, below
        _move_forward_m2m(report, field, source, target)
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete) or getattr(rel, "parent_link", False):
            continue
        related = rel.related_model
        if _ours(related) or related._meta.auto_created:
            continue
        label = f"{related._meta.label}.{rel.field.name}"
        if rel.many_to_many:
            if rel.field.remote_field.through._meta.auto_created:
                _move_reverse_m2m(report, label, rel.field, source, target)
        elif rel.one_to_one or rel.field.unique:
            count = related._base_manager.filter(**{rel.field.name: source}).count()
            report.add(label, 0, count, ONE_PER_CUSTOMER)
        else:
            _move_foreign_key(report, label, rel.field, source, target)
    _move_generic_keys(report, source, target)
    return report.result()


def _same(obj: Any, customer: Any) -> bool:
    """Whether ``obj`` is ``customer`` (a many-to-many of the customer model with itself)."""
    return obj._meta.concrete_model is customer._meta.concrete_model and obj.pk == customer.pk


def _ours(model: type[models.Model]) -> bool:
    return model._meta.app_label == "socialcare"


def _left_by_setting(label: str) -> bool:
    names = {name.lower() for name in app_settings.MERGE_LEAVE_RELATIONS}
    return label.lower() in names or label.rsplit(".", 1)[0].lower() in names


LEFT_BY_SETTING = 'named in SOCIALCARE["MERGE_LEAVE_RELATIONS"]'


def _move_forward_m2m(report: _Report, field: Any, source: Any, target: Any) -> None:
    label = f"{field.model._meta.label}.{field.name}"
    linked = list(getattr(source, field.name).all())
    if not linked:
        return
    if _left_by_setting(label):
        report.add(label, 0, len(linked), LEFT_BY_SETTING)
        return
    # Through the related managers, so the host's m2m_changed receivers hear of it.
    getattr(target, field.name).add(*(obj for obj in linked if not _same(obj, target)))
    getattr(source, field.name).remove(*linked)
    report.add(label, len(linked))


def _move_reverse_m2m(report: _Report, label: str, field: Any, source: Any, target: Any) -> None:
    owners = list(field.model._base_manager.filter(**{field.name: source}))
    if not owners:
        return
    if _left_by_setting(label):
        report.add(label, 0, len(owners), LEFT_BY_SETTING)
        return
    for owner in owners:
        links = getattr(owner, field.name)
        if not _same(owner, target):
            links.add(target)
        links.remove(source)
    report.add(label, len(owners))


def _move_foreign_key(report: _Report, label: str, field: Any, source: Any, target: Any) -> None:
    rows = field.model._base_manager.filter(**{field.name: source})
    if field.model is source._meta.concrete_model:
        rows = rows.exclude(pk=target.pk)  # the kept record never points at itself
    count = rows.count()
    if not count:
        return
    if _left_by_setting(label):
        report.add(label, 0, count, LEFT_BY_SETTING)
    elif not field.editable:
        report.add(label, 0, count, "the foreign key is not editable")
    else:
        report.add(label, *_move_rows(rows, {field.name: target}, {field.name}), UNIQUE_CLASH)


def _move_generic_keys(report: _Report, source: Any, target: Any) -> None:
    if not apps.is_installed("django.contrib.contenttypes"):
        return
    from django.contrib.contenttypes.fields import GenericForeignKey
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(source)
    for model in apps.get_models():
        if _ours(model):
            continue
        for key in model._meta.private_fields:
            if not isinstance(key, GenericForeignKey):
                continue
            label = f"{model._meta.label}.{key.name}"
            rows = model._base_manager.filter(
                **{key.ct_field: content_type, key.fk_field: source.pk}
            )
            count = rows.count()
            if not count:
                continue
            if _left_by_setting(label):
                report.add(label, 0, count, LEFT_BY_SETTING)
            elif not model._meta.get_field(key.fk_field).editable:
                report.add(label, 0, count, "the object id is not editable")
            else:
                moved = _move_rows(rows, {key.fk_field: target.pk}, {key.fk_field, key.ct_field})
                report.add(label, *moved, UNIQUE_CLASH)


def _move_rows(rows: models.QuerySet, values: dict[str, Any], keys: set[str]) -> tuple[int, int]:
    """Point ``rows`` at the kept record. Returns (moved, left): with a unique constraint over
    ``keys``, row by row, and a row that would clash with the kept record's stays."""
    if not _unique_over(rows.model, keys):
        return rows.update(**values), 0
    moved = left = 0
    for pk in list(rows.values_list("pk", flat=True)):
        try:
            with transaction.atomic(using=rows.db):
                rows.model._base_manager.using(rows.db).filter(pk=pk).update(**values)
            moved += 1
        except IntegrityError:
            left += 1
    return moved, left


def _unique_over(model: type[models.Model], keys: set[str]) -> bool:
    """Whether a unique constraint of ``model`` may involve ``keys`` (a conditional or
    expression one is assumed to)."""
    opts = model._meta
    sets = [set(names) for names in opts.unique_together]
    for constraint in opts.constraints:
        if isinstance(constraint, models.UniqueConstraint):
            if constraint.condition is not None or constraint.expressions:
                return True
            sets.append(set(constraint.fields))
    return any(names & keys for names in sets)
