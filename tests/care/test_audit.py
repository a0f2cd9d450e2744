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
    assert f"row {edited.pk}: its contents do not match its hash (it was edited)" in err
    assert "kap: audit trail: 1 problem(s) in 4 rows" in err


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
