"""Loaded with `-p` before pytest-django reads the settings, so that tests never use ./data.

With pytest-xdist, each worker process gets a data dir of its own (its key file, secret key and
files) inside the run's, and a log file of its own beside the run's: the check at the end of the
session (tests/conftest.py) reads them all.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("KAP_DATA_DIR", tempfile.mkdtemp(prefix="kap-test-"))
# Every log line of the run (this process and the servers it starts) goes to KAP_LOG_FILE or,
# under xdist, to a sibling of it named after the worker, so that the session's end can check
# that nothing a person wrote ever reached a log.
os.environ.setdefault(
    "KAP_LOG_FILE", os.path.join(tempfile.mkdtemp(prefix="kap-test-logs-"), "kap.log")
)
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    data = Path(os.environ["KAP_DATA_DIR"]) / worker
    data.mkdir(parents=True, exist_ok=True)
    os.environ["KAP_DATA_DIR"] = str(data)
    log = Path(os.environ["KAP_LOG_FILE"])
    os.environ["KAP_LOG_FILE"] = str(log.with_name(f"{log.stem}-{worker}{log.suffix}"))
# Today's cache is off unless a test turns it on (tests/journal/test_today_cache.py): many tests
# move a record in time with QuerySet.update(), behind the change stamp's back.
os.environ.setdefault("KAP_TODAY_CACHE_SECONDS", "0")
# No service worker in the browser tests but the offline ones (tests/browser/test_offline_in_chromium.py
# and tests/offline turn it on): its background fetches would race the tests' own reads.
os.environ.setdefault("KAP_OFFLINE", "False")
# pytest-django's live server runs beside Playwright's event loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
