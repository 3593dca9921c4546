"""The change sequence (docs/api.md, "Sync that misses nothing").

Adds ``Case.change_seq`` and the ``ChangeCounter`` row it is taken from, and numbers the existing
cases 1..n in the order the case list synced them until now (``updated_at``, then ``id``), so a
client that restarts its sync sees every case once. In batches of 500 (keyset over that order),
with the historical models; SQLite and PostgreSQL alike. Reversed by dropping both.
"""

from __future__ import annotations

from django.db import migrations, models

BATCH = 500


def number_cases(apps, schema_editor):
    Case = apps.get_model("socialcare", "Case")
    ChangeCounter = apps.get_model("socialcare", "ChangeCounter")
    db = schema_editor.connection.alias
    cases = Case.objects.using(db).order_by("updated_at", "id")
    seq = 0
    last = None
    while True:
        batch = cases
        if last is not None:
            at, pk = last
            batch = cases.filter(models.Q(updated_at__gt=at) | models.Q(updated_at=at, id__gt=pk))
        rows = list(batch.values_list("id", "updated_at")[:BATCH])
        if not rows:
            break
        for pk, _at in rows:
            seq += 1
            Case.objects.using(db).filter(pk=pk).update(change_seq=seq)
        last = (rows[-1][1], rows[-1][0])
    ChangeCounter.objects.using(db).update_or_create(name="case", defaults={"value": seq})


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0021_identity_spaces"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChangeCounter",
            fields=[
                ("name", models.CharField(max_length=40, primary_key=True, serialize=False)),
                ("value", models.BigIntegerField(default=0)),
            ],
            options={
                "verbose_name": "change counter",
            },
        ),
        migrations.AddField(
            model_name="case",
            name="change_seq",
            field=models.BigIntegerField(default=0, editable=False, verbose_name="change number"),
        ),
        migrations.RunPython(number_cases, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["change_seq", "id"], name="socialcare_case_change_seq"),
        ),
    ]
