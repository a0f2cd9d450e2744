from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kap.accounts.models import User
from kap.content.crisis import default_pack


@login_not_required
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        first_run = not User.objects.exists()
        return render(request, "home/welcome.html", {"first_run": first_run})
    if request.user.is_client:
        from kap.journal.views import today

        return today(request)
    pack = default_pack()
    pages = list(pack.pages.only("slug", "title", "order")) if pack else []
    return render(request, "home/today.html", {"pages": pages})
