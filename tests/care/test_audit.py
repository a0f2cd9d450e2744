import pytest

from kap import cli
from kap.care.audit import verify as verify_chain
from kap.care.models import AuditEntry


@pytest.fixture(autouse=True)
def django_already_set_up(monkeypatch):
    # kap.cli.main() calls django.setup(), which would configure logging again with handlers
    # bound to pytest's captured stderr (closed after this test). The tests run set up already.
    monkeypatch.setattr(cli, "_django", lambda: None)


@pytest.fixture
def reads(as_therapist, client_user, linked):
    """Several reads of Alex's records by Dr Lee: four audit rows."""
    for path in ("", "brief/", "", "brief/"):
        assert as_therapist.get(f"/care/clients/{client_user.pk}/{path}").status_code == 200
    return list(AuditEntry.objects.order_by("pk"))


def test_the_chain_is_intact_after_several_reads(reads, capsys):
    assert verify_chain() == (4, [])
    assert cli.main(["audit", "verify"]) == 0
    assert "audit trail OK: 4 rows, chain intact" in capsys.readouterr().out


def test_an_edited_row_is_found_and_named(reads, capsys):
    edited = reads[1]
    AuditEntry.objects.filter(pk=edited.pk).update(what="nothing to see")

    count, problems = verify_chain()

    assert count == 4
    assert [p.entry_id for p in problems] == [edited.pk]
    assert "edited" in problems[0].reason
    assert cli.main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"row {edited.pk}: its contents do not match its hash (it was edited" in err
    assert "kap: audit trail: 1 problem(s) in 4 rows" in err


def test_a_chain_rebuilt_without_the_key_is_found(reads):
    """Whoever can write to the database can edit a row and recompute every hash after it; without
    KAP_SECRET_KEY (kept outside the database) the rebuilt chain does not verify."""
    import hashlib

    from kap.care.audit import GENESIS

    AuditEntry.objects.filter(pk=reads[1].pk).update(what="nothing to see")
    prev = GENESIS
    for entry in AuditEntry.objects.order_by("pk"):
        entry.prev_hash = prev
        entry.hash = prev = hashlib.sha256(entry.payload()).hexdigest()
        entry.save(update_fields=["prev_hash", "hash"])
    count, problems = verify_chain()
    assert count == 4 and len(problems) == 4
    assert all("rebuilt without the key" in p.reason for p in problems)


def test_a_chain_rebuilt_with_another_key_is_found(reads, settings):
    from kap.care.audit import GENESIS, seal

    prev = GENESIS
    for entry in AuditEntry.objects.order_by("pk"):
        entry.prev_hash = prev
        prev = seal(entry, secret="a key the attacker made up")
        entry.save(update_fields=["prev_hash", "hash", "actor_digest", "ip_digest"])
    assert len(verify_chain()[1]) == 4


def test_rows_written_under_a_previous_secret_key_verify_with_it_as_a_fallback(reads, settings):
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "the new secret key, after a change of KAP_SECRET_KEY"
    assert len(verify_chain()[1]) == 4
    settings.SECRET_KEY_FALLBACKS = [old]
    assert verify_chain() == (4, [])


def test_a_changed_address_is_found_but_an_erased_one_is_not(reads):
    AuditEntry.objects.filter(pk=reads[0].pk).update(actor_email="someone@else.example")
    AuditEntry.objects.filter(pk=reads[2].pk).update(actor_email="", ip=None)
    problems = verify_chain()[1]
    assert [(p.entry_id, p.reason) for p in problems] == [
        (reads[0].pk, "its e-mail or network address was changed")
    ]


def test_a_deleted_middle_row_is_found(reads, capsys):
    AuditEntry.objects.filter(pk=reads[1].pk).delete()

    count, problems = verify_chain()

    assert count == 3
    assert [p.entry_id for p in problems] == [reads[2].pk]
    assert "deleted" in problems[0].reason
    assert cli.main(["audit", "verify"]) == 1
    assert f"row {reads[2].pk}: does not follow the row before it" in capsys.readouterr().err


def test_a_roster_page_extends_the_same_chain(as_therapist, reads):
    as_therapist.get("/care/")

    assert verify_chain() == (5, [])
    assert AuditEntry.objects.order_by("pk").last().prev_hash == reads[-1].hash
