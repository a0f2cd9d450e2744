"""Sessions kept in the database under a digest of their key (settings.SESSION_ENGINE).

Django's database store keeps each session under its key, which is the browser's cookie itself:
whoever could read the database file, its -wal, or a backup could be logged in as anyone logged
in, second factor and all. This store keeps only `stored_key(key)` in the `session_key` column;
the cookie opens its session, and nothing read from the database opens any.

Same table, same model, same expiry and `clearsessions`: code that goes through the rows (logging
someone out everywhere) works unchanged, and each row's data decodes as before.

A session stored by Django's own store before this one (a 32-character key, in the clear) is
found on its next request and moved under the digest of its key; one never used again expires as
it would have (within SESSION_COOKIE_AGE). A digest is 40 characters, so what the database holds
is never taken for such a key.
"""

from __future__ import annotations

import hashlib

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.db import router, transaction
from django.utils import timezone

LEGACY_KEY_LENGTH = 32  # django.contrib.sessions.backends.base: get_random_string(32, ...)


def stored_key(session_key: str) -> str:
    """What the database keeps for a session key: 40 hex digits (the column's length) of its
    SHA-256. The key is 32 random characters, so the digest cannot be turned back into it."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:40]


def _legacy(session_key: str) -> bool:
    return len(session_key) == LEGACY_KEY_LENGTH and set(session_key) <= set(VALID_KEY_CHARS)


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        key = self.session_key
        if key is not None:
            found = self._find(stored_key(key)) or (self._adopt(key) if _legacy(key) else None)
            if found is not None:
                return found
        self._session_key = None
        return None

    async def _aget_session_from_db(self):
        return await sync_to_async(self._get_session_from_db)()

    def _find(self, stored: str):
        return self.model.objects.filter(session_key=stored, expire_date__gt=timezone.now()).first()

    def _adopt(self, key: str):
        """A session Django's own store saved under `key` itself, moved under its digest."""
        using = router.db_for_write(self.model)
        rows = self.model.objects.using(using)
        with transaction.atomic(using=using):
            old = rows.filter(session_key=key, expire_date__gt=timezone.now()).first()
            # Deleted by whichever request gets there first; the others find it moved.
            if old is not None and rows.filter(session_key=key).delete()[0]:
                return rows.create(
                    session_key=stored_key(key),
                    session_data=old.session_data,
                    expire_date=old.expire_date,
                )
        return self._find(stored_key(key))

    def exists(self, session_key):
        return super().exists(stored_key(session_key))

    async def aexists(self, session_key):
        return await super().aexists(stored_key(session_key))

    def create_model_instance(self, data):
        row = super().create_model_instance(data)
        row.session_key = stored_key(row.session_key)
        return row

    async def acreate_model_instance(self, data):
        row = await super().acreate_model_instance(data)
        row.session_key = stored_key(row.session_key)
        return row

    def delete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        super().delete(stored_key(session_key))

    async def adelete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        await super().adelete(stored_key(session_key))
