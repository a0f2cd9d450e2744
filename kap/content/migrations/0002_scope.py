# Every pack and instrument gets a scope and an owner (issue 13). The data migration (0003) and
# the constraints (0004) are separate migrations: PostgreSQL refuses to alter a table with
# pending deferred foreign-key checks in the same transaction.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_clinic_user_clinic_invite_carelink'),
        ('content', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='instrument',
            name='instrument_unique_version',
        ),
        migrations.AddField(
            model_name='instrument',
            name='clinic',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.clinic'),
        ),
        migrations.AddField(
            model_name='instrument',
            name='owner',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='instrument',
            name='scope',
            field=models.PositiveSmallIntegerField(choices=[(0, 'Server'), (1, 'Clinic'), (2, 'Personal')], default=0),
        ),
        migrations.AddField(
            model_name='pack',
            name='clinic',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.clinic'),
        ),
        migrations.AddField(
            model_name='pack',
            name='owner',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='pack',
            name='scope',
            field=models.PositiveSmallIntegerField(choices=[(0, 'Server'), (1, 'Clinic'), (2, 'Personal')], default=0),
        ),
        migrations.AlterField(
            model_name='pack',
            name='key',
            field=models.SlugField(max_length=60),
        ),
        migrations.AddIndex(
            model_name='instrument',
            index=models.Index(fields=['key', 'version'], name='instrument_key_version'),
        ),
    ]
