"""Personas for the robustness tests. Base personas (client_user, logged_in, guide, make_user)
come from tests/conftest.py."""

from __future__ import annotations

import pytest

from kap.accounts.models import Scope


@pytest.fixture
def clinic(db):
    from kap.accounts.models import Clinic

    return Clinic.objects.create(name="Harbour Clinic")


@pytest.fixture
def therapist(make_user, clinic):
    return make_user("dr.ames@example.com", role="therapist", display_name="Dr Ames", clinic=clinic)


@pytest.fixture
def linked(client_user, therapist, guide):
    """The client linked to the therapist, everything shared."""
    from kap.accounts.models import CareLink

    return CareLink.objects.create(
        client=client_user, therapist=therapist, scopes=list(Scope.values)
    )


@pytest.fixture
def as_therapist(client, therapist):
    from tests.care.conftest import verify

    return verify(client, therapist)
