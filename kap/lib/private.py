"""Files only their owner may read: the data folder 0700, what is in it 0600.

The database (and SQLite's -wal and -shm, which SQLite creates with the database file's mode),
the keys and the secret key hold everything. `private_umask()` is set first thing by every way
the app starts (kap/cli.py, manage.py, kap/wsgi.py), so that what they create is private; the
settings call `private_dir(DATA_DIR)` and `tighten_files(DATA_DIR)` on every start, so that an
install made before, with wider modes, is put right. Only what this process owns is changed: a
folder or file shared on purpose with someone else's account is left as it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def private_umask() -> None:
    """New files readable by their owner only (whatever stricter bits the umask had, kept)."""
    os.umask(os.umask(UMASK) | UMASK)


def _tighten(path: Path, mode: int, kind) -> None:
    try:
        st = path.lstat()  # a symbolic link is not followed: what it points to is not ours
    except FileNotFoundError:
        return
    if not kind(st.st_mode) or st.st_uid != os.geteuid():
        return
    if stat.S_IMODE(st.st_mode) & ~mode:
        try:
            path.chmod(stat.S_IMODE(st.st_mode) & mode)
        except OSError:
            pass  # (a read-only file system: nothing this process can do about it)


def private_dir(path: Path, *, create: bool = True) -> Path:
    """`path` as a folder only its owner can open: made with mode 0700 (and its missing parents),
    or, if it exists and this process owns it, its group and other bits removed."""
    path = Path(path)
    if create:
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE, stat.S_ISDIR)
    return path


def private_file(path: Path) -> None:
    """An existing file this process owns: readable and writable by its owner only."""
    _tighten(Path(path), FILE_MODE, stat.S_ISREG)


def tighten_files(folder: Path) -> None:
    """Every file directly in `folder` (the database and its -wal and -shm, the keys, the secret
    key, a database kept aside by a restore, the log): mode 0600 at most."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return
    for entry in entries:
        private_file(entry)
