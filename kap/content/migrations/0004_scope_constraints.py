from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("content", "0003_owners"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='instrument',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('clinic__isnull', True), ('owner__isnull', True), ('scope', 0)), models.Q(('clinic__isnull', False), ('owner__isnull', True), ('scope', 1)), models.Q(('clinic__isnull', True), ('owner__isnull', False), ('scope', 2)), _connector='OR'), name='instrument_owned_by_scope'),
        ),
        migrations.AddConstraint(
            model_name='instrument',
            constraint=models.UniqueConstraint(condition=models.Q(('scope', 0)), fields=('key', 'version'), name='instrument_unique_server_version'),
        ),
        migrations.AddConstraint(
            model_name='instrument',
            constraint=models.UniqueConstraint(condition=models.Q(('scope', 1)), fields=('clinic', 'key', 'version'), name='instrument_unique_clinic_version'),
        ),
        migrations.AddConstraint(
            model_name='instrument',
            constraint=models.UniqueConstraint(condition=models.Q(('scope', 2)), fields=('owner', 'key', 'version'), name='instrument_unique_personal_version'),
        ),
        migrations.AddConstraint(
            model_name='pack',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('clinic__isnull', True), ('owner__isnull', True), ('scope', 0)), models.Q(('clinic__isnull', False), ('owner__isnull', True), ('scope', 1)), models.Q(('clinic__isnull', True), ('owner__isnull', False), ('scope', 2)), _connector='OR'), name='pack_owned_by_scope'),
        ),
        migrations.AddConstraint(
            model_name='pack',
            constraint=models.UniqueConstraint(condition=models.Q(('scope', 0)), fields=('key',), name='pack_unique_server_key'),
        ),
        migrations.AddConstraint(
            model_name='pack',
            constraint=models.UniqueConstraint(condition=models.Q(('scope', 1)), fields=('clinic', 'key'), name='pack_unique_clinic_key'),
        ),
        migrations.AddConstraint(
            model_name='pack',
            constraint=models.UniqueConstraint(condition=models.Q(('scope', 2)), fields=('owner', 'key'), name='pack_unique_personal_key'),
        ),
    ]
