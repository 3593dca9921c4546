"""Deleting and merging the host's customers (docs/customers.md).

- ``Case.customer``: ``on_delete`` reads ``SOCIALCARE["CUSTOMER_DELETE"]`` at delete time (keep the
  cases with no customer, or refuse naming them) instead of PROTECT.
- ``CustomerMerge``: the audit row never blocks a delete (``target`` SET_NULL, ``target_ref`` keeps
  its id); ``merged_customer`` marks the merged record, one merge per record; ``relations`` keeps
  what the merge did with the host's own data.

Existing rows get ``target_ref`` from their target, and the earliest merge of each merged record
that still exists becomes its mark (an earlier repeated merge of the same record stays an audit
row only).
"""

from __future__ import annotations

import django.db.models.deletion
import swapper
from django.core.exceptions import ValidationError
from django.db import migrations, models

import socialcare.models.case


def backfill(apps, schema_editor) -> None:
    CustomerMerge = apps.get_model("socialcare", "CustomerMerge")
    Customer = apps.get_model(*swapper.get_model_name("socialcare", "Customer").split("."))
    marked: set[str] = set()
    for merge in CustomerMerge.objects.order_by("merged_at", "pk").iterator():
        update = {"target_ref": "" if merge.target_id is None else str(merge.target_id)}
        if merge.source_id not in marked:
            try:
                pk = Customer._meta.pk.to_python(merge.source_id)
            except ValidationError:
                pk = None
            if pk is not None and Customer._default_manager.filter(pk=pk).exists():
                update["merged_customer_id"] = pk
                marked.add(merge.source_id)
        CustomerMerge.objects.filter(pk=merge.pk).update(**update)


class Migration(migrations.Migration):
    dependencies = [
        swapper.dependency("socialcare", "Customer"),
        ("socialcare", "0016_safe_first_run"),
    ]

    operations = [
        migrations.AddField(
            model_name="customermerge",
            name="merged_customer",
            field=models.OneToOneField(
                blank=True,
                help_text="The merged record, while it exists.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="socialcare_merged",
                to=swapper.get_model_name("socialcare", "Customer"),
                verbose_name="merged customer",
            ),
        ),
        migrations.AddField(
            model_name="customermerge",
            name="relations",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text=(
                    "What the merge did with the host's own data: relations moved, relations "
                    "left on the merged record and why, blank fields filled."
                ),
                verbose_name="host data",
            ),
        ),
        migrations.AddField(
            model_name="customermerge",
            name="target_ref",
            field=models.CharField(
                blank=True,
                help_text="Kept when the kept customer is deleted.",
                max_length=64,
                verbose_name="kept customer id",
            ),
        ),
        migrations.AlterField(
            model_name="case",
            name="customer",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=socialcare.models.case.customer_on_delete,
                related_name="socialcare_cases",
                to=swapper.get_model_name("socialcare", "Customer"),
                verbose_name="customer",
            ),
        ),
        migrations.AlterField(
            model_name="customermerge",
            name="target",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="socialcare_merges",
                to=swapper.get_model_name("socialcare", "Customer"),
                verbose_name="kept customer",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
