"""Every pack a person may read is in the guide (issue 13): the server's packs for everyone, a
clinic's for its own people only. The default pack keeps its old addresses and its old look."""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from playwright.sync_api import expect

from kap.accounts.models import CareLink, Clinic
from kap.content.loader import _checksum
from kap.content.models import Instrument, Pack, Page, Scope
from kap.content.specs import PackSpec

CRISIS = {"name": "988 Suicide & Crisis Lifeline", "action": "Call or text 988"}


def text_of(response) -> str:
    body = response.content.decode()
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def make_pack(key: str, title: str, *, clinic=None, pages=("one", "two", "three")) -> Pack:
    """A small valid pack with pages and no instruments, the server's or `clinic`'s."""
    spec = PackSpec(
        key=key,
        title=title,
        version=1,
        language="en",
        default_region="US",
        crisis_resources={"US": {"name": "United States", "resources": [CRISIS]}},
        pages=[{"slug": s, "title": f"{title}: {s}", "file": f"pages/{s}.md"} for s in pages],
    ).model_dump(mode="json")
    pack = Pack.objects.create(
        scope=Scope.CLINIC if clinic else Scope.SERVER,
        clinic=clinic,
        key=key,
        title=title,
        version=1,
        language="en",
        spec=spec,
        checksum=_checksum(spec),
    )
    Page.objects.bulk_create(
        Page(pack=pack, slug=slug, title=f"{title}: {slug}", order=n, body=f"Words of {slug}.")
        for n, slug in enumerate(pages, start=1)
    )
    return pack


@pytest.fixture
def north(db):
    return Clinic.objects.create(name="North Clinic")


@pytest.fixture
def south(db):
    return Clinic.objects.create(name="South Clinic")


@pytest.fixture
def packs(guide, north):
    """A second server pack and a pack of the North clinic."""
    return (
        make_pack("sleep", "Sleeping well"),
        make_pack("north-notes", "North notes", clinic=north),
    )


@pytest.fixture
def people(make_user, north, south):
    therapist = make_user("dr.north@example.com", role="therapist", clinic=north)
    linked = make_user("linked@example.com")
    CareLink.objects.create(client=linked, therapist=therapist, scopes=[])
    return {
        "therapist": therapist,
        "linked": linked,
        "elsewhere": make_user("dr.south@example.com", role="therapist", clinic=south),
        "unlinked": make_user("unlinked@example.com"),
    }


@pytest.mark.django_db
def test_a_visitor_sees_every_server_pack_and_reads_its_pages(client, packs):
    body = client.get("/guide/").content.decode()
    assert 'href="/guide/understanding-kap/"' in body, "the default pack keeps its addresses"
    assert "Sleeping well" in body and 'href="/guide/sleep/one/"' in body
    assert "North notes" not in body and "/guide/north-notes/" not in body

    response = client.get("/guide/sleep/two/")
    assert response.status_code == 200
    text = text_of(response)
    assert "Words of two." in text
    page = response.content.decode()
    assert 'href="/guide/sleep/one/" aria-current' not in page
    assert 'rel="prev" href="/guide/sleep/one/"' in page
    assert 'rel="next" href="/guide/sleep/three/"' in page
    assert 'href="/guide/#pack-sleep">Sleeping well</a>' in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who, sees", [("therapist", True), ("linked", True), ("elsewhere", False), ("unlinked", False)]
)
def test_a_clinic_pack_is_read_by_its_own_people_only(client, packs, people, who, sees):
    client.force_login(people[who])
    index = client.get("/guide/").content.decode()
    assert ("North notes" in index) is sees
    assert ('href="/guide/north-notes/one/"' in index) is sees
    assert ("From North Clinic." in index) is sees
    response = client.get("/guide/north-notes/one/")
    assert response.status_code == (200 if sees else 404)
    if sees:
        assert "Words of one." in text_of(response)


@pytest.mark.django_db
def test_a_visitor_gets_404_for_a_clinic_pack_and_for_no_pack(client, packs):
    assert client.get("/guide/north-notes/one/").status_code == 404
    assert client.get("/guide/no-such-pack/one/").status_code == 404
    assert client.get("/guide/sleep/no-such-page/").status_code == 404


@pytest.mark.django_db
def test_a_client_whose_link_ended_no_longer_reads_the_clinic_pack(client, packs, people):
    from django.utils import timezone

    CareLink.objects.filter(client=people["linked"]).update(ended_at=timezone.now())
    client.force_login(people["linked"])
    assert client.get("/guide/north-notes/one/").status_code == 404


@pytest.mark.django_db
def test_the_default_pack_under_its_key_goes_to_its_own_address(client, guide):
    response = client.get(f"/guide/{guide.key}/first-session/")
    assert response.status_code == 302
    assert response["Location"] == "/guide/first-session/"


@pytest.mark.django_db
def test_the_default_pack_alone_looks_as_it_always_did(client, guide):
    body = client.get("/guide/").content.decode()
    assert f"<h1>{guide.title}</h1>" in body
    assert body.count("<nav ") == 2, "the site's menu and the one table of contents"
    assert 'aria-label="Table of contents"' in body
    assert "guide-pack" not in body
    page = client.get("/guide/first-session/").content.decode()
    assert '<h2><a href="/guide/">Guide</a></h2>' in page


@pytest.mark.django_db
def test_a_clinic_pack_with_a_server_packs_key_is_what_the_key_means_for_the_clinic(
    client, packs, people, north
):
    make_pack("sleep", "North's sleep", clinic=north, pages=("one",))
    client.force_login(people["therapist"])
    index = text_of(client.get("/guide/"))
    assert "North's sleep" in index and "Sleeping well" not in index
    assert "North's sleep: one" in text_of(client.get("/guide/sleep/one/"))
    assert client.get("/guide/sleep/two/").status_code == 404

    client.force_login(people["elsewhere"])
    assert "Sleeping well: two" in text_of(client.get("/guide/sleep/two/"))


@pytest.mark.django_db
def test_a_clinic_packs_instruments_show_on_its_pages_for_its_people(client, packs, people, north):
    pack = packs[1]
    source = Instrument.objects.server().filter(kind="reflection").first()
    Instrument.objects.create(
        scope=Scope.CLINIC,
        clinic=north,
        pack=pack,
        key="north-reflection",
        version=1,
        kind=source.kind,
        title="A North reflection",
        spec=(spec := source.spec | {"key": "north-reflection", "title": "A North reflection"}),
        # The real checksum: parsed specs are cached by (pk, checksum), and primary keys are
        # reused between tests.
        checksum=_checksum(spec),
    )
    Page.objects.filter(pack=pack, slug="one").update(instrument_keys=["north-reflection"])
    client.force_login(people["linked"])
    assert "A North reflection" in text_of(client.get("/guide/north-notes/one/"))


@pytest.mark.django_db
def test_the_index_costs_the_same_queries_for_one_pack_or_many(client, guide, people, north):
    client.force_login(people["therapist"])
    client.get("/guide/")  # warm the session

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/guide/").status_code == 200
        return len(queries)

    one = count()
    for n in range(4):
        make_pack(f"server-{n}", f"Server pack {n}")
        make_pack(f"clinic-{n}", f"Clinic pack {n}", clinic=north)
    assert count() == one


@pytest.mark.django_db
def test_staff_see_their_clinics_packs_in_the_guide(client, packs, people):
    client.force_login(people["therapist"])
    # (Staff start on their roster; the guide lists every pack they may read.)
    body = client.get("/guide/").content.decode()
    assert 'href="/guide/understanding-kap/"' in body
    assert 'href="/guide/north-notes/one/"' in body and "North notes" in body
    assert 'href="/guide/sleep/one/"' in body


@pytest.mark.django_db
def test_with_no_default_pack_the_other_packs_are_still_listed(client, no_content):
    make_pack("sleep", "Sleeping well")
    body = text_of(client.get("/guide/"))
    assert "The guide" in body and "Sleeping well: one" in body
    assert client.get("/guide/sleep/one/").status_code == 200


@pytest.mark.django_db
def test_with_no_pack_at_all_the_guide_is_not_found(client, no_content):
    assert client.get("/guide/").status_code == 404


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_guide_of_several_packs_has_no_axe_violation(page, live_server):
    from kap.content.sync import ensure_default_pack
    from tests.conftest import axe_violations

    ensure_default_pack()
    make_pack("sleep", "Sleeping well")
    page.goto("/guide/")
    expect(page.get_by_role("navigation", name="Table of contents")).to_be_visible()
    expect(page.get_by_role("navigation", name="Contents: Sleeping well")).to_be_visible()
    for url in ["/guide/", "/guide/sleep/two/"]:
        page.goto(url)
        assert axe_violations(page) == [], url
