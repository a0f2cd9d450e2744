"""kap.lib.prepared: a queryset compiled once and run with new values gives what the queryset
gives, for every value, on either database."""

import pytest
from django.db.models import Q

from kap.accounts.models import CareLink, Clinic, Role, Scope
from kap.content.models import Pack
from kap.content.models import Scope as PackScope
from kap.content.roles import _packs, _seen_by
from kap.lib.prepared import Prepared


@pytest.mark.django_db
def test_the_packs_each_person_sees_are_the_querysets_whoever_asks_first(guide, make_user):
    north, south = Clinic.objects.create(name="North"), Clinic.objects.create(name="South")
    server = Pack.objects.get(key="kap-guide")
    for clinic in (north, south):
        Pack.objects.create(
            key=f"{clinic.name.lower()}-pack",
            title=clinic.name,
            version=1,
            scope=PackScope.CLINIC,
            clinic=clinic,
            language="en",
            spec={},
            checksum=clinic.name,
        )
    therapist = make_user("t@north.example", role=Role.THERAPIST)
    therapist.clinic = north
    therapist.save()
    admin = make_user("a@south.example", role=Role.ADMIN)
    admin.clinic = south
    admin.save()
    linked, alone = make_user("linked@example.com"), make_user("alone@example.com")
    CareLink.objects.create(client=linked, therapist=therapist, scopes=[Scope.SCORES])
    for person in (alone, linked, therapist, admin, linked, alone):
        assert [p.pk for p in _packs(person)] == [
            p.pk for p in sorted(_seen_by(person), key=lambda p: (-p.scope, p.key))
        ]
    assert {p.key for p in _packs(linked)} == {"kap-guide", "north-pack"}
    assert {p.key for p in _packs(alone)} == {server.key}
    assert {p.key for p in _packs(admin)} == {"kap-guide", "south-pack"}


@pytest.mark.django_db
def test_a_value_the_query_does_not_take_is_refused(guide):
    ignores = Prepared(lambda pk: Pack.objects.filter(Q(scope=PackScope.SERVER)))
    with pytest.raises(ValueError, match="not parameters"):
        ignores(1)
    takes = Prepared(lambda pk: Pack.objects.filter(pk=pk))
    with pytest.raises(TypeError):
        takes("1")
    assert list(takes(-1)) == []
