"""A content pack uploaded as a zip (a clinic admin's, through the web): unpacked safely, then
checked by the same `read_pack` as `kap content check`, with the limits of an untrusted pack.

Unpacking refuses what could reach outside a temporary folder or fill the disk: absolute paths,
`..`, links, encrypted members, more than PACK_FILES members, and more than PACK_UNPACKED_BYTES
unpacked (counted while unpacking, not taken from the zip's own word). Nothing is stored here;
kap.care.views_packs keeps the upload and publishes it.
"""

from __future__ import annotations

import io
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.utils.translation import gettext as _

from kap.content.loader import UPLOAD_LIMITS, PackBundle, PackError, PackInvalid, read_pack
from kap.lib.limits import PACK_FILES, PACK_UNPACKED_BYTES, PACK_ZIP_BYTES

# Folders and files a computer adds to a zip on its own (macOS's resource forks and Finder data).
IGNORED_PREFIXES = ("__MACOSX/",)
IGNORED_NAMES = {".DS_Store", "Thumbs.db"}
CHUNK = 64 * 1024


class UploadRefused(Exception):
    """The zip itself cannot be used (not its pack's contents): one message for the person."""


@dataclass
class Checked:
    """What checking an upload found: the pack, or every problem with its file and field."""

    bundle: PackBundle | None
    problems: list[PackError]


def _mb(n: int) -> str:
    return _("%(n)s MB") % {"n": f"{n / (1024 * 1024):g}"}


def _open(data: bytes) -> zipfile.ZipFile:
    if len(data) > PACK_ZIP_BYTES:
        raise UploadRefused(
            _(
                "This file is larger than %(most)s; a pack may be at most %(most)s as a zip."
                " Nothing was uploaded."
            )
            % {"most": _mb(PACK_ZIP_BYTES)}
        )
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise UploadRefused(
            _(
                "This file is not a zip archive that can be read. Make a .zip of the pack's"
                " folder (pack.yaml with its instruments and pages) and upload that."
            )
        ) from None


def _member_name(info: zipfile.ZipInfo) -> str | None:
    """The member's path inside the pack, or None for what a computer adds on its own.
    Refuses anything that could land outside the folder it is unpacked into."""
    name = info.filename
    if name.startswith(IGNORED_PREFIXES) or PurePosixPath(name).name in IGNORED_NAMES:
        return None
    if "\\" in name:
        raise UploadRefused(
            _(
                "The zip names a file “%(name)s” with backslashes (\\); zips use “/” between"
                " folders. Make the zip again with another tool. Nothing was uploaded."
            )
            % {"name": name[:100]}
        )
    parts = PurePosixPath(name).parts
    if (
        not name
        or "\x00" in name
        or name.startswith("/")
        or (parts and ":" in parts[0])
        or any(p in ("..", ".") for p in parts)
    ):
        raise UploadRefused(
            _(
                "The zip holds a file named “%(name)s”, which points outside the pack's folder"
                " (an absolute path or “..”). Nothing was uploaded."
            )
            % {"name": name[:100]}
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UploadRefused(
            _(
                "The zip holds a link (“%(name)s”); a pack may only hold ordinary files."
                " Nothing was uploaded."
            )
            % {"name": name[:100]}
        )
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UploadRefused(
            _("The zip holds “%(name)s”, which is not an ordinary file. Nothing was uploaded.")
            % {"name": name[:100]}
        )
    if info.flag_bits & 0x1:
        raise UploadRefused(
            _("The zip is protected with a password; upload it without one. Nothing was uploaded.")
        )
    return str(PurePosixPath(name))  # "a//b" and "./a" as "a/b" and "a"


def _members(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, str]]:
    infos = archive.infolist()
    if len(infos) > PACK_FILES:
        raise UploadRefused(
            _(
                "The zip holds %(count)s files and folders; a pack may hold at most %(most)s."
                " Nothing was uploaded."
            )
            % {"count": f"{len(infos):,}", "most": f"{PACK_FILES:,}"}
        )
    out, seen = [], set()
    declared = 0
    for info in infos:
        name = _member_name(info)
        if name is None or info.is_dir():
            continue
        if name in seen:
            raise UploadRefused(
                _("The zip holds “%(name)s” twice. Nothing was uploaded.") % {"name": name[:100]}
            )
        seen.add(name)
        declared += info.file_size
        out.append((info, name))
    if declared > PACK_UNPACKED_BYTES:
        raise _too_big()
    return out


def _too_big() -> UploadRefused:
    return UploadRefused(
        _(
            "This zip unpacks to more than %(most)s, more than a pack may hold (a zip that grows"
            " this much when unpacked is refused). Nothing was uploaded."
        )
        % {"most": _mb(PACK_UNPACKED_BYTES)}
    )


def _root(names: list[str]) -> str:
    """The folder (inside the zip) that holds pack.yaml: the top, or its one top folder."""
    if "pack.yaml" in names:
        return ""
    tops = {PurePosixPath(n).parts[0] for n in names}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/pack.yaml" in names:
            return top
    raise UploadRefused(
        _(
            "There is no pack.yaml at the top of the zip (or in the one folder at its top)."
            " Zip the pack's folder itself, the one holding pack.yaml. Nothing was uploaded."
        )
    )


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, budget: int) -> int:
    """Write one member, counting the bytes actually unpacked: what is left of the budget."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, dest.open("xb") as out:
            while chunk := src.read(CHUNK):
                budget -= len(chunk)
                if budget < 0:
                    raise _too_big()
                out.write(chunk)
    except UploadRefused:
        raise
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise UploadRefused(
            _("The zip holds a file and a folder both named “%(name)s”. Nothing was uploaded.")
            % {"name": info.filename[:100]}
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError):
        raise UploadRefused(
            _(
                "“%(name)s” in the zip is damaged or compressed in a way that cannot be read."
                " Nothing was uploaded."
            )
            % {"name": info.filename[:100]}
        ) from None
    return budget


@contextmanager
def unpacked(data: bytes) -> Iterator[Path]:
    """The pack in this zip, unpacked into a temporary folder that is removed afterwards: the
    folder holding its pack.yaml. Raises UploadRefused for a zip that cannot safely be used."""
    with _open(data) as archive:
        members = _members(archive)
        root = _root([name for _, name in members])
        with tempfile.TemporaryDirectory(prefix="kap-pack-") as tmp:
            base = Path(tmp).resolve()
            budget = PACK_UNPACKED_BYTES
            for info, name in members:
                dest = (base / name).resolve()
                if not dest.is_relative_to(base):  # (the names were checked; this is a backstop)
                    raise UploadRefused(_("The zip holds a path outside the pack's folder."))
                budget = _extract(archive, info, dest, budget)
            yield base / root if root else base


def check(data: bytes) -> Checked:
    """Unpack and validate an uploaded pack: every problem in one pass, as `kap content check`
    reports them. Raises UploadRefused when the zip itself cannot be used."""
    with unpacked(data) as folder:
        try:
            bundle = read_pack(folder, limits=UPLOAD_LIMITS)
        except PackInvalid as e:
            return Checked(None, e.errors)
    return Checked(bundle, [])
