"""Small helpers shared by the care tests."""

from __future__ import annotations

import shutil
import subprocess

import pytest

PDFTOTEXT = shutil.which("pdftotext")


def pdf_text(content: bytes) -> str | None:
    """The text of a PDF, or None when pdftotext is missing (the caller skips that check)."""
    if PDFTOTEXT is None:
        return None
    done = subprocess.run(
        [PDFTOTEXT, "-layout", "-", "-"], input=content, capture_output=True, check=True
    )
    return done.stdout.decode()


def require_pdf_text(content: bytes) -> str:
    text = pdf_text(content)
    if text is None:
        pytest.skip("pdftotext (poppler-utils) is not installed, so the PDF's text is not checked")
    return text


def body(response) -> str:
    """The page's <main>, so that navigation and footer words do not count."""
    html = response.content.decode()
    return html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
