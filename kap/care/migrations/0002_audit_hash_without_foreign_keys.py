"""The audit hash no longer covers subject_id (it becomes NULL when a client deletes their
account, which made verify report those rows as edited). Re-chain the existing rows under the new
payload, but only if the chain is intact under the old one: a broken chain is left as it is, so
that `kap audit verify` keeps reporting it."""

import hashlib
import json

from django.db import migrations

GENESIS = "0" * 64


def _payload(row, prev_hash, with_subject_id):
    fields = [prev_hash, row.actor_email]
    if with_subject_id:
        fields.append(row.subject_id)
    fields += [row.subject_label, row.action, row.what, row.ip, row.created_at.isoformat()]
    return json.dumps(fields, separators=(",", ":")).encode()


def rechain(apps, schema_editor):
    AuditEntry = apps.get_model("care", "AuditEntry")
    rows = list(AuditEntry.objects.order_by("pk"))
    prev = GENESIS
    for row in rows:
        if row.prev_hash != prev or row.hash != hashlib.sha256(_payload(row, prev, True)).hexdigest():
            print(f"\n  Audit chain broken at row {row.pk}: left as it is (see `kap audit verify`).")
            return
        prev = row.hash
    prev = GENESIS
    for row in rows:
        row.prev_hash = prev
        row.hash = hashlib.sha256(_payload(row, prev, False)).hexdigest()
        row.save(update_fields=["prev_hash", "hash"])
        prev = row.hash


class Migration(migrations.Migration):
    dependencies = [("care", "0001_initial")]

    operations = [migrations.RunPython(rechain, migrations.RunPython.noop)]
