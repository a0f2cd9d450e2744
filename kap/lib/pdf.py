"""HTML to PDF, with nothing fetched from anywhere else.

Every PDF the app makes (the summary, blank sheets, the therapist's brief) is rendered here by
WeasyPrint from HTML the templates made. The templates link to nothing and everything a person
wrote is escaped; the URL fetcher is the second lock: it reads data: URLs, the PDF's own print
stylesheet and files under one named folder (if any), and refuses everything else, so that no
PDF ever makes a network request or reads a file elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.http import HttpResponse


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
