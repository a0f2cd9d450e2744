from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from kap.journal import timeline
from kap.journal.models import ActionStep, CheckIn, Insight, QuestionToBring
from tests.journal.conftest import field_error, queries_for
from tests.practices.conftest import log_practice

TIMELINE = reverse("journal:timeline")


def _entries(response):
    return list(response.context["page"].object_list)


def test_it_shows_everything_i_recorded_newest_first(
    logged_in, client_user, make_session, submit, draft
):
    session = make_session(client_user, hours_ago=48)
    submit(client_user, "phq9", {f"q{i}": "several-days" for i in range(1, 10)})
    draft(client_user, "integration-worksheet", {"felt-different": "half"}, session=session)
    Insight.objects.create(
        client=client_user,
        session=session,
        text="older insight",
        created_at=timezone.now() - timedelta(hours=40),
    )
    step = ActionStep.objects.create(client=client_user, session=session, text="Walk")
    CheckIn.objects.create(step=step, status="working", note="twice")
    QuestionToBring.objects.create(client=client_user, text="Music?")

    response = logged_in.get(TIMELINE)

    assert response.status_code == 200
    entries = _entries(response)
    assert [e.when for e in entries] == sorted((e.when for e in entries), reverse=True)
    assert {e.kind for e in entries} == {"session", "response", "insight", "step", "question"}
    html = response.content.decode()
    assert "(draft)" in html
    assert "older insight" in html
    assert "twice" in html
    phq9 = next(e for e in entries if e.kind == "response" and not e.draft)
    assert phq9.score.startswith("9")
    assert f"score {phq9.score}" in html
    assert f'href="{phq9.url}"' in html


def test_a_draft_links_back_to_its_form(logged_in, client_user, make_session, draft):
    session = make_session(client_user)
    draft(client_user, "integration-worksheet", {"felt-different": "half"}, session=session)

    response = logged_in.get(TIMELINE)

    link = reverse("journal:instrument", args=["integration-worksheet"]) + f"?session={session.pk}"
    assert response.status_code == 200
    assert f'href="{link}"' in response.content.decode()


def test_search_finds_a_phrase_in_an_insight_whatever_the_case(logged_in, client_user):
    Insight.objects.create(client=client_user, text="I felt the Quiet Harbour inside")
    Insight.objects.create(client=client_user, text="something else")

    response = logged_in.get(TIMELINE, {"q": "quiet harbour"})

    assert response.status_code == 200
    assert [e.text for e in _entries(response)] == ["I felt the Quiet Harbour inside"]


def test_search_finds_a_phrase_in_a_response_answer(logged_in, client_user, submit):
    submit(client_user, "integration-worksheet", {"felt-different": "a heron standing still"})
    submit(client_user, "integration-worksheet", {"felt-different": "nothing much"})

    response = logged_in.get(TIMELINE, {"q": "HERON"})

    assert response.status_code == 200
    entries = _entries(response)
    assert [e.kind for e in entries] == ["response"]
    assert "a heron standing still" in response.content.decode()


def test_search_never_finds_another_persons_words(logged_in, client_user, stranger, submit):
    Insight.objects.create(client=stranger, text="stranger lantern phrase")
    submit(stranger, "integration-worksheet", {"felt-different": "stranger lantern phrase"})
    Insight.objects.create(client=client_user, text="my own words")

    response = logged_in.get(TIMELINE, {"q": "lantern"})

    assert response.status_code == 200
    assert _entries(response) == []
    assert "stranger lantern phrase" not in response.content.decode()
    assert "Nothing matches" in response.content.decode()


def test_another_persons_records_never_appear(logged_in, stranger, make_session):
    make_session(stranger, clinician_name="Dr Theirs")
    Insight.objects.create(client=stranger, text="their insight")

    response = logged_in.get(TIMELINE)

    assert response.status_code == 200
    assert _entries(response) == []


def test_it_filters_by_kind(logged_in, client_user, make_session):
    make_session(client_user)
    Insight.objects.create(client=client_user, text="only me")
    QuestionToBring.objects.create(client=client_user, text="not me")

    response = logged_in.get(TIMELINE, {"kind": "insight"})

    assert response.status_code == 200
    assert [(e.kind, e.text) for e in _entries(response)] == [("insight", "only me")]


def test_it_filters_by_session(logged_in, client_user, make_session, submit):
    this = make_session(client_user, hours_ago=5)
    other = make_session(client_user, hours_ago=500)
    Insight.objects.create(client=client_user, session=this, text="about this one")
    Insight.objects.create(client=client_user, session=other, text="about the other")
    submit(client_user, "integration-worksheet", {"might-do-next": "rest"}, session=this)
    submit(client_user, "integration-worksheet", {"might-do-next": "run"}, session=other)

    response = logged_in.get(TIMELINE, {"session": this.pk})

    assert response.status_code == 200
    entries = _entries(response)
    assert {e.kind for e in entries} == {"session", "insight", "response", "step"}
    assert all(e.session == this for e in entries if e.kind != "session")
    texts = {e.text for e in entries}
    assert "about this one" in texts
    assert "rest" in texts
    assert "about the other" not in texts
    assert "run" not in texts


def test_filters_and_search_combine(logged_in, client_user, make_session):
    this = make_session(client_user)
    Insight.objects.create(client=client_user, session=this, text="river one")
    Insight.objects.create(client=client_user, text="river two")
    ActionStep.objects.create(client=client_user, session=this, text="river step")

    response = logged_in.get(TIMELINE, {"session": this.pk, "kind": "insight", "q": "river"})

    assert response.status_code == 200
    assert [e.text for e in _entries(response)] == ["river one"]


def test_an_unknown_kind_is_shown_next_to_the_filter(logged_in, client_user):
    Insight.objects.create(client=client_user, text="still shown")

    response = logged_in.get(TIMELINE, {"kind": "secrets"})

    assert response.status_code == 200
    assert field_error(response, "id_kind") == "Please choose one of the kinds."
    assert [e.text for e in _entries(response)] == ["still shown"]


def test_a_strangers_session_cannot_be_used_as_a_filter(
    logged_in, client_user, stranger, make_session
):
    theirs = make_session(stranger)
    Insight.objects.create(client=stranger, session=theirs, text="their insight")

    response = logged_in.get(TIMELINE, {"session": theirs.pk})

    assert response.status_code == 200
    assert field_error(response, "id_session") == "Please choose one of your sessions."
    assert "their insight" not in response.content.decode()


def test_it_shows_fifty_entries_a_page(logged_in, client_user):
    now = timezone.now()
    Insight.objects.bulk_create(
        Insight(client=client_user, text=f"n{i}", created_at=now - timedelta(minutes=i))
        for i in range(60)
    )

    first = logged_in.get(TIMELINE)
    second = logged_in.get(TIMELINE, {"page": 2})

    assert first.status_code == 200
    assert second.status_code == 200
    assert [e.text for e in _entries(first)] == [f"n{i}" for i in range(50)]
    assert [e.text for e in _entries(second)] == [f"n{i}" for i in range(50, 60)]
    assert 'href="?page=2"' in first.content.decode()


def _fill(client, n, make_session, submit):
    for i in range(n):
        session = make_session(client, hours_ago=i + 1)
        Insight.objects.create(client=client, session=session, text=f"insight {i}")
        response = submit(
            client, "integration-worksheet", {"might-do-next": f"step {i}"}, session=session
        )
        step = response.action_steps.get()
        CheckIn.objects.create(step=step, status="working", note=f"note {i}")
        QuestionToBring.objects.create(client=client, source=response, text=f"question {i}")
        log_practice(client, minutes_ago=i * 90 + 45)


def test_the_timeline_takes_the_same_number_of_queries_for_3_or_30_of_each(
    logged_in, client_user, make_session, submit, django_assert_num_queries
):
    _fill(client_user, 3, make_session, submit)
    few = queries_for(logged_in, TIMELINE)
    few_search = queries_for(logged_in, TIMELINE + "?q=step")
    _fill(client_user, 27, make_session, submit)

    with django_assert_num_queries(few):
        assert logged_in.get(TIMELINE).status_code == 200
    with django_assert_num_queries(few_search):
        assert logged_in.get(TIMELINE + "?q=step").status_code == 200


def test_the_timeline_takes_the_same_number_of_queries_filtered_by_session_or_kind(
    logged_in, client_user, make_session, submit, django_assert_num_queries
):
    _fill(client_user, 3, make_session, submit)
    session = client_user.kap_sessions.order_by("pk").first()
    urls = [f"{TIMELINE}?session={session.pk}", f"{TIMELINE}?kind=practice"]
    few = [queries_for(logged_in, url) for url in urls]
    _fill(client_user, 27, make_session, submit)

    for url, n in zip(urls, few, strict=True):
        with django_assert_num_queries(n):
            assert logged_in.get(url).status_code == 200


def test_every_kind_is_a_registered_source_so_others_can_add_theirs():
    assert set(timeline.SOURCES) == {
        "session",
        "insight",
        "response",
        "step",
        "question",
        "practice",  # added by kap.practices when the app is ready
    }
    assert all(s.label for s in timeline.SOURCES.values())


# --- Practices ------------------------------------------------------------------------------------


def test_it_shows_a_practice_i_logged(logged_in, client_user, guide):
    log = log_practice(client_user, minutes_ago=10, elapsed_seconds=420, settled_after=8)
    Insight.objects.create(
        client=client_user, text="before it", created_at=timezone.now() - timedelta(hours=1)
    )

    response = logged_in.get(TIMELINE)

    assert response.status_code == 200
    assert [e.kind for e in _entries(response)] == ["practice", "insight"]
    html = response.content.decode()
    detail = reverse("practices:detail", args=[log.pk])
    assert f'<a href="{detail}">Grounding Before Exploration</a>' in html
    assert "7 minutes, completed; settled 3 before, 8 after (0–10)" in html


def test_a_practice_stopped_early_says_so(logged_in, client_user, guide):
    log_practice(
        client_user, elapsed_seconds=60, completed=False, settled_before=None, settled_after=None
    )

    html = logged_in.get(TIMELINE).content.decode()

    assert "1 minute, stopped early" in html
    assert "settled" not in html


def test_practices_are_a_kind_to_filter_by(logged_in, client_user, guide):
    log_practice(client_user)
    Insight.objects.create(client=client_user, text="not a practice")

    response = logged_in.get(TIMELINE, {"kind": "practice"})

    assert response.status_code == 200
    assert [e.kind for e in _entries(response)] == ["practice"]
    assert '<option value="practice" selected>Practices</option>' in response.content.decode()


def test_a_practice_is_about_no_session(logged_in, client_user, make_session, guide):
    session = make_session(client_user)
    log_practice(client_user)

    response = logged_in.get(TIMELINE, {"session": session.pk})

    assert [e.kind for e in _entries(response)] == ["session"]


def test_search_looks_only_through_my_words_not_practice_names(logged_in, client_user, guide):
    log_practice(client_user)
    Insight.objects.create(client=client_user, text="grounding felt good")

    response = logged_in.get(TIMELINE, {"q": "Grounding"})

    assert [e.kind for e in _entries(response)] == ["insight"]


def test_another_persons_practices_never_appear(logged_in, client_user, stranger, guide):
    log_practice(stranger)

    response = logged_in.get(TIMELINE)

    assert _entries(response) == []
    assert "Nothing recorded yet" in response.content.decode()


def test_each_parts_compiled_count_and_pairs_are_what_its_queryset_gives(
    client_user, stranger, make_session, submit
):
    """A person's own timeline runs each part's count and (time, pk) pairs from SQL compiled
    once per process (timeline._pairs_of). For every part, with and without a session, for a
    search, and cut at a few lengths, they are exactly what the part's queryset gives, whoever
    asks first (the stranger's records are compiled with the same SQL and never mixed in)."""
    from kap.journal import word_index

    _fill(client_user, 4, make_session, submit)
    _fill(stranger, 2, make_session, submit)
    session = client_user.kap_sessions.order_by("pk").first()
    for person in (stranger, client_user):
        for about in (None, session if person == client_user else None):
            for part in [p for s in timeline.SOURCES.values() for p in s.parts]:
                rows = timeline._newest_first(part.rows(person, about), part)
                values = (person.pk,) if about is None else (person.pk, about.pk)
                compiled = timeline._pairs_of(part, about is not None)
                assert compiled.count(*values) == rows.count()
                for stop in (1, 3, 50):
                    assert compiled.tuples(*values, limit=stop) == list(rows[:stop])
                if not part.words:
                    continue
                tokens, terms = word_index.looked_up(person.pk, "step 1")
                found = timeline._pairs_of(part, about is not None, len(tokens), terms)
                label = rows.model._meta.label_lower
                wanted = rows.filter(pk__in=word_index.holding(person.pk, label, tokens, terms))
                assert found.count(*values, *tokens) == wanted.count()
                assert found.tuples(*values, *tokens, limit=50) == list(wanted[:50])
    # The search finds something (a step, its check-in, the worksheet), so the comparison above
    # compared something.
    assert timeline.search(client_user, "step 1").count() >= 3


def test_each_parts_compiled_load_builds_the_entries_its_queryset_builds(
    client_user, stranger, make_session, submit, django_assert_num_queries
):
    """The rows of a page are loaded by SQL compiled once per process too (timeline._rows_of):
    the instances it builds (with what select_related joins, its deferred columns and its
    annotations) make the very entries the part's queryset makes, for a few pks or none, made up
    to a compiled length with pks no row has; the words left deferred come back alike; a
    stranger's pks find nothing; and each load is one query (none for a part that can have no
    row about a session)."""
    _fill(client_user, 4, make_session, submit)
    _fill(stranger, 2, make_session, submit)
    session = client_user.kap_sessions.order_by("pk").first()
    for about in (None, session):
        for part in [p for s in timeline.SOURCES.values() for p in s.parts]:
            rows = part.rows(client_user, about)
            pks = list(rows.order_by("pk").values_list("pk", flat=True))[:3]
            theirs = list(part.rows(stranger, None).values_list("pk", flat=True))[:2]
            for wanted in (pks, pks[:1], [], pks + theirs):
                mine = [pk for pk in wanted if pk in pks]
                want = [part.entry(o) for o in rows.filter(pk__in=mine or [0]).order_by("pk")]
                view = timeline.LazyTimeline(client_user, session=about)
                with django_assert_num_queries(0 if rows.query.is_empty() else 1):
                    got = sorted(view._load(part, wanted), key=lambda o: o.pk)
                with django_assert_num_queries(0):  # what the entry shows was joined
                    entries = [part.entry(o) for o in got]
                assert entries == want
                assert [o.get_deferred_fields() for o in got] == [
                    o.get_deferred_fields() for o in rows.filter(pk__in=mine or [0]).order_by("pk")
                ]
                if left := timeline._words_left(part):
                    prepared, values = view._compiled(part, wanted or [0], left)
                    expected = rows.filter(pk__in=mine or [0]).values_list("pk", *left)
                    assert sorted(prepared.tuples(*values)) == sorted(expected)
