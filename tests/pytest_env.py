"""Loaded with `-p` before pytest-django reads the settings, so that tests never use ./data."""

import os
import tempfile

os.environ.setdefault("KAP_DATA_DIR", tempfile.mkdtemp(prefix="kap-test-"))
# pytest-django's live server runs beside Playwright's event loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
