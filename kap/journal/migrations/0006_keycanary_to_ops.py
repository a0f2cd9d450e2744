"""The key canary passes from the journal to ops (ops 0001): the model only, its table stays."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("journal", "0005_alter_response_instrument"),
        ("ops", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="KeyCanary")],
            database_operations=[],
        ),
    ]
