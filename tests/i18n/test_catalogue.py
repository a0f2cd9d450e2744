"""The Spanish catalogue (kap/locale/es/LC_MESSAGES) is complete and current.

Every string the code marks for translation, found the way `make messages` finds it (Django's
makemessages over kap/), has a Spanish translation that is neither empty nor fuzzy; the
placeholders of each translation match its English (msgfmt --check); and the compiled catalogue
the app reads (django.mo) is the one the .po gives. A new English string without its Spanish fails
here, naming it. GNU gettext does the reading, as it does for makemessages (.ci/run installs it)."""

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

KAP = Path(__file__).resolve().parents[2] / "kap"
CATALOGUE = KAP / "locale" / "es" / "LC_MESSAGES"
DJANGO_ADMIN = Path(sys.executable).with_name("django-admin")


def _needs(program: str) -> None:
    if shutil.which(program) is None:
        pytest.fail(f"GNU gettext's {program} is needed (Debian: apt-get install gettext)")


def _extracted(tmp_path: Path) -> Path:
    """The strings the code marks today, as makemessages writes them (a copy of kap/, so the
    checkout is not touched)."""
    _needs("xgettext")
    copy = tmp_path / "kap"
    shutil.copytree(KAP, copy, ignore=shutil.ignore_patterns("__pycache__", "locale", "*.mo"))
    (copy / "locale").mkdir()
    subprocess.run(
        [DJANGO_ADMIN, "makemessages", "-l", "es", "--no-location", "--no-wrap"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    return copy / "locale" / "es" / "LC_MESSAGES" / "django.po"


def test_every_marked_string_has_its_spanish(tmp_path):
    _needs("msgcmp")
    found = _extracted(tmp_path)
    compared = subprocess.run(
        ["msgcmp", str(CATALOGUE / "django.po"), str(found)], capture_output=True, text=True
    )
    missing = [line for line in compared.stderr.splitlines() if "this message" in line]
    assert compared.returncode == 0, (
        f"{len(missing)} string(s) without Spanish; run `make messages` and translate them:\n"
        + compared.stderr[:4000]
    )


def test_the_translations_keep_their_placeholders():
    _needs("msgfmt")
    checked = subprocess.run(
        ["msgfmt", "--check", "-o", "/dev/null", str(CATALOGUE / "django.po")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_catalogue_holds_no_fuzzy_or_untranslated_entry():
    _needs("msgattrib")
    for which in ("--only-fuzzy", "--untranslated"):
        left = subprocess.run(
            ["msgattrib", which, "--no-obsolete", str(CATALOGUE / "django.po")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        entries = [line for line in left.splitlines() if line.startswith("msgid ")]
        assert len(entries) <= 1, f"{which}:\n{left[:4000]}"  # the header's empty msgid only


def test_the_compiled_catalogue_is_the_current_one(tmp_path):
    _needs("msgfmt")
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "-o", fresh, CATALOGUE / "django.po"], check=True)
    with open(fresh, "rb") as made, open(CATALOGUE / "django.mo", "rb") as shipped:
        made_catalogue = gettext.GNUTranslations(made)._catalog
        shipped_catalogue = gettext.GNUTranslations(shipped)._catalog
    assert shipped_catalogue == made_catalogue, "run `make messages` to compile django.mo"


TRANSLATING = {"_", "gettext", "ngettext", "pgettext", "npgettext", "gettext_lazy", "ngettext_lazy"}


def test_no_string_is_marked_inside_an_f_string_where_makemessages_cannot_see_it():
    # xgettext does not read into an f-string's {…}: a string marked there is shown untranslated
    # and dropped from the catalogue the next time `make messages` runs.
    import ast

    found = []
    for path in sorted(KAP.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.JoinedStr):
                continue
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Call)
                    and isinstance(inner.func, ast.Name)
                    and inner.func.id in TRANSLATING
                ):
                    found.append(f"{path.relative_to(KAP.parent)}:{inner.lineno}")
    assert not found, "mark these outside the f-string: " + ", ".join(found)
