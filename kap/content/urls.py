"""Content's own routes beyond the guide (which kap/urls.py names itself, at its old addresses).

Included by kap/urls.py, e.g. `path("care/translations/", include("kap.content.urls"))`."""

from django.urls import path

from kap.content import views

urlpatterns = [
    path("review/", views.translation_review, name="translation-review"),
]
