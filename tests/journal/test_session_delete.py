"""Deleting a KAP session: only its owner, only after a confirmation page, and never what they
wrote about it (insights, intentions, worksheets, drafts and action steps are kept, unlinked)."""

from __future__ import annotations

from django.urls import reverse

from kap.journal.models import ActionStep, Insight, KapSession, Response, WordIndex


def _url(session) -> str:
    return reverse("journal:session-delete", args=[session.pk])


def _written_about(client_user, session, submit, draft):
    """An insight, an intention, a worksheet draft and a step, all tied to the session."""
    insight = Insight.objects.create(client=client_user, session=session, text="Less afraid")
    step = ActionStep.objects.create(client=client_user, session=session, text="Walk on Sundays")
    intention = submit(
        client_user, "intention-setting", {"want-to-understand": "my fear"}, session=session
    )
    unfinished = draft(
        client_user, "integration-worksheet", {"insight-emerged": "half a thought"}, session
    )
    return insight, step, intention, unfinished


def test_the_page_says_what_is_kept_and_shows_the_notes_that_go_with_it(
    logged_in, client_user, make_session, submit, draft
):
    session = make_session(client_user, clinician_name="Dr Lee", notes="The music was loud")
    _written_about(client_user, session, submit, draft)

    response = logged_in.get(_url(session))

    assert response.status_code == 200
    page = response.content.decode()
    assert "What you wrote about it is kept" in page
    assert "1 insight" in page and "1 action step" in page
    assert "Intention Setting, filled in" in page
    assert "An unfinished Mini Worksheet" in page
    assert "The music was loud" in page  # the notes, shown before they go
    assert '<button type="submit" class="danger">Delete this session</button>' in page
    assert KapSession.objects.filter(pk=session.pk).exists()  # a GET deletes nothing


def test_deleting_keeps_everything_written_about_the_session_unlinked(
    logged_in, client_user, make_session, submit, draft
):
    session = make_session(client_user, notes="private words about the room")
    insight, step, intention, unfinished = _written_about(client_user, session, submit, draft)
    assert WordIndex.objects.filter(kind="journal.kapsession", object_id=session.pk).exists()

    response = logged_in.post(_url(session), follow=True)

    assert response.redirect_chain == [(reverse("journal:sessions"), 302)]
    assert "Everything you wrote about it is still in your timeline." in response.content.decode()
    assert not KapSession.objects.filter(pk=session.pk).exists()
    for kept in (insight, step, intention, unfinished):
        kept.refresh_from_db()
        assert kept.session_id is None
    assert Insight.objects.get(pk=insight.pk).text == "Less afraid"
    assert Response.objects.get(pk=unfinished.pk).answers == {"insight-emerged": "half a thought"}
    # The session's own words leave the search index with it.
    assert not WordIndex.objects.filter(kind="journal.kapsession", object_id=session.pk).exists()


def test_a_draft_that_would_clash_stops_the_deletion_and_says_why(
    logged_in, client_user, make_session, draft
):
    session = make_session(client_user)
    mine = draft(
        client_user, "integration-worksheet", {"insight-emerged": "for the session"}, session
    )
    loose = draft(client_user, "integration-worksheet", {"insight-emerged": "on its own"}, None)

    page = logged_in.get(_url(session)).content.decode()
    assert "Finish a draft first" in page
    assert "Delete this session</button>" not in page

    response = logged_in.post(_url(session))

    assert response.status_code == 409
    assert "Nothing has been deleted." in response.content.decode()
    assert KapSession.objects.filter(pk=session.pk).exists()
    mine.refresh_from_db()
    loose.refresh_from_db()
    assert mine.session_id == session.pk and loose.session_id is None
    assert mine.answers == {"insight-emerged": "for the session"}


def test_another_persons_session_is_not_found_and_stays(
    client, client_user, stranger, make_session, guide
):
    theirs = make_session(stranger)
    client.force_login(client_user)

    assert client.get(_url(theirs)).status_code == 404
    assert client.post(_url(theirs)).status_code == 404
    assert KapSession.objects.filter(pk=theirs.pk).exists()


def test_a_therapist_cannot_delete_a_clients_session(client, client_user, make_user, make_session):
    session = make_session(client_user)
    therapist = make_user("dr@example.com", role="therapist")
    client.force_login(therapist)

    response = client.post(_url(session))

    assert response.status_code in (302, 403, 404)
    assert KapSession.objects.filter(pk=session.pk).exists()


def test_someone_logged_out_is_asked_to_log_in(client, client_user, make_session):
    session = make_session(client_user)

    response = client.post(_url(session))

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert KapSession.objects.filter(pk=session.pk).exists()


def test_the_session_page_links_to_the_confirmation(logged_in, client_user, make_session):
    session = make_session(client_user)

    page = logged_in.get(reverse("journal:session", args=[session.pk])).content.decode()

    assert f'href="{_url(session)}"' in page


def test_a_form_posted_from_elsewhere_is_refused(client, client_user, make_session):
    """The delete is a POST with the page's CSRF token: a form on another site cannot send it."""
    from django.test import Client

    session = make_session(client_user)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(client_user)

    response = browser.post(_url(session))

    assert response.status_code == 403
    assert KapSession.objects.filter(pk=session.pk).exists()
