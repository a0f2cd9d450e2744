"""Runs last (by name): nothing a person wrote reached a log during the whole suite.

Tests that type text into the app use phrases containing "CANARY" (e.g. PURPLE-OTTER-CANARY-4471);
every log line of the run, from this process and from the servers tests start, is in
KAP_LOG_FILE. None may contain such a phrase.
"""

import logging
import os
import re
from pathlib import Path

import pytest

CANARY = re.compile(r"canary", re.IGNORECASE)


def test_the_log_is_written_during_the_suite():
    """The check below means something only if the log really receives the app's lines."""
    path = Path(os.environ["KAP_LOG_FILE"])
    # Only the file handler: a console handler may hold a stream pytest has since closed.
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path
    ]
    assert handlers, "the root logger does not write to KAP_LOG_FILE"
    record = logging.LogRecord(
        "kap.tests", logging.WARNING, __file__, 0, "log check marker", (), None
    )
    for handler in handlers:
        handler.handle(record)
        handler.flush()
    assert "log check marker" in path.read_text()


def test_no_canary_phrase_appears_in_any_log():
    path = Path(os.environ["KAP_LOG_FILE"])
    if not path.exists():
        pytest.fail("KAP_LOG_FILE was not written")
    hits = [line for line in path.read_text(errors="replace").splitlines() if CANARY.search(line)]
    assert hits == [], f"{len(hits)} log line(s) contain text a person typed:\n" + "\n".join(
        hits[:10]
    )
