"""Baselines: what the simplest Django view costs on the same database, through the same middleware.

`twelve_rows` is the yardstick for the Today page: one query for twelve rows, one small template.
`bare_insert` is the yardstick for the worksheet autosave: one INSERT of the posted text in a
transaction (BEGIN IMMEDIATE on SQLite, as the app's own writes), no encryption, no model.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kap.journal.models import KapSession

TABLE = "bench_insert_row"


def create_table(cursor) -> None:
    key = "BIGSERIAL PRIMARY KEY" if connection.vendor == "postgresql" else "INTEGER PRIMARY KEY"
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id {key}, user_id BIGINT, body TEXT, created_at TEXT)"
    )


def twelve_rows(request: HttpRequest) -> HttpResponse:
    rows = (
        KapSession.objects.filter(client=request.user)
        .order_by("-starts_at")
        .values("starts_at", "status", "clinician_name")[:12]
    )
    return render(request, "bench/baseline.html", {"rows": rows})


@require_POST
def bare_insert(request: HttpRequest) -> HttpResponse:
    body = "\n".join(v for k, v in request.POST.items() if k != "session")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (user_id, body, created_at) VALUES (%s, %s, %s)",
            [request.user.pk, body, timezone.now().isoformat()],
        )
    return JsonResponse({"status": "saved"})
