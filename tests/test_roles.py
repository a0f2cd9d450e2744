"""What a pack says its instruments are for reaches the people who see that pack, and no one else."""

import copy

import pytest

from kap.accounts.models import CareLink, Clinic
from kap.content.models import Instrument, Pack, Scope
from kap.content.roles import measures_for, roles_for


def clinic_pack(clinic, guide, **roles):
    spec = copy.deepcopy(guide.spec)
    spec.update(key="clinic-guide", roles={**spec["roles"], **roles})
    return Pack.objects.create(
        scope=Scope.CLINIC,
        clinic=clinic,
        key="clinic-guide",
        title="Clinic guide",
        version=1,
        language="en",
        spec=spec,
        checksum="clinic-guide-1",
    )


@pytest.mark.django_db
def test_the_guide_names_each_role_and_measure(guide):
    roles = roles_for(None)
    assert roles.key("intention") == "intention-setting"
    assert roles.key("worksheet") == "integration-worksheet"
    assert [(m.instrument, m.label) for m in roles.measures] == [
        ("phq9", "PHQ-9"),
        ("gad7", "GAD-7"),
    ]
    assert roles.measure("phq9").remission_below == 5
    assert roles.measure("gad7").remission_below is None
    assert roles.shared_under("phq9") == "scores"
    assert roles.shared_under("intention-setting") == "intentions"
    assert "build-support" in roles.shared_keys("worksheets")


@pytest.mark.django_db
def test_a_clinic_pack_names_roles_for_its_own_staff_and_linked_clients_only(guide, make_user):
    north, south = Clinic.objects.create(name="North"), Clinic.objects.create(name="South")
    clinic_pack(north, guide, intention="north-intention")
    therapist = make_user("t@north.example", role="therapist", clinic=north)
    linked = make_user("linked@example.com")
    CareLink.objects.create(client=linked, therapist=therapist, scopes=[])
    other_therapist = make_user("t@south.example", role="therapist", clinic=south)
    unlinked = make_user("unlinked@example.com")
    ended = make_user("ended@example.com")
    link = CareLink.objects.create(client=ended, therapist=therapist, scopes=[])
    link.ended_at = link.created_at
    link.save()

    for person in (therapist, linked):
        assert roles_for(person).key("intention") == "north-intention"
        # What the clinic's pack does not name still comes from the server's.
        assert roles_for(person).key("worksheet") == "integration-worksheet"
    for person in (other_therapist, unlinked, ended, None):
        assert roles_for(person).key("intention") == "intention-setting"


@pytest.mark.django_db
def test_an_imported_questionnaire_with_a_measures_code_is_followed_as_that_measure(
    guide, client_user, stranger
):
    phq9 = Instrument.objects.server().get(key="phq9")
    Instrument.objects.create(
        scope=Scope.PERSONAL,
        owner=client_user,
        key="phq-9-from-fhir",
        version=1,
        kind="questionnaire",
        title="PHQ-9 (imported)",
        spec={**phq9.spec, "key": "phq-9-from-fhir"},
        checksum="imported",
    )
    followed = measures_for(client_user)
    assert [(f.key, f.label) for f in followed] == [
        ("phq9", "PHQ-9"),
        ("gad7", "GAD-7"),
        ("phq-9-from-fhir", "PHQ-9 (imported)"),
    ]
    assert followed[2].measure.remission_below == 5
    # Someone else's import is not theirs to follow.
    assert [f.key for f in measures_for(stranger)] == ["phq9", "gad7"]
