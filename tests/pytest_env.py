"""Loaded with `-p` before pytest-django reads the settings, so that tests never use ./data."""

import os
import tempfile

os.environ.setdefault("KAP_DATA_DIR", tempfile.mkdtemp(prefix="kap-test-"))
# Every log line of the run (this process and the servers it starts) goes here, so that the last
# test can check that nothing a person wrote ever reached a log (tests/test_zz_no_text_in_logs.py).
os.environ.setdefault(
    "KAP_LOG_FILE", os.path.join(tempfile.mkdtemp(prefix="kap-test-logs-"), "kap.log")
)
# pytest-django's live server runs beside Playwright's event loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
