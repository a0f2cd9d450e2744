"""What the security tests share.

- the XSS corpus (``xss_payloads.txt``) and the small text helpers around it;
- ``Watch``: a browser tab that records everything a payload could betray itself by (dialogs,
  Content-Security-Policy reports, requests, navigations, popups, frames, script errors) and scans
  the DOM for markup that could only have come from a payload;
- ``build_world``: a populated database (a client with records of every kind, a therapist linked
  with every scope and a confirmed TOTP device, a clinic admin, invitations, a calendar feed);
- the walk over the URLConf that fills every path parameter from that world, so that pages other
  engineers add are covered without touching these tests.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import PASSWORD, browser_login

CORPUS = Path(__file__).with_name("xss_payloads.txt")
TOKEN = re.compile(r"XSS\d{3}")


# --- The corpus ---------------------------------------------------------------------------------


@cache
def payloads() -> tuple[str, ...]:
    """One payload per line; lines starting with "## " are headings. (Not splitlines(): a payload
    may hold characters that Python counts as line breaks but a browser does not.)"""
    lines = CORPUS.read_text(encoding="utf-8").split("\n")
    return tuple(line for line in lines if line and not line.startswith("## "))


def corpus_text(sep: str = "\n") -> str:
    return sep.join(payloads())


def token_of(payload: str) -> str:
    return TOKEN.search(payload).group(0)


def norm(text: str) -> str:
    """Whitespace collapsed, as the same words read in HTML (line breaks become <br>, etc.)."""
    return " ".join(text.split())


def as_line(text: str) -> str:
    """What a written line becomes as an action step or a question (kap.journal.services._lines)."""
    return text.strip(" -•*\t")


def pack(items: Iterable[str], limit: int, sep: str = " ") -> list[str]:
    """Items packed greedily into strings of at most `limit` characters (longer ones left out)."""
    out: list[str] = []
    current = ""
    for item in items:
        if len(item) > limit:
            continue
        candidate = f"{current}{sep}{item}" if current else item
        if len(candidate) <= limit:
            current = candidate
        else:
            out.append(current)
            current = item
    if current:
        out.append(current)
    return out


# --- A watched browser tab ------------------------------------------------------------------------

# Injected by Playwright before any of the page's own scripts (it is browser automation, not page
# content, so the page's CSP does not apply to it): collects the page's CSP violation reports.
INIT_SCRIPT = """
window.__csp = [];
window.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push([e.violatedDirective, e.blockedURI, e.sample, e.sourceFile + ':' + e.lineNumber].join(' | '));
}, true);
"""

# Run through the DevTools protocol (not eval, so the CSP allows it). Returns the page's text as a
# person perceives it (text nodes and form values) and every piece of markup that the app's own
# templates never produce: event-handler attributes, htmx attributes other than the draft form's,
# script/style/frame/object/base/meta-refresh elements, images from elsewhere, javascript: URLs,
# and any attribute that carries a payload token where the app puts no user text.
SCAN = r"""
(opts) => {
  const TOKEN = /XSS\d{3}/;
  const TOKEN_ANY_CASE = /xss\d{3}/i;
  const origin = location.origin;
  const SVG = 'http://www.w3.org/2000/svg';
  const problems = [];
  const show = (el) => el.outerHTML.replace(/\s+/g, ' ').slice(0, 220);
  const TEXT_ATTRS = new Set(['value', 'aria-label', 'aria-description', 'title', 'alt', 'placeholder', 'label']);
  const URL_ATTRS = new Set(['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'poster',
    'background', 'srcset', 'ping', 'dynsrc', 'lowsrc', 'codebase', 'code', 'cite', 'longdesc', 'icon', 'manifest']);
  const RISKY_ATTRS = new Set(['srcdoc', 'style', 'ping', 'background', 'dynsrc', 'lowsrc',
    'poster', 'xlink:href', 'contenteditable', 'http-equiv']);
  const BAD_TAGS = new Set(['iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'base', 'portal',
    'math', 'bgsound', 'keygen', 'isindex', 'marquee', 'xmp', 'plaintext', 'noembed', 'noframes', 'listing',
    'audio', 'video', 'source', 'track', 'picture', 'template', 'dialog', 'slot', 'handler', 'foreignobject',
    'animate', 'animatemotion', 'animatetransform', 'set', 'discard', 'use', 'feimage', 'maction']);
  // Every element this app's templates and charts produce (standard HTML and SVG); anything
  // else, such as <ſcript> or <xss>, came from somewhere else.
  const KNOWN = new Set(('html head body title meta link script style main header footer nav section '
    + 'article aside h1 h2 h3 h4 h5 h6 p a ul ol li dl dt dd div span strong em b i small br hr form '
    + 'input textarea select option optgroup button label fieldset legend details summary table '
    + 'thead tbody tfoot tr th td caption colgroup col time img pre code blockquote abbr mark sup sub '
    + 'output progress meter figure figcaption noscript q cite kbd samp var s u del ins wbr address '
    + 'hgroup search data svg g path rect circle ellipse line polyline polygon text tspan desc defs '
    + 'clippath lineargradient stop pattern marker symbol mask').split(' '));
  const DRAFT_FORM_HTMX = new Set(['hx-post', 'hx-trigger', 'hx-swap']);
  const dangerous = (v) => /^(javascript|vbscript|livescript|data):/.test(v.replace(/[\u0000-\u0020\u007f-\u00a0]+/g, '').toLowerCase());
  const sameOrigin = (u) => { try { return new URL(u, location.href).origin === origin; } catch (e) { return false; } };
  // The shell's icons: <svg aria-hidden="true"> holding one <use> of our own sprite in /static/.
  const iconUse = (el) => el.localName === 'use' && el.parentElement
    && el.parentElement.localName === 'svg' && el.parentElement.getAttribute('aria-hidden') === 'true'
    && new URL(el.getAttribute('href') || '', location.href).href.startsWith(origin + '/static/')
    && el.attributes.length === 1;
  const icon = (el) => el.getAttribute('aria-hidden') === 'true' && el.children.length === 1
    && iconUse(el.children[0]);
  for (const el of document.querySelectorAll('*')) {
    const name = el.localName.toLowerCase();
    const bad = (why) => problems.push(why + ': ' + show(el));
    if (!(name === 'use' && iconUse(el))
        && (BAD_TAGS.has(name) || !KNOWN.has(name) || el instanceof HTMLUnknownElement)) bad('unexpected <' + name + '>');
    if (el.namespaceURI === SVG && ['a', 'script', 'style', 'image'].includes(name)) bad('svg <' + name + '>');
    const chart = el.getAttribute('role') === 'img' && (el.classList.contains('chart') || el.classList.contains('sparkline'));
    if (name === 'svg' && !chart && !icon(el)) bad('an <svg> that is neither a chart nor an icon');
    if (name === 'script') {
      const ok = (el.getAttribute('src') && el.src.startsWith(origin + '/static/'))
        || (!el.hasAttribute('src') && el.type === 'application/json' && el.id);
      if (!ok) bad('script');
    } else if (name === 'style') {
      bad('<style>');
    } else if (name === 'link') {
      const rel = (el.getAttribute('rel') || '').toLowerCase();
      const ok = (['stylesheet', 'icon'].includes(rel) && el.href.startsWith(origin + '/static/'))
        || (rel === 'manifest' && el.href === origin + '/manifest.webmanifest');
      if (!ok) bad('<link>');
    } else if (name === 'meta') {
      if (el.hasAttribute('http-equiv') || el.closest('body')) bad('<meta>');
    } else if (name === 'img') {
      const src = (el.getAttribute('src') || '').trim();
      const ok = (src && el.src.startsWith(origin + '/static/')) || /^data:image\/(png|gif|jpeg|webp|svg\+xml)[;,]/i.test(src);
      if (!ok || el.hasAttribute('srcset')) bad('<img> from elsewhere');
    }
    for (const an of ['action', 'formaction']) {
      if (el.hasAttribute(an) && !sameOrigin(el.getAttribute(an))) bad(an + ' to elsewhere');
    }
    for (const attr of el.attributes) {
      const an = attr.name.toLowerCase();
      const v = attr.value;
      if (an.startsWith('on')) bad('event handler ' + an);
      else if (an.startsWith('hx-') || an.startsWith('data-hx-') || an.startsWith('hx_')) {
        const ok = name === 'form' && el.hasAttribute('data-draft-key') && DRAFT_FORM_HTMX.has(an) && !TOKEN.test(v);
        if (!ok) bad('htmx attribute ' + an);
      } else if (RISKY_ATTRS.has(an)) bad('attribute ' + an);
      else if (URL_ATTRS.has(an) && dangerous(v) && !(name === 'img' && an === 'src')) bad('script URL in ' + an);
      if (TOKEN_ANY_CASE.test(an)) bad('payload token in an attribute name');
      else if (TOKEN.test(v)) {
        // Form fields Django renders always carry an id; one without came from a payload.
        let ok = TEXT_ATTRS.has(an) && (an !== 'value' || (el.id && !TOKEN.test(el.id)));
        if (an === 'href' && name === 'a') ok = opts.tokenLinks || sameOrigin(v);
        if (!ok) bad('payload token in attribute ' + an);
      }
    }
  }
  const parts = [document.title, '\n'];
  const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (p && p.closest('script, style, noscript, template, textarea')) continue;
    parts.push(n.data);
  }
  for (const el of document.querySelectorAll('textarea, input:not([type=hidden]):not([type=password])')) {
    parts.push('\n', el.value, '\n');
  }
  const urls = [];
  for (const el of document.querySelectorAll('[href], [src], [action], [formaction]')) {
    for (const an of ['href', 'src', 'action', 'formaction']) {
      if (el.hasAttribute(an)) urls.push(el.getAttribute(an));
    }
  }
  return {csp: window.__csp || ['(the CSP listener is gone)'], problems: [...new Set(problems)],
          text: parts.join(''), urls: urls, frames: window.frames.length};
}
"""


@dataclass
class Findings:
    """Problems per page, collected over a whole test and reported together."""

    by_page: dict[str, list[str]] = field(default_factory=dict)
    pages: int = 0

    def add(self, where: str, problems: Sequence[str]) -> None:
        self.pages += 1
        if problems:
            self.by_page.setdefault(where, []).extend(problems)

    def render(self, limit: int = 12) -> str:
        out = [f"{len(self.by_page)} of {self.pages} page views had problems:"]
        for where, problems in self.by_page.items():
            out.append(f"\n{where}  ({len(problems)} problems)")
            out += [f"    {p[:400]}" for p in problems[:limit]]
            if len(problems) > limit:
                out.append(f"    … and {len(problems) - limit} more")
        return "\n".join(out)

    def assert_none(self) -> None:
        if self.by_page:
            pytest.fail(self.render(), pytrace=False)


class Watch:
    """A browser tab whose every dialog, CSP report, request, navigation and popup is recorded.

    `visit()` loads a page and returns what is wrong with it: each expected text must be shown as
    text (whitespace-insensitive), and nothing may betray markup or script from a payload.
    """

    def __init__(self, page, origin: str):
        self.page = page
        self.origin = origin.rstrip("/")
        self.all_requests: list[tuple[str, str, str, bool]] = []
        self.statuses: list[tuple[int, str]] = []
        self.reset()
        page.add_init_script(INIT_SCRIPT)
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("request", self._request)
        page.on("response", lambda r: self.statuses.append((r.status, r.url)))
        page.on("framenavigated", self._navigated)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("popup", lambda p: self.popups.append(p.url))

    def reset(self) -> None:
        self.dialogs: list[str] = []
        self.console_csp: list[str] = []
        self.requests: list[tuple[str, str, str, bool]] = []
        self.navigations: list[str] = []
        self.child_frames: list[str] = []
        self.errors: list[str] = []
        self.popups: list[str] = []
        self.last_scan: dict = {"csp": [], "problems": [], "text": "", "urls": [], "frames": 0}

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console_csp.append(message.text)

    def _request(self, request) -> None:
        try:
            main = request.frame == self.page.main_frame
        except Exception:  # a worker's request has no frame
            main = False
        row = (request.method, request.url, request.resource_type, main)
        self.requests.append(row)
        self.all_requests.append(row)

    def _navigated(self, frame) -> None:
        if frame == self.page.main_frame:
            self.navigations.append(frame.url)
        else:
            self.child_frames.append(frame.url)

    # -- checks ------------------------------------------------------------------------------------

    def _allowed(self, method: str, url: str, kind: str, main: bool, allow: Sequence[str]) -> bool:
        if url.startswith("data:"):
            return False
        if not url.startswith(self.origin + "/"):
            return False
        path = urlsplit(url).path
        if kind == "document":
            return main
        if path.startswith("/static/") and method == "GET":
            return True
        return any(path.startswith(a) for a in allow)

    def check(
        self,
        expect: Iterable[str] = (),
        *,
        allow: Sequence[str] = (),
        token_links: bool = False,
        strict_requests: bool = True,
    ) -> list[str]:
        problems = []
        for _ in range(3):
            try:
                scan = self.page.evaluate(SCAN, {"tokenLinks": token_links})
                break
            except Exception as e:  # the page went elsewhere under our feet
                problems.append(f"navigated away while being read ({str(e).splitlines()[0]})")
                self.page.wait_for_load_state("load")
        else:
            return [*problems, "the page never stayed still long enough to be read"]
        problems += [f"dialog fired: {d}" for d in self.dialogs]
        problems += [f"CSP violation: {v}" for v in scan["csp"]]
        problems += [f"CSP (console): {m}" for m in self.console_csp if not scan["csp"]]
        problems += [f"injected markup: {p}" for p in scan["problems"]]
        problems += [f"script error: {e}" for e in self.errors]
        problems += [f"popup opened: {u}" for u in self.popups]
        problems += [f"frame loaded: {u}" for u in self.child_frames]
        if scan["frames"]:
            problems.append(f"{scan['frames']} frame(s) in the page")
        if len(self.navigations) > 1:
            problems.append(f"navigated away: {' -> '.join(self.navigations)}")
        for method, url, kind, main in self.requests:
            if not url.startswith(self.origin + "/") and not url.startswith("data:"):
                problems.append(f"foreign request: {method} {url} ({kind})")
            elif strict_requests and not self._allowed(method, url, kind, main, allow):
                problems.append(f"unexpected request: {method} {url} ({kind})")
        text = norm(scan["text"])
        missing = [e for e in dict.fromkeys(norm(x) for x in expect) if e and e not in text]
        problems += [f"not shown as text: {m[:160]!r}" for m in missing[:15]]
        if len(missing) > 15:
            problems.append(f"… {len(missing) - 15} more texts not shown")
        self.last_scan = scan
        return problems

    def visit(self, url: str, expect: Iterable[str] = (), *, status: int = 200, **kw) -> list[str]:
        self.reset()
        try:
            response = self.page.goto(url, wait_until="load")
        except Exception as e:  # e.g. an error status with an empty body
            return [f"could not be loaded: {str(e).splitlines()[0]}"]
        problems = []
        if response is None or response.status != status:
            problems.append(f"status {response.status if response else None}, expected {status}")
        return problems + self.check(expect, **kw)

    def server_errors(self) -> list[tuple[int, str]]:
        return [(s, u) for s, u in self.statuses if s >= 500]


def html_page(page, url: str) -> bool:
    """Whether GET `url` answers 200 with HTML for the tab's person (no redirects followed)."""
    response = page.request.get(url, max_redirects=0)
    return response.status == 200 and "text/html" in response.headers.get("content-type", "")


def new_watched_tab(browser, live_server) -> Watch:
    context = browser.new_context(base_url=live_server.url)
    return Watch(context.new_page(), live_server.url)


def post_form(page, url: str, data: dict):
    """POST a form as the tab's logged-in person would (same cookies, CSRF token included),
    without following the redirect that follows a successful save. Returns the response."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(url, form={"csrfmiddlewaretoken": token, **data}, max_redirects=0)
    assert response.status < 400, (url, response.status, response.text()[:500])
    return response


# --- Staff second factor -----------------------------------------------------------------------


def totp_code(device) -> str:
    from django_otp.oath import TOTP

    device.refresh_from_db()
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    return f"{token:0{device.digits}d}"


def browser_login_verified(page, email: str, device) -> None:
    """Log in and pass the second factor, typing a code as an authenticator app shows it."""
    browser_login(page, email)
    page.goto("/account/two-factor/?next=/")
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state("load")
    assert "/account/two-factor/" not in page.url, page.content()[:2000]


def verified_test_client(user, device):
    """A Django test client logged in as `user` with the second factor passed."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    c = Client()
    c.force_login(user)
    session = c.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return c


def log_in_with_second_factor(client, user) -> None:
    """Log `client` in as `user` (a therapist or admin) with the second factor passed, through a
    new confirmed authenticator app: without it, staff send no form at all
    (tests/security/test_second_factor_first.py)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


# --- A populated database ----------------------------------------------------------------------

SESSION_INSTRUMENTS = ("intention-setting", "integration-worksheet")


@dataclass
class World:
    client: object
    therapist: object
    admin: object
    clinic: object
    link: object
    devices: dict
    main_session: object
    upcoming_session: object
    sessions: list
    responses: dict
    draft: object | None
    insights: list
    steps: list
    questions: list
    support: list
    practice_logs: list
    events: list
    calendar_token: str
    invite_codes: dict
    invites: list
    other_clients: list = field(default_factory=list)
    pack_upload: object = None  # the clinic admin's pack upload, checked and not yet published

    def by_param(self) -> dict[str, list]:
        from kap.content.crisis import default_pack
        from kap.content.models import Instrument

        pack = default_pack()
        return {
            "slug": [p.slug for p in pack.pages.order_by("order")] if pack else [],
            "pack": [pack.key] if pack else [],
            "key": sorted({i.key for i in Instrument.objects.current()}),
            "token": [self.calendar_token],
            "code": list(self.invite_codes.values()),
            "uuid": [str(log.uuid) for log in self.practice_logs],
            "client_id": [self.client.pk],
            "user_id": [self.therapist.pk],
            "invite_id": [i.pk for i in self.invites],
            "question_id": [q.pk for q in self.questions[:1]],
            "event_id": [e.pk for e in self.events[:1]],
            "upload_id": [self.pack_upload.pk] if self.pack_upload else [],
        }

    def by_segment(self) -> dict[str, list]:
        """Values for a bare `pk`, by the path segment just before it."""
        return {
            "sessions": [self.main_session.pk],
            "insights": [self.insights[0].pk],
            "steps": [self.steps[0].pk],
            "questions": [self.questions[0].pk],
            "support": [self.support[0].pk],
            "r": [r.pk for r in self.responses.values()][:1],
            "practices": [log.pk for log in self.practice_logs][:1],
            "sharing": [self.link.pk],
            "clients": [self.client.pk],
            "alerts": [e.pk for e in self.events[:1]],
            "invite": [i.pk for i in self.invites],
            "therapists": [self.therapist.pk],
        }

    def all_ids(self) -> list[int]:
        objects = [self.main_session, self.link, self.client, self.therapist]
        objects += [*self.responses.values(), *self.insights[:1], *self.steps[:1]]
        objects += [*self.questions[:1], *self.support[:1], *self.practice_logs, *self.events[:1]]
        return sorted({o.pk for o in objects})


def add_client(email: str, display_name: str = "", password: str | None = None):
    from kap.accounts.models import User

    return User.objects.create_user(email, password, role="client", display_name=display_name)


def add_sessions(client, clinician_names: Sequence[str]) -> list:
    """One planned session in the past per name (the list asks "Did it take place?")."""
    from django.utils import timezone

    from kap.journal.models import KapSession

    now = timezone.now()
    return KapSession.objects.bulk_create(
        KapSession(
            client=client,
            starts_at=now - timedelta(days=3 + i),
            status=KapSession.Status.PLANNED,
            clinician_name=name,
        )
        for i, name in enumerate(clinician_names)
    )


def session_list_pages(clinician_names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The pages of /sessions/ that list the sessions `add_sessions` made (newest first, which is
    the order of the names, SESSIONS_PER_PAGE a page), each with the names it shows."""
    from kap.journal.views_records import SESSIONS_PER_PAGE as n

    return [
        (f"/sessions/?page={i // n + 1}", list(clinician_names[i : i + n]))
        for i in range(0, len(clinician_names), n)
    ]


def answers_for(spec, text: str, *, risky: bool = False) -> dict:
    """An answer to every item: `text` for free text, a real choice or rating for the rest."""
    out: dict = {}
    for item in spec.items:
        kind = spec.item_type(item)
        if kind == "text":
            out[item.key] = text
        elif kind == "check":
            out[item.key] = True
        elif kind == "rating":
            out[item.key] = (item.min + item.max) // 2
        else:
            options = spec.options_for(item)
            out[item.key] = options[-1 if risky else min(1, len(options) - 1)].value
    return out


def build_world(
    texts: Sequence[str],
    long_text: str,
    *,
    display_name: str = "Alex",
    clinician_names: Sequence[str] = ("Dr Rivera",),
    safety_events: int = 1,
    other_client_names: Sequence[str] = (),
    therapist_notes: Sequence[str] = (),
    password: str | None = PASSWORD,
) -> World:
    """Everything a client can record (each text of `texts` as its own insight, support item and
    check-in note; `long_text` in every free-text answer and session note, one step and one
    question per line of it), a therapist linked with every scope and a clinic admin, both with a
    confirmed authenticator app; invitations, a calendar feed and practice logs.

    With `password=None` nobody can log in with a password (much faster: no Argon2 hashing), for
    tests that log in with `force_login`."""
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kap.accounts.models import CareLink, Clinic, Invite, Scope, User
    from kap.care.models import TherapistNote
    from kap.content.models import Instrument
    from kap.content.sync import ensure_default_pack
    from kap.journal import records
    from kap.journal.models import ActionStep, Insight, KapSession, QuestionToBring, SupportItem
    from kap.journal.models import SafetyEvent as Event
    from kap.journal.reminders import reset_feed
    from kap.journal.services import save_draft, submit_response
    from kap.practices.models import PracticeLog
    from kap.practices.services import record_practice

    ensure_default_pack()
    now = timezone.now()
    clinic = Clinic.objects.create(name="Lakeside Clinic")
    client = User.objects.create_user(
        "alex@example.com", password, role="client", display_name=display_name
    )
    therapist = User.objects.create_user(
        "dr.lee@example.com", password, role="therapist", clinic=clinic, display_name="Dr Lee"
    )
    admin = User.objects.create_user(
        "admin@example.com", password, role="admin", clinic=clinic, display_name="Clinic admin"
    )
    devices = {
        u.email: TOTPDevice.objects.create(user=u, name="Authenticator app", confirmed=True)
        for u in (therapist, admin)
    }
    link = CareLink.objects.create(client=client, therapist=therapist, scopes=list(Scope.values))
    others = []
    for i, name in enumerate(other_client_names):
        other = User.objects.create_user(
            f"client{i}@example.com", None, role="client", display_name=name
        )
        CareLink.objects.create(client=other, therapist=therapist, scopes=list(Scope.values))
        others.append(other)

    names = list(clinician_names) or [""]
    main = KapSession.objects.create(
        client=client,
        starts_at=now - timedelta(hours=20),
        status=KapSession.Status.COMPLETED,
        clinician_name=names[0],
        setting=KapSession.Setting.CLINIC,
        notes=long_text,
    )
    upcoming = KapSession.objects.create(
        client=client,
        starts_at=now + timedelta(days=2),
        status=KapSession.Status.PLANNED,
        clinician_name=names[-1],
        notes=long_text,
    )
    sessions = [main, upcoming]
    for i, name in enumerate(names[1:-1]):
        sessions.append(
            KapSession.objects.create(
                client=client,
                starts_at=now - timedelta(days=10 + i),
                status=KapSession.Status.PLANNED,
                clinician_name=name,
            )
        )

    responses = {}
    events = []
    for instrument in Instrument.objects.current().select_related("pack").order_by("pk"):
        spec = instrument.parsed
        if not spec.items:
            continue
        session = main if instrument.key in SESSION_INSTRUMENTS else None
        risky = instrument.key == "phq9"
        for _ in range(safety_events if risky else 1):
            done = submit_response(
                client=client,
                instrument=instrument,
                session=session,
                answers=answers_for(spec, long_text, risky=risky),
            )
            responses.setdefault(instrument.key, done.response)
    events = list(Event.objects.filter(client=client).order_by("pk"))
    free = Instrument.objects.current().get(key="self-assessment")
    draft = save_draft(
        client=client,
        instrument=free,
        session=None,
        answers=answers_for(free.parsed, long_text),
        base_version=None,
    )

    insights = Insight.objects.bulk_create(
        Insight(client=client, session=main, text=t) for t in texts
    )
    steps = list(ActionStep.objects.for_client(client).order_by("pk"))
    if not steps:
        steps = [ActionStep.objects.create(client=client, session=main, text=texts[0])]
    statuses = ["working", "done", "let-go"]
    for i, (step, text) in enumerate(zip(steps, texts, strict=False)):
        records.check_in(step=step, status=statuses[i % 3], note=text)
    questions = list(QuestionToBring.objects.for_client(client).order_by("pk"))
    if not questions:
        questions = [QuestionToBring.objects.create(client=client, text=texts[0])]
    categories = [c for c, _ in SupportItem.Category.choices]
    support = SupportItem.objects.bulk_create(
        SupportItem(client=client, category=categories[i % 3], text=t) for i, t in enumerate(texts)
    )

    logs = []
    for key in ("grounding", "gentle-awareness"):
        instrument = Instrument.objects.current().filter(key=key).first()
        if instrument is None:
            continue
        spec = instrument.parsed
        log, _ = record_practice(
            client=client,
            uuid=uuid.uuid4(),
            instrument=instrument,
            started_at=now - timedelta(hours=3),
            planned_seconds=300,
            elapsed_seconds=300,
            completed=True,
            settled_before=3,
            settled_after=7,
            pace=spec.paces[0] if spec.paces else None,
            notings={spec.notings[0]: 2} if spec.notings else {},
        )
        logs.append(log)
    logs = list(PracticeLog.objects.filter(pk__in=[log.pk for log in logs]))

    for note in therapist_notes:
        TherapistNote.objects.create(therapist=therapist, client=client, text=note)

    codes = {
        "client": "client-invite-" + uuid.uuid4().hex,
        "therapist": "staff-" + uuid.uuid4().hex,
    }
    invites = [
        Invite.objects.create(
            kind=Invite.Kind.CLIENT,
            created_by=therapist,
            clinic=clinic,
            code_hash=hashlib.sha256(codes["client"].encode()).hexdigest(),
            email="new.client@example.com",
            expires_at=now + timedelta(days=7),
        ),
        Invite.objects.create(
            kind=Invite.Kind.THERAPIST,
            created_by=admin,
            clinic=clinic,
            code_hash=hashlib.sha256(codes["therapist"].encode()).hexdigest(),
            email="new.therapist@example.com",
            expires_at=now + timedelta(days=7),
        ),
    ]
    feed = reset_feed(client=client)
    from kap.content.models import Instrument, PackUpload

    phq9 = Instrument.objects.server().get(key="phq9")
    pack_upload = PackUpload.objects.create(
        clinic=clinic,
        uploaded_by=admin,
        filename="clinic-pack.zip",
        archive=b"",
        pack_key="clinic-pack",
        pack_title="The clinic's pack",
        pack_version=1,
        instruments=[phq9.spec],
    )
    # A server whose worker runs: /readyz answers 200 like every other page.
    from kap.ops.worker import beat

    beat()
    return World(
        client=client,
        therapist=therapist,
        admin=admin,
        clinic=clinic,
        link=link,
        devices=devices,
        main_session=main,
        upcoming_session=upcoming,
        sessions=sessions,
        responses=responses,
        draft=draft,
        insights=list(insights),
        steps=steps,
        questions=questions,
        support=list(support),
        practice_logs=logs,
        events=events,
        calendar_token=feed.token,
        invite_codes=codes,
        invites=invites,
        other_clients=others,
        pack_upload=pack_upload,
    )


# --- The URLConf ---------------------------------------------------------------------------------

PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def walk(patterns=None, prefix: str = "", ns: str = ""):
    """(namespaced name, route) of every URL pattern, e.g. ("journal:session", "sessions/<int:pk>/")."""
    from django.urls import URLPattern, URLResolver, get_resolver

    if patterns is None:
        patterns = get_resolver().url_patterns
    for p in patterns:
        if isinstance(p, URLResolver):
            sub = f"{ns}{p.namespace}:" if p.namespace else ns
            yield from walk(p.url_patterns, prefix + str(p.pattern), sub)
        elif isinstance(p, URLPattern):
            yield f"{ns}{p.name}", prefix + str(p.pattern)


def concrete_urls(route: str, world: World) -> list[str]:
    """Every way to fill the route's parameters from the world, most likely first.

    Guide slugs and instrument keys are all listed (each is its own page); object ids are
    candidates, of which the caller keeps the first that answers.
    """
    import itertools

    if any(ch in route for ch in "^$()[]\\?*+"):
        return []  # a regular expression route: nothing here fills it
    params = list(PARAM.finditer(route))
    if not params:
        return ["/" + route]
    by_param, by_segment = world.by_param(), world.by_segment()
    choices = []
    for m in params:
        conv, name = m.group(1) or "str", m.group(2)
        before = route[: m.start()].rstrip("/").rsplit("/", 1)[-1]
        if name in by_param:
            values = by_param[name]
        elif name == "pk" and before in by_segment:
            values = by_segment[before]
        elif conv == "int" or name.endswith("id") or name == "pk":
            values = world.all_ids()
        else:
            values = ["x"]
        choices.append([str(v) for v in values])
    out = []
    for combo in itertools.product(*choices):
        url, pos = "", 0
        for m, value in zip(params, combo, strict=True):
            url += route[pos : m.start()] + value
            pos = m.end()
        out.append("/" + url + route[pos:])
    return out
