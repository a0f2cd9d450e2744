"""The app's own settings, plus the benchmark's baseline views (bench/urls.py) and templates.

Selected with DJANGO_SETTINGS_MODULE=bench.settings; nothing else differs from kap.settings, so
the baseline views pass through exactly the same middleware as the app's pages.
"""

from pathlib import Path

from kap.settings import *  # noqa: F403
from kap.settings import TEMPLATES

ROOT_URLCONF = "bench.urls"
TEMPLATES = [{**TEMPLATES[0], "DIRS": [*TEMPLATES[0]["DIRS"], Path(__file__).parent / "templates"]}]
