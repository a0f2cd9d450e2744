"""The one PDF renderer (kap.lib.pdf): real PDFs, and nothing fetched but the PDF's own files."""

import pytest

from kap.lib import pdf


@pytest.fixture
def stylesheet(tmp_path):
    css = tmp_path / "print" / "pdf.css"
    css.parent.mkdir()
    css.write_text("body { font-family: sans-serif; }")
    return css


def test_without_a_folder_only_the_stylesheet_and_data_urls_are_read(stylesheet):
    fetch = pdf.local_fetcher(stylesheet)

    for address in (
        "https://example.org/x.css",
        "http://127.0.0.1:8000/static/kap/app.css",
        "ftp://example.org/x",
        "file:///etc/passwd",
        (stylesheet.parent / "other.css").as_uri(),
        (stylesheet.parent / ".." / "print" / ".." / "secret.txt").as_uri(),
    ):
        with pytest.raises(ValueError):
            fetch.fetch(address)
    fetch.fetch(stylesheet.as_uri()).close()
    fetch.fetch("data:text/plain,hello").close()


def test_with_a_folder_its_files_are_read_and_nothing_beside_it(stylesheet, tmp_path):
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "icon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "secret.txt").write_text("not for a PDF")
    fetch = pdf.local_fetcher(stylesheet, folder)

    fetch.fetch((folder / "icon.svg").as_uri()).close()
    fetch.fetch(stylesheet.as_uri()).close()
    for outside in (tmp_path / "secret.txt", folder / ".." / "secret.txt"):
        with pytest.raises(ValueError):
            fetch.fetch(outside.as_uri())


def test_a_pdf_is_made_without_fetching_what_its_html_links_to(stylesheet, monkeypatch):
    read, refused = [], []
    real = pdf.local_fetcher

    def spying(*args):
        fetcher = real(*args)
        original = fetcher.fetch

        def fetch(url, headers=None):
            try:
                result = original(url, headers)
            except ValueError:
                refused.append(url)
                raise
            read.append(url)
            return result

        fetcher.fetch = fetch
        return fetcher

    monkeypatch.setattr(pdf, "local_fetcher", spying)
    html = '<p>Hello</p><img src="https://example.org/x.png"><link rel="stylesheet" href="x.css">'

    response = pdf.pdf_response(html, "hello.pdf", stylesheet)

    assert response.content.startswith(b"%PDF")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="hello.pdf"'
    assert "https://example.org/x.png" in refused
    assert set(read) <= {stylesheet.as_uri()}
