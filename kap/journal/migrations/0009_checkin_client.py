"""A check-in keeps its step's person (CheckIn.client): added empty, filled in from the steps in
one UPDATE, then required and indexed with the time, for the timeline's newest-first reads."""

from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def from_the_steps(apps, schema_editor):
    CheckIn = apps.get_model("journal", "CheckIn")
    ActionStep = apps.get_model("journal", "ActionStep")
    owner = ActionStep.objects.filter(pk=OuterRef("step_id")).values("client_id")[:1]
    CheckIn.objects.update(client_id=Subquery(owner))


class Migration(migrations.Migration):
    dependencies = [
        ("journal", "0008_insight_submission_token"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="checkin",
            name="client",
            field=models.ForeignKey(
                editable=False,
                null=True,
                on_delete=models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(from_the_steps, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="checkin",
            name="client",
            field=models.ForeignKey(
                editable=False,
                on_delete=models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="checkin",
            index=models.Index(fields=["client", "created_at"], name="journal_che_client__3c4b52_idx"),
        ),
    ]
