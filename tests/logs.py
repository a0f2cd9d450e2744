"""Nothing a person wrote may reach a log.

Tests that type text into the app use phrases containing "CANARY" (e.g. PURPLE-OTTER-CANARY-4471).
Every log line of the run, from the test processes and from the servers and commands they start,
is written to KAP_LOG_FILE or, under pytest-xdist, to a sibling file per worker
(tests/pytest_env.py). When the whole session has ended, tests/conftest.py reads them all with
`canary_lines` and fails the run if any line holds such a phrase.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CANARY = re.compile(r"canary", re.IGNORECASE)


def run_logs(log_file: Path | None = None) -> list[Path]:
    """The log files of this run: KAP_LOG_FILE and its per-worker siblings."""
    log = Path(log_file or os.environ["KAP_LOG_FILE"])
    return sorted(log.parent.glob(f"{log.stem}*{log.suffix}"))


def canary_lines(log_file: Path | None = None) -> list[str]:
    """Every line of the run's logs that holds a canary phrase, prefixed with its file's name."""
    return [
        f"{path.name}: {line}"
        for path in run_logs(log_file)
        for line in path.read_text(errors="replace").splitlines()
        if CANARY.search(line)
    ]
