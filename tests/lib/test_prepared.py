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
    # A query that can have no row whatever the values (e.g. .none()) runs nothing.
    nothing = Prepared(lambda pk: Pack.objects.none())
    assert (list(nothing(1)), nothing.count(1), nothing.tuples(1)) == ([], 0, [])


@pytest.mark.django_db
def test_rows_counts_and_the_first_rows_are_the_querysets_converted_alike(guide):
    """tuples() and count() of a values_list() queryset: the values converted as the queryset
    converts them (a date on SQLite is text until converted), its order, and a limit."""
    from kap.content.models import Instrument

    newest = Prepared(
        lambda above: (
            Instrument.objects.filter(pk__gt=above)
            .order_by("-pk")
            .values_list("created_at", "pk", "key")
        )
    )
    queryset = (
        Instrument.objects.filter(pk__gt=0).order_by("-pk").values_list("created_at", "pk", "key")
    )
    assert newest.tuples(0) == list(queryset) and newest.count(0) == queryset.count() > 0
    assert newest.tuples(0, limit=1) == list(queryset[:1])
    past_the_last = queryset[0][1]
    assert newest.count(past_the_last) == 0 and newest.tuples(past_the_last) == []


@pytest.mark.django_db
def test_an_instrument_key_resolves_as_the_queryset_says_for_each_kind_of_person(guide, make_user):
    from kap.content.models import Instrument

    north = Clinic.objects.create(name="North")
    therapist = make_user("t@north.example", role=Role.THERAPIST, clinic=north)
    linked, alone = make_user("linked@example.com"), make_user("alone@example.com")
    CareLink.objects.create(client=linked, therapist=therapist, scopes=[Scope.SCORES])
    phq9 = Instrument.objects.get(key="phq9", scope=PackScope.SERVER)
    fields = {f: getattr(phq9, f) for f in ("kind", "title", "spec", "checksum")}
    mine = Instrument.objects.create(
        key="phq9", version=1, scope=PackScope.PERSONAL, owner=alone, **fields
    )
    theirs = Instrument.objects.create(
        key="phq9", version=1, scope=PackScope.CLINIC, clinic=north, **fields
    )
    expected = {alone: mine, linked: theirs, therapist: theirs}
    for person in (alone, linked, therapist, alone):
        assert Instrument.objects.resolve(person, "phq9") == expected[person]
        assert Instrument.objects.resolve(person, "phq9") == (
            Instrument.objects.all()._resolving(person, "phq9").first()
        )
        assert Instrument.objects.resolve(person, "no-such-key") is None
