"""The guide in the app: every section, in order, with the guide's own wording."""

import html
import re

import pytest

from kap.content.models import Instrument, Page
from tests.conftest import PACK_DIR

# The resource guide as written (a copy of the team's shared/guide/kap-resource-guide.txt).
GUIDE_TXT = PACK_DIR.parents[3] / "tests" / "fixtures" / "guide" / "kap-resource-guide.txt"


def text_of(response) -> str:
    body = response.content.decode()
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


@pytest.mark.django_db
def test_the_contents_list_every_section_in_order(client, guide):
    response = client.get("/guide/")
    assert response.status_code == 200
    titles = list(Page.objects.filter(pack=guide).values_list("title", flat=True))
    body = text_of(response)
    positions = [body.index(html.unescape(t)) for t in titles]
    assert positions == sorted(positions)
    assert titles[:3] == [
        "Understanding Ketamine-Assisted Psychotherapy",
        "How Ketamine Supports Change",
        "Signs You Might Benefit from KAP Support",
    ]
    assert len(titles) == 12


@pytest.mark.django_db
def test_every_instrument_item_prompt_and_step_appears_on_its_page(client, guide):
    checked = 0
    for page in Page.objects.filter(pack=guide):
        body = text_of(client.get(f"/guide/{page.slug}/"))
        for instrument in Instrument.objects.current().filter(key__in=page.instrument_keys):
            spec = instrument.parsed
            expected = [spec.title, spec.prompt] + [i.text for i in spec.items]
            expected += [s.text for s in spec.steps]
            for text in filter(None, expected):
                assert squash(text) in body, f"{text!r} missing from /guide/{page.slug}/"
                checked += 1
    assert checked > 60


@pytest.mark.django_db
def test_every_instrument_belongs_to_a_page(guide):
    placed = {k for p in Page.objects.all() for k in p.instrument_keys}
    assert set(Instrument.objects.values_list("key", flat=True)) == placed


@pytest.mark.django_db
@pytest.mark.parametrize(
    "slug, phrases",
    [
        (
            "getting-the-most",
            [
                "Engaging fully in preparation sessions",
                "Remaining open to the experience",
                "Prioritizing integration after sessions",
                "Moving at a pace that feels manageable",
            ],
        ),
        (
            "books-and-apps",
            [
                "How to Change Your Mind — Michael Pollan",
                "The Body Keeps the Score — Bessel van der Kolk",
                "No Bad Parts — Richard Schwartz",
                "Insight Timer",
                "Calm",
                "Reflectly",
            ],
        ),
        (
            "how-ketamine-supports-change",
            [
                "New perspectives to emerge",
                "Emotional experiences to shift",
                "Reduced attachment to negative thoughts",
                "Greater openness and psychological flexibility",
            ],
        ),
        (
            "understanding-kap",
            [
                "The neurobiological effects of ketamine",
                "The structured support of psychotherapy",
            ],
        ),
    ],
)
def test_guide_lists_keep_the_guides_wording(client, guide, slug, phrases):
    body = text_of(client.get(f"/guide/{slug}/"))
    for phrase in phrases:
        assert phrase in body


@pytest.mark.django_db
def test_every_bold_list_item_of_the_guide_is_in_the_app(client, guide):
    """The guide's bullet points are its specification: each one appears somewhere in the app."""
    bullets = re.findall(r"^\s*- \*\*(.+?)\*\*", GUIDE_TXT.read_text(), re.MULTILINE)
    assert len(bullets) > 40
    everything = " ".join(
        text_of(client.get(f"/guide/{slug}/"))
        for slug in Page.objects.values_list("slug", flat=True)
    )
    for bullet in bullets:
        assert bullet.strip('“”"') in everything.replace("“", "").replace("”", ""), bullet


@pytest.mark.django_db
def test_every_page_links_to_crisis_support_and_prints_cleanly(client, guide):
    for url in ["/", "/guide/", "/guide/first-session/", "/login/", "/signup/", "/crisis/"]:
        body = client.get(url).content.decode()
        assert '<a class="crisis-link" href="/crisis/">Crisis support</a>' in body, url
        assert 'href="/static/kap/print.css" media="print"' in body, url


@pytest.mark.django_db
def test_crisis_page_shows_988_and_says_it_is_not_monitored(client, guide):
    body = text_of(client.get("/crisis/"))
    assert "Call or text 988" in body
    assert "Text HOME to 741741" in body
    assert "Call 911" in body
    assert "not monitored in real time" in body


@pytest.mark.django_db
def test_crisis_page_puts_the_persons_region_first(client, make_user, guide):
    client.force_login(make_user("uk@example.com", region="GB"))
    body = text_of(client.get("/crisis/"))
    assert body.index("Samaritans") < body.index("988 Suicide")


@pytest.mark.django_db
def test_crisis_resources_in_spanish_are_marked_so_and_mexico_and_spain_can_be_chosen(
    client, make_user, guide
):
    us = client.get("/crisis/").content.decode()
    # The 988 Lifeline's Spanish option and Crisis Text Line in Spanish, read aloud in Spanish.
    assert re.search(r'<li lang="es"><strong><a href="tel:988">Llame al 988 y marque 2', us)
    assert re.search(r'<li lang="es"><strong><a href="sms:741741">Envíe AYUDA', us)

    client.force_login(make_user("mx@example.com", region="MX"))
    body = text_of(client.get("/crisis/"))
    assert body.index("Línea de la Vida") < body.index("988 Suicide")
    assert "800 911 2000" in body
    client.force_login(make_user("es@example.com", region="ES"))
    page = client.get("/crisis/").content.decode()
    assert text_of(client.get("/crisis/")).index("024") < text_of(client.get("/crisis/")).index(
        "988 Suicide"
    )
    assert '<h2 id="region-ES" lang="es">España</h2>' in page
    assert 'href="tel:112"' in page


@pytest.mark.django_db
def test_pack_markdown_cannot_inject_html(client, guide):
    page = Page.objects.get(slug="books-and-apps")
    page.body += '\n<script>alert("x")</script>\n\n[click](javascript:alert(1))\n'
    page.save()
    body = client.get("/guide/books-and-apps/").content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;" in body
    assert 'href="javascript:' not in body


@pytest.mark.django_db
def test_an_unknown_page_is_not_found(client, guide):
    assert client.get("/guide/no-such-page/").status_code == 404
