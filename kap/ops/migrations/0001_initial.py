"""The key canary passes from the journal to ops: the model only, its table stays as it is."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("journal", "0001_initial"),  # made the table
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="KeyCanary",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("key_id", models.CharField(max_length=20, unique=True)),
                        ("value", models.TextField()),
                    ],
                    options={"db_table": "journal_keycanary"},
                ),
            ],
            database_operations=[],
        ),
    ]
