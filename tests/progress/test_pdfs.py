"""The summary and the blank sheets as PDFs: real PDFs, the right words, nothing fetched."""

import re
import zlib
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from tests.progress.conftest import CANARY, html, pdf_text, text_of

PDF = "/progress/summary.pdf"
BLANKS = [
    "integration-worksheet",
    "first-session-preparation",
    "self-assessment",
    "intention-setting",
]


def pdf_url(**query) -> str:
    return PDF + "?" + urlencode(query, doseq=True)


def outline(data: bytes) -> list[str]:
    """The PDF's bookmarks (WeasyPrint makes one per heading), read without any PDF library.

    Bookmarks carry a /Dest; the document's own /Title (from <title>) does not.
    """
    titles = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            body = zlib.decompress(stream)
        except zlib.error:
            continue
        for literal, hexa in re.findall(
            rb"/Title (?:\(((?:[^()\\]|\\.)*)\)|<([0-9A-Fa-f]+)>)\s*/Dest", body
        ):
            if hexa:
                titles.append(bytes.fromhex(hexa.decode()).decode("utf-16"))
            else:
                titles.append(re.sub(rb"\\(.)", rb"\1", literal).decode("latin-1"))
    return titles


def test_the_summary_is_a_real_pdf_to_download_named_by_the_date(logged_in, client_user, insight):
    insight(client_user, "Something to say", days=1)

    response = logged_in.get(pdf_url(sections=["insights"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert response.content.rstrip().endswith(b"%%EOF")
    today = timezone.localdate()
    assert response["Content-Disposition"] == (
        f'attachment; filename="kap-summary-{today:%Y-%m-%d}.pdf"'
    )


def test_the_pdf_has_the_chosen_sections_and_only_those(logged_in, client_user, insight, phq9):
    insight(client_user, "The lake was calm this morning", days=1)
    phq9(client_user, 12, days=20)
    phq9(client_user, 5, days=1)

    response = logged_in.get(pdf_url(sections=["insights", "scores"], since=""))

    assert response.status_code == 200
    assert outline(response.content) == [
        "Summary to bring to therapy",
        "Insights",
        "Scores and change",
    ]
    text = pdf_text(response.content)
    assert "The lake was calm this morning" in text
    assert "Researchers call a drop of half or more a ‘response’." in text
    assert "Made with KAP Companion. Not a medical record; not monitored in real time." in text
    assert "Practices" not in text


def test_a_strangers_words_are_not_in_the_pdf(logged_in, client_user, stranger_with_canary):
    since = (timezone.localdate() - timedelta(days=30)).isoformat()

    response = logged_in.get(
        pdf_url(since=since, sections=["intentions", "questions", "insights", "worksheet", "steps"])
    )

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    assert "No open questions." in text
    assert CANARY not in text
    assert "canary" not in text.lower()


def test_a_bad_date_for_the_pdf_gets_the_form_with_the_message(logged_in):
    response = logged_in.get(pdf_url(since="31/02/2026", sections=["insights"]))

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "Please give a date as year, month and day" in text_of(response)


def test_the_pdf_fetcher_refuses_the_network_and_files_outside_static():
    from kap.lib.pdf import local_fetcher
    from kap.progress.views import PDF_CSS, STATIC_DIR

    fetch = local_fetcher(PDF_CSS, STATIC_DIR)
    for address in (
        "https://example.org/tracker.png",
        "http://127.0.0.1:8000/static/kap/app.css",
        "ftp://example.org/x",
        "file:///etc/passwd",
        (STATIC_DIR / ".." / "settings.py").as_uri(),
    ):
        with pytest.raises(ValueError):
            fetch(address)
    fetch((STATIC_DIR / "kap" / "icon.svg").as_uri()).close()
    fetch("data:text/plain,hello").close()


def test_pdf_rendering_makes_no_fetch_beyond_its_own_stylesheet(
    logged_in, client_user, insight, monkeypatch
):
    from kap.lib import pdf

    insight(client_user, '<img src="https://example.org/x.png"> <link href="http://x/y.css">')
    seen = []
    real = pdf.local_fetcher

    def spying(*args):
        fetcher = real(*args)
        original = fetcher.fetch

        def fetch(url, headers=None):
            seen.append(url)
            return original(url, headers)

        fetcher.fetch = fetch
        return fetcher

    monkeypatch.setattr(pdf, "local_fetcher", spying)

    response = logged_in.get(pdf_url(sections=["insights"]))

    assert response.status_code == 200
    assert [u for u in seen if not u.endswith("/templates/progress/pdf.css")] == []
    assert '<img src="https://example.org/x.png">' in pdf_text(response.content)


# --- Blank sheets -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", BLANKS)
def test_a_blank_sheet_has_every_item_text_of_the_spec(logged_in, key):
    from kap.content.models import Instrument

    spec = Instrument.objects.current().get(key=key).parsed

    response = logged_in.get(f"/progress/blank/{key}/")

    assert response.status_code == 200
    page = html(response)
    assert page.count("<h1") == 1
    assert f"<h1>{spec.title}</h1>" in text_of(response) or spec.title in text_of(response)
    for item in spec.items:
        assert f'<h2 class="item-text">{item.text}</h2>' in page.replace("&#x27;", "'")
    assert page.count('class="write-line"') >= 5 * len(spec.items)
    assert f'href="/progress/blank/{key}.pdf"' in page
    assert "style=" not in page


@pytest.mark.parametrize("key", BLANKS)
def test_a_blank_sheet_as_pdf_has_every_item_text(logged_in, key):
    from kap.content.models import Instrument

    spec = Instrument.objects.current().get(key=key).parsed

    response = logged_in.get(f"/progress/blank/{key}.pdf")

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-")
    assert response["Content-Disposition"] == f'attachment; filename="kap-{key}.pdf"'
    assert outline(response.content) == [spec.title] + [item.text for item in spec.items]


@pytest.mark.parametrize("key", ["phq9", "grounding", "nothing-like-it"])
def test_only_the_guides_worksheets_have_blank_versions(logged_in, key):
    assert logged_in.get(f"/progress/blank/{key}/").status_code == 404
    assert logged_in.get(f"/progress/blank/{key}.pdf").status_code == 404


@pytest.mark.parametrize("role", ["therapist", "admin"])
def test_any_signed_in_role_may_print_a_blank_sheet(client, make_user, guide, role):
    client.force_login(make_user(f"{role}@example.com", role=role))

    response = client.get("/progress/blank/integration-worksheet/")

    assert response.status_code == 200
    assert "What I Might Do Next:" in text_of(response)
