import os

from django.core.wsgi import get_wsgi_application

from kap.lib.private import private_umask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kap.settings")
private_umask()  # the database's -wal and -shm, and what else it creates: its owner's alone
application = get_wsgi_application()

# Refuse to serve with a missing or wrong encryption key: a clear error at start-up, never
# garbled text or plaintext on a page later.
from kap.ops.keys import verify_keys  # noqa: E402

verify_keys()
