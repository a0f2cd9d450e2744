"""The guide in Spanish (issue 19): a text-only overlay beside the English pack (es/), checked
when the pack is read, shown by the request's language with the English behind each field; the
PHQ-9 and GAD-7 kept in their published English; one history whatever the language; and each
clinic's admins told the Spanish awaits clinical review until their clinic has reviewed it."""

from __future__ import annotations

import html
import re
import shutil

import pytest
import yaml
from django.template import engines
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from kap.accounts.models import Clinic
from kap.content.loader import PackInvalid, read_pack
from kap.content.models import Instrument, Pack, Scope, TranslationReview
from kap.content.signals import translation_reviewed
from kap.content.specs import InstrumentSpec
from kap.content.sync import load_pack
from kap.content.translations import (
    INSTRUMENT_TEXT,
    PUBLISHED_ONLY,
    english_texts,
    published_only_note,
    untranslated,
)
from kap.journal.models import Response
from tests.care.conftest import verify
from tests.conftest import PACK_DIR

ES = {"HTTP_ACCEPT_LANGUAGE": "es"}
PHQ9_ZERO = {f"q{i}": "not-at-all" for i in range(1, 10)}


@pytest.fixture(autouse=True)
def _english_afterwards():
    """A request in Spanish leaves Spanish active in this thread: the next test starts in
    English, as a request with no language chosen is."""
    yield
    translation.activate("en")


def text_of(response) -> str:
    body = response.content.decode()
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def edit_yaml(path, change) -> None:
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def errors_of(folder) -> list[str]:
    with pytest.raises(PackInvalid) as exc:
        read_pack(folder)
    return [str(e) for e in exc.value.errors]


def note_in_spanish() -> str:
    with translation.override("es"):
        return published_only_note("en")


# --- The overlay is complete, and text only ------------------------------------------------------


def test_every_text_of_the_guide_has_its_spanish_but_the_published_questionnaires():
    bundle = read_pack(PACK_DIR)
    spanish = bundle.translations["es"]
    pages = {ref.slug: ref.file for ref in bundle.spec.pages}
    assert untranslated(bundle.spec, pages, bundle.instruments, spanish) == []
    assert set(spanish.bodies) == set(pages)
    published_only = {s.key for s in bundle.instruments if s.translation == PUBLISHED_ONLY}
    assert published_only == {"phq9", "gad7"}
    for spec in bundle.instruments:
        given = spanish.instruments.get(spec.key, {})
        if spec.key in published_only:
            assert set(given) == {"intro"}, spec.key  # the pack's own words about it, only
            continue
        english = english_texts(INSTRUMENT_TEXT, spec.model_dump(mode="json"))
        assert set(given) == set(english), spec.key
        # Translated, not copied: only names (a pace's numbers, a measure's "PHQ-9") may repeat.
        same = [p for p in english if given[p] == english[p]]
        assert same == [], (spec.key, same)
    assert bundle.spec.translations["es"].review == "awaiting-clinical-review"


def test_the_spanish_text_changes_no_instrument_and_no_instrument_version(pack_copy):
    with_spanish = read_pack(pack_copy)
    shutil.rmtree(pack_copy / "es")
    edit_yaml(pack_copy / "pack.yaml", lambda d: d.pop("translations"))
    without = read_pack(pack_copy)
    assert with_spanish.instrument_checksums == without.instrument_checksums
    assert [s.model_dump(mode="json") for s in with_spanish.instruments] == [
        s.model_dump(mode="json") for s in without.instruments
    ]
    assert with_spanish.checksum != without.checksum  # the pack's own version goes up


@pytest.mark.django_db
def test_adding_the_spanish_keeps_the_instruments_and_the_answers_given_to_them(
    no_content, pack_copy, tmp_path, client_user
):
    from kap.journal.services import submit_response

    english_only = tmp_path / "english-only"
    shutil.copytree(pack_copy, english_only)
    shutil.rmtree(english_only / "es")
    edit_yaml(english_only / "pack.yaml", lambda d: (d.pop("translations"), d.update(version=4)))
    load_pack(english_only)
    before = {i.key: (i.pk, i.version) for i in Instrument.objects.all()}
    phq9 = Instrument.objects.get(key="phq9")
    answered = submit_response(
        client=client_user, instrument=phq9, session=None, answers=PHQ9_ZERO
    ).response

    result = load_pack(pack_copy)

    assert result.changed and result.new_instruments == []
    assert {i.key: (i.pk, i.version) for i in Instrument.objects.all()} == before
    grounding = Instrument.objects.get(key="grounding")
    assert grounding.translations["texts"]["es"]["title"] == "Anclaje antes de explorar"
    assert Instrument.objects.get(key="phq9").translations["policy"] == PUBLISHED_ONLY
    answered.refresh_from_db()
    assert answered.instrument_id == phq9.pk
    with translation.override("es"):
        assert Instrument.objects.get(key="grounding").parsed.title == "Anclaje antes de explorar"
    # Loading it again changes nothing.
    assert not load_pack(pack_copy).changed


def test_an_overlay_may_carry_text_only_and_only_where_the_english_has_some(pack_copy):
    es = pack_copy / "es"
    edit_yaml(
        es / "instruments" / "closing-outcomes.yaml",
        lambda d: (
            d["items"][0].update(max=5),
            d["items"][1].update(key="no-such-item"),
            d["items"][2].update(help="Una ayuda que el inglés no tiene"),
            d.update(subtitle="Nada"),
            d["scoring"].update(method="sum"),
        ),
    )
    edit_yaml(
        es / "instruments" / "grounding.yaml",
        lambda d: (d["paces"][0].update(inhale=3), d["steps"].append({"key": "x", "text": "X"})),
    )
    edit_yaml(
        es / "instruments" / "gentle-awareness.yaml", lambda d: d["notings"].update(memory="R")
    )
    edit_yaml(
        es / "instruments" / "signs-you-might-benefit.yaml",
        lambda d: d["interpretations"].append({"text": "Una tercera"}),
    )
    errors = errors_of(pack_copy)
    # Every problem at once, in the order of the pack's files and their fields.
    assert errors == [
        "es/instruments/signs-you-might-benefit.yaml: interpretations.2:"
        " instruments/signs-you-might-benefit.yaml has 2 interpretation(s) here; a translation"
        " matches them in order and may not add one",
        "es/instruments/grounding.yaml: steps.3.key: instruments/grounding.yaml has no step 'x'",
        "es/instruments/grounding.yaml: paces.0.inhale: not text: a translation carries text"
        " only (inhale is as instruments/grounding.yaml has it)",
        "es/instruments/gentle-awareness.yaml: notings.memory:"
        " instruments/gentle-awareness.yaml has no noting 'memory'",
        "es/instruments/closing-outcomes.yaml: items.0.max: not text: a translation carries"
        " text only (max is as instruments/closing-outcomes.yaml has it)",
        "es/instruments/closing-outcomes.yaml: items.1.key:"
        " instruments/closing-outcomes.yaml has no item 'no-such-item'",
        "es/instruments/closing-outcomes.yaml: items.2.help:"
        " instruments/closing-outcomes.yaml has no text here to translate",
        "es/instruments/closing-outcomes.yaml: scoring.method: not text: a translation carries"
        " text only (method is as instruments/closing-outcomes.yaml has it)",
        "es/instruments/closing-outcomes.yaml: subtitle: unknown field",
    ]


def test_an_option_the_english_does_not_have_is_refused(pack_copy):
    # (A questionnaire of the pack's own, not published-only, with options to translate.)
    edit_yaml(pack_copy / "instruments" / "gad7.yaml", lambda d: d.pop("translation"))
    edit_yaml(
        pack_copy / "es" / "instruments" / "gad7.yaml",
        lambda d: d.update(
            options=[{"value": "sometimes", "label": "A veces"}, {"label": "Nunca"}],
            items=[{"key": "q8", "options": [{"value": "not-difficult", "weight": 1}]}],
        ),
    )
    assert errors_of(pack_copy) == [
        "es/instruments/gad7.yaml: options.0.value: instruments/gad7.yaml has no option"
        " 'sometimes'",
        "es/instruments/gad7.yaml: options.1.value: missing required field (it names the option"
        " this translates)",
        "es/instruments/gad7.yaml: items.0.options.0.weight: not text: a translation carries"
        " text only (weight is as instruments/gad7.yaml has it)",
    ]


def test_a_published_only_instrument_takes_no_words_of_ours_but_its_intro(pack_copy):
    edit_yaml(
        pack_copy / "es" / "instruments" / "phq9.yaml",
        lambda d: d.update(
            title="Cuestionario", items=[{"key": "q1", "text": "Poco interés"}], prompt="X"
        ),
    )
    errors = errors_of(pack_copy)
    assert len(errors) == 3
    assert all(e.startswith("es/instruments/phq9.yaml: ") for e in errors)
    assert [e.split(": ")[1] for e in errors] == ["title", "items", "prompt"]
    assert "translation: published-only" in errors[0]


def test_the_pack_overlay_names_only_what_the_pack_has(pack_copy):
    def change(d):
        d["crisis_resources"]["FR"] = {"name": "Francia"}
        d["crisis_resources"]["CA"]["resources"].append({"action": "Llame"})
        d["pages"].append({"slug": "no-such-page", "title": "Nada"})
        d["pages"][0]["file"] = "pages/otra.md"
        d["safety_rules"][0]["above"] = 1
        d["default_region"] = "MX"

    edit_yaml(pack_copy / "es" / "pack.yaml", change)
    assert errors_of(pack_copy) == [
        "es/pack.yaml: crisis_resources.CA.resources.2: pack.yaml has 2 crisis resource(s)"
        " here; a translation matches them in order and may not add one",
        "es/pack.yaml: crisis_resources.FR: pack.yaml has no region 'FR'",
        "es/pack.yaml: pages.0.file: not text: a translation carries text only (file is as"
        " pack.yaml has it)",
        "es/pack.yaml: pages.12.slug: pack.yaml has no page 'no-such-page'",
        "es/pack.yaml: safety_rules.0.above: not text: a translation carries text only (above"
        " is as pack.yaml has it)",
        "es/pack.yaml: default_region: not text: a translation carries text only"
        " (default_region is as pack.yaml has it)",
    ]


def test_a_translated_page_places_the_same_instruments_and_a_stray_file_is_refused(pack_copy):
    page = pack_copy / "es" / "pages" / "05-nervous-system-regulation.md"
    page.write_text(page.read_text().replace("[[instrument grounding]]", ""))
    (pack_copy / "es" / "instruments" / "sleep.yaml").write_text("title: Sueño\n")
    (pack_copy / "es" / "notes.md").write_text("Notas\n")
    errors = errors_of(pack_copy)
    assert errors == [
        "es/pages/05-nervous-system-regulation.md: a translated page places the same"
        " instruments as the English, in the same order: [[instrument grounding]],"
        " [[instrument intention-setting]], [[instrument gentle-awareness]] in"
        " pages/05-nervous-system-regulation.md, [[instrument intention-setting]],"
        " [[instrument gentle-awareness]] here",
        "es/instruments/sleep.yaml: translates no file of the pack (a translation mirrors one:"
        " es/pack.yaml, a page or an instrument file, at the same place)",
        "es/notes.md: translates no file of the pack (a translation mirrors one: es/pack.yaml,"
        " a page or an instrument file, at the same place)",
    ]


def test_a_translation_named_in_pack_yaml_needs_its_folder(pack_copy):
    shutil.rmtree(pack_copy / "es")
    assert errors_of(pack_copy) == ["pack.yaml: translations.es: no folder es/ beside pack.yaml"]
    edit_yaml(pack_copy / "pack.yaml", lambda d: d.update(translations={"en": {}}))
    assert errors_of(pack_copy) == ["pack.yaml: translations: the pack is written in 'en' already"]


def test_an_english_file_that_fails_is_reported_once_not_again_for_its_translation(pack_copy):
    edit_yaml(pack_copy / "instruments" / "grounding.yaml", lambda d: d.update(kind="quiz"))
    (pack_copy / "pages" / "10-books-and-apps.md").unlink()
    assert errors_of(pack_copy) == [
        "instruments/grounding.yaml: kind: unknown kind 'quiz' (expected one of checklist,"
        " reflection, scale, questionnaire, worksheet, practice)",
        "pack.yaml: pages.9.file: Markdown page pages/10-books-and-apps.md does not exist",
    ]


def test_a_missing_spanish_text_falls_back_to_the_english_field_by_field(pack_copy):
    edit_yaml(
        pack_copy / "es" / "instruments" / "build-support.yaml",
        lambda d: (d.pop("title"), d["items"][0].pop("help")),
    )
    bundle = read_pack(pack_copy)
    pages = {ref.slug: ref.file for ref in bundle.spec.pages}
    assert untranslated(bundle.spec, pages, bundle.instruments, bundle.translations["es"]) == [
        "build-support: title",
        "build-support: items.ongoing-therapy.help",
    ]


# --- What a person reads ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_guide_page_reads_in_spanish_for_a_spanish_browser_and_in_english_otherwise(
    client, guide
):
    spanish = text_of(client.get("/guide/understanding-kap/", **ES))
    assert "Comprender la psicoterapia asistida con ketamina" in spanish
    assert "La psicoterapia asistida con ketamina (KAP, por sus siglas en inglés)" in spanish
    assert "Cómo la ketamina apoya el cambio →" in spanish  # the next page, by its Spanish title
    assert "Understanding Ketamine-Assisted Psychotherapy" not in spanish

    english = text_of(client.get("/guide/understanding-kap/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "Understanding Ketamine-Assisted Psychotherapy" in english
    assert "Comprender" not in english


@pytest.mark.django_db
def test_the_guide_index_and_its_instruments_read_in_spanish(client, guide):
    index = text_of(client.get("/guide/", **ES))
    assert "Guía de recursos de psicoterapia asistida con ketamina" in index
    assert "Notar el cambio con el tiempo" in index
    page = client.get("/guide/nervous-system-regulation/", **ES).content.decode()
    assert "Anclaje antes de explorar" in page
    assert "Respire de forma lenta y constante" in page
    assert "Take slow, steady breaths" not in page


@pytest.mark.django_db
def test_an_instrument_form_reads_in_spanish(logged_in):
    body = logged_in.get(reverse("journal:instrument", args=["self-assessment"]), **ES)
    text = text_of(body)
    assert "Reflexión de autoevaluación" in text
    assert "¿Qué ha intentado ya para cambiarlos?" in text
    assert "What have you already tried to change them?" not in text
    # The same keys: the fields are named as in English.
    assert 'name="already-tried"' in body.content.decode()


@pytest.mark.django_db
def test_the_phq9_in_spanish_keeps_its_published_english_with_a_note(logged_in, client):
    body = logged_in.get(reverse("journal:instrument", args=["phq9"]), **ES).content.decode()
    text = html.unescape(body)
    assert "Little interest or pleasure in doing things" in text
    assert "Not at all" in text and "Nearly every day" in text
    assert "Over the last 2 weeks, how often have you been bothered" in text
    assert "El PHQ-9 es un cuestionario muy utilizado" in text  # our own words about it
    assert note_in_spanish() in text
    assert text.index(note_in_spanish()) < text.index("Little interest or pleasure")
    assert "Spitzer" in text  # its attribution stays

    # On the guide page, its own words are marked as English for a screen reader.
    guide_page = client.get("/guide/noticing-change/", **ES).content.decode()
    assert re.search(r'<li lang="en"|<ul class="guide-list" lang="en">', guide_page)
    assert '<h3 id="instrument-phq9-title" lang="en">' in guide_page or (
        '<h2 id="instrument-phq9-title" lang="en">' in guide_page
    )
    assert note_in_spanish() in html.unescape(guide_page)


@pytest.mark.django_db
def test_in_english_nothing_of_the_spanish_or_the_note_shows(logged_in):
    body = html.unescape(
        logged_in.get(reverse("journal:instrument", args=["phq9"])).content.decode()
    )
    with translation.override("en"):
        note = published_only_note("en")
    assert note not in body
    assert "El PHQ-9" not in body
    spec = Instrument.objects.current().get(key="phq9").parsed
    assert spec.text_language == ""


@pytest.mark.django_db
def test_the_shown_spec_keeps_every_key_value_weight_and_score(guide):
    for instrument in Instrument.objects.current().filter(pack=guide):
        english = instrument.parsed
        with translation.override("es"):
            spanish = instrument.parsed
        assert isinstance(spanish, InstrumentSpec)
        assert _shape(spanish) == _shape(english), instrument.key
        assert spanish.original is instrument.source_spec


def _shape(spec: InstrumentSpec) -> dict:
    return _without_text(spec.model_dump(mode="json", exclude={"title", "intro", "prompt"}))


def _without_text(value):
    """The data with every text field blanked: what is left is keys, values and numbers."""
    text_fields = {"text", "help", "label", "min_label", "max_label", "name", "action"}
    if isinstance(value, dict):
        return {k: ("" if k in text_fields else _without_text(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_text(v) for v in value]
    return value


@pytest.mark.django_db
def test_one_history_whatever_the_language(logged_in, client_user):
    url = reverse("journal:instrument", args=["closing-outcomes"])
    answers = {
        "openness-and-flexibility": "4",
        "less-heaviness": "5",
        "clarity-and-perspective": "6",
        "self-compassion": "7",
        "renewed-possibility": "8",
    }
    assert logged_in.post(url, answers, **ES).status_code == 302
    assert logged_in.post(url, {**answers, "self-compassion": "2"}).status_code == 302
    responses = Response.objects.filter(client=client_user).order_by("pk")
    assert [r.instrument_id for r in responses] == [responses[0].instrument_id] * 2
    assert [r.score_total for r in responses] == [6.0, 5.0]
    # Both in one list, read in either language.
    page = text_of(logged_in.get(url, **ES))
    assert "Los cambios que espera" in page
    assert page.count(responses[0].submitted_at.strftime("%Y")) >= 2


@pytest.mark.django_db
def test_a_phq9_filled_in_in_spanish_is_the_same_series_and_scored_the_same(logged_in, client_user):
    url = reverse("journal:instrument", args=["phq9"])
    assert logged_in.post(url, {**PHQ9_ZERO, "q1": "several-days"}, **ES).status_code == 302
    assert logged_in.post(url, {**PHQ9_ZERO, "q2": "nearly-every-day"}).status_code == 302
    stored = Response.objects.filter(client=client_user).order_by("pk")
    assert {(r.instrument.key, r.instrument.version) for r in stored} == {("phq9", 1)}
    assert [(r.score_total, r.score_band) for r in stored] == [(1, "Minimal"), (3, "Minimal")]


@pytest.mark.django_db
def test_spanish_crisis_resources_come_first_in_the_spanish_interface(client, guide):
    spanish = text_of(client.get("/crisis/", **ES))
    first_us = spanish.index("Estados Unidos")
    assert spanish.index("988 Lifeline en español", first_us) < spanish.index(
        "Línea 988 de Prevención del Suicidio y Crisis", first_us
    )
    assert spanish.index("Crisis Text Line en español", first_us) < spanish.index(
        "Llame al 911", first_us
    )
    assert "KAP Companion no se supervisa en tiempo real" in spanish

    english = text_of(client.get("/crisis/", HTTP_ACCEPT_LANGUAGE="en"))
    assert english.index("988 Suicide & Crisis Lifeline") < english.index("en español")
    assert "United States" in english and "Estados Unidos" not in english


@pytest.mark.django_db
def test_a_crisis_resource_left_in_english_is_marked_as_english(guide):
    from kap.content.crisis import regions_for

    with translation.override("es"):
        regions = dict(regions_for(guide.parsed, "GB"))
    assert regions["GB"].name == "Reino Unido" and regions["GB"].language is None
    assert [r.language for r in regions["US"].resources][:2] == ["es", "es"]
    with translation.override("es"):
        spec = guide.parsed
    assert spec.safety_rules[0].message.startswith("Usted nos dijo")
    assert spec.crisis_resources["MX"].language == "es"


@pytest.mark.django_db
def test_an_untranslated_pack_is_marked_as_english_in_spanish(guide):
    bare = Pack.objects.create(
        key="bare",
        title="Bare",
        version=1,
        language="en",
        spec={**guide.spec, "key": "bare", "translations": {}},
        checksum="b" * 64,
    )
    with translation.override("es"):
        spec = bare.parsed
    assert spec.crisis_resources["US"].language == "en"
    assert spec.crisis_resources["US"].resources[0].language == "en"


@pytest.mark.django_db
def test_instrument_titles_read_in_spanish_wherever_the_row_is_shown(guide):
    row = Instrument.objects.current().get(key="grounding")
    assert row.title == "Grounding Before Exploration"
    with translation.override("es"):
        assert row.title == "Anclaje antes de explorar"
        assert Instrument.objects.filter(title="Grounding Before Exploration").exists()
        row.save()  # saving never writes the shown title
    assert Instrument.objects.get(pk=row.pk).title == "Grounding Before Exploration"
    with translation.override("es"):
        assert Instrument.objects.current().get(key="phq9").title == (
            "Patient Health Questionnaire (PHQ-9)"
        )


@pytest.mark.django_db
def test_practice_notings_and_paces_have_their_spanish(guide):
    with translation.override("es"):
        awareness = Instrument.objects.current().get(key="gentle-awareness").parsed
        grounding = Instrument.objects.current().get(key="grounding").parsed
    assert awareness.notings == ["thought", "emotion", "sensation"]  # what is stored
    assert awareness.noting_labels == [
        ("thought", "Pensamiento"),
        ("emotion", "Emoción"),
        ("sensation", "Sensación"),
    ]
    assert [p.key for p in grounding.paces] == ["calm", "box", "gentle"]
    assert grounding.paces[0].label == "Calma (4 al inhalar, 6 al exhalar)"
    assert grounding.paces[0].inhale == 4


# --- Clinical review, per clinic ---------------------------------------------------------------------


@pytest.fixture
def lakeside(db):
    return Clinic.objects.create(name="Lakeside Clinic")


@pytest.fixture
def harbour(db):
    return Clinic.objects.create(name="Harbour Clinic")


def review_note(user) -> str:
    request = RequestFactory().get("/care/clinic/")
    request.user = user
    template = engines["django"].from_string('{% include "content/translation_review.html" %}')
    return html.unescape(re.sub(r"\s+", " ", template.render({"user": user}, request)))


@pytest.mark.django_db
def test_a_clinic_admin_sees_the_spanish_awaits_review_and_no_one_else_does(
    make_user, lakeside, guide, client_user
):
    admin = make_user("admin@example.com", role="admin", clinic=lakeside, display_name="Pat")
    therapist = make_user("lee@example.com", role="therapist", clinic=lakeside)
    note = review_note(admin)
    assert "The Spanish translation of “Ketamine-Assisted Psychotherapy Resource Guide”" in note
    assert "is awaiting clinical review" in note
    assert f'name="digest" value="{guide.translations["es"]["digest"]}"' in note
    assert 'action="/care/translations/review/"' in note
    assert review_note(therapist).strip() == ""
    assert review_note(client_user).strip() == ""


@pytest.mark.django_db
def test_marking_it_reviewed_is_for_that_clinic_only_and_leaves_a_quiet_line(
    client, make_user, lakeside, harbour, guide
):
    admin = make_user("admin@example.com", role="admin", clinic=lakeside, display_name="Pat")
    other = make_user("other@example.com", role="admin", clinic=harbour)
    heard = []

    def listen(sender, review, request, **kwargs):
        heard.append((review.pack_key, review.language, request.user))

    translation_reviewed.connect(listen)
    try:
        verify(client, admin)
        response = client.post(
            reverse("translation-review"),
            {"pack": guide.pk, "language": "es", "digest": guide.translations["es"]["digest"]},
        )
    finally:
        translation_reviewed.disconnect(listen)
    assert response.status_code == 302
    review = TranslationReview.objects.get()
    assert (review.clinic, review.pack_key, review.pack_version, review.language) == (
        lakeside,
        "kap-guide",
        guide.version,
        "es",
    )
    assert review.reviewed_by == admin
    assert heard == [("kap-guide", "es", admin)]  # for the audit trail (kap.care)
    from kap.care.models import AuditEntry

    (entry,) = AuditEntry.objects.filter(action="review")
    assert (
        entry.actor == admin and entry.what == f"es translation of pack kap-guide v{guide.version}"
    )

    note = review_note(admin)
    assert "awaiting" not in note
    assert "was reviewed for your clinic by Pat on" in note
    assert "awaiting clinical review" in review_note(other)  # another clinic has not


@pytest.mark.django_db
def test_a_new_version_with_changed_spanish_needs_review_again(
    make_user, lakeside, guide, pack_copy
):
    admin = make_user("admin@example.com", role="admin", clinic=lakeside)
    TranslationReview.objects.create(
        clinic=lakeside,
        pack_key=guide.key,
        pack_version=guide.version,
        language="es",
        digest=guide.translations["es"]["digest"],
        reviewed_by=admin,
    )
    assert "awaiting" not in review_note(admin)

    # A new version whose Spanish is the same: still reviewed.
    edit_yaml(pack_copy / "pack.yaml", lambda d: d.update(version=d["version"] + 1))
    page = pack_copy / "pages" / "09-getting-the-most.md"
    page.write_text(page.read_text() + "\n")
    load_pack(pack_copy)
    assert "awaiting" not in review_note(admin)

    # And one whose Spanish changed: awaiting again.
    edit_yaml(pack_copy / "pack.yaml", lambda d: d.update(version=d["version"] + 1))
    edit_yaml(
        pack_copy / "es" / "instruments" / "grounding.yaml",
        lambda d: d.update(intro="Esto crea estabilidad antes de una experiencia más profunda."),
    )
    load_pack(pack_copy)
    assert "is awaiting clinical review" in review_note(admin)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["therapist", "client"])
def test_therapists_and_clients_cannot_mark_it_reviewed(client, make_user, lakeside, guide, role):
    person = make_user("p@example.com", role=role, clinic=lakeside if role != "client" else None)
    (verify(client, person) if role != "client" else client.force_login(person))
    response = client.post(
        reverse("translation-review"),
        {"pack": guide.pk, "language": "es", "digest": guide.translations["es"]["digest"]},
    )
    assert response.status_code == 404
    assert not TranslationReview.objects.exists()


@pytest.mark.django_db
def test_an_admin_cannot_review_another_clinics_pack_nor_a_changed_text(
    client, make_user, lakeside, harbour, guide
):
    admin = make_user("admin@example.com", role="admin", clinic=lakeside)
    theirs = Pack.objects.create(
        scope=Scope.CLINIC,
        clinic=harbour,
        key="harbour-guide",
        title="Harbour",
        version=1,
        language="en",
        spec=guide.spec,
        checksum="c" * 64,
        translations=guide.translations,
    )
    verify(client, admin)
    url = reverse("translation-review")
    digest = guide.translations["es"]["digest"]
    assert (
        client.post(url, {"pack": theirs.pk, "language": "es", "digest": digest}).status_code == 404
    )
    assert (
        client.post(url, {"pack": guide.pk, "language": "fr", "digest": digest}).status_code == 404
    )
    stale = client.post(url, {"pack": guide.pk, "language": "es", "digest": "0" * 64})
    assert stale.status_code == 302
    assert not TranslationReview.objects.exists()
    assert client.get(url).status_code == 405
