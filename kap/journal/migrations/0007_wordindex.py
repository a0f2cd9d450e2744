"""The blind index of a person's words (kap.journal.word_index).

The table only: rows for records made before it are written by `kap setup` (which every `kap
serve` runs), which builds the index when it is empty while records exist, or by `kap search
reindex`. Building it here would need the encryption keys and KAP_SECRET_KEY while migrating, with
the migration lock held for as long as every person's words take to decrypt.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("journal", "0006_keycanary_to_ops"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="WordIndex",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=40)),
                ("object_id", models.PositiveBigIntegerField()),
                ("token", models.CharField(max_length=32)),
                (
                    "client",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["client", "kind", "token", "object_id"], name="wordindex_search"
                    ),
                    models.Index(fields=["kind", "object_id"], name="wordindex_record"),
                ],
            },
        ),
    ]
