import logging
import secrets
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
PACK_DIR = Path(__file__).resolve().parents[1] / "kap" / "content" / "packs" / "kap-guide"
PASSWORD = "a quiet morning by the lake"


LOG_HITS = pytest.StashKey[list[str]]()


def pytest_configure(config):
    from django.conf import settings

    # The same algorithm as production at the least cost (tests/hashers.py says why).
    settings.PASSWORD_HASHERS = ["tests.hashers.CheapArgon2PasswordHasher"]
    # The test SMTP servers' (aiosmtpd) connection chatter, logged from their own threads after
    # pytest has closed the stream a test captured, only clutters the output.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # The browser tests' live server answers one request at a time when its threads share the
    # test database's one in-memory SQLite connection (tests/liveserver.py says why).
    from django.test.testcases import LiveServerThread

    from tests.liveserver import SerialWSGIServer

    LiveServerThread.server_class = SerialWSGIServer


def pytest_sessionfinish(session, exitstatus):
    """Once every test (on every worker) has run: nothing a person wrote reached a log."""
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controlling process checks every worker's log
    from tests.logs import canary_lines

    if hits := canary_lines():
        session.config.stash[LOG_HITS] = hits
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hits := config.stash.get(LOG_HITS, []):
        terminalreporter.section("text a person typed reached a log", sep="!", red=True)
        terminalreporter.write_line(f"{len(hits)} log line(s) contain a canary phrase:")
        for line in hits[:10]:
            terminalreporter.write_line("  " + line)


@pytest.fixture(autouse=True)
def _language_of_the_settings():
    """Every test starts in the settings' language. A request in a person's language activates
    it for the thread (kap.accounts.middleware, as LocaleMiddleware does), and nothing switches
    it back after the response: without this, a test after one that asked for a Spanish page
    would read Spanish where it calls gettext itself."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, with the built-in guide loaded once for the whole run: each test that
    uses `db` starts from it and rolls back to it."""
    from kap.content.sync import ensure_default_pack

    with django_db_blocker.unblock():
        ensure_default_pack()


@pytest.fixture
def guide(db):
    """The built-in guide. Loaded with the database; loaded again only when a test that empties
    the database (`transaction=True`, the live server) ran before this one."""
    from kap.content.crisis import default_pack
    from kap.content.sync import ensure_default_pack

    if (pack := default_pack()) is None:
        ensure_default_pack()
        pack = default_pack()
    return pack


@pytest.fixture
def no_content(db):
    """A database with no pack loaded, as before a first `kap setup` (the guide loaded with the
    test database is deleted inside this test's transaction)."""
    from kap.content.models import Instrument, Pack

    Instrument.objects.all().delete()
    Pack.objects.all().delete()


@pytest.fixture(scope="session")
def _data_dir_template(tmp_path_factory) -> Path:
    from tests.children import set_up

    return set_up(tmp_path_factory.mktemp("set-up"))


@pytest.fixture
def set_up_data_dir(_data_dir_template, tmp_path) -> Path:
    """A data dir of this test's own, as `kap setup` leaves it on a first run (migrated, guide
    loaded, key file and secret key made): a copy of one set up once per test process."""
    from tests.children import copy_data_dir

    return copy_data_dir(_data_dir_template, tmp_path / "data")


@pytest.fixture(scope="session")
def _postgres_template(_data_dir_template, tmp_path_factory):
    """On the PostgreSQL pass: a database that `kap setup` set up with _data_dir_template's key
    file and secret key, once per test process (migrating takes seconds); dropped at the end.
    Yields (how to reach the server, the database's name)."""
    from tests.children import copy_data_dir, kap
    from tests.deploy.support import admin_sql, postgres_server, postgres_url

    conninfo = postgres_server()
    assert conninfo, "DATABASE_URL names a PostgreSQL server that does not answer"
    name = f"kap_children_{secrets.token_hex(4)}"
    admin_sql(conninfo, f'CREATE DATABASE "{name}"')
    try:
        data_dir = copy_data_dir(_data_dir_template, tmp_path_factory.mktemp("set-up-pg"))
        result = kap(data_dir, "setup", DATABASE_URL=postgres_url(conninfo, name))
        assert result.returncode == 0, result.stderr[-3000:]
        yield conninfo, name
    finally:
        admin_sql(conninfo, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def child_database(request) -> dict[str, str]:
    """The database of this test's child processes, as environment to give them (child_env,
    run_python, kap): nothing on the SQLite pass (set_up_data_dir's own file); on the PostgreSQL
    pass, the DATABASE_URL of a database of this test's own, as `kap setup` leaves it with
    set_up_data_dir's keys (a copy of _postgres_template: no migrations), dropped afterwards."""
    from tests.children import on_postgres

    if not on_postgres():
        yield {}
        return
    from tests.deploy.support import admin_sql, postgres_url

    conninfo, template = request.getfixturevalue("_postgres_template")
    name = f"{template}_{secrets.token_hex(3)}"
    admin_sql(conninfo, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield {"DATABASE_URL": postgres_url(conninfo, name)}
    finally:
        admin_sql(conninfo, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


def watched(tab):
    """A tab that records its requests (tab.requests) and its script errors (tab.errors),
    including a blocked inline script or style: the CSP allows neither."""
    tab.requests = RequestLog()
    tab.errors = []
    tab.on("request", lambda r: tab.requests.append(r.url))
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.on(
        "console",
        lambda m: "Content Security Policy" in m.text and tab.errors.append(m.text),
    )
    return tab


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
    """axe-core on the page the tab has landed on. A click on a link returns once the navigation
    has started; axe run in between would see a document that is going away, so wait for the new
    page's load first, and run once more if a navigation still raced the run."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import Error

    for attempt in range(3):
        page.wait_for_load_state("load")
        try:
            return Axe().run(page).response["violations"]
        except Error as e:
            gone = "documentElement" in str(e) or "context was destroyed" in str(e)
            if not gone or attempt == 2:
                raise
    return []


@pytest.fixture
def worker_cleanup():
    """db_worker installs its own signal handlers and log handlers (on the stdout of the moment,
    which pytest closes); put things back as they were afterwards."""
    import logging
    import signal

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    loggers = [logging.getLogger(name) for name in ("django_tasks_db", "django.tasks")]
    handlers = {lg: list(lg.handlers) for lg in loggers}
    levels = {lg: lg.level for lg in loggers}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)
    for lg in loggers:
        lg.handlers[:] = handlers[lg]
        lg.setLevel(levels[lg])
