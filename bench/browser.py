"""Bytes a first visit to each page costs, in Chromium (Playwright, a fresh context per page).

Counts every response of the visit (the page, CSS, JavaScript, images, anything fetched after
load) as the network saw it: response headers + encoded body (`request.sizes()`), and the
JavaScript part alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@dataclass
class Visit:
    label: str
    url: str
    status: int
    responses: int
    bytes_total: int
    bytes_js: int
    bytes_css: int
    bytes_html: int
    other_origins: int


def visit_all(pages: list[tuple[str, str, str | None]]) -> list[Visit]:
    """pages: (label, absolute url, sessionid or None)."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for label, url, sessionid in pages:
                context = browser.new_context()
                if sessionid:
                    host = urlsplit(url).hostname
                    context.add_cookies(
                        [{"name": "sessionid", "value": sessionid, "domain": host, "path": "/"}]
                    )
                page = context.new_page()
                seen = []
                page.on("requestfinished", lambda r, seen=seen: seen.append(r))
                response = page.goto(url, wait_until="networkidle")
                origin = urlsplit(url).netloc
                total = js = css = html = others = 0
                for r in seen:
                    sizes = r.sizes()
                    n = sizes["responseBodySize"] + sizes["responseHeadersSize"]
                    total += n
                    if r.resource_type == "script":
                        js += n
                    elif r.resource_type == "stylesheet":
                        css += n
                    elif r.resource_type == "document":
                        html += n
                    if urlsplit(r.url).netloc != origin and not r.url.startswith("data:"):
                        others += 1
                out.append(
                    Visit(
                        label,
                        urlsplit(url).path,
                        response.status if response else 0,
                        len(seen),
                        total,
                        js,
                        css,
                        html,
                        others,
                    )
                )
                context.close()
        finally:
            browser.close()
    return out
