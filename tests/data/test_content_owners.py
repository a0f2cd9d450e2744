"""Content has an owner (issue 13): a questionnaire one client imports is theirs alone — not
listed for anyone else, not reachable by anyone else, not replaced by anyone else's import,
erased with them — and personal keys never block the server's packs."""

from __future__ import annotations

import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from kap.accounts.models import Clinic
from kap.content.models import Instrument, Scope
from kap.content.sync import load_pack
from kap.exports import questionnaire_import
from kap.exports.erasure import erase_client
from kap.journal.models import Response
from kap.journal.services import save_draft
from tests.care.conftest import verify
from tests.conftest import PACK_DIR
from tests.data.conftest import page_text, upload
from tests.data.people import FHIR_FIXTURES, NLM_PHQ9, SDC_PHQ9

KEY = "sdcphq9"
ITEMS = [f"h1-t1-q{i}" for i in range(1, 10)]


def questionnaire(name: str | None = None, title: str | None = None) -> bytes:
    doc = json.loads((FHIR_FIXTURES / SDC_PHQ9).read_bytes())
    if name:
        doc["name"] = name
    if title:
        doc["title"] = title
    return json.dumps(doc).encode()


def import_as(client, content: bytes):
    return upload(client, "exports:import-questionnaire", "questionnaire-file", content)


@pytest.fixture
def alice(make_user, guide):
    return make_user("alice@example.com", display_name="Alice")


@pytest.fixture
def bob(make_user, guide):
    return make_user("bob@example.com", display_name="Bob")


def as_(client, user):
    client.force_login(user)
    return client


def test_a_clients_import_is_theirs_and_not_listed_for_another(client, alice, bob):
    assert import_as(as_(client, alice), questionnaire()).status_code == 302
    mine = Instrument.objects.get(key=KEY)
    assert (mine.scope, mine.owner, mine.pack) == (Scope.PERSONAL, alice, None)
    assert "Patient Health Questionnaire" in page_text(client.get(reverse("journal:instruments")))

    listed = page_text(as_(client, bob).get(reverse("journal:instruments")))
    assert "Patient Health Questionnaire - 9 Item" not in listed
    assert list(Instrument.objects.visible_to(bob).filter(key=KEY)) == []


def test_another_client_gets_404_on_its_form_autosave_and_result(client, alice, bob):
    as_(client, alice)
    import_as(client, questionnaire())
    client.post(reverse("journal:instrument", args=[KEY]), {k: "not-at-all" for k in ITEMS})
    result = Response.objects.get(client=alice)

    as_(client, bob)
    assert client.get(reverse("journal:instrument", args=[KEY])).status_code == 404
    assert client.post(reverse("journal:instrument", args=[KEY]), {}).status_code == 404
    assert client.post(reverse("journal:autosave", args=[KEY]), {}).status_code == 404
    assert client.get(reverse("journal:response", args=[result.pk])).status_code == 404
    assert not Response.objects.filter(client=bob).exists()


def test_the_same_key_imported_by_another_is_their_own_and_the_first_is_untouched(
    client, alice, bob
):
    as_(client, alice)
    import_as(client, questionnaire())
    alices = Instrument.objects.get(owner=alice)
    draft = save_draft(
        client=alice,
        instrument=alices,
        session=None,
        answers={ITEMS[0]: "several-days"},
        base_version=None,
    )

    as_(client, bob)
    response = import_as(client, questionnaire(title="Bob's own version"))
    assert response.status_code == 302
    bobs = Instrument.objects.get(owner=bob)
    assert (bobs.key, bobs.version, bobs.title) == (KEY, 1, "Bob's own version")
    assert "Bob's own version" in page_text(client.get(reverse("journal:instrument", args=[KEY])))

    # Alice's instrument, and her draft on its form, are as they were.
    assert Instrument.objects.get(pk=alices.pk).title == alices.title
    page = as_(client, alice).get(reverse("journal:instrument", args=[KEY]))
    assert "Bob's own version" not in page_text(page)
    assert 'value="several-days" checked' in page.content.decode().replace("\n", " ") or (
        Response.objects.get(pk=draft.pk).answers == {ITEMS[0]: "several-days"}
    )
    assert Response.objects.get(pk=draft.pk).instrument_id == alices.pk


def test_a_changed_file_imported_again_by_its_owner_is_a_new_version_of_theirs(client, alice):
    as_(client, alice)
    import_as(client, questionnaire())
    client.post(reverse("journal:instrument", args=[KEY]), {k: "not-at-all" for k in ITEMS})
    import_as(client, questionnaire(title="Revised"))

    versions = list(Instrument.objects.filter(owner=alice).order_by("version"))
    assert [(i.key, i.version) for i in versions] == [(KEY, 1), (KEY, 2)]
    assert Instrument.objects.resolve(alice, KEY) == versions[1]
    # The earlier answer keeps the version it answered, and still reads.
    earlier = Response.objects.get(client=alice)
    assert earlier.instrument == versions[0]
    assert as_(client, alice).get(reverse("journal:response", args=[earlier.pk])).status_code == 200


def test_an_import_is_erased_with_its_owner(client, alice, bob):
    as_(client, alice)
    import_as(client, questionnaire())
    client.post(reverse("journal:instrument", args=[KEY]), {k: "not-at-all" for k in ITEMS})
    import_as(as_(client, bob), questionnaire())

    alice_id = alice.pk
    erase_client(alice)

    assert not Instrument.objects.filter(owner_id=alice_id).exists()
    assert not Instrument.objects.filter(scope=Scope.PERSONAL).exclude(owner=bob).exists()
    assert Instrument.objects.filter(owner=bob, key=KEY).count() == 1


def test_a_personal_phq9_never_blocks_the_server_pack(no_content, client, make_user):
    """Before the guide is loaded, a client imports a questionnaire under the guide's key
    "phq9"; loading the guide afterwards works, and each keeps its own."""
    alice = make_user("alice@example.com")
    as_(client, alice)
    assert import_as(client, questionnaire(name="phq9")).status_code == 302
    assert Instrument.objects.get(key="phq9").owner == alice

    result = load_pack(PACK_DIR)

    assert "phq9 v1" in result.new_instruments
    server = Instrument.objects.server().get(key="phq9")
    assert server.pack is not None
    # Alice keeps hers (the narrower scope wins for her); everyone else gets the guide's.
    assert Instrument.objects.resolve(alice, "phq9").owner == alice
    bob = make_user("bob@example.com")
    assert Instrument.objects.resolve(bob, "phq9") == server
    assert list(Instrument.objects.for_person(bob).filter(key="phq9")) == [server]


def test_a_personal_import_never_takes_a_key_the_person_sees_from_the_server(client, alice):
    response = import_as(as_(client, alice), questionnaire(name="phq9"))

    assert response.url == reverse("journal:instrument", args=["phq9-imported"])
    assert Instrument.objects.server().get(key="phq9").owner is None
    assert Instrument.objects.get(owner=alice).key == "phq9-imported"


def test_keys_are_unique_within_a_scope_by_constraint(db, make_user):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    north, south = Clinic.objects.create(name="North"), Clinic.objects.create(name="South")
    fields = {"kind": "checklist", "title": "T", "spec": {}, "checksum": "x", "version": 1}

    def make(**owner):
        with transaction.atomic():
            return Instrument.objects.create(key="mine", **fields, **owner)

    make(scope=Scope.SERVER)
    make(scope=Scope.PERSONAL, owner=alice)
    make(scope=Scope.PERSONAL, owner=bob)
    make(scope=Scope.CLINIC, clinic=north)
    make(scope=Scope.CLINIC, clinic=south)
    for owner in (
        {"scope": Scope.SERVER},
        {"scope": Scope.PERSONAL, "owner": alice},
        {"scope": Scope.CLINIC, "clinic": north},
        {"scope": Scope.PERSONAL},  # personal without an owner
        {"scope": Scope.SERVER, "owner": alice},  # server with an owner
        {"scope": Scope.CLINIC, "clinic": north, "owner": alice},
    ):
        with pytest.raises(IntegrityError):
            make(**owner)

    therapist = make_user("dr@example.com", role="therapist", clinic=north)
    seen = {(i.scope, i.clinic_id) for i in Instrument.objects.visible_to(therapist)}
    assert (Scope.CLINIC, north.pk) in seen and (Scope.CLINIC, south.pk) not in seen
    assert {i.owner_id for i in Instrument.objects.visible_to(alice)} == {None, alice.pk}
    # For the therapist, their clinic's "mine" is what the key means.
    assert Instrument.objects.resolve(therapist, "mine").clinic == north


def test_a_linked_therapist_sees_the_imports_safety_alert_under_the_sharing_rules(
    client, alice, make_user
):
    from kap.accounts.models import CareLink

    clinic = Clinic.objects.create(name="Lakeside")
    therapist = make_user("dr.lee@example.com", role="therapist", clinic=clinic)
    link = CareLink.objects.create(client=alice, therapist=therapist, scopes=["safety"])
    as_(client, alice)
    import_as(client, (FHIR_FIXTURES / NLM_PHQ9).read_bytes())
    imported = Instrument.objects.get(owner=alice)
    key = imported.key
    scored = [i.key for i in Instrument.objects.get(owner=alice).parsed.items if i.scored]
    answers = {k: "not-at-all" for k in scored} | {"44260-8": "several-days"}
    client.post(reverse("journal:instrument", args=[key]), answers)
    assert Response.objects.get(client=alice).safety_events.count() == 1

    verify(client, therapist)
    page = client.get(reverse("care:client", args=[alice.pk]))
    assert page.status_code == 200
    text = page_text(page)
    # The alert in words: the questionnaire, the question it watches, and the answer; no rule key.
    assert imported.title in text and "phq9-item-9" not in text
    assert "Thoughts that you would be better off dead" in text and "Several days" in text

    link.scopes = ["sessions"]  # safety alerts no longer shared: gone on the next request
    link.save()
    page = client.get(reverse("care:client", args=[alice.pk]))
    assert "Thoughts that you would be better off dead" not in page_text(page)
    # The therapist has no form of the client's questionnaire of their own.
    assert client.get(reverse("journal:instrument", args=[key])).status_code in (403, 404)


def test_a_questionnaire_of_20000_items_with_one_link_id_is_imported_whole(alice):
    items = [{"linkId": "q", "type": "string", "text": f"Question {n}"} for n in range(20_000)]
    raw = json.dumps({"resourceType": "Questionnaire", "name": "long", "item": items}).encode()

    instrument, created = questionnaire_import.import_questionnaire(owner=alice, raw=raw)

    keys = [i.key for i in instrument.parsed.items]
    assert created and len(keys) == len(set(keys)) == 20_000
    assert keys[:3] == ["q", "q-2", "q-3"] and keys[-1] == "q-20000"


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_an_orphan_import_personal_to_whoever_answered_it(make_user):
    before = [("content", "0002_scope"), ("journal", "0004_response_submission_token")]
    after = [("content", "0004_scope_constraints"), ("journal", "0005_alter_response_instrument")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    User = old.get_model("accounts", "User")
    OldInstrument = old.get_model("content", "Instrument")
    OldResponse = old.get_model("journal", "Response")
    first = User.objects.create(email="first@example.com", password="x")
    second = User.objects.create(email="second@example.com", password="x")
    spec = {"key": "orphan", "version": 1}
    orphan, unused = (
        OldInstrument.objects.create(
            key=key, version=1, kind="reflection", title=key, spec=spec, checksum="c"
        )
        for key in ("orphan", "unused")
    )
    for who in (first, second):
        OldResponse.objects.create(client=who, instrument=orphan, answers={})

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    new = executor.loader.project_state(after).apps
    NewInstrument = new.get_model("content", "Instrument")
    NewResponse = new.get_model("journal", "Response")
    mine = NewInstrument.objects.get(pk=orphan.pk)
    assert (mine.scope, mine.owner_id) == (Scope.PERSONAL, first.pk)
    copy = NewInstrument.objects.get(owner_id=second.pk)
    assert (copy.key, copy.version, copy.scope) == ("orphan", 1, Scope.PERSONAL)
    assert NewResponse.objects.get(client_id=second.pk).instrument_id == copy.pk
    assert NewResponse.objects.get(client_id=first.pk).instrument_id == orphan.pk
    assert not NewInstrument.objects.filter(key="unused").exists()
    assert not NewInstrument.objects.filter(pack__isnull=False).exclude(scope=Scope.SERVER)
