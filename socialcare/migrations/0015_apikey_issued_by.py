"""``ApiKey.issued_by``: the key that issued a key through the API (empty for keys issued in
admin or by a command, which all existing keys were).

A key never outlives or outranks its issuer: its expiry is capped at the issuer's, revoking a key
revokes every key it issued, and a key whose issuer is revoked or expired is refused
(``services.apikeys``). Deleting a key deletes the keys it issued.
"""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("socialcare", "0014_channel_polling_enabled"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="issued_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                help_text="The key that issued this one through the API; empty: issued in admin.",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="issued_keys",
                to="socialcare.apikey",
                verbose_name="issued by",
            ),
        ),
    ]
