"""The blind index behind the timeline search (kap.journal.word_index).

A search finds a person's records by keyed hashes of their words, in SQL, and decrypts only the
rows of the page shown; the index holds no text, differs from person to person, follows every
edit, delete, import and erasure, and is rebuilt by `kap search reindex` under a new secret key.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from kap.exports.erasure import erase_client
from kap.exports.json_import import import_json
from kap.journal import timeline, word_index
from kap.journal.models import Insight, Searchable, WordIndex
from tests.data.conftest import ALEX_PHRASE, download_json
from tests.data.people import build_person
from tests.journal.conftest import queries_for

TIMELINE = reverse("journal:timeline")


def found(user, query: str, **filters) -> list[str]:
    """The texts of every entry a search finds, newest first."""
    return [e.text for e in timeline.search(user, query, **filters)[:]]


def rows_of(obj) -> set[str]:
    kind = obj._meta.label_lower
    return set(
        WordIndex.objects.filter(kind=kind, object_id=obj.pk).values_list("token", flat=True)
    )


def stored_cells(needle: str) -> list[str]:
    """Tables with a cell holding `needle` (case-insensitively), read as stored: raw SQL."""
    qn, low, hits = connection.ops.quote_name, needle.lower(), []
    with connection.cursor() as cur:
        for table in connection.introspection.table_names(cur):
            cur.execute(f"SELECT * FROM {qn(table)}")
            if any(low in str(v).lower() for row in cur.fetchall() for v in row):
                hits.append(table)
    return hits


@pytest.fixture
def decrypts(monkeypatch):
    """How many values were decrypted (every encrypted field reads through this one function)."""
    import kap.lib.fields

    calls = []
    real = kap.lib.fields.decrypt

    def counting(value):
        calls.append(value)
        return real(value)

    monkeypatch.setattr(kap.lib.fields, "decrypt", counting)
    return calls


# --- Finding ----------------------------------------------------------------------------------------


def test_a_saved_insight_is_found_by_a_word_and_by_the_start_of_one(client_user):
    Insight.objects.create(client=client_user, text="I felt Anxious by the quiet harbour")
    Insight.objects.create(client=client_user, text="something else entirely")

    assert found(client_user, "anxious") == ["I felt Anxious by the quiet harbour"]
    assert found(client_user, "ANX") == ["I felt Anxious by the quiet harbour"]
    assert found(client_user, "harbour quiet") == ["I felt Anxious by the quiet harbour"]
    # Every word of the query must be found (in any order).
    assert found(client_user, "harbour ocean") == []
    # The middle of a word is no longer found: the index holds words and their beginnings only.
    assert found(client_user, "xiou") == []
    # A query with no word of two characters or more finds nothing (rather than everything).
    assert found(client_user, "I") == []


def test_the_timeline_page_shows_the_match_and_the_words_around_it(logged_in, client_user):
    Insight.objects.create(client=client_user, text="The heron stood still. Then the river moved.")

    response = logged_in.get(TIMELINE, {"q": "river her"})

    assert response.status_code == 200
    assert [e.kind for e in response.context["page"].object_list] == ["insight"]
    assert '<p class="excerpt">The heron stood still. Then the river moved.</p>' in (
        response.content.decode()
    )


def test_a_worksheet_answer_is_found_but_not_the_choices_of_a_questionnaire(client_user, submit):
    submit(client_user, "integration-worksheet", {"felt-different": "a Heron standing still"})
    submit(client_user, "phq9", {f"q{i}": "several-days" for i in range(1, 10)})

    assert [e.kind for e in timeline.search(client_user, "heron")[:]] == ["response"]
    # PHQ-9's answers are choices, not the person's words: never indexed.
    assert found(client_user, "several") == []


def test_the_steps_and_questions_a_worksheet_makes_are_found(client_user, submit):
    submit(client_user, "integration-worksheet", {"might-do-next": "walk by the canal"})

    kinds = sorted(e.kind for e in timeline.search(client_user, "canal")[:])

    assert kinds == ["response", "step"]


def test_a_draft_is_found_and_each_autosave_replaces_its_words(client_user, draft):
    from kap.journal.services import save_draft

    first = draft(client_user, "integration-worksheet", {"felt-different": "marigold"})
    assert [e.kind for e in timeline.search(client_user, "marigold")[:]] == ["response"]

    save_draft(
        client=client_user,
        instrument=first.instrument,
        session=None,
        answers={"felt-different": "sunflower"},
        base_version=first.version,
    )

    assert found(client_user, "marigold") == []
    assert [e.draft for e in timeline.search(client_user, "sunflower")[:]] == [True]
    assert rows_of(first) == word_index.tokens(client_user.pk, ["sunflower"])


def test_editing_replaces_the_tokens_and_deleting_removes_them(logged_in, client_user):
    insight = Insight.objects.create(client=client_user, text="harbour lights")
    before = rows_of(insight)
    assert before == word_index.tokens(client_user.pk, ["harbour lights"])

    response = logged_in.post(
        reverse("journal:insight-edit", args=[insight.pk]), {"text": "river stones"}
    )
    assert response.status_code == 302

    assert rows_of(insight) == word_index.tokens(client_user.pk, ["river stones"])
    assert found(client_user, "harbour") == []
    assert found(client_user, "stones") == ["river stones"]

    response = logged_in.post(reverse("journal:insight-delete", args=[insight.pk]))
    assert response.status_code == 302
    assert not Insight.objects.filter(pk=insight.pk).exists()
    assert rows_of(insight) == set()
    assert not WordIndex.objects.filter(client=client_user).exists()


def test_a_save_that_changes_no_words_writes_no_index_row(client_user, django_assert_num_queries):
    from kap.journal.models import ActionStep

    step = ActionStep.objects.create(client=client_user, text="walk")
    step.status = ActionStep.Status.DONE

    # The UPDATE of the status, and of the person's change stamp (kap.journal.stamps): no index row.
    with django_assert_num_queries(2) as done:
        step.save(update_fields=["status"])
    assert not [q for q in done.captured_queries if "wordindex" in q["sql"]]
    assert found(client_user, "walk") == ["walk"]


# --- What the index reveals ---------------------------------------------------------------------


def test_another_persons_identical_word_never_matches(client_user, stranger):
    mine = Insight.objects.create(client=client_user, text="lantern")
    theirs = Insight.objects.create(client=stranger, text="lantern")

    # The same word gives other tokens for another person: nothing links the two records.
    assert rows_of(mine) and rows_of(theirs)
    assert rows_of(mine).isdisjoint(rows_of(theirs))
    assert [e.url for e in timeline.search(client_user, "lantern")[:]] == [
        reverse("journal:insight-edit", args=[mine.pk])
    ]
    assert [e.url for e in timeline.search(stranger, "lantern")[:]] == [
        reverse("journal:insight-edit", args=[theirs.pk])
    ]


def test_the_index_holds_no_plaintext(client_user):
    canary = "Zephyrquill"
    Insight.objects.create(client=client_user, text=f"{canary} at dawn")

    assert found(client_user, canary) == [f"{canary} at dawn"]
    # Neither the word nor any of the beginnings the index covers is stored anywhere.
    for term in ("zephyrquill", "zephyrqu", "zep"):
        assert stored_cells(term) == [], term
    assert WordIndex.objects.filter(client=client_user).count() == len(
        word_index.terms([f"{canary} at dawn"])
    )


# --- Cost -----------------------------------------------------------------------------------------


def _insights(client, n: int, text: str, *, start: int = 0) -> None:
    now = timezone.now()
    for i in range(start, start + n):
        Insight.objects.create(
            client=client, text=f"{text} {i}", created_at=now - timedelta(minutes=i)
        )


def test_a_search_decrypts_only_the_rows_it_shows(client_user, decrypts):
    _insights(client_user, 30, "lantern")
    _insights(client_user, 30, "other words", start=30)
    decrypts.clear()

    result = timeline.search(client_user, "lantern")
    assert len(result) == 30
    assert decrypts == []  # counted in SQL

    page = result[10:15]

    assert [e.text for e in page] == [f"lantern {i}" for i in range(10, 15)]
    assert len(decrypts) == 5


def test_the_search_page_decrypts_one_page_of_matches(logged_in, client_user, decrypts):
    _insights(client_user, 60, "lantern")
    _insights(client_user, 40, "other words", start=60)
    decrypts.clear()

    response = logged_in.get(TIMELINE, {"q": "lantern"})

    assert response.status_code == 200
    assert response.context["page"].paginator.count == 60
    assert len(response.context["page"].object_list) == 50
    assert len(decrypts) == 50


def test_a_search_takes_the_same_number_of_queries_as_records_grow(
    logged_in, client_user, submit, django_assert_num_queries
):
    _insights(client_user, 3, "lantern")
    submit(client_user, "integration-worksheet", {"felt-different": "lantern light"})
    few = queries_for(logged_in, TIMELINE + "?q=lantern")
    _insights(client_user, 120, "lantern", start=3)
    _insights(client_user, 50, "other words", start=123)
    for _ in range(10):
        submit(client_user, "integration-worksheet", {"felt-different": "lantern light"})

    with django_assert_num_queries(few):
        assert logged_in.get(TIMELINE + "?q=lantern").status_code == 200
    with django_assert_num_queries(few):
        assert logged_in.get(TIMELINE + "?q=lantern&page=3").status_code == 200


# --- Import, erasure, rebuilding ----------------------------------------------------------------


def test_an_imported_export_is_found(client, client_user, make_user, guide):
    build_person(client_user, ALEX_PHRASE)
    client.force_login(client_user)
    raw = json.dumps(download_json(client)).encode()
    newcomer = make_user("newcomer@example.com")

    import_json(user=newcomer, raw=raw)

    kinds = {e.kind for e in timeline.search(newcomer, ALEX_PHRASE)[:]}
    assert {"session", "insight", "response", "step", "question"} <= kinds
    assert kinds == {e.kind for e in timeline.search(client_user, ALEX_PHRASE)[:]}
    # Indexed as the newcomer's own: another person's tokens.
    assert WordIndex.objects.filter(client=newcomer).exists()
    mine = set(WordIndex.objects.filter(client=client_user).values_list("token", flat=True))
    theirs = set(WordIndex.objects.filter(client=newcomer).values_list("token", flat=True))
    assert mine.isdisjoint(theirs)


def test_erasure_leaves_no_index_row(client_user, guide):
    build_person(client_user, ALEX_PHRASE)
    pk = client_user.pk
    assert WordIndex.objects.filter(client_id=pk).exists()

    erase_client(client_user)

    assert not WordIndex.objects.filter(client_id=pk).exists()
    assert not WordIndex.objects.exists()


def test_reindex_rebuilds_the_index_after_the_secret_key_changes(
    client_user, stranger, settings, submit
):
    Insight.objects.create(client=client_user, text="quiet harbour")
    submit(stranger, "integration-worksheet", {"felt-different": "quiet meadow"})
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = []

    # The old tokens mean nothing under the new key ...
    assert found(client_user, "harbour") == []
    # ... unless the old key is kept as a fallback meanwhile.
    settings.SECRET_KEY_FALLBACKS = [old]
    assert found(client_user, "harbour") == ["quiet harbour"]
    settings.SECRET_KEY_FALLBACKS = []

    out = io.StringIO()
    call_command("search_reindex", stdout=out)

    assert "Rebuilt the search index: 2 people" in out.getvalue()
    assert found(client_user, "harbour") == ["quiet harbour"]
    assert [e.kind for e in timeline.search(stranger, "meadow")[:]] == ["response"]
    assert not WordIndex.objects.filter(
        token__in=word_index.tokens(client_user.pk, ["quiet harbour"], secret=old)
    ).exists()


def test_setup_builds_the_index_when_records_exist_without_it(client_user, guide):
    Insight.objects.bulk_create([Insight(client=client_user, text="written before the index")])
    assert word_index.needs_building()

    call_command("kap_setup", "--no-setup-code", stdout=io.StringIO())

    assert not word_index.needs_building()
    assert found(client_user, "before index") == ["written before the index"]


# --- One list -------------------------------------------------------------------------------------


def test_every_part_with_words_is_covered_by_the_index(client_user):
    parts = [p for s in timeline.SOURCES.values() for p in s.parts if p.words]
    covered = {}
    for part in parts:
        model = part.rows(client_user, None).model
        assert model in word_index.INDEXED, model
        covered[model] = part.words
    assert covered == {m: i.columns for m, i in word_index.INDEXED.items()}
    # Each indexed model saves in a transaction, so its index rows commit with it.
    assert all(issubclass(m, Searchable) for m in word_index.INDEXED)


def test_a_row_updated_in_sql_is_refreshed_by_hand(client_user):
    insight = Insight.objects.create(client=client_user, text="harbour")
    Insight.objects.filter(pk=insight.pk).update(text="meadow")  # no post_save
    insight.refresh_from_db()

    word_index.refresh(insight)

    assert found(client_user, "harbour") == []
    assert found(client_user, "meadow") == ["meadow"]


def test_kap_search_reindex_runs_from_the_command_line(client_user, capsys):
    from kap.cli import main

    Insight.objects.bulk_create([Insight(client=client_user, text="bulk written")])
    assert found(client_user, "bulk") == []

    assert main(["search", "reindex"]) == 0

    assert "Rebuilt the search index: 1 person," in capsys.readouterr().out
    assert found(client_user, "bulk") == ["bulk written"]
