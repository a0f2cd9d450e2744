"""The XSS corpus (xss_payloads.txt) typed into every free-text field, then read back in Chromium.

Each payload must come back as text: its words visible on the page (or in the form field it was
typed into), and nothing else. On every page view the tab records dialogs, Content-Security-
Policy violation reports (a listener injected by Playwright, plus the console), requests (only
this origin, only the page itself, static files and the page's own endpoints), navigations,
popups and frames, and a DOM scan reports any markup the app's templates never produce (event
handler and htmx attributes, script/style/frame/object/base/meta elements, images from
elsewhere, javascript: URLs, payload tokens inside attributes). See tests/security/support.py.

Batched to stay quick: the whole corpus, one payload per line, goes into each textarea at once;
single-line inputs get it joined by spaces, or packed into as many values as the field's length
limit needs. The timeline search is run once per payload.
"""

import itertools
import os
import re
import shutil
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
import yaml
from django.utils import timezone

from kap.lib.limits import SHORT_TEXT
from tests.conftest import PACK_DIR, PASSWORD, browser_login
from tests.security.support import (
    SESSION_INSTRUMENTS,
    Findings,
    answers_for,
    as_line,
    browser_login_verified,
    build_world,
    corpus_text,
    html_page,
    new_watched_tab,
    pack,
    payloads,
    post_form,
    walk,
)

pytestmark = [
    pytest.mark.browser,
    # What the browser is sent does not depend on the database: the tour runs in the SQLite pass
    # of CI and is not repeated in the PostgreSQL one (it is the longest part of the suite).
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")),
        reason="a Chromium tour of escaping; runs in the SQLite pass, not again on PostgreSQL",
    ),
]

# Kinds the journal's instrument form takes (kap.journal.views.FORM_KINDS).
FORM_KINDS = {"checklist", "reflection", "scale", "questionnaire", "worksheet", "practice"}


def setup_pack():
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()


def new_client(email: str, display_name: str = ""):
    from kap.accounts.models import User

    return User.objects.create_user(email, PASSWORD, role="client", display_name=display_name)


def logged_in_tab(browser, live_server, email: str):
    watch = new_watched_tab(browser, live_server)
    browser_login(watch.page, email)
    return watch


def type_session(page, *, when, status: str, clinician: str, notes: str) -> int:
    page.goto("/sessions/new/")
    page.get_by_label("Date and time").fill(f"{timezone.localtime(when):%Y-%m-%dT%H:%M}")
    page.get_by_label(status, exact=True).check()
    page.get_by_label("Clinician's name").fill(clinician)
    page.get_by_label("Notes (optional)").fill(notes)
    page.get_by_role("button", name="Add the session").click()
    page.wait_for_url(re.compile(r"/sessions/\d+/$"))
    return int(re.search(r"/sessions/(\d+)/", page.url).group(1))


def stored_draft(client, key: str, session_id: int | None):
    from kap.journal.models import Response

    return (
        Response.objects.drafts()
        .filter(client=client, instrument__key=key, session_id=session_id)
        .first()
    )


def wait_for_autosave(page, client, key: str, session_id, texts: dict[str, str]):
    """Until the draft holds every typed text (htmx sends the form as the person types)."""
    deadline = time.monotonic() + 30
    nudged = False
    while time.monotonic() < deadline:
        draft = stored_draft(client, key, session_id)
        got = {k: str(v).replace("\r\n", "\n") for k, v in (draft.answers if draft else {}).items()}
        if all(got.get(k) == v for k, v in texts.items()):
            return draft
        if not nudged and time.monotonic() > deadline - 25:
            # The last keystroke's save may have been dropped while another was on its way:
            # leaving the field sends it, as it would for a person moving on.
            page.locator("form textarea").last.blur()
            nudged = True
        page.wait_for_timeout(250)
    raise AssertionError(f"{key}: the autosaved draft never held everything typed")


def fill_instrument(page) -> dict[str, str]:
    """The whole corpus into every textarea; an answer for every radio group. {name: text}."""
    corpus = corpus_text()
    typed = {}
    boxes = page.locator("form textarea")
    for i in range(boxes.count()):
        box = boxes.nth(i)
        box.fill(corpus)
        typed[box.get_attribute("name")] = corpus
    names = page.locator("form input[type=radio]").evaluate_all("els => els.map(e => e.name)")
    for name in dict.fromkeys(names):
        page.locator(f"form input[type=radio][name='{name}']").first.check()
    return typed


@pytest.mark.django_db(transaction=True)
def test_the_watch_notices_every_payload_left_unescaped(browser, live_server):
    """The other tests are only as good as what the watch notices. Each payload that would change
    the page if a template forgot to escape it (in text, and in a quoted attribute) is put into a
    page raw, served from this origin with this app's CSP: the watch must report it."""
    from django.utils.html import escape

    setup_pack()
    w = new_watched_tab(browser, live_server)
    page = w.page
    csp = page.request.get("/guide/").headers["content-security-policy"]
    P = payloads()

    def html(text: str) -> str:
        return (
            "<!doctype html><html lang=en><head><title>t</title></head><body><main>"
            f'<p>{text}</p><form><input type=hidden name=q value="{text}"></form></main></body></html>'
        )

    served = {}

    def serve(route):
        body = served.get(route.request.url.rsplit("/", 1)[1])
        if body is None:  # something the raw payload asked for
            return route.fulfill(status=404, body="")
        headers = {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": csp}
        return route.fulfill(status=200, headers=headers, body=body)

    page.route(f"{live_server.url}/__raw__/*", serve)
    page.goto("/guide/")
    # Which payloads change the DOM when left raw (parsed only: nothing runs or loads).
    changes = page.evaluate(
        """(pairs) => pairs.map(([raw, safe]) => {
             const parse = (h) => new DOMParser().parseFromString(h, 'text/html').body.innerHTML;
             return parse(raw) !== parse(safe);
           })""",
        [[html(p), html(escape(p))] for p in P],
    )
    harmful = [p for p, changed in zip(P, changes, strict=True) if changed]
    assert len(harmful) > len(P) * 0.8
    unnoticed = []
    for i, p in enumerate(harmful):
        served[str(i)] = html(p)
        if not w.visit(f"/__raw__/{i}", [p]):
            unnoticed.append(p)
    assert unnoticed == [], "\n".join(unnoticed)


@pytest.mark.django_db(transaction=True)
def test_what_a_client_types_is_shown_as_text_wherever_it_is_shown(browser, live_server):
    from kap.content.models import Instrument

    setup_pack()
    P = payloads()
    corpus, joined = corpus_text(), corpus_text(" ")
    lines = [as_line(p) for p in P if as_line(p)]
    names = pack(P, 120)
    alex = new_client("alex@example.com", "Alex")
    w = logged_in_tab(browser, live_server, "alex@example.com")
    page, found = w.page, Findings()

    # Sessions: the clinician's name and the notes, typed into the session form.
    now = timezone.now()
    main = type_session(
        page, when=now - timedelta(hours=20), status="Completed", clinician=names[0], notes=corpus
    )
    upcoming = type_session(
        page, when=now + timedelta(days=2), status="Planned", clinician=names[1], notes=joined
    )

    # Every text item of every instrument: typed, autosaved, the draft reloaded into its
    # textareas, then submitted and shown. The intention comes first: later forms for the same
    # session show it above their questions.
    instruments = sorted(
        (
            i
            for i in Instrument.objects.current()
            if i.kind in FORM_KINDS and i.parsed.items and i.parsed.has_free_text
        ),
        key=lambda i: (i.key != "intention-setting", i.pk),
    )
    assert len(instruments) >= 7
    for instrument in instruments:
        session = main if instrument.key in SESSION_INSTRUMENTS else None
        url = f"/i/{instrument.key}/" + (f"?session={session}" if session else "")
        autosave = f"/i/{instrument.key}/autosave/"
        page.goto(url)
        typed = fill_instrument(page)
        assert typed, instrument.key
        wait_for_autosave(page, alex, instrument.key, session, typed)
        found.add(f"{url} (the draft, reloaded)", w.visit(url, P, allow=[autosave]))
        w.reset()
        page.get_by_role("button", name="Submit").click()
        page.wait_for_url(re.compile(r"/r/\d+/(\?saved)?$"))
        found.add(f"{page.url} ({instrument.key}, submitted)", w.check(P, allow=[autosave]))
    # A form with htmx on it, showing the intention typed above.
    url = f"/i/capture-insights/?session={main}"
    found.add(f"{url} (the intention above an empty form)", w.visit(url, P))

    # An insight, an action step, a check-in note, a question and a support item, typed. The
    # single-line ones hold SHORT_TEXT characters: the corpus is packed into as many values as
    # that takes, the first typed into each form, the rest stored directly (as many again).
    page.goto(f"/sessions/{main}/")
    page.get_by_label("What stood out?").fill(corpus)
    page.get_by_role("button", name="Save insight").click()
    page.wait_for_url(re.compile(rf"/sessions/{main}/"))
    short = pack(P, SHORT_TEXT)
    page.goto("/steps/new/")
    page.get_by_label("A small step").fill(short[0])
    page.get_by_role("button", name="Add the step").click()
    page.wait_for_url(re.compile(r"/steps/"))
    step = int(re.search(r"#step-(\d+)", page.url).group(1))
    check_in = f"/steps/{step}/check-in/"  # each step checks in on a page of its own
    page.goto(check_in)
    form = page.locator(f"form[action='{check_in}']")
    form.get_by_label("Still working on it").check()
    form.get_by_label("A short note (optional)").fill(short[0])
    form.get_by_role("button", name=re.compile("^Check in")).click()
    page.wait_for_url(re.compile(r"/steps/"))
    page.goto("/questions/")
    page.get_by_label("A question to bring").fill(short[0])
    page.get_by_role("button", name="Add the question").click()
    page.wait_for_url(re.compile(r"/questions/"))
    page.goto("/support/")
    page.get_by_role("radio", name="Ongoing therapy").check()
    page.get_by_label("Who or what").fill(short[0])
    page.get_by_role("button", name="Add", exact=True).click()
    page.wait_for_url(re.compile(r"/support/"))
    from kap.journal.models import ActionStep, CheckIn, QuestionToBring, SupportItem

    for text in short[1:]:
        step = ActionStep.objects.create(client=alex, text=text)
        CheckIn.objects.create(step=step, status="working", note=text)
        QuestionToBring.objects.create(client=alex, text=text)
        SupportItem.objects.create(client=alex, category="therapy", text=text)

    from kap.journal.models import Insight
    from kap.progress.summary import SECTION_KEYS

    insight = Insight.objects.get(client=alex)
    summary = "/progress/summary/view/?" + "&".join(f"sections={k}" for k in SECTION_KEYS)
    for url, expect in [
        ("/sessions/", names[:2]),
        (f"/sessions/{main}/", [*P, *lines]),
        (f"/sessions/{upcoming}/", [*P, *lines]),
        (f"/sessions/{main}/edit/", [names[0], *P]),
        (f"/sessions/{upcoming}/edit/", [names[1], *P]),
        (f"/insights/{insight.pk}/edit/", P),
        ("/steps/", [*lines, *P]),
        (check_in, [short[0]]),
        ("/questions/", [*lines, *P]),
        ("/support/", P),
        ("/timeline/", []),
        (f"/timeline/?session={main}", []),
        ("/", ["Alex"]),
        ("/today/", []),
        ("/progress/", []),
        ("/progress/summary/", []),
        (summary, []),
        ("/check-ins/", []),
        ("/practices/", []),
        ("/account/", []),
    ]:
        found.add(url, w.visit(url, expect, allow=["/practices/log/"]))
    page.context.close()
    found.assert_none()


@pytest.mark.django_db(transaction=True)
def test_every_payload_is_text_in_the_timeline_and_its_search(browser, live_server):
    """One insight per payload (stored directly: typing into the insight form is covered above,
    with the whole corpus at once): every timeline page, and the search run once per payload
    (once typed into the search box), and with words that match many insights."""
    from kap.journal.models import Insight, KapSession

    setup_pack()
    P = payloads()
    morgan = new_client("morgan@example.com")
    session = KapSession.objects.create(
        client=morgan, starts_at=timezone.now() - timedelta(days=1), status="completed"
    )
    Insight.objects.bulk_create(Insight(client=morgan, session=session, text=p) for p in P)
    w = logged_in_tab(browser, live_server, "morgan@example.com")
    page, found = w.page, Findings()
    found.add(f"/sessions/{session.pk}/", w.visit(f"/sessions/{session.pk}/", P))

    shown, n = [], 1
    while True:
        found.add(f"/timeline/?page={n}", w.visit(f"/timeline/?page={n}"))
        shown.append(w.last_scan["text"])
        if not page.locator("a[rel=next]").count():
            break
        n += 1
    everything = " ".join(" ".join(shown).split())
    missing = [p for p in P if " ".join(p.split()) not in everything]
    found.add("/timeline/ (every page)", [f"not shown as text: {p!r}" for p in missing])

    w.reset()
    page.get_by_label("Search your words").fill(P[0])
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state("load")
    found.add(f"{page.url} (typed into the search box)", w.check([P[0]]))
    for p in P:
        url = "/timeline/?q=" + quote(p)
        found.add(url, w.visit(url, [p]))
    for q in ("XSS", "<", "alert", "javascript:"):
        found.add(f"/timeline/?q={q}", w.visit("/timeline/?q=" + quote(q)))
    page.context.close()
    found.assert_none()


@pytest.mark.django_db(transaction=True)
def test_short_fields_show_every_payload_as_text(browser, live_server):
    """The display name (120 characters): the corpus packed into as many names as it takes, each
    typed into the account form and read back in the greeting and the form. Then as many
    sessions, one per name as its clinician, in the list of sessions and the timeline. (Every
    session's edit form is read in test_xss_server_side; the form itself is typed above.)"""
    from tests.security.support import add_sessions, session_list_pages

    setup_pack()
    P = payloads()
    names = pack(P, 120)
    quinn = new_client("quinn@example.com")
    w = logged_in_tab(browser, live_server, "quinn@example.com")
    page, found = w.page, Findings()
    page.goto("/account/")
    for i, name in enumerate(names):
        post_form(page, "/account/", {"display_name": name, "region": ""})
        found.add(f"/ (display name {i})", w.visit("/", [name]))
        found.add(f"/account/ (display name {i})", w.visit("/account/", [name]))
    sessions = add_sessions(quinn, names)
    for url, shown in session_list_pages(names):
        found.add(url, w.visit(url, shown))
    for url in (f"/sessions/{sessions[0].pk}/", f"/sessions/{sessions[0].pk}/edit/"):
        found.add(url, w.visit(url, [names[0]]))
    for url in ("/timeline/?kind=session", "/today/"):
        found.add(url, w.visit(url))
    page.context.close()
    found.assert_none()


def care_pages(world) -> list[str]:
    """Every therapist page under /care/ that takes no more than the client's id (GET)."""
    urls = []
    for name, route in walk():
        if not name.startswith("care:") or name.startswith("care:clinic"):
            continue
        params = re.findall(r"<(?:\w+:)?(\w+)>", route)
        if set(params) <= {"client_id"} and route.endswith("/"):  # pages, not the PDF
            urls.append("/" + route.replace("<int:client_id>", str(world.client.pk)))
    return urls


@pytest.mark.django_db(transaction=True)
def test_the_therapist_sees_a_clients_words_and_their_own_notes_as_text(browser, live_server):
    """A client's records full of payloads, seen by their therapist; the therapist's private
    notes and alert acknowledgement notes typed with the corpus too."""
    P = payloads()
    corpus = corpus_text()
    # Below the forms' limits (10,000 and 5,000) with room for the CR the browser adds to each
    # line break when it sends a textarea.
    note_chunks = pack(P, 9_000, "\n")
    ack_chunks = pack(P, 4_500, "\n")
    world = build_world(
        list(P),
        corpus,
        display_name=pack(P, 120)[0],
        safety_events=len(ack_chunks),
        other_client_names=pack(P, 120),
    )
    urls = care_pages(world)
    if not any(u.startswith("/care/clients/") for u in urls):
        pytest.skip("the therapist's client pages (/care/clients/<id>/) are not built yet")
    device = world.devices[world.therapist.email]
    w = new_watched_tab(browser, live_server)
    page, found = w.page, Findings()
    browser_login_verified(page, world.therapist.email, device)

    client_page = f"/care/clients/{world.client.pk}/"
    found.add(client_page, w.visit(client_page))
    for chunk in note_chunks:
        page.goto(client_page)
        page.get_by_label("New private note").fill(chunk)
        page.get_by_role("button", name="Save note").click()
        page.wait_for_load_state("load")
        if not page.url.endswith("#notes"):
            found.add(f"{client_page} (saving a note)", [f"not saved: {page.url}"])
    forms = page.locator("form[action*='/acknowledge/']")
    if forms.count() == 0:
        found.add(client_page, ["no open safety alert to acknowledge"])
    for chunk in ack_chunks:
        page.goto(client_page)
        form = page.locator("form[action*='/acknowledge/']").first
        if not form.count():
            break
        form.locator("textarea").fill(chunk)
        form.get_by_role("button", name=re.compile("Acknowledge")).click()
        page.wait_for_load_state("load")

    from kap.care.models import AlertAcknowledgement, TherapistNote

    def stored(rows) -> list[str]:
        return sorted(r.replace("\r\n", "\n") for r in rows)

    notes = TherapistNote.objects.filter(therapist=world.therapist).values_list("text", flat=True)
    acks = AlertAcknowledgement.objects.values_list("note", flat=True)
    if stored(notes) != stored(note_chunks) or stored(acks) != stored(ack_chunks):
        found.add(client_page, ["the notes typed were not all stored as typed"])

    roster_names = pack(P, 120)
    for url in urls:
        if html_page(page, url):  # (not the POST-only actions, nor the PDF)
            found.add(url, w.visit(url, P if url == client_page else []))
    n, shown = 1, ""
    while "/care/" in urls:
        found.add(f"/care/?page={n}", w.visit(f"/care/?page={n}"))
        shown += w.last_scan["text"]
        if not page.locator("a[rel=next]").count():
            break
        n += 1
    shown = " ".join(shown.split())
    missing = [x for x in roster_names if " ".join(x.split()) not in shown]
    found.add("/care/ (every page)", [f"client's name not shown as text: {x!r}" for x in missing])
    page.context.close()

    # The client's own view of their sharing: who looked, and that an alert was acknowledged.
    w = new_watched_tab(browser, live_server)
    browser_login(w.page, world.client.email)
    for name, route in walk():
        if name.startswith("sharing") and "<" not in route:
            found.add("/" + route, w.visit("/" + route))
    w.page.context.close()
    assert found.pages >= len(urls) + 3
    found.assert_none()


# --- Pack content ----------------------------------------------------------------------------------


def payload_pack(dest) -> dict[str, list[str]]:
    """A copy of the built-in pack with a payload added to every text of pack.yaml, every
    instrument and every Markdown page (a newer version of each, so it replaces the one loaded).
    Returns, per instrument key, the payloads its form must show as text."""
    shutil.copytree(PACK_DIR, dest)
    supply = itertools.cycle(payloads())

    def add(text: str) -> str:
        return f"{text} {next(supply)}"

    path = dest / "pack.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["version"] += 1
    spec["title"] = add(spec["title"])
    spec["not_monitored"] = add(spec.get("not_monitored", "Not monitored."))
    for region in spec["crisis_resources"].values():
        region["name"] = add(region["name"])
        for resource in region["resources"]:
            resource["name"], resource["action"] = add(resource["name"]), add(resource["action"])
    # (A crisis link's href is a URL, not text: test_xss_server_side checks what a pack may put there.)
    for rule in spec.get("safety_rules", []):
        rule["message"] = add(rule["message"])
    for ref in spec["pages"]:
        ref["title"] = add(ref["title"])
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")

    pages = sorted((dest / "pages").glob("*.md"))
    per_page = -(-len(payloads()) // len(pages))
    for i, md in enumerate(pages):
        chosen = payloads()[i * per_page : (i + 1) * per_page]
        body = md.read_text(encoding="utf-8")
        md.write_text(body + "\n\n" + "\n\n".join(chosen) + "\n", encoding="utf-8")

    shown: dict[str, list[str]] = {}
    for file in sorted((dest / "instruments").glob("*.yaml")):
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        data["version"] += 100
        before = len(shown.setdefault(data["key"], []))
        mine = shown[data["key"]]

        def put(obj: dict, key: str, on_form: bool = True, mine=mine) -> None:
            if obj.get(key):
                obj[key] = add(obj[key])
                if on_form:
                    mine.append(obj[key])

        for key in ("title", "intro", "prompt"):
            put(data, key)
        for item in data.get("items", []):
            for key in ("text", "help", "min_label", "max_label"):
                put(item, key)
            for option in item.get("options") or []:
                put(option, "label")
        for option in data.get("options") or []:
            put(option, "label")
        for step in data.get("steps", []):
            put(step, "text", on_form=False)
        for pace in data.get("paces", []):
            put(pace, "label", on_form=False)
        for band in (data.get("scoring") or {}).get("bands", []):
            put(band, "label", on_form=False)
        for interpretation in data.get("interpretations", []):
            put(interpretation, "text", on_form=False)
        if data.get("attribution"):
            put(data["attribution"], "text")
        assert len(mine) > before or not data.get("items"), file
        file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return shown


@pytest.mark.django_db(transaction=True)
def test_pack_content_is_shown_as_text(browser, live_server, tmp_path):
    """Payloads in a pack's Markdown pages and instrument texts: the guide, the crisis page,
    every instrument form, the practices, blank sheets, a response and the trends."""
    from kap.content.crisis import default_pack
    from kap.content.models import Instrument
    from kap.content.sync import load_pack
    from kap.journal.services import submit_response

    setup_pack()
    on_form = payload_pack(tmp_path / "kap-guide")
    load_pack(tmp_path / "kap-guide")
    alex = new_client("alex@example.com", "Alex")
    current = {i.key: i for i in Instrument.objects.current()}
    responses = []
    for key in ("phq9", "gad7", "self-assessment", "signs-you-might-benefit"):
        if key in current:
            spec = current[key].parsed
            responses.append(
                submit_response(
                    client=alex,
                    instrument=current[key],
                    session=None,
                    answers=answers_for(spec, "words", risky=True),
                ).response
            )
    slugs = [p.slug for p in default_pack().pages.order_by("order")]
    public = ["/guide/", *[f"/guide/{s}/" for s in slugs], "/crisis/"]
    found = Findings()

    w = new_watched_tab(browser, live_server)
    for url in public:
        found.add(f"{url} (anonymous)", w.visit(url, token_links=True))
    w.page.context.close()

    w = logged_in_tab(browser, live_server, alex.email)
    for url in public:
        found.add(url, w.visit(url, token_links=True))
    allow = ["/practices/log/"]
    for key, instrument in sorted(current.items()):
        if instrument.kind in FORM_KINDS and instrument.parsed.items:
            url = f"/i/{key}/"
            found.add(url, w.visit(url, on_form[key], allow=[f"/i/{key}/autosave/"]))
        url = f"/progress/blank/{key}/"
        w.reset()
        if w.page.goto(url).status == 200:
            found.add(url, w.check(allow=allow))
    for url in [
        "/",
        "/check-ins/",
        "/practices/",
        "/practices/grounding/",
        "/practices/gentle-awareness/",
        "/progress/",
        *[f"/r/{r.pk}/" for r in responses],
    ]:
        found.add(url, w.visit(url, allow=allow))
    w.page.context.close()
    found.assert_none()
