"""/invite/: a client types the code from an invitation."""

import pytest

from tests.sharing.conftest import CODE


@pytest.fixture
def invite(make_invite, therapist):
    return make_invite(therapist)


def test_a_known_code_leads_to_the_invitation(logged_in, invite):
    response = logged_in.post("/invite/", {"code": f"  {CODE} "})

    assert response.status_code == 302
    assert response.url == f"/invite/{CODE}/"


def test_an_unknown_code_is_explained_next_to_the_field(logged_in, invite):
    response = logged_in.post("/invite/", {"code": "calm-river-4822"})

    assert response.status_code == 200
    assert "could not find an invitation with that code" in response.content.decode()


def test_the_code_form_has_a_label(logged_in):
    response = logged_in.get("/invite/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_code">Invitation code</label>' in html
