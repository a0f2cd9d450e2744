from datetime import timedelta

from django.utils import timezone

from kap.care.models import AuditEntry, QuestionDiscussed, TherapistNote
from kap.journal.models import ActionStep, CheckIn, Insight, QuestionToBring, SafetyEvent
from tests.care.conftest import CANARY, phq9_answers, verify
from tests.care.helpers import body


def url(client_user) -> str:
    return f"/care/clients/{client_user.pk}/"


def test_it_shows_what_the_client_shares(as_therapist, client_user, linked, submit, make_session):
    session = make_session(
        client_user,
        hours_from_now=-30,
        status="completed",
        clinician_name="Dr Lee",
        notes=f"private {CANARY}",
    )
    submit(client_user, "phq9", phq9_answers(11))
    submit(client_user, "intention-setting", {"want-to-understand": "why I freeze"}, session)
    submit(client_user, "integration-worksheet", {"felt-different": "my shoulders dropped"})
    submit(client_user, "first-session-preparation", {"concerns-or-questions": "Is music ok?"})
    Insight.objects.create(client=client_user, session=session, text="I am allowed to rest")
    step = ActionStep.objects.create(client=client_user, text="Walk after lunch")
    CheckIn.objects.create(step=step, status="working", note="twice this week")

    page = body(as_therapist.get(url(client_user)))

    assert "Patient Health Questionnaire (PHQ-9)" in page and "score 11" in page
    assert "why I freeze" in page
    assert "my shoulders dropped" in page
    assert "Is music ok?" in page
    assert "I am allowed to rest" in page
    assert "Walk after lunch" in page and "twice this week" in page
    assert "KAP session (completed)" in page and "With Dr Lee" in page
    assert "for the session on" in page
    # The client's own session notes are theirs alone, even with sessions shared.
    assert CANARY not in page


def test_it_shows_scores_but_not_the_answers_behind_them(as_therapist, client_user, linked, submit):
    submit(client_user, "phq9", phq9_answers(5))

    page = body(as_therapist.get(url(client_user)))

    assert "score 5" in page
    assert "Little interest or pleasure" not in page


def test_drafts_are_not_shared(as_therapist, client_user, linked, guide):
    from kap.content.models import Instrument
    from kap.journal.services import save_draft

    save_draft(
        client=client_user,
        instrument=Instrument.objects.current().get(key="integration-worksheet"),
        session=None,
        answers={"felt-different": f"half-written {CANARY}"},
        base_version=None,
    )

    assert CANARY not in body(as_therapist.get(url(client_user)))


def test_consent_turned_off_takes_effect_on_the_next_request(as_therapist, client_user, linked):
    Insight.objects.create(client=client_user, text="the lake at dawn")
    assert "the lake at dawn" in body(as_therapist.get(url(client_user)))

    linked.scopes = [s for s in linked.scopes if s != "insights"]
    linked.save()

    page = body(as_therapist.get(url(client_user)))
    assert "the lake at dawn" not in page
    assert "Not shared: Insights." in page


def test_an_ended_link_shows_nothing_at_all(as_therapist, client_user, linked):
    linked.ended_at = timezone.now()
    linked.save()

    for path in ("", "brief/", "brief.pdf"):
        assert as_therapist.get(url(client_user) + path).status_code == 404
    assert AuditEntry.objects.count() == 0


def test_a_therapist_who_is_not_linked_gets_404_everywhere(
    client, colleague, client_user, linked, submit
):
    submit(client_user, "phq9", phq9_answers(4, item9=1))
    submit(client_user, "first-session-preparation", {"concerns-or-questions": "Is music ok?"})
    event = SafetyEvent.objects.get()
    question = QuestionToBring.objects.get()
    verify(client, colleague)
    base = url(client_user)

    assert client.get(base).status_code == 404
    assert client.get(base + "brief/").status_code == 404
    assert client.get(base + "brief.pdf").status_code == 404
    assert client.post(base + "notes/", {"text": "hello"}).status_code == 404
    assert client.post(f"{base}questions/{question.pk}/discussed/").status_code == 404
    assert client.post(f"/care/alerts/{event.pk}/acknowledge/").status_code == 404
    assert not TherapistNote.objects.exists()
    assert not QuestionDiscussed.objects.exists()
    assert not event.acknowledgements.exists()
    assert AuditEntry.objects.count() == 0


def test_a_stranger_client_id_is_the_same_404(as_therapist, stranger):
    assert as_therapist.get(url(stranger)).status_code == 404
    assert as_therapist.get("/care/clients/999999/").status_code == 404


def test_without_the_second_factor_it_asks_for_it_before_any_client_data(
    client, therapist, client_user, linked
):
    client.force_login(therapist)

    for path in ("", "brief/", "brief.pdf"):
        response = client.get(url(client_user) + path)
        assert response.status_code == 302
        assert response["Location"].startswith("/account/two-factor/?next=/care/clients/")
    response = client.get("/care/")
    assert response["Location"] == "/account/two-factor/?next=/care/"
    assert AuditEntry.objects.count() == 0


def test_a_client_cannot_open_the_therapists_pages(client, client_user, linked):
    client.force_login(client_user)

    assert client.get(url(client_user)).status_code == 404
    assert client.get("/care/").status_code == 404


def test_each_view_writes_one_audit_row_with_the_ip(as_therapist, therapist, client_user, linked):
    as_therapist.get(url(client_user), REMOTE_ADDR="198.51.100.4")
    as_therapist.get(url(client_user) + "brief/", REMOTE_ADDR="198.51.100.4")
    as_therapist.get(url(client_user) + "brief.pdf", REMOTE_ADDR="198.51.100.4")

    rows = list(AuditEntry.objects.order_by("pk"))
    assert [(r.action, r.what) for r in rows] == [
        ("view", "client timeline"),
        ("view", "pre-session brief"),
        ("export", "pre-session brief (PDF)"),
    ]
    assert {(r.actor_id, r.actor_email, r.subject_id, r.ip) for r in rows} == {
        (therapist.pk, therapist.email, client_user.pk, "198.51.100.4")
    }


# --- Private notes ------------------------------------------------------------------------------


def test_a_therapist_adds_a_private_note(as_therapist, therapist, client_user, linked):
    response = as_therapist.post(url(client_user) + "notes/", {"text": "  Consider EMDR  "})

    assert response.status_code == 302
    assert response["Location"] == url(client_user) + "#notes"
    note = TherapistNote.objects.get()
    assert (note.therapist, note.client, note.text) == (therapist, client_user, "Consider EMDR")
    assert "Consider EMDR" in body(as_therapist.get(url(client_user)))


def test_a_note_is_stored_encrypted(as_therapist, client_user, linked):
    from django.db import connection

    as_therapist.post(url(client_user) + "notes/", {"text": "Consider EMDR"})

    with connection.cursor() as cur:
        cur.execute("SELECT text FROM care_therapistnote")
        (raw,) = cur.fetchone()
    assert "EMDR" not in raw


def test_an_empty_note_is_refused_with_a_reason(as_therapist, client_user, linked):
    response = as_therapist.post(url(client_user) + "notes/", {"text": ""})

    assert response.status_code == 400
    assert "Please write the note before saving it." in response.content.decode()
    assert not TherapistNote.objects.exists()


def test_another_therapist_of_the_same_client_never_sees_my_notes(
    client, as_therapist, therapist, colleague, client_user, linked, link
):
    link(client_user, colleague)
    as_therapist.post(url(client_user) + "notes/", {"text": "Consider EMDR"})
    client.logout()
    verify(client, colleague)

    page = body(client.get(url(client_user)))

    assert "Consider EMDR" not in page
    assert "No notes yet." in page


# --- Questions to bring -----------------------------------------------------------------------


def test_a_question_is_marked_as_discussed(as_therapist, therapist, client_user, linked, submit):
    submit(client_user, "first-session-preparation", {"concerns-or-questions": "Is music ok?"})
    question = QuestionToBring.objects.get()

    response = as_therapist.post(f"{url(client_user)}questions/{question.pk}/discussed/")
    again = as_therapist.post(f"{url(client_user)}questions/{question.pk}/discussed/")

    assert response.status_code == again.status_code == 302
    assert QuestionDiscussed.objects.get().therapist == therapist
    assert "Discussed." in body(as_therapist.get(url(client_user)))


def test_questions_are_part_of_worksheets(as_therapist, client_user, linked, submit):
    submit(client_user, "first-session-preparation", {"concerns-or-questions": "Is music ok?"})
    question = QuestionToBring.objects.get()
    linked.scopes = ["scores", "intentions"]
    linked.save()

    page = body(as_therapist.get(url(client_user)))
    response = as_therapist.post(f"{url(client_user)}questions/{question.pk}/discussed/")

    assert "Is music ok?" not in page and "Questions to bring" not in page
    assert response.status_code == 404


def test_a_question_of_another_client_is_not_found(
    as_therapist, client_user, stranger, linked, submit
):
    submit(stranger, "first-session-preparation", {"concerns-or-questions": "Theirs"})
    theirs = QuestionToBring.objects.get()

    response = as_therapist.post(f"{url(client_user)}questions/{theirs.pk}/discussed/")

    assert response.status_code == 404


def test_the_page_takes_the_same_queries_however_much_is_shared(
    as_therapist, client_user, linked, submit, make_session
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        as_therapist.get("/care/invite/")
        with CaptureQueriesContext(connection) as ctx:
            assert as_therapist.get(url(client_user)).status_code == 200
        return len(ctx)

    def add(n: int):
        for i in range(n):
            s = make_session(client_user, hours_from_now=-24 * (i + 1), status="completed")
            submit(client_user, "phq9", phq9_answers(i % 20))
            submit(client_user, "integration-worksheet", {"felt-different": f"w{i}"}, s)
            Insight.objects.create(client=client_user, session=s, text=f"i{i}")
            step = ActionStep.objects.create(client=client_user, text=f"s{i}")
            CheckIn.objects.create(
                step=step, status="done", created_at=timezone.now() - timedelta(hours=i)
            )

    add(1)
    few = queries()
    add(12)
    assert queries() == few
