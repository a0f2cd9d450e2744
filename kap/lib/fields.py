"""Model fields that keep what a person writes encrypted at rest (see kap.lib.crypto)."""

from __future__ import annotations

import json

from django.db import models

from kap.lib.crypto import decrypt, encrypt


class EncryptedTextField(models.TextField):
    """Text encrypted with AES-256-GCM. Not searchable or sortable in SQL, by design."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value is None else encrypt(str(value))


class EncryptedJSONField(models.TextField):
    """A JSON value (e.g. a response's answers) stored as encrypted text."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(decrypt(value))

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value)
        return value

    def get_prep_value(self, value):
        return None if value is None else encrypt(json.dumps(value, ensure_ascii=False))

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj))
