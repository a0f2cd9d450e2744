"""Give every existing instrument an owner (issue 13).

- Pack instruments (and every pack) stay server scope: that is what 0002 gave them.
- An instrument with no pack was imported by someone. The audit trail records therapists' reads,
  not imports, so the importer is taken to be the first person who answered it (a response,
  draft or submitted, or a practice log, whichever is older): it becomes personal to them.
  Anyone else who answered the same row (possible before, when every import was shared) gets an
  identical personal copy, and their answers move to it, so nobody's answers are lost and
  nobody's answers point at someone else's instrument.
- An imported instrument nobody ever answered has no owner to be found: it is deleted. Nothing
  is lost with it but the stored copy of a file, which its importer can import again.
"""

from django.db import migrations

SERVER, PERSONAL = 0, 2


def _users_in_order(Response, PracticeLog, instrument) -> list[int]:
    """Everyone who answered the instrument, the first one first."""
    first: dict[int, tuple] = {}
    for model in (Response, PracticeLog):
        rows = model.objects.filter(instrument=instrument).values_list(
            "client_id", "created_at", "pk"
        )
        for client_id, created, pk in rows.order_by("created_at", "pk"):
            if client_id not in first or (created, pk) < first[client_id]:
                first[client_id] = (created, pk)
    return sorted(first, key=lambda c: first[c])


def give_imports_owners(apps, schema_editor):
    Instrument = apps.get_model("content", "Instrument")
    Response = apps.get_model("journal", "Response")
    PracticeLog = apps.get_model("practices", "PracticeLog")

    for instrument in Instrument.objects.filter(pack__isnull=True, scope=SERVER).order_by("pk"):
        users = _users_in_order(Response, PracticeLog, instrument)
        if not users:
            instrument.delete()
            continue
        importer, *others = users
        instrument.scope, instrument.owner_id = PERSONAL, importer
        instrument.save(update_fields=["scope", "owner"])
        for other in others:
            copy = Instrument.objects.create(
                scope=PERSONAL,
                owner_id=other,
                pack=None,
                key=instrument.key,
                version=instrument.version,
                kind=instrument.kind,
                title=instrument.title,
                spec=instrument.spec,
                checksum=instrument.checksum,
            )
            Instrument.objects.filter(pk=copy.pk).update(created_at=instrument.created_at)
            for model in (Response, PracticeLog):
                model.objects.filter(instrument=instrument, client_id=other).update(instrument=copy)


class Migration(migrations.Migration):
    dependencies = [
        ("content", "0002_scope"),
        ("journal", "0004_response_submission_token"),
        ("practices", "0001_initial"),
    ]

    operations = [migrations.RunPython(give_imports_owners, migrations.RunPython.noop)]
