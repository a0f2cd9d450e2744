"""The check that nothing a person wrote reached a log (tests/logs.py) runs when the session ends
(tests/conftest.py); these tests show that it means something."""

import logging
import os
from pathlib import Path

from tests.logs import canary_lines, run_logs


def test_the_log_is_written_during_the_suite():
    """The check means something only if the log really receives the app's lines."""
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
    assert path in run_logs(), "the end-of-session check would not read this process's log"


def test_the_check_finds_a_canary_phrase_in_any_log_of_the_run(tmp_path):
    log = tmp_path / "kap.log"
    log.write_text("2026-12-01 INFO kap: GET /today/ 200\n")
    (tmp_path / "kap-gw1.log").write_text(
        "2026-12-01 INFO django.request: GET /steps/ 200\n"
        "2026-12-01 ERROR kap: could not save 'PURPLE-OTTER-CANARY-4471'\n"
    )
    (tmp_path / "other.txt").write_text("a canary elsewhere is not a log of this run\n")
    assert canary_lines(log) == [
        "kap-gw1.log: 2026-12-01 ERROR kap: could not save 'PURPLE-OTTER-CANARY-4471'"
    ]
    log.write_text("nothing here\n")
    (tmp_path / "kap-gw1.log").write_text("nor here\n")
    assert canary_lines(log) == []
