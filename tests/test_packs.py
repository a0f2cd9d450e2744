"""Content packs: every kind of broken pack is reported with file, field path and reason."""

from pathlib import Path

import pytest
import yaml

from kap.cli import main
from kap.content.loader import PackInvalid, read_pack
from kap.content.models import Instrument, Pack, Page
from kap.content.sync import default_pack_path, load_pack

SHIPPED_VERSION = yaml.safe_load((default_pack_path("kap-guide") / "pack.yaml").read_text())[
    "version"
]


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def errors_of(folder: Path) -> list[str]:
    with pytest.raises(PackInvalid) as exc:
        read_pack(folder)
    return [str(e) for e in exc.value.errors]


def test_the_built_in_pack_is_valid(pack_copy):
    bundle = read_pack(pack_copy)
    assert bundle.spec.key == "kap-guide"
    kinds = {i.key: i.kind for i in bundle.instruments}
    assert kinds["signs-you-might-benefit"] == "checklist"
    assert kinds["self-assessment"] == "reflection"
    assert kinds["integration-worksheet"] == "worksheet"
    assert kinds["closing-outcomes"] == "scale"
    assert kinds["phq9"] == kinds["gad7"] == "questionnaire"
    assert {kinds[k] for k in ("grounding", "intention-setting", "gentle-awareness")} == {
        "practice"
    }
    by_key = {i.key: i for i in bundle.instruments}
    assert len(by_key["signs-you-might-benefit"].items) == 7
    assert len(by_key["self-assessment"].items) == 5
    assert len(by_key["integration-worksheet"].items) == 5
    assert len(by_key["first-session-preparation"].items) == 4
    assert len(by_key["closing-outcomes"].items) == 5


def test_it_reports_bad_yaml_with_its_line(pack_copy):
    path = pack_copy / "instruments" / "gad7.yaml"
    lines = path.read_text().splitlines()
    lines[3] = "title: [unclosed"
    path.write_text("\n".join(lines))
    (error,) = errors_of(pack_copy)
    assert error.startswith("instruments/gad7.yaml: line ")
    assert "invalid YAML" in error


def test_it_reports_a_missing_field_with_its_path(pack_copy):
    edit_yaml(pack_copy / "instruments" / "phq9.yaml", lambda d: d["items"][2].pop("text"))
    assert errors_of(pack_copy) == ["instruments/phq9.yaml: items.2.text: missing required field"]


def test_it_reports_an_unknown_kind(pack_copy):
    edit_yaml(pack_copy / "instruments" / "self-assessment.yaml", lambda d: d.update(kind="quiz"))
    (error,) = errors_of(pack_copy)
    assert error.startswith("instruments/self-assessment.yaml: kind: unknown kind 'quiz'")
    assert "checklist" in error


def test_it_reports_a_duplicate_instrument_key(pack_copy):
    edit_yaml(pack_copy / "instruments" / "gad7.yaml", lambda d: d.update(key="phq9"))
    (error,) = errors_of(pack_copy)
    assert error == (
        "instruments/gad7.yaml: key: duplicate instrument key 'phq9' version 1"
        " (also in instruments/phq9.yaml)"
    )


def test_it_reports_a_duplicate_item_key(pack_copy):
    edit_yaml(pack_copy / "instruments" / "gad7.yaml", lambda d: d["items"][1].update(key="q1"))
    assert errors_of(pack_copy) == ["instruments/gad7.yaml: duplicate item key 'q1'"]


def test_it_reports_a_duplicate_yaml_key_with_its_line(pack_copy):
    path = pack_copy / "pack.yaml"
    path.write_text(path.read_text().replace("\ntitle: ", "\nversion: 9\ntitle: ", 1))
    (error,) = errors_of(pack_copy)
    assert error.startswith("pack.yaml: line 4")
    assert "duplicate key 'version'" in error


def test_it_reports_an_option_weight_that_is_not_a_number(pack_copy):
    edit_yaml(
        pack_copy / "instruments" / "phq9.yaml", lambda d: d["options"][1].update(weight="one")
    )
    (error,) = errors_of(pack_copy)
    assert error.startswith("instruments/phq9.yaml: options.1.weight: ")
    assert "number" in error


def test_it_refuses_a_crisis_link_that_is_not_a_phone_text_or_https_link(pack_copy):
    def change(d):
        d["crisis_resources"]["US"]["resources"][0]["href"] = "javascript:alert(1)"

    edit_yaml(pack_copy / "pack.yaml", change)
    (error,) = errors_of(pack_copy)
    assert error.startswith("pack.yaml: crisis_resources.US.resources.0.href:")


def test_pack_pages_show_only_local_images_and_never_raw_html():
    from kap.content.markdown import render

    html = render(
        "![a chart](https://tracker.example/pixel.png) ![ok](/static/kap/logo.svg)\n\n"
        "<script>alert(1)</script> [x](javascript:alert(1))"
    )
    assert "tracker.example" not in html
    assert '<span class="image-alt">a chart</span>' in html
    assert '<img src="/static/kap/logo.svg" alt="ok" />' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html


def test_it_reports_a_markdown_page_that_does_not_exist(pack_copy):
    (pack_copy / "pages" / "10-books-and-apps.md").unlink()
    assert errors_of(pack_copy) == [
        "pack.yaml: pages.9.file: Markdown page pages/10-books-and-apps.md does not exist"
    ]


def test_it_reports_every_problem_at_once(pack_copy):
    edit_yaml(pack_copy / "instruments" / "phq9.yaml", lambda d: d["items"][0].pop("text"))
    edit_yaml(pack_copy / "instruments" / "gad7.yaml", lambda d: d.update(kind="quiz"))
    assert len(errors_of(pack_copy)) == 2


def test_check_exits_non_zero_and_names_the_problem(pack_copy, capsys):
    edit_yaml(pack_copy / "instruments" / "phq9.yaml", lambda d: d["items"][2].pop("text"))
    assert main(["content", "check", str(pack_copy)]) == 1
    err = capsys.readouterr().err
    assert "instruments/phq9.yaml: items.2.text: missing required field" in err


def test_check_passes_the_built_in_pack(pack_copy, capsys):
    assert main(["content", "check", str(pack_copy)]) == 0
    assert f"kap-guide v{SHIPPED_VERSION}: OK" in capsys.readouterr().out


@pytest.mark.django_db
def test_loading_a_broken_pack_changes_nothing(no_content, pack_copy, capsys):
    edit_yaml(pack_copy / "instruments" / "gad7.yaml", lambda d: d.update(kind="quiz"))
    assert main(["content", "load", str(pack_copy)]) == 1
    assert "nothing was changed" in capsys.readouterr().err
    assert not Pack.objects.exists()
    assert not Instrument.objects.exists()


@pytest.mark.django_db
def test_loading_the_same_pack_twice_is_a_no_op(no_content, pack_copy):
    first = load_pack(pack_copy)
    ids = sorted(Instrument.objects.values_list("pk", flat=True))
    second = load_pack(pack_copy)
    assert first.changed and not second.changed
    assert sorted(Instrument.objects.values_list("pk", flat=True)) == ids
    assert Page.objects.count() == 12


@pytest.mark.django_db
def test_a_new_instrument_version_is_stored_beside_the_old(no_content, pack_copy):
    load_pack(pack_copy)
    edit_yaml(
        pack_copy / "instruments" / "self-assessment.yaml",
        lambda d: d.update(version=2, title="Self-Assessment Reflection (revised)"),
    )
    edit_yaml(pack_copy / "pack.yaml", lambda d: d.update(version=d["version"] + 1))
    result = load_pack(pack_copy)
    assert result.new_instruments == ["self-assessment v2"]
    versions = Instrument.objects.filter(key="self-assessment").order_by("version")
    assert [(i.version, i.title) for i in versions] == [
        (1, "Self-Assessment Reflection"),
        (2, "Self-Assessment Reflection (revised)"),
    ]
    assert Instrument.objects.current().get(key="self-assessment").version == 2
    assert Pack.objects.get().version == SHIPPED_VERSION + 1


@pytest.mark.django_db
def test_a_changed_instrument_must_carry_a_new_version(no_content, pack_copy):
    load_pack(pack_copy)
    edit_yaml(pack_copy / "instruments" / "gad7.yaml", lambda d: d.update(title="Changed"))
    edit_yaml(pack_copy / "pack.yaml", lambda d: d.update(version=d["version"] + 1))
    with pytest.raises(PackInvalid, match="gad7.*already stored with different content"):
        load_pack(pack_copy)
    assert Instrument.objects.get(key="gad7").title.startswith("Generalized")
    assert Pack.objects.get().version == SHIPPED_VERSION


@pytest.mark.django_db
def test_a_changed_pack_must_carry_a_new_version(no_content, pack_copy):
    load_pack(pack_copy)
    page = pack_copy / "pages" / "09-getting-the-most.md"
    page.write_text(page.read_text() + "\nMore words.\n")
    with pytest.raises(PackInvalid, match="give the changed pack a higher version"):
        load_pack(pack_copy)


def test_every_key_the_roles_measures_and_sharing_name_must_be_an_instrument_of_the_pack(
    pack_copy,
):
    def change(d):
        d["roles"]["intention"] = "no-such-intention"
        d["measures"].append({"instrument": "no-such-measure", "label": "X"})
        d["measures"].append({"instrument": "self-assessment", "label": "Unscored"})
        d["sharing"]["worksheets"].append("no-such-sheet")

    edit_yaml(pack_copy / "pack.yaml", change)
    errors = errors_of(pack_copy)
    assert "pack.yaml: roles.intention: unknown instrument 'no-such-intention'" in errors
    assert "pack.yaml: measures.2.instrument: unknown instrument 'no-such-measure'" in errors
    assert "pack.yaml: measures.3.instrument: self-assessment has no scoring to follow" in errors
    assert any(
        e.startswith("pack.yaml: sharing.worksheets.") and "no-such-sheet" in e for e in errors
    )
    assert len(errors) == 4  # every problem, in one pass


def test_an_instrument_is_shared_under_one_scope_and_a_role_is_a_known_one(pack_copy):
    edit_yaml(pack_copy / "pack.yaml", lambda d: d["sharing"]["intentions"].append("phq9"))
    (error,) = errors_of(pack_copy)
    assert "'phq9' is shared under two scopes" in error
    edit_yaml(pack_copy / "pack.yaml", lambda d: d["sharing"]["intentions"].remove("phq9"))
    edit_yaml(pack_copy / "pack.yaml", lambda d: d["roles"].update(horoscope="phq9"))
    (error,) = errors_of(pack_copy)
    assert error.startswith("pack.yaml: roles.horoscope")
