"""The app's URLs, plus two baselines that exist only in the benchmark."""

from django.urls import path

from bench import baseline_views
from kap.urls import urlpatterns as app_urlpatterns

urlpatterns = [
    path("bench/baseline/", baseline_views.twelve_rows, name="bench-baseline"),
    path("bench/insert/", baseline_views.bare_insert, name="bench-insert"),
    *app_urlpatterns,
]
