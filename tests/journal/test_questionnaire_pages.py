"""A questionnaire page as a person meets it: the error summary, large choices and scales, no
blank radio, and a checklist that reads as what was ticked."""

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from kap.content.models import Instrument
from kap.journal.models import Response

PHQ9_ZERO = {f"q{i}": "not-at-all" for i in range(1, 10)}


def spec(key):
    return Instrument.objects.current().get(key=key).parsed


def main_of(response) -> str:
    html = response.content.decode()
    return html[html.index("<main") : html.index("</main>")]


def summary_of(html: str) -> str:
    match = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', html, re.S)
    assert match, "no error summary"
    return match.group(0)


@pytest.mark.django_db
def test_an_empty_phq9_gets_one_summary_with_a_short_link_to_each_question(logged_in):
    response = logged_in.post("/i/phq9/", {})

    assert response.status_code == 200
    html = main_of(response)
    summary = summary_of(html)
    assert 'role="alert"' in summary
    assert "There is a problem" in summary
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    # Questions 1 to 9 are required, the tenth is not: one line each, leading to its first answer.
    assert links == [(f"id_q{n}_0", f"Answer question {n}") for n in range(1, 10)]
    for control_id, _ in links:
        assert f'id="{control_id}"' in html
    # The wording of a question is never cut short, in the summary or anywhere on the page.
    assert "…" not in summary and "..." not in summary
    item9 = spec("phq9").items_by_key["q9"].text
    assert f">{escape(item9)}</legend>" in html
    assert not Response.objects.exists()


@pytest.mark.django_db
def test_the_message_next_to_each_question_is_said_once_and_linked_to_its_group(logged_in):
    html = main_of(logged_in.post("/i/phq9/", {**PHQ9_ZERO, "q5": ""}))

    assert html.count("Please choose one answer.") == 1
    fieldset = re.search(r'<fieldset[^>]*id="q-q5"[^>]*>', html).group(0)
    assert "has-error" in fieldset
    assert 'aria-describedby="id_q5_error"' in fieldset
    assert re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary_of(html)) == [
        ("id_q5_0", "Answer question 5")
    ]


@pytest.mark.django_db
def test_an_answer_out_of_range_says_why_in_the_summary(logged_in):
    data = {i.key: "5" for i in spec("closing-outcomes").items}
    data["self-compassion"] = "11"

    html = main_of(logged_in.post("/i/closing-outcomes/", data))

    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary_of(html))
    assert links == [("id_self-compassion_0", "Question 4: Please choose a number from 0 to 10.")]


@pytest.mark.django_db
def test_a_form_without_errors_has_no_summary(logged_in):
    assert "There is a problem" not in main_of(logged_in.get("/i/phq9/"))


@pytest.mark.django_db
def test_a_reflection_sent_back_says_its_words_are_kept(logged_in):
    from kap.journal.forms import MAX_TEXT

    html = main_of(logged_in.post("/i/self-assessment/", {"already-tried": "x" * (MAX_TEXT + 1)}))

    summary = summary_of(html)
    link = re.search(r'<a href="#id_already-tried">Question 2: ([^<]+)</a>', summary)
    assert link and "shorten" in link.group(1).lower()
    assert "Everything you wrote has been kept as a draft." in summary


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["phq9", "gad7", "closing-outcomes"])
def test_no_question_offers_a_blank_radio_or_has_one_chosen_before_the_person_does(logged_in, key):
    html = main_of(logged_in.get(f"/i/{key}/"))

    radios = re.findall(r'<input type="radio"[^>]*>', html)
    assert radios
    assert not [r for r in radios if 'value=""' in r or "checked" in r]
    assert "Select an option" not in html and "---------" not in html


@pytest.mark.django_db
def test_a_scale_is_a_segmented_control_with_its_ends_in_words(logged_in):
    html = main_of(logged_in.get("/i/closing-outcomes/"))
    item = spec("closing-outcomes").items[0]

    group = html[html.index(f'id="q-{item.key}"') :]
    group = group[: group.index("</fieldset>")]
    assert 'class="segments segments-two columns-6"' in group  # 0-10: two rows of 6 and 5
    assert group.count('class="segment"') == 11
    # The ends are said with their numbers, to a screen reader as well as on the screen.
    assert '0<span class="visually-hidden"> (Not at all)</span></label>' in group
    assert '10<span class="visually-hidden"> (Very much)</span></label>' in group
    assert "0 = Not at all" in group and "10 = Very much" in group


@pytest.mark.django_db
def test_the_phone_layout_is_offered_for_questionnaires_and_not_for_checklists(logged_in):
    assert "data-one-per-screen" in main_of(logged_in.get("/i/phq9/"))
    assert "data-one-per-screen" not in main_of(logged_in.get("/i/signs-you-might-benefit/"))
    assert "kap/questionnaire.js" in logged_in.get("/i/phq9/").content.decode()


@pytest.mark.django_db
def test_the_signs_checklist_reads_as_what_was_ticked_not_as_a_score(logged_in, client_user):
    items = spec("signs-you-might-benefit").items
    data = {items[0].key: "on", items[3].key: "on", items[6].key: "on"}

    result = logged_in.post("/i/signs-you-might-benefit/", data, follow=True)

    html = main_of(result)
    assert "What you ticked" in html
    ticked = re.search(r'<ul class="ticked">(.*?)</ul>', html, re.S).group(1)
    assert [escape(i.text) for i in (items[0], items[3], items[6])] == re.findall(
        r"<li>(.*?)</li>", ticked
    )
    # A box left unticked is an answer too: listed apart, under its own summary.
    unticked = html[html.index("<summary>Not ticked (4)</summary>") :]
    assert escape(items[1].text) in unticked[: unticked.index("</details>")]
    assert "You ticked <strong>3 of 7</strong>." in html
    timeline = main_of(logged_in.get("/timeline/"))
    assert "3 ticked" in timeline and "score 3" not in timeline
    form = main_of(logged_in.get("/i/signs-you-might-benefit/"))
    assert "3 of 7 ticked" in form


@pytest.mark.django_db
def test_earlier_versions_show_questions_and_answers_in_words_not_keys(logged_in):
    logged_in.post("/i/phq9/", {**PHQ9_ZERO, "q1": "several-days"})
    response = Response.objects.get()
    logged_in.post(
        f"/r/{response.pk}/edit/", {**PHQ9_ZERO, "version": response.version}, follow=True
    )

    html = main_of(logged_in.get(f"/r/{response.pk}/"))

    earlier = html[html.index("Earlier versions") :]
    assert "<dt>Little interest or pleasure in doing things</dt>" in earlier
    assert '<dd class="text">Several days</dd>' in earlier
    assert "<dt>q1</dt>" not in earlier and "several-days" not in earlier


@pytest.mark.django_db
def test_the_support_map_offers_no_blank_kind_of_support(logged_in):
    html = main_of(logged_in.get("/support/"))

    radios = re.findall(r'<input type="radio"[^>]*>', html)
    assert radios
    assert not [r for r in radios if 'value=""' in r or "checked" in r]
    assert "Select an option" not in html


def test_the_summary_links_a_choice_to_its_first_option_not_to_nowhere(logged_in):
    # includes/form_errors.html, for every form: a radio group has no id_for_label of its own.
    page = logged_in.post(reverse("journal:support"), {"text": "my sister"}).content.decode()
    assert "There is a problem" in page
    assert 'href="#"' not in page
    assert re.search(r'<a href="#(id_category_0)">', page)
    assert 'id="id_category_0"' in page
