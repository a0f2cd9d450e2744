"""A check-in keeps its step's person (CheckIn.client): set from the step whenever one is saved,
filled in from the steps by the migration that added it, and gone with the person."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from kap.journal.models import ActionStep, CheckIn
from kap.journal.records import check_in


@pytest.mark.django_db
def test_a_check_in_belongs_to_its_steps_person_however_it_is_made(make_user):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    hers = ActionStep.objects.create(client=alice, text="Walk")
    his = ActionStep.objects.create(client=bob, text="Call")

    made = [
        check_in(step=hers, status="working", note="slow"),
        CheckIn.objects.create(step=his, status="done"),
        hers.checkins.create(status="let-go"),
        CheckIn.objects.create(step=his, client=alice, status="working"),  # named wrongly
    ]

    assert [c.client_id for c in made] == [alice.pk, bob.pk, alice.pk, bob.pk]
    assert list(CheckIn.objects.for_client(alice).order_by("pk")) == [made[0], made[2]]
    bob.delete()
    assert not CheckIn.objects.filter(pk__in=[made[1].pk, made[3].pk]).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_existing_check_in_its_steps_person():
    before = [("journal", "0008_insight_submission_token")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    User = old.get_model("accounts", "User")
    OldStep, OldCheckIn = (
        old.get_model("journal", "ActionStep"),
        old.get_model("journal", "CheckIn"),
    )
    people = [User.objects.create(email=f"{n}@example.com", password="x") for n in ("a", "b")]
    steps = [OldStep.objects.create(client=p, text="", status="open") for p in people]
    for step in (*steps, steps[0]):
        OldCheckIn.objects.create(step=step, status="working", note="")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    owners = CheckIn.objects.order_by("pk").values_list("client_id", flat=True)
    assert list(owners) == [people[0].pk, people[1].pk, people[0].pk]
