import pytest


@pytest.fixture(autouse=True)
def offline_on(settings):
    """The service worker is off in the other tests (tests/pytest_env.py); here it is the subject."""
    settings.OFFLINE = True
