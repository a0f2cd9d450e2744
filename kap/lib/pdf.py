"""HTML to PDF, with nothing fetched from anywhere else.

Every PDF the app makes (the summary, blank sheets, the therapist's brief) is rendered here by
WeasyPrint from HTML the templates made. The templates link to nothing and everything a person
wrote is escaped; the URL fetcher is the second lock: it reads data: URLs, the PDF's own print
stylesheet and files under one named folder (if any), and refuses everything else, so that no
PDF ever makes a network request or reads a file elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.http import HttpResponse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _


def local_fetcher(stylesheet: Path, folder: Path | None = None):
    """A WeasyPrint URL fetcher for data: URLs, `stylesheet` and files under `folder` only."""
    from weasyprint.urls import URLFetcher

    stylesheet = stylesheet.resolve()
    folder = folder.resolve() if folder else None

    class LocalOnly(URLFetcher):
        def fetch(self, url, headers=None):
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme == "file":
                path = Path(url2pathname(parts.path)).resolve()
                if not (path == stylesheet or (folder and path.is_relative_to(folder))):
                    raise ValueError(f"not fetched (not the PDF's own files): {url}")
            elif scheme != "data":
                raise ValueError(f"not fetched (only file: and data: URLs are): {url}")
            return super().fetch(url, headers)

    return LocalOnly(allowed_protocols={"file", "data"})


def render_pdf(html: str, stylesheet: Path, folder: Path | None = None) -> bytes:
    """`html` printed with the print stylesheet `stylesheet`; relative links in it resolve
    against `folder` (the only folder it may read from), else the stylesheet's own."""
    from weasyprint import CSS, HTML

    fetcher = local_fetcher(stylesheet, folder)
    base = (folder or stylesheet.parent).resolve().as_uri() + "/"
    document = HTML(string=html, base_url=base, url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[CSS(filename=str(stylesheet), url_fetcher=fetcher)])


def pdf_response(
    html: str, filename: str, stylesheet: Path, folder: Path | None = None
) -> HttpResponse:
    """The PDF of `html` (see render_pdf) as a download named `filename`."""
    response = HttpResponse(render_pdf(html, stylesheet, folder), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def css_string(text: str) -> str:
    """`text` as the inside of a double-quoted CSS string, safe inside a <style> element."""
    return "".join(f"\\{ord(c):x} " if c in '\\"<>&\n\r' else c for c in str(text))


def page_footer_css(left: str = "") -> SafeString:
    """A <style> body for the pages' footers in the reader's language (the print stylesheets are
    files, never translated): `left` at the bottom left, if given, and the page numbers at the
    bottom right. "Page %(page)s of %(pages)s" stays one translated sentence; its placeholders
    become WeasyPrint's page counters."""
    pieces = re.split(r"(%\(pages?\)s)", _("Page %(page)s of %(pages)s"))
    numbered = " ".join(
        f"counter({piece[2:-2]})"
        if piece in ("%(page)s", "%(pages)s")
        else f'"{css_string(piece.replace("%%", "%"))}"'
        for piece in pieces
        if piece
    )
    left_css = f'@bottom-left {{ content: "{css_string(left)}"; }} ' if left else ""
    # Every text in it went through css_string.
    return mark_safe(f"@page {{ {left_css}@bottom-right {{ content: {numbered}; }} }}")
