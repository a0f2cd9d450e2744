"""A whole client journey over HTTP, one new connection per request, so that behind the
round-robin proxy consecutive requests go to different app servers.

Log in (a real login: password, CSRF), Today, open the integration worksheet for a session,
autosave it three times (each save based on the version the previous one returned, whichever
server stored it), submit it, read it back, add an insight, find it again with search, Trends, the
summary PDF, log out. Every step must give the expected status; the insight must be found.
"""

from __future__ import annotations

import http.client
import re
import secrets
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit


@dataclass
class Step:
    name: str
    method: str
    path: str
    status: int
    expected: tuple[int, ...]
    ms: float
    local_port: int
    backend: int | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status in self.expected and not self.note.startswith("FAIL")


class Browserish:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.steps: list[Step] = []

    def send(self, name, method, path, *, form=None, headers=None, expected=(200,)):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.connect()
        local_port = conn.sock.getsockname()[1]
        h = {"Connection": "close", **(headers or {})}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        t = time.perf_counter()
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        ms = (time.perf_counter() - t) * 1000
        for header in resp.headers.get_all("Set-Cookie") or []:
            c = SimpleCookie()
            c.load(header)
            for k, morsel in c.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(k, None)
                else:
                    self.cookies[k] = morsel.value
        conn.close()
        step = Step(name, method, path.split("?")[0], resp.status, expected, ms, local_port)
        self.steps.append(step)
        return resp, data.decode("utf-8", "replace"), step


def _csrf(html: str) -> str:
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    return m.group(1) if m else ""


def run(base: str, email: str, password: str) -> list[Step]:
    parts = urlsplit(base)
    b = Browserish(parts.hostname, parts.port)
    _, html, _ = b.send("login page", "GET", "/login/")
    b.send(
        "log in",
        "POST",
        "/login/",
        form={"username": email, "password": password, "csrfmiddlewaretoken": _csrf(html)},
        expected=(302,),
    )
    b.send("Today", "GET", "/")
    _, html, step = b.send("sessions", "GET", "/sessions/")
    ids = re.findall(r'href="/sessions/(\d+)/"', html)
    if not ids:
        step.note = "FAIL: no session found on /sessions/"
        return b.steps
    session = ids[-1]
    path = f"/i/integration-worksheet/?session={session}"
    _, html, step = b.send("worksheet form", "GET", path)
    token = _csrf(html)
    m = re.search(r'name="version" value="(\d*)"', html)
    version = m.group(1) if m else ""
    word = "journey" + secrets.token_hex(4)
    fields = {
        "experienced-or-noticed": f"A calm morning; {word}.",
        "felt-different": "Less rushing.",
        "insight-emerged": "I can pause.",
        "means-for-my-life": "More room.",
        "might-do-next": "Walk after lunch",
    }
    for n in range(3):
        form = {"session": session, "version": version, **fields}
        form["felt-different"] += f" (save {n + 1})"
        resp, text, step = b.send(
            f"autosave {n + 1}",
            "POST",
            "/i/integration-worksheet/autosave/",
            form=form,
            headers={"X-CSRFToken": token, "HX-Request": "true"},
        )
        m = re.search(r'"version": (\d+)', text)
        if m:
            version = m.group(1)
        else:
            step.note = f"FAIL: {text[:120]}"
    resp, _, step = b.send(
        "submit worksheet",
        "POST",
        "/i/integration-worksheet/",
        form={"csrfmiddlewaretoken": token, "session": session, "version": version, **fields},
        expected=(302,),
    )
    location = resp.headers.get("Location", "")
    # The response page; "?saved" tells the page to forget the browser's local copy of the draft.
    if re.match(r"^/r/\d+/(\?saved)?$", location):
        b.send("read it back", "GET", location)
    else:
        step.note = f"FAIL: submit went to {location!r}"
    b.send(
        "add an insight",
        "POST",
        f"/sessions/{session}/insights/",
        form={"csrfmiddlewaretoken": token, "text": f"Insight from the journey: {word}."},
        expected=(302,),
    )
    _, html, step = b.send("search for it", "GET", f"/timeline/?q={word}")
    if f"Insight from the journey: {word}" not in html:
        step.note = "FAIL: the insight was not found by search"
    b.send("Trends", "GET", "/progress/")
    resp, _, step = b.send("summary PDF", "GET", "/progress/summary.pdf")
    if resp.headers.get("Content-Type") != "application/pdf":
        step.note = "FAIL: not a PDF"
    b.send("log out", "POST", "/logout/", form={"csrfmiddlewaretoken": token}, expected=(302,))
    return b.steps


def attach_backends(steps: list[Step], proxy_log: str) -> None:
    by_port = {}
    with open(proxy_log) as f:
        for line in f:
            port, index = line.split()
            by_port[int(port)] = int(index)
    for s in steps:
        s.backend = by_port.get(s.local_port)
