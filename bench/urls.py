"""The app's URLs, plus two baselines that exist only in the benchmark."""

from django.urls import path

from bench import baseline_views
from bench.proposals import autosave as proposed_autosave
from kap.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    path("bench/baseline/", baseline_views.twelve_rows, name="bench-baseline"),
    path("bench/insert/", baseline_views.bare_insert, name="bench-insert"),
    # A proposed fix, served beside the current view so that both are loaded the same way.
    path("bench/proposed/autosave/<slug:key>/", proposed_autosave.autosave),
    *app_urlpatterns,
]
