"""Clinic packs through the web: a clinic admin uploads a pack (a zip), sees every problem at once
or a preview of each instrument, and publishes it for the clients of the clinic's therapists."""

from __future__ import annotations

import io
import re
import stat
import time
import zipfile
from html import unescape

import pytest
import yaml

from kap.accounts.models import CareLink, Clinic
from kap.care.models import AuditEntry
from kap.cli import main
from kap.content.models import Instrument, Pack, PackUpload, Scope
from kap.journal.services import submit_response
from kap.lib.limits import PACK_ZIP_BYTES
from tests.care.conftest import ALL_SCOPES, verify

pytestmark = pytest.mark.django_db

PACK = {
    "key": "lakeside",
    "title": "Lakeside check-ins",
    "version": 1,
    "language": "en",
    "default_region": "US",
    "crisis_resources": {
        "US": {
            "name": "Lakeside",
            "resources": [
                {"name": "Lakeside night line", "action": "Call 555-0100", "href": "tel:5550100"}
            ],
        }
    },
    "pages": [
        {
            "slug": "welcome",
            "title": "Welcome",
            "file": "pages/welcome.md",
            "instruments": ["sleep-diary"],
        }
    ],
    "instruments": ["instruments/sleep-diary.yaml", "instruments/evening-notes.yaml"],
}
SLEEP = {
    "key": "sleep-diary",
    "version": 1,
    "kind": "questionnaire",
    "title": "Sleep this week",
    "intro": "A short look at how you slept.",
    "items": [{"key": "rested", "text": "How rested did you wake up?"}],
    "options": [
        {"value": "not-at-all", "label": "Not at all", "weight": 0},
        {"value": "very", "label": "Very rested", "weight": 1},
    ],
    "scoring": {"method": "sum"},
}
NOTES = {
    "key": "evening-notes",
    "version": 1,
    "kind": "reflection",
    "title": "Evening notes",
    "items": [{"key": "today", "text": "What stayed with you today?"}],
}


def pack_files(pack=None, sleep=None, notes=None) -> dict[str, str]:
    dump = lambda d: yaml.safe_dump(d, sort_keys=False)  # noqa: E731
    return {
        "pack.yaml": dump(pack or PACK),
        "instruments/sleep-diary.yaml": dump(sleep or SLEEP),
        "instruments/evening-notes.yaml": dump(notes or NOTES),
        "pages/welcome.md": "# Welcome\n\n[[instrument sleep-diary]]\n",
    }


def make_zip(files: dict[str, str | bytes], *, folder: str = "", method=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, text in files.items():
            archive.writestr(f"{folder}{name}", text)
    return buffer.getvalue()


def upload(client, data: bytes, name: str = "lakeside.zip"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        "/care/clinic/packs/upload/",
        {"pack-file": SimpleUploadedFile(name, data, content_type="application/zip")},
    )


def text_of(response) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


# --- The world: two clinics, their admins, therapists and clients ------------------------------


@pytest.fixture
def world(make_user, guide):
    lakeside = Clinic.objects.create(name="Lakeside Clinic")
    hillside = Clinic.objects.create(name="Hillside Clinic")
    people = {
        "admin": make_user("admin@lakeside.example", role="admin", clinic=lakeside),
        "other_admin": make_user("admin@hillside.example", role="admin", clinic=hillside),
        "therapist": make_user("dr.lee@lakeside.example", role="therapist", clinic=lakeside),
        "other_therapist": make_user("dr.kim@hillside.example", role="therapist", clinic=hillside),
        "client": make_user("alex@example.com"),
        "other_client": make_user("sam@example.com"),
        "unlinked": make_user("jo@example.com"),
    }
    CareLink.objects.create(
        client=people["client"], therapist=people["therapist"], scopes=ALL_SCOPES
    )
    CareLink.objects.create(
        client=people["other_client"], therapist=people["other_therapist"], scopes=ALL_SCOPES
    )
    return {"lakeside": lakeside, "hillside": hillside, **people}


@pytest.fixture
def as_admin(client, world):
    return verify(client, world["admin"])


def as_user(user):
    from django.test import Client

    browser = Client()
    if user.role in ("admin", "therapist"):
        return verify(browser, user)
    browser.force_login(user)
    return browser


def uploaded(as_admin, data=None) -> PackUpload:
    response = upload(as_admin, data or make_zip(pack_files()))
    assert response.status_code == 302, text_of(response)
    found = PackUpload.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[-1]))
    assert response["Location"] == f"/care/clinic/packs/{found.pk}/"
    return found


def publish(browser, found: PackUpload):
    return browser.post(f"/care/clinic/packs/{found.pk}/publish/")


# --- Upload, preview, publish ------------------------------------------------------------------


def test_an_admin_uploads_previews_and_publishes_for_their_clinics_clients_only(as_admin, world):
    client, other, unlinked = (
        as_user(world["client"]),
        as_user(world["other_client"]),
        as_user(world["unlinked"]),
    )
    found = uploaded(as_admin, make_zip(pack_files(), folder="lakeside-pack/"))

    report = as_admin.get(f"/care/clinic/packs/{found.pk}/")
    assert report.status_code == 200
    page = text_of(report)
    assert "Sleep this week" in page and "Evening notes" in page
    assert "New, version 1" in page
    # Staged: nobody sees it before it is published.
    assert client.get("/i/sleep-diary/").status_code == 404
    assert not Pack.objects.filter(scope=Scope.CLINIC).exists()

    preview = as_admin.get(f"/care/clinic/packs/{found.pk}/i/sleep-diary/")
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "How rested did you wake up?" in html and "Very rested" in html
    assert '<fieldset class="question' in html  # the journal's own question markup
    assert "<fieldset disabled>" in html  # nothing can be sent from the preview
    (form,) = re.findall(r"<form aria-label=\"Preview[^>]*>", html)
    assert "post" not in form.lower()
    assert as_admin.get(f"/care/clinic/packs/{found.pk}/i/no-such-thing/").status_code == 404

    response = publish(as_admin, found)
    assert response.status_code == 302 and response["Location"] == "/care/clinic/packs/"
    pack = Pack.objects.get(scope=Scope.CLINIC)
    assert (pack.key, pack.clinic, pack.version) == ("lakeside", world["lakeside"], 1)
    assert set(Instrument.objects.filter(pack=pack).values_list("key", "scope", "clinic")) == {
        ("sleep-diary", Scope.CLINIC, world["lakeside"].pk),
        ("evening-notes", Scope.CLINIC, world["lakeside"].pk),
    }
    entry = AuditEntry.objects.get(action="publish")
    assert entry.actor == world["admin"] and "lakeside v1" in entry.what

    # The client of one of the clinic's therapists sees it; nobody else does.
    assert client.get("/i/sleep-diary/").status_code == 200
    assert "Sleep this week" in text_of(client.get("/check-ins/"))
    for browser in (other, unlinked):
        assert browser.get("/i/sleep-diary/").status_code == 404
        assert browser.get("/i/evening-notes/").status_code == 404
        assert "Sleep this week" not in text_of(browser.get("/check-ins/"))
    assert "Lakeside check-ins" in text_of(as_admin.get("/care/clinic/packs/"))


def test_another_clinics_admin_cannot_see_preview_or_publish_the_upload(as_admin, world):
    found = uploaded(as_admin)
    for who in ("other_admin", "therapist", "client"):
        browser = as_user(world[who])
        assert browser.get(f"/care/clinic/packs/{found.pk}/").status_code == 404, who
        assert browser.get(f"/care/clinic/packs/{found.pk}/i/sleep-diary/").status_code == 404
        assert publish(browser, found).status_code == 404, who
        assert "lakeside.zip" not in text_of(browser.get("/care/clinic/packs/"))
    assert not Pack.objects.filter(scope=Scope.CLINIC).exists()
    found.refresh_from_db()
    assert found.published_at is None


def test_the_clinic_page_links_to_the_clinics_content(as_admin):
    assert 'href="/care/clinic/packs/"' in as_admin.get("/care/clinic/").content.decode()


# --- Every problem in one response --------------------------------------------------------------


def test_a_broken_pack_lists_every_problem_in_one_response(as_admin):
    pack = {
        **PACK,
        "instruments": [
            *PACK["instruments"],
            "instruments/copy.yaml",  # the key of evening-notes again
            "instruments/missing.yaml",  # no such file
            "instruments/twice.yaml",  # a YAML key twice
        ],
    }
    sleep = {
        **SLEEP,
        "options": [
            {"value": "not-at-all", "label": "Not at all", "weight": "heavy"},
            {"value": "very", "label": "Very rested", "weight": 1},
        ],
    }
    files = pack_files(pack, sleep)
    files["instruments/copy.yaml"] = yaml.safe_dump({**NOTES, "title": "Copy"})
    files["instruments/twice.yaml"] = (
        yaml.safe_dump({**NOTES, "key": "twice"}, sort_keys=False) + "title: Twice again\n"
    )

    response = upload(as_admin, make_zip(files))
    assert response.status_code == 302
    page = text_of(as_admin.get(response["Location"]))

    found = PackUpload.objects.get()
    assert [tuple(p[:2]) for p in found.problems] == [
        ("instruments/sleep-diary.yaml", "options.0.weight"),
        ("instruments/copy.yaml", "key"),
        ("pack.yaml", "instruments.3"),
        ("instruments/twice.yaml", "line 8, column 1"),
    ]
    assert "4 problems" in page
    assert "number" in found.problems[0][2]
    for expected in (
        "duplicate instrument key 'evening-notes' version 1 (also in"
        " instruments/evening-notes.yaml)",
        "instruments/missing.yaml does not exist",
        "invalid YAML: duplicate key 'title'",
        found.problems[0][2],
    ):
        assert expected in page
    # Nothing can be published from a broken pack, and there is nothing to preview.
    assert "Publish" not in page
    assert publish(as_admin, found).status_code == 302
    assert not Pack.objects.filter(scope=Scope.CLINIC).exists()


def test_the_same_wording_as_kap_content_check(as_admin, tmp_path, capsys):
    files = pack_files(sleep={**SLEEP, "kind": "quiz"})
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert main(["content", "check", str(tmp_path)]) == 1
    line, summary = capsys.readouterr().err.strip().splitlines()
    assert "1 problem(s) found" in summary

    upload(as_admin, make_zip(files))
    ((file, path, reason),) = PackUpload.objects.get().problems
    assert line == f"{file}: {path}: {reason}"
    assert reason in text_of(as_admin.get(f"/care/clinic/packs/{PackUpload.objects.get().pk}/"))


# --- Refused zips: a clear message, nothing changed ---------------------------------------------


def _refused(as_admin, data: bytes, expected: str):
    before = (PackUpload.objects.count(), Pack.objects.count(), Instrument.objects.count())
    response = upload(as_admin, data)
    assert response.status_code == 400
    assert expected in text_of(response)
    assert (PackUpload.objects.count(), Pack.objects.count(), Instrument.objects.count()) == before


def test_a_zip_with_a_path_outside_the_pack_is_refused(as_admin):
    files = {**pack_files(), "../escape.yaml": "key: x\n"}
    _refused(as_admin, make_zip(files), "points outside the pack's folder")
    _refused(as_admin, make_zip({**pack_files(), "/etc/cron.d/x": "x"}), "outside the pack")


def test_a_zip_holding_a_link_is_refused(as_admin):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in pack_files().items():
            archive.writestr(name, text)
        link = zipfile.ZipInfo("pages/secret.md")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    _refused(as_admin, buffer.getvalue(), "a pack may only hold ordinary files")


def test_an_oversize_zip_is_refused(as_admin):
    import os

    files = {**pack_files(), "pages/big.md": os.urandom(PACK_ZIP_BYTES)}
    _refused(as_admin, make_zip(files, method=zipfile.ZIP_STORED), "larger than 2 MB")


def test_a_zip_bomb_is_refused(as_admin):
    files = {**pack_files(), "pages/zeros.md": b"0" * (11 * 1024 * 1024)}
    data = make_zip(files)
    assert len(data) < 100_000
    _refused(as_admin, data, "unpacks to more than 10 MB")


def test_a_file_that_is_not_a_zip_or_has_no_pack_yaml_is_refused(as_admin):
    _refused(as_admin, b"not a zip at all", "not a zip archive")
    _refused(as_admin, make_zip({"README.md": "hello"}), "There is no pack.yaml")


def test_too_many_instruments_or_items_are_reported(as_admin):
    sleep = {**SLEEP, "items": [{"key": f"q{i}", "text": "?"} for i in range(501)]}
    upload(as_admin, make_zip(pack_files(sleep=sleep)))
    (problem,) = PackUpload.objects.get().problems
    assert problem[:2] == ["instruments/sleep-diary.yaml", "items"]
    assert "at most 500" in problem[2]


def test_a_yaml_alias_bomb_is_reported_in_linear_time(as_admin):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 12)]
    bomb = "\n".join(lines) + "\n" + yaml.safe_dump(NOTES)
    started = time.monotonic()
    upload(as_admin, make_zip({**pack_files(), "instruments/evening-notes.yaml": bomb}))
    assert time.monotonic() - started < 5
    (problem,) = PackUpload.objects.get().problems
    assert problem[0] == "instruments/evening-notes.yaml"
    assert "anchors and aliases" in problem[2]


def test_a_page_outside_the_pack_is_reported(as_admin):
    pack = {**PACK, "pages": [{**PACK["pages"][0], "file": "../../../../etc/hostname"}]}
    upload(as_admin, make_zip(pack_files(pack)))
    (problem,) = PackUpload.objects.get().problems
    assert problem == ["pack.yaml", "pages.0.file", "../../../../etc/hostname is outside the pack"]


# --- New versions, old answers -----------------------------------------------------------------


def test_a_changed_instrument_gets_a_new_version_and_old_answers_stay_readable(as_admin, world):
    publish(as_admin, uploaded(as_admin))
    first = Instrument.objects.resolve(world["client"], "sleep-diary")
    answered = submit_response(
        client=world["client"], instrument=first, session=None, answers={"rested": "very"}
    ).response

    # Same version number, different content: the web gives it the next one.
    changed = {**SLEEP, "items": [{"key": "rested", "text": "How rested do you feel this week?"}]}
    found = uploaded(as_admin, make_zip(pack_files(sleep=changed)))
    assert "Changed: becomes version 2" in text_of(as_admin.get(f"/care/clinic/packs/{found.pk}/"))
    assert "Unchanged (version 1)" in text_of(as_admin.get(f"/care/clinic/packs/{found.pk}/"))
    assert publish(as_admin, found).status_code == 302

    versions = Instrument.objects.filter(scope=Scope.CLINIC, key="sleep-diary").order_by("version")
    assert [i.version for i in versions] == [1, 2]
    assert Instrument.objects.filter(scope=Scope.CLINIC, key="evening-notes").count() == 1
    assert Pack.objects.get(scope=Scope.CLINIC).version == 2
    client = as_user(world["client"])
    assert "How rested do you feel this week?" in text_of(client.get("/i/sleep-diary/"))
    old = client.get(f"/r/{answered.pk}/")
    assert old.status_code == 200
    assert "How rested did you wake up?" in text_of(old) and "Very rested" in text_of(old)

    # The same pack again: nothing new.
    again = uploaded(as_admin, make_zip(pack_files(sleep=changed)))
    assert publish(as_admin, again).status_code == 302
    assert Instrument.objects.filter(scope=Scope.CLINIC).count() == 3
    assert AuditEntry.objects.filter(action="publish").count() == 2


def test_a_key_of_another_of_the_clinics_packs_is_not_taken_over(as_admin, world):
    publish(as_admin, uploaded(as_admin))
    other = {**PACK, "key": "second", "instruments": ["instruments/sleep-diary.yaml"]}
    files = pack_files(other)
    del files["instruments/evening-notes.yaml"]
    found = uploaded(as_admin, make_zip(files))
    assert "belongs to your pack" in text_of(as_admin.get(f"/care/clinic/packs/{found.pk}/"))
    response = publish(as_admin, found)
    assert response.status_code == 400
    assert "already part of the pack 'lakeside'" in text_of(response)
    assert not Pack.objects.filter(key="second").exists()


# --- Scopes: the server's pack and the clinic's ---------------------------------------------------


def test_the_cli_loads_a_server_pack_with_the_same_key_as_a_clinic_pack(as_admin, world, tmp_path):
    publish(as_admin, uploaded(as_admin))
    server = {**SLEEP, "title": "Sleep (server)"}
    for name, text in pack_files(sleep=server).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    assert main(["content", "load", str(tmp_path)]) == 0

    assert Pack.objects.filter(key="lakeside").count() == 2
    assert Instrument.objects.resolve(world["client"], "sleep-diary").title == "Sleep this week"
    assert Instrument.objects.resolve(world["other_client"], "sleep-diary").title == (
        "Sleep (server)"
    )
    # And the CLI still refuses a changed instrument that keeps its version.
    (tmp_path / "instruments" / "sleep-diary.yaml").write_text(
        yaml.safe_dump({**server, "title": "Changed"})
    )
    pack = yaml.safe_load((tmp_path / "pack.yaml").read_text())
    (tmp_path / "pack.yaml").write_text(yaml.safe_dump({**pack, "version": 2}))
    assert main(["content", "load", str(tmp_path)]) == 1


def test_a_clinic_packs_crisis_resources_do_not_reach_anyone_else(as_admin, world):
    publish(as_admin, uploaded(as_admin))
    for who in ("client", "other_client", "unlinked"):
        page = text_of(as_user(world[who]).get("/crisis/"))
        assert "Lakeside night line" not in page, who
        assert "988" in page


def test_a_practice_is_previewed_with_its_steps(as_admin):
    practice = {
        "key": "evening-notes",
        "version": 1,
        "kind": "practice",
        "title": "Evening wind-down",
        "steps": [{"key": "breathe", "text": "Breathe out slowly", "seconds": 60}],
    }
    found = uploaded(as_admin, make_zip(pack_files(notes=practice), folder="pack/"))
    preview = as_admin.get(f"/care/clinic/packs/{found.pk}/i/evening-notes/")
    assert preview.status_code == 200
    assert "Breathe out slowly" in text_of(preview)
    assert "<fieldset disabled>" not in preview.content.decode()  # no questions, no form
