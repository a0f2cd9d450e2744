import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
PACK_DIR = Path(__file__).resolve().parents[1] / "kap" / "content" / "packs" / "kap-guide"
PASSWORD = "a quiet morning by the lake"


@pytest.fixture
def guide(db):
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    from kap.content.crisis import default_pack

    return default_pack()


@pytest.fixture
def pack_copy(tmp_path) -> Path:
    """A writable copy of the built-in pack, for tests that break it on purpose."""
    dest = tmp_path / "kap-guide"
    shutil.copytree(PACK_DIR, dest)
    return dest


@pytest.fixture
def make_user(db):
    from kap.accounts.models import User

    def make(email: str = "client@example.com", role: str = "client", **fields):
        return User.objects.create_user(email, PASSWORD, role=role, **fields)

    return make


@pytest.fixture
def client_user(make_user):
    return make_user("alex@example.com", display_name="Alex")


@pytest.fixture
def stranger(make_user):
    return make_user("stranger@example.com", display_name="Sam")


@pytest.fixture
def logged_in(client, client_user, guide):
    client.force_login(client_user)
    return client


# --- Browser -------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            "browser tests need Debian's chromium at /usr/bin/chromium "
            "(apt-get install chromium); .ci/run installs it"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class RequestLog(list):
    def foreign(self, origin: str) -> list[str]:
        return [u for u in self if not (u.startswith(origin) or u.startswith("data:"))]


@pytest.fixture
def page(browser, live_server):
    """A fresh browser tab that records every request it makes."""
    context = browser.new_context(base_url=live_server.url)
    tab = context.new_page()
    tab.requests = RequestLog()
    tab.failures = []  # (status, url) of every response that was an error
    tab.on("request", lambda r: tab.requests.append(r.url))
    tab.on("response", lambda r: r.status >= 400 and tab.failures.append((r.status, r.url)))
    yield tab
    context.close()


def browser_login(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def axe_violations(page) -> list:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    return result.response["violations"]
