"""Today's caches: what the rules read (kap.journal.today.kept_for, in CACHES) and the page as
rendered (kap.journal.today.PAGES, in the process's memory only). Keyed on the person's change
stamp (kap.journal.stamps), so a change shows on the very next request; never shared between
people; bounded in time; CACHES holds none of the words a person wrote."""

import pickle
import re
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kap.accounts.models import User
from kap.content.roles import roles_for
from kap.journal import today
from kap.journal.models import ActionStep, KapSession, QuestionToBring
from kap.journal.records import check_in, toggle_asked

CANARY = "ZEBRA-QUARTZ"
PHQ9 = {f"q{i}": "not-at-all" for i in range(1, 10)}


@pytest.fixture(autouse=True)
def cached(settings):
    settings.TODAY_CACHE_SECONDS = 300  # (off in the other tests: tests/pytest_env.py)
    cache.clear()
    today.PAGES.clear()
    yield
    cache.clear()
    today.PAGES.clear()


def get(client) -> tuple[str, int]:
    """Today's page (without its per-render CSRF tokens) and the queries it took."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == 200
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())
    return body, len(queries)


def stamp(user) -> int:
    return User.objects.values_list("journal_stamp", flat=True).get(pk=user.pk)


def autosave(user, draft) -> None:
    """The page's next autosave of `draft`, at the version it shows."""
    from kap.journal.services import save_draft

    save_draft(
        client=user,
        instrument=draft.instrument,
        session=None,
        answers={"insight": "more words"},
        base_version=draft.version,
    )


def full_life(user, make_session):
    """Something of every kind Today reads."""
    make_session(user, hours_ago=-48, status="planned", clinician_name="Dr Rivera")
    make_session(user, hours_ago=5, status="completed", notes=f"notes {CANARY}")
    step = ActionStep.objects.create(client=user, text=f"walk {CANARY}")
    ActionStep.objects.filter(pk=step.pk).update(created_at=timezone.now() - timedelta(days=4))
    QuestionToBring.objects.create(client=user, text=f"Can I bring music? {CANARY}")


@pytest.mark.django_db
def test_a_second_request_reads_less_and_shows_the_same(
    logged_in, client_user, make_session, draft, django_assert_max_num_queries
):
    full_life(client_user, make_session)
    draft(client_user, "capture-insights", {})
    first, fresh = get(logged_in)
    assert "Dr Rivera" in first and "5 hours since your session" in first
    assert "You have 1 step you are working on" in first
    assert f"Can I bring music? {CANARY}" in first
    assert "Continue where you left off" in first
    with django_assert_max_num_queries(fresh - 5):
        again, _ = get(logged_in)
    assert again == first


@pytest.mark.django_db
def test_a_new_person_reads_less_the_second_time_too(logged_in, django_assert_max_num_queries):
    first, fresh = get(logged_in)
    assert "Prepare for your first session" in first
    with django_assert_max_num_queries(fresh - 4):
        assert get(logged_in)[0] == first


@pytest.mark.django_db
def test_each_change_that_matters_shows_on_the_next_request(
    logged_in, client_user, make_session, submit, draft
):
    def after(change) -> str:
        before = stamp(client_user)
        get(logged_in)  # cached now
        change()
        assert stamp(client_user) > before
        return get(logged_in)[0]

    assert "PHQ-9 check-in" in get(logged_in)[0]
    phq9 = []
    body = after(lambda: phq9.append(submit(client_user, "phq9", PHQ9)))
    assert "PHQ-9 check-in" not in body
    assert "PHQ-9 check-in" in after(phq9[0].delete)

    planned = make_session(client_user, hours_ago=-48, status="planned", clinician_name="Dr Okafor")
    assert "Dr Okafor" in get(logged_in)[0]

    def completed():
        planned.starts_at, planned.status = timezone.now() - timedelta(hours=3), "completed"
        planned.save()

    body = after(completed)
    assert "Dr Okafor" not in body and "3 hours since your session" in body

    step = ActionStep.objects.create(client=client_user, text="call my sister")
    ActionStep.objects.filter(pk=step.pk).update(created_at=timezone.now() - timedelta(days=4))
    body = after(lambda: ActionStep.objects.create(client=client_user, text="stretch"))
    assert "You have 2 steps you are working on" in body
    body = after(lambda: check_in(step=step, status="done"))
    assert "Check in on your action steps" not in body

    questions = []
    body = after(
        lambda: questions.append(QuestionToBring.objects.create(client=client_user, text="Music?"))
    )
    assert "Music?" in body
    assert "Music?" not in after(lambda: toggle_asked(question=questions[0]))


@pytest.mark.django_db
def test_a_draft_started_shows_at_once_and_an_autosave_leaves_the_stamp_alone(
    logged_in, client_user, draft
):
    assert "Continue where you left off" not in get(logged_in)[0]  # kept now
    before = stamp(client_user)
    started = draft(client_user, "capture-insights", {})
    assert stamp(client_user) > before
    assert "Continue where you left off" in get(logged_in)[0]
    before = stamp(client_user)
    autosave(client_user, started)
    assert stamp(client_user) == before  # the hottest write leaves the person's row alone
    assert "Continue where you left off" in get(logged_in)[0]
    started.delete()
    assert stamp(client_user) > before
    assert "Continue where you left off" not in get(logged_in)[0]


@pytest.mark.django_db
def test_the_page_is_kept_for_the_minute_and_a_draft_shows_its_time_to_the_minute(
    logged_in, client_user, draft, monkeypatch, django_assert_max_num_queries
):
    minute = 60 * (int(timezone.now().timestamp()) // 60 + 1)
    moment = datetime.fromtimestamp(minute + 5, tz=timezone.UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    started = draft(client_user, "capture-insights", {})
    first, fresh = get(logged_in)
    shown = timezone.localtime(moment).strftime("%H:%M")
    assert f"draft saved {timezone.localtime(moment).day}" in first and shown in first
    with django_assert_max_num_queries(fresh - 3):
        assert get(logged_in)[0] == first  # the same minute: the page as it was made
    later = moment + timedelta(seconds=60)
    monkeypatch.setattr(timezone, "now", lambda: later)
    autosave(client_user, started)
    body, _ = get(logged_in)  # the next minute: made again, with the autosave's time
    assert timezone.localtime(later).strftime("%H:%M") in body


@pytest.mark.django_db
def test_a_new_name_and_a_new_language_show_at_once(logged_in, client_user):
    assert "Robin" not in get(logged_in)[0]  # kept
    client_user.display_name = "Robin"
    client_user.save(update_fields=["display_name"])
    assert "Hello, Robin" in get(logged_in)[0]
    client_user.language = "es"
    client_user.save(update_fields=["language"])
    assert "Hola, Robin" in get(logged_in)[0]


@pytest.mark.django_db
def test_a_kept_pages_forms_are_accepted_after_logging_in_again(guide, client_user, make_session):
    QuestionToBring.objects.create(client=client_user, text="Can I bring music?")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(client_user)
    browser.get("/")
    page = browser.get("/").content.decode()  # kept
    browser.logout()
    browser.force_login(client_user)  # a new CSRF secret
    browser.get("/")
    page = browser.get("/").content.decode()
    action, token = re.search(
        r'<form method="post" action="(/[^"]*asked[^"]*)" class="inline">\s*'
        r'<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"',
        page,
    ).groups()
    response = browser.post(action, {"csrfmiddlewaretoken": token, "next": "/"})
    assert response.status_code == 302
    assert QuestionToBring.objects.get(client=client_user).asked_at is not None


@pytest.mark.django_db
def test_the_page_with_their_words_is_kept_in_the_process_only(
    logged_in, client_user, make_session, settings
):
    """CACHES may be a shared server: the page (with the questions' words) is never put there."""
    full_life(client_user, make_session)
    body, _ = get(logged_in)
    assert f"Can I bring music? {CANARY}" in body
    assert get(logged_in)[0] == body  # kept
    held = [pickle.loads(v) for v in cache._cache.values()]  # the default cache: LocMem here
    assert held and not any(CANARY in repr(v) for v in held)
    assert any(CANARY.encode() in pickle.loads(v) for v in today.PAGES._cache.values())
    assert today.PAGES is not cache


@pytest.mark.django_db
def test_two_people_never_see_each_others(guide, make_user, make_session):
    alex, sam = make_user("alex@example.com"), make_user("sam@example.com")
    make_session(alex, hours_ago=-48, status="planned", clinician_name="Dr Rivera")
    make_session(sam, hours_ago=-48, status="planned", clinician_name="Dr Okafor")
    QuestionToBring.objects.create(client=alex, text="Alex asks")
    QuestionToBring.objects.create(client=sam, text="Sam asks")
    assert stamp(alex) == stamp(sam)  # the same stamp: only the person tells them apart
    pages = {}
    for person in (alex, sam, alex, sam):
        browser = Client()
        browser.force_login(person)
        pages.setdefault(person.email, set()).add(get(browser)[0])
    (alex_page,), (sam_page,) = pages["alex@example.com"], pages["sam@example.com"]
    assert "Dr Rivera" in alex_page and "Alex asks" in alex_page and "Dr Okafor" not in alex_page
    assert "Dr Okafor" in sam_page and "Dr Rivera" not in sam_page and "Alex asks" not in sam_page
    assert "Sam asks" not in alex_page


@pytest.mark.django_db
def test_someone_given_an_id_used_before_is_someone_else(guide, make_user):
    first = make_user("first@example.com")
    now, roles = timezone.now(), roles_for(first)
    key = today.cache_key(first, now, roles)
    User.objects.filter(pk=first.pk).update(date_joined=first.date_joined + timedelta(seconds=1))
    assert today.cache_key(first, now, roles) != key


@pytest.mark.django_db
def test_what_moves_with_time_is_fresh_and_the_bucket_rolls_over(
    client_user, guide, make_session, monkeypatch
):
    seconds = 300
    start = datetime.fromtimestamp(
        (int(timezone.now().timestamp()) // seconds) * seconds + 10, tz=timezone.UTC
    )
    make_session(client_user, status="completed")
    KapSession.objects.filter(client=client_user).update(
        starts_at=start - timedelta(hours=5, minutes=59, seconds=30)
    )

    def at(moment: datetime) -> tuple[dict, int]:
        monkeypatch.setattr(timezone, "now", lambda: moment)
        with CaptureQueriesContext(connection) as queries:
            ctx = today.context(client_user)
        return ctx, len(queries)

    def why(ctx) -> str:
        return " ".join(s.why for s in ctx["suggestions"])

    ctx, fresh = at(start)
    assert "5 hours since your session" in why(ctx)
    ctx, kept = at(start + timedelta(seconds=60))  # the same bucket: kept, the hours recounted
    assert kept < fresh
    assert "6 hours since your session" in why(ctx)
    ctx, rolled = at(start + timedelta(seconds=seconds))  # the next bucket: read again
    assert rolled == fresh
    assert "6 hours since your session" in why(ctx)


@pytest.mark.django_db
def test_the_cache_holds_none_of_their_words(logged_in, client_user, make_session, submit):
    full_life(client_user, make_session)
    soon = make_session(client_user, hours_ago=-0.5, status="planned")
    if timezone.localdate(soon.starts_at) == timezone.localdate():
        submit(client_user, "intention-setting", {"want-to-understand": CANARY}, session=soon)
    body, _ = get(logged_in)
    assert CANARY in body  # shown (the question at least), so read and decrypted
    key = today.cache_key(client_user, timezone.now(), roles_for(client_user))
    kept = cache.get(key)
    assert isinstance(kept, today.Kept) and kept.facts.roles is None
    held = pickle.dumps(kept)
    assert CANARY.encode() not in held
    for s in kept.facts.sessions:
        assert "notes" not in s.__dict__  # deferred: never decrypted into the cache


@pytest.mark.django_db
def test_off_when_its_seconds_are_zero(logged_in, settings):
    settings.TODAY_CACHE_SECONDS = 0
    first, fresh = get(logged_in)
    assert get(logged_in) == (first, fresh)


@pytest.mark.django_db
def test_an_import_raises_the_stamp_and_shows_at_once(guide, make_user, make_session):
    from kap.exports.json_export import export_json
    from kap.exports.json_import import import_json

    alex, newcomer = make_user("alex@example.com"), make_user("new@example.com")
    make_session(alex, hours_ago=-48, status="planned", clinician_name="Dr Rivera")
    browser = Client()
    browser.force_login(newcomer)
    assert "Dr Rivera" not in get(browser)[0]  # cached
    before = stamp(newcomer)
    import_json(user=newcomer, raw=export_json(alex))  # bulk_create: no post_save
    assert stamp(newcomer) > before
    assert "Dr Rivera" in get(browser)[0]


@pytest.mark.django_db
def test_a_message_shown_once_is_never_kept_nor_hidden_by_a_kept_page(client_user, guide, rf):
    from django.contrib import messages
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    from kap.journal.views import today as today_view

    def request(message: str | None = None):
        r = rf.get("/")
        r.user, r.session = client_user, SessionStore()
        r.META["CSRF_COOKIE"] = "s" * 32
        r._messages = FallbackStorage(r)
        if message:
            messages.info(r, message)
        return r

    plain = today_view(request()).content
    assert today_view(request()).content == plain  # kept
    assert b"Only this once" in today_view(request("Only this once")).content
    assert today_view(request()).content == plain
