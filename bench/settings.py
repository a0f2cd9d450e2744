"""The app's own settings, plus the benchmark's baseline views (bench/urls.py) and templates, and
the per-request measurements of bench/measure.py.

Selected with DJANGO_SETTINGS_MODULE=bench.settings; nothing else differs from kap.settings, so
the baseline views pass through exactly the same middleware as the app's pages. The bench's
middleware comes first (outermost), so that its CPU time, queries, rows and decryptions cover the
whole request, the other middleware (sessions, authentication, gzip) included, for the baselines
and the app's pages alike.
"""

from pathlib import Path

from kap.settings import *  # noqa: F403
from kap.settings import MIDDLEWARE, TEMPLATES

ROOT_URLCONF = "bench.urls"
TEMPLATES = [{**TEMPLATES[0], "DIRS": [*TEMPLATES[0]["DIRS"], Path(__file__).parent / "templates"]}]
MIDDLEWARE = ["bench.measure.BenchMiddleware", *MIDDLEWARE]
