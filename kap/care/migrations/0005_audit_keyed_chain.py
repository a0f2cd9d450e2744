"""The audit chain keyed (HMAC under KAP_SECRET_KEY) and covering digests of the addresses.

The chain as it stands is checked first with the plain SHA-256 it was written with; only a whole
chain is sealed again under the key. A broken one is left as it is, so that `kap audit verify`
goes on reporting it rather than the migration hiding it.
"""

import hashlib
import json

from django.conf import settings
from django.db import migrations, models
from django.utils.crypto import salted_hmac

GENESIS = "0" * 64
# As kap.care.audit (kept here as they are today: a migration must not change with the code).
CHAIN_SALT = "kap.care.audit.chain"
IDENTITY_SALT = "kap.care.audit.identity"


def _json(values) -> bytes:
    return json.dumps(values, separators=(",", ":")).encode()


def _mac(salt, value):
    return salted_hmac(salt, value, secret=settings.SECRET_KEY, algorithm="sha256").hexdigest()


def seal_chain(apps, schema_editor):
    AuditEntry = apps.get_model("care", "AuditEntry")
    rows = list(AuditEntry.objects.order_by("pk"))
    prev = GENESIS
    for row in rows:
        old = _json(
            [
                prev,
                row.actor_email,
                row.subject_label,
                row.action,
                row.what,
                row.ip,
                row.created_at.isoformat(),
            ]
        )
        if row.prev_hash != prev or row.hash != hashlib.sha256(old).hexdigest():
            print(f"\n  Audit chain broken at row {row.pk}: left as it is (see `kap audit verify`).")
            return
        prev = row.hash
    prev = GENESIS
    for row in rows:
        row.prev_hash = prev
        row.actor_digest = _mac(IDENTITY_SALT, row.actor_email.lower())
        row.ip_digest = _mac(IDENTITY_SALT, row.ip or "")
        payload = _json(
            [
                prev,
                row.actor_digest,
                row.subject_label,
                row.action,
                row.what,
                row.ip_digest,
                row.created_at.isoformat(),
            ]
        )
        row.hash = prev = _mac(CHAIN_SALT, payload)
        row.save(update_fields=["prev_hash", "actor_digest", "ip_digest", "hash"])


class Migration(migrations.Migration):
    dependencies = [("care", "0004_invite_email")]

    operations = [
        migrations.AddField(
            model_name="auditentry",
            name="actor_digest",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="ip_digest",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.RunPython(seal_chain, migrations.RunPython.noop),
    ]
