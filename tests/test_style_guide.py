"""The living style guide (/style/) shows every token and component of the design system, with
the app's own CSS; every token it names is defined in app.css, for light and for dark."""

import re
from pathlib import Path

import pytest

from kap.views import ICONS, ILLUSTRATIONS, STYLE_TOKENS

STATIC = Path(__file__).resolve().parents[1] / "kap" / "static" / "kap"
APP_CSS = (STATIC / "app.css").read_text()
# Other stylesheets (practices, questionnaires, charts, progress) use these: never renamed.
KEPT = ["--bg", "--fg", "--muted", "--accent", "--accent-fg", "--line", "--soft", "--error",
        "--crisis", "--ok", "--radius", "--measure"]  # fmt: skip
COMPONENTS = {
    "buttons": ['<button type="button">Primary action</button>', 'class="secondary"', 'class="link"'],
    "fields": ['type="radio"', 'type="checkbox"', "<select", "<textarea", 'class="choice"'],
    "errors": ['class="error-summary"', 'class="field has-error"', 'class="field-error"'],
    "cards": ['class="card"', 'class="card card-accent"', 'class="card-action"', 'class="tiles"'],
    "empty states": ['class="empty-state"'],
    "alerts": ["alert-info", "alert-ok", "alert-warn", "alert-error", "alert-crisis", "callout"],
    "tables": ['class="table-scroll" role="region"', 'class="stack"', "data-label="],
}  # fmt: skip


def defined(token: str) -> bool:
    return re.search(rf"{re.escape(token)}\s*:", APP_CSS) is not None


@pytest.fixture
def page(client, db):
    response = client.get("/style/")
    assert response.status_code == 200
    return response.content.decode()


def test_anyone_can_open_the_style_guide_without_an_account(client, db):
    response = client.get("/style/")
    assert response.status_code == 200
    assert "<h1>Style guide</h1>" in response.content.decode()


def test_it_names_every_token_and_each_is_defined_in_app_css(page):
    names = [name for group in STYLE_TOKENS.values() for name, _ in group]
    for name in [*names, *KEPT]:
        assert f"<code>{name}</code>" in page, name
        assert defined(name), f"{name} is shown but not defined in app.css"


def test_every_colour_is_redefined_for_dark_mode_and_has_a_swatch(page):
    dark = APP_CSS.split("@media (prefers-color-scheme: dark)", 1)[1].split("\n}\n", 1)[0]
    for name, _ in STYLE_TOKENS["colour"]:
        assert re.search(rf"{re.escape(name)}\s*:", dark), f"{name} has no dark value"
        assert f'class="swatch" data-token="{name}"' in page
        assert f'.swatch[data-token="{name}"]' in APP_CSS  # the swatch shows the colour


def test_every_token_the_other_stylesheets_use_is_defined():
    used, own = set(), set()
    for css in STATIC.rglob("*.css"):
        if css.name not in ("app.css", "print.css"):
            text = css.read_text()
            used |= set(re.findall(r"var\((--[a-z0-9-]+)", text))
            own |= set(re.findall(r"(--[a-z0-9-]+)\s*:", text))  # a sheet's own (--pacer)
    missing = {t for t in used - own if not defined(t)}
    assert not missing, missing


@pytest.mark.parametrize("component", list(COMPONENTS))
def test_it_shows_each_component(page, component):
    for marker in COMPONENTS[component]:
        assert marker in page, (component, marker)


def test_it_shows_every_drawing_and_icon_and_each_exists(page):
    files = {p.stem for p in (STATIC / "illustrations").glob("*.svg")} - {"icons"}
    assert set(ILLUSTRATIONS) == files  # none missing from the page, none left unlisted
    sprite = (STATIC / "illustrations" / "icons.svg").read_text()
    for name in ILLUSTRATIONS:
        assert f"/static/kap/illustrations/{name}.svg" in page
    for name in ICONS:
        assert f'<symbol id="i-{name}"' in sprite, name
        assert f"icons.svg#i-{name}" in page


def test_the_drawings_are_decoration_and_need_nothing_from_elsewhere(page):
    for img in re.findall(r"<img [^>]*>", page):
        assert 'alt=""' in img, img
    for svg in (STATIC / "illustrations").glob("*.svg"):
        text = svg.read_text()
        # Nothing another site serves, and no <style> or script (an image is drawn as it is).
        assert (
            "<script" not in text
            and "<style" not in text
            and "http" not in text.replace("http://www.w3.org/2000/svg", "")
        ), svg.name
