import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kap.settings")
application = get_wsgi_application()

# Refuse to serve with a missing or wrong encryption key: a clear error at start-up, never
# garbled text or plaintext on a page later.
from kap.ops.keys import verify_keys  # noqa: E402

verify_keys()
