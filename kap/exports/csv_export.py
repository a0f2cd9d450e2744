"""The CSV zip: the records of the JSON export as spreadsheet files, one per kind, with a
README.txt saying what each column holds.

Made from the JSON export (kap.exports.json_export), so its ids and values are the export's.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

from django.db import models
from django.utils.translation import gettext_lazy

from kap.content.answers import answer_words
from kap.content.models import Instrument
from kap.content.specs import InstrumentSpec
from kap.exports.json_export import export_dict

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CSV_FILES: dict[str, list[str]] = {
    "profile.csv": ["email", "name", "region", "date_joined"],
    "sessions.csv": [
        "session_id",
        "starts_at",
        "status",
        "clinician_name",
        "setting",
        "notes",
        "created_at",
        "updated_at",
    ],
    "responses.csv": [
        "response_id",
        "instrument",
        "version",
        "item_key",
        "item_text",
        "value",
        "value_label",
        "status",
        "session_id",
        "created_at",
        "submitted_at",
        "score_total",
        "score_band",
    ],
    "safety_events.csv": ["event_id", "response_id", "rule_key", "created_at"],
    "insights.csv": ["insight_id", "session_id", "text", "created_at"],
    "action_steps.csv": [
        "step_id",
        "session_id",
        "source_response_id",
        "text",
        "status",
        "created_at",
    ],
    "check_ins.csv": ["step_id", "status", "note", "created_at"],
    "questions.csv": ["question_id", "source_response_id", "text", "asked_at", "created_at"],
    "support.csv": ["support_id", "category", "text", "created_at"],
    "practices.csv": [
        "practice_id",
        "instrument",
        "version",
        "started_at",
        "planned_seconds",
        "elapsed_seconds",
        "completed",
        "settled_before",
        "settled_after",
        "pace",
        "notings",
        "source",
        "created_at",
    ],
}

# The column names stay as they are in every language (they are the JSON export's field names);
# the README that explains them is in the language of the person who downloads it.
CSV_README = gettext_lazy("""\
Your data from {site_name}, exported {exported_at}
================================================================

These CSV files (UTF-8, comma-separated, first row = column names) hold the same records as the
JSON export. Ids are local to this export: session_id 3 in insights.csv is the row with
session_id 3 in sessions.csv. Times are ISO 8601 in UTC. Empty cells mean "not given".
A cell that begins with = + - @ starts with an added ' so that spreadsheets show it as text
instead of running it as a formula; remove the ' if you need the text exactly.

The JSON export is the complete copy (for example it also holds the earlier versions of edited
answers, and it is the file that can be imported again); use it to move to another instance.

profile.csv        email, name, region (for crisis resources), date_joined.
sessions.csv       one row per KAP session: session_id, starts_at, status (planned, completed,
                   cancelled), clinician_name, setting (clinic, home, other or empty), notes,
                   created_at, updated_at.
responses.csv      one row per answer (long form): response_id, instrument (key), version
                   (of the instrument), item_key, item_text (the question), value (as stored:
                   true/false for a tick, the option's value for a choice, a number for a rating,
                   the words for text), value_label (the answer in words, as the response page
                   shows it: Yes or No for a tick, the option's words for a choice, the number
                   for a rating, the words for text), then the
                   response's status (draft, submitted), session_id, created_at, submitted_at,
                   score_total and score_band, repeated on each of its rows. A response with no
                   answers has one row with empty item columns.
safety_events.csv  event_id, response_id (the answer that triggered it), rule_key, created_at.
insights.csv       insight_id, session_id, text, created_at.
action_steps.csv   step_id, session_id, source_response_id (the worksheet it came from), text,
                   status (open, done, let-go), created_at.
check_ins.csv      step_id, status (done, working, let-go), note, created_at.
questions.csv      question_id, source_response_id, text, asked_at (empty while still open),
                   created_at.
support.csv        support_id, category (therapy, people, routines), text, created_at.
practices.csv      practice_id, instrument (key), version, started_at, planned_seconds,
                   elapsed_seconds, completed (true, or false when stopped early),
                   settled_before and settled_after (0-10), pace (JSON), notings (JSON of
                   label: count), source (timer, manual), created_at.
""")


def csv_cell(value: object) -> object:
    """A value as a spreadsheet-safe cell: text that looks like a formula is made plain text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _answer_rows(data: dict, specs: dict[tuple[str, int], InstrumentSpec | None]):
    for r in data["responses"]:
        ident = (r["instrument"]["key"], r["instrument"]["version"])
        spec = specs.get(ident)
        meta = [
            r["status"],
            r["session"],
            r["created_at"],
            r["submitted_at"],
            r["score_total"],
            r["score_band"],
        ]
        head = [r["id"], ident[0], ident[1]]
        if not r["answers"]:
            yield [*head, "", "", "", "", *meta]
            continue
        order = [i.key for i in spec.items] if spec else []
        keys = [k for k in order if k in r["answers"]]
        keys += sorted(k for k in r["answers"] if k not in keys)
        for key in keys:
            value = r["answers"][key]
            item = spec.items_by_key.get(key) if spec else None
            label = answer_words(spec, item, value) if spec and item else ""
            yield [*head, key, item.text if item else "", value, label, *meta]


def _specs_for(user, data: dict) -> dict[tuple[str, int], InstrumentSpec | None]:
    wanted = {(i["key"], i["version"]) for i in data["instruments"]}
    q = models.Q()
    for key, version in wanted:
        q |= models.Q(key=key, version=version)
    found: dict[tuple[str, int], InstrumentSpec | None] = dict.fromkeys(wanted)
    if wanted:
        # Only what the person sees: another person's import may have the same key and version.
        # Narrowest scope last, so that it wins (as it does in Instrument.objects.for_person).
        for inst in Instrument.objects.visible_to(user).filter(q).order_by("scope"):
            found[(inst.key, inst.version)] = inst.parsed
    return found


def export_csv_zip(user) -> bytes:
    """The zip of CSV files (see CSV_README), made from the JSON export."""
    data = export_dict(user)
    p = data["profile"]
    rows: dict[str, list[list]] = {
        "profile.csv": [[p["email"], p["name"], p["region"], p["date_joined"]]],
        "sessions.csv": [
            [
                s["id"],
                s["starts_at"],
                s["status"],
                s["clinician_name"],
                s["setting"],
                s["notes"],
                s["created_at"],
                s["updated_at"],
            ]
            for s in data["sessions"]
        ],
        "responses.csv": list(_answer_rows(data, _specs_for(user, data))),
        "safety_events.csv": [
            [e["id"], e["response"], e["rule_key"], e["created_at"]] for e in data["safety_events"]
        ],
        "insights.csv": [
            [i["id"], i["session"], i["text"], i["created_at"]] for i in data["insights"]
        ],
        "action_steps.csv": [
            [s["id"], s["session"], s["source_response"], s["text"], s["status"], s["created_at"]]
            for s in data["action_steps"]
        ],
        "check_ins.csv": [
            [s["id"], c["status"], c["note"], c["created_at"]]
            for s in data["action_steps"]
            for c in s["check_ins"]
        ],
        "questions.csv": [
            [q["id"], q["source_response"], q["text"], q["asked_at"], q["created_at"]]
            for q in data["questions"]
        ],
        "support.csv": [
            [s["id"], s["category"], s["text"], s["created_at"]] for s in data["support_items"]
        ],
        "practices.csv": [
            [
                x["id"],
                x["instrument"]["key"],
                x["instrument"]["version"],
                x["started_at"],
                x["planned_seconds"],
                x["elapsed_seconds"],
                x["completed"],
                x["settled_before"],
                x["settled_after"],
                x["pace"],
                x["notings"],
                x["source"],
                x["created_at"],
            ]
            for x in data["practice_logs"]
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "README.txt",
            CSV_README.format(site_name=data["site_name"], exported_at=data["exported_at"]),
        )
        for name, header in CSV_FILES.items():
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(header)
            writer.writerows([csv_cell(v) for v in row] for row in rows[name])
            # With a byte-order mark, spreadsheet programs read the UTF-8 as UTF-8.
            zf.writestr(name, text.getvalue().encode("utf-8-sig"))
    return out.getvalue()
