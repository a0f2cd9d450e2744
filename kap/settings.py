"""KAP Companion settings. Everything is read from the environment; see README "Configuration".

SQLite in KAP_DATA_DIR by default; DATABASE_URL switches to PostgreSQL. Nothing exists only in
production: production differs only by the variables it sets.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

from kap.lib.env import envbool, envint, envstr
from kap.lib.mail import smtp_mailers
from kap.lib.private import private_dir, tighten_files

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(envstr("KAP_DATA_DIR", "data")).resolve()
# The database, its -wal and -shm, the keys: the owner's alone (folder 0700, files 0600), also in
# an install made before with wider modes (kap.lib.private).
private_dir(DATA_DIR)
tighten_files(DATA_DIR)


def _secret_key() -> str:
    if key := envstr("KAP_SECRET_KEY"):
        return key
    # A laptop install keeps its own random key beside its data, readable by its owner only.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# Earlier values of KAP_SECRET_KEY after a change: sessions and links signed with them, and the
# audit trail's rows written under them, still verify.
SECRET_KEY_FALLBACKS = [k for k in envstr("KAP_SECRET_KEY_FALLBACKS").split(",") if k]
DEBUG = envbool("KAP_DEBUG", "False")
ALLOWED_HOSTS = [
    h for h in envstr("KAP_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [o for o in envstr("KAP_CSRF_TRUSTED_ORIGINS").split(",") if o]
OPEN_SIGNUP = envbool("KAP_OPEN_SIGNUP", "True")
# Pages register the offline service worker (kap/offline). Off only for tests that do not test it:
# its fetches in the background would race a test's own reads of the database.
OFFLINE = envbool("KAP_OFFLINE", "True")
SITE_NAME = envstr("KAP_SITE_NAME", "KAP Companion")
DEFAULT_PACK = envstr("KAP_DEFAULT_PACK", "kap-guide")
# Today keeps what its rules read for this long at most (kap.journal.today.cache_key), in the
# default cache (CACHES: Django's per-process memory unless set), and its page as rendered for
# the minute in the process's own memory (kap.journal.today.PAGES); 0: neither is kept.
TODAY_CACHE_SECONDS = envint("KAP_TODAY_CACHE_SECONDS", "300")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "axes",
    "kap.accounts",
    "kap.content",
    "kap.journal",
    "kap.practices",
    "kap.exports",
    "kap.progress",
    "kap.care",
    "kap.ops",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    # Before anything reads the Host header: /healthz and /readyz answer a balancer probing by IP
    # address (kap.ops.middleware), without the https redirect or a login.
    "kap.ops.middleware.ProbeMiddleware",
    # A request id (the proxy's X-Request-ID, or a new one) in every log line of the request.
    "kap.ops.middleware.RequestIdMiddleware",
    # Next, so that it compresses what every other middleware (WhiteNoise's static files too)
    # returns, for browsers that accept gzip. Django pads compressed responses against BREACH.
    # (WhiteNoise's precompressed copies would need collectstatic, and with
    # WHITENOISE_USE_FINDERS the files found in the package are served instead of them.)
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the browser (Accept-Language) or the language cookie; a logged-in
    # person's own choice replaces it below (kap.accounts.middleware.LanguageMiddleware).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "kap.accounts.middleware.LoginRequiredMiddleware",
    # Times shown in the person's own time zone (User.time_zone).
    "kap.accounts.middleware.TimeZoneMiddleware",
    # And in the language they chose (User.language).
    "kap.accounts.middleware.LanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "kap.accounts.middleware.SessionTimeoutMiddleware",
    # Therapists and admins send no form (but logging out, two-factor) on a password alone.
    "kap.accounts.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "kap.accounts.middleware.NoStoreMiddleware",
    # Whose page a response is, for the service worker; a logout clears the device.
    "kap.offline.middleware.OfflineMiddleware",
    # A value under a key this server has not received yet: a 503 page, not a 500.
    "kap.ops.middleware.KeyMissingMiddleware",
    # Last, so that it sees the outcome of the login view.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "kap.urls"
WSGI_APPLICATION = "kap.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kap.content.context_processors.site",
            ],
        },
    }
]

if database_url := envstr("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(database_url)}
    # Django's own connection pool (psycopg_pool): each app server holds at most this many.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": envint("KAP_DB_POOL_SIZE", "8"),
        "timeout": 10,
    }
else:
    DATABASES = {
        "default": {
            # Django's SQLite backend, with one process's writers queued on a lock (see there).
            "ENGINE": "kap.lib.sqlite",
            "NAME": DATA_DIR / "kap.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on the busy
                # timeout instead of failing with "database is locked" half-way through.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
            },
            # Django's default for SQLite, said out loud: tools that recognise SQLite by the
            # ENGINE's name (pytest-django's per-worker suffix) do not know kap.lib.sqlite.
            "TEST": {"NAME": ":memory:"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": envint("KAP_PASSWORD_MIN_LENGTH", "10")},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The languages a person can choose (User.language); before they choose, or logged out, the
# browser's Accept-Language picks among them. The catalogue is kap/locale/<lang>/LC_MESSAGES.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = envstr("KAP_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(envstr("KAP_STATIC_ROOT") or DATA_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# A laptop install serves static files straight from the package (no collectstatic step).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Served over HTTPS (a clinic): secure cookies with the __Host- prefix, HSTS, redirect to https.
HTTPS = envbool("KAP_HTTPS", envstr("KAP_SECURE_COOKIES", "False"))
TRUSTED_PROXY = envbool("KAP_TRUSTED_PROXY", "False")
if TRUSTED_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# In the database under a digest of the key: the database, its -wal or a backup opens no session.
SESSION_ENGINE = "kap.accounts.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = HTTPS
# A visitor's language choice (kap.accounts.views_language); a year, like Django's default.
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
if HTTPS:
    SESSION_COOKIE_NAME = "__Host-kap-session"
    CSRF_COOKIE_NAME = "__Host-kap-csrf"
    LANGUAGE_COOKIE_NAME = "__Host-kap-language"
    SECURE_SSL_REDIRECT = envbool("KAP_SSL_REDIRECT", "True")
SECURE_HSTS_SECONDS = envint("KAP_HSTS_SECONDS", "31536000" if HTTPS else "0")
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = envbool("KAP_HSTS_PRELOAD", "True" if HTTPS else "False")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Sessions end after this long without activity (typing a draft counts as activity), and in
# any case this long after logging in. Therapists and admins see others' data: shorter.
STAFF_IDLE_MINUTES = envint("KAP_STAFF_IDLE_MINUTES", "30")
CLIENT_IDLE_MINUTES = envint("KAP_CLIENT_IDLE_MINUTES", "480")
SESSION_MAX_HOURS = envint("KAP_SESSION_MAX_HOURS", "12")
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600

# Login throttling by address and account together: one attacker cannot lock out a whole
# clinic behind one proxy address, and one address cannot try many passwords for one account.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = envint("KAP_LOGIN_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = envint("KAP_LOGIN_COOLOFF_MINUTES", "15") / 60  # hours
# The second factor (kap.accounts.mfa): after each wrong code, django-otp makes the account's
# devices wait 1, 2, 4... seconds (these factors), for every address; the app caps that wait at
# the cool-off above, so wrong codes never shut the owner out for longer than wrong passwords do.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "kap.accounts.throttle.login_username"
# The client's address by the one rule every throttle, the audit trail and the logs share
# (behind KAP_TRUSTED_PROXY, the address the proxy added to X-Forwarded-For).
AXES_CLIENT_IP_CALLABLE = "kap.lib.addresses.request_ip"
AXES_VERBOSE = False
# Password-reset requests (kap.accounts.throttle): at most this many an hour for one e-mail
# address, and from one client address (the same address rules as the login throttle above).
PASSWORD_RESET_PER_ADDRESS = envint("KAP_PASSWORD_RESET_PER_ADDRESS", "3")
PASSWORD_RESET_PER_CLIENT = envint("KAP_PASSWORD_RESET_PER_CLIENT", "10")

# The browser talks to this origin only: no CDN, no fonts, no analytics.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "worker-src": [CSP.SELF],
    "manifest-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
}

# Background work (reminders, alert e-mails) runs in `kap worker`, queued in the database.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# E-mail is optional: with no KAP_SMTP_HOST, nothing is sent and reminders stay in the calendar feed.
SMTP_HOST = envstr("KAP_SMTP_HOST")
# No KAP_SMTP_HOST: no mailer at all (Django refuses a dummy one in production), so nothing is sent.
# STARTTLS on port 587 (KAP_SMTP_TLS), TLS from the first byte on port 465 (KAP_SMTP_SSL, the
# default there): kap.lib.mail.smtp_mailers.
MAILERS = smtp_mailers(SMTP_HOST)
if MAILERS:
    # Django's SMTP backend, noting each send's outcome for the clinic page (kap.ops.mail).
    MAILERS["default"]["BACKEND"] = "kap.ops.mail.RecordingEmailBackend"
# On a laptop, no mail server is normal; served over HTTPS (a clinic), its absence is worth the
# warning: safety-alert e-mails need it.
SILENCED_SYSTEM_CHECKS = ["mail.W001"] if not (SMTP_HOST or HTTPS) else []
DEFAULT_FROM_EMAIL = envstr("KAP_FROM_EMAIL", "Companion <companion@localhost>")
# E-mails are discreet: they come from the person's clinic by name, else from this name, and
# never name the treatment, the site (KAP_SITE_NAME) or an instrument.
MAIL_NAME = envstr("KAP_MAIL_NAME", "Companion")
# Safety-alert e-mails (kap.care.tasks): a sender holds its claim this long (a worker that dies
# mid-send is taken to be dead after it); a failed attempt is tried again after a backoff that
# doubles from KAP_ALERT_EMAIL_RETRY_SECONDS, up to KAP_ALERT_EMAIL_ATTEMPTS attempts, then
# reported as not delivered; `kap worker` looks for alerts to (re)send this often.
ALERT_EMAIL_LEASE_SECONDS = envint("KAP_ALERT_EMAIL_LEASE_SECONDS", "300")
ALERT_EMAIL_ATTEMPTS = envint("KAP_ALERT_EMAIL_ATTEMPTS", "5")
ALERT_EMAIL_RETRY_SECONDS = envint("KAP_ALERT_EMAIL_RETRY_SECONDS", "120")
ALERT_EMAIL_SWEEP_SECONDS = envint("KAP_ALERT_EMAIL_SWEEP_SECONDS", "60")
# The address people reach the app at, for links in e-mails and calendar feeds.
BASE_URL = envstr("KAP_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# Running it (kap.ops): /readyz fails when no worker has beaten for this long (0: not checked);
# the worker's housekeeping keeps finished task results this long and, with KAP_BACKUP_DIR set,
# backs up every KAP_BACKUP_EVERY_HOURS into it, keeping the newest KAP_BACKUP_KEEP.
WORKER_STALE_MINUTES = envint("KAP_WORKER_STALE_MINUTES", "10")
TASK_RESULTS_KEEP_DAYS = envint("KAP_TASK_RESULTS_KEEP_DAYS", "14")
BACKUP_DIR = envstr("KAP_BACKUP_DIR")
BACKUP_EVERY_HOURS = envint("KAP_BACKUP_EVERY_HOURS", "24")
BACKUP_KEEP = envint("KAP_BACKUP_KEEP", "14")

# One stream (standard error, and KAP_LOG_FILE if set): plain lines, or JSON lines with
# KAP_LOG_FORMAT=json; each with the request's id and no token (kap.lib.logs). gunicorn's access
# log joins it (kap.lib.gunicorn_logging).
LOG_FORMAT = envstr("KAP_LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"KAP_LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
_LOG_HANDLER = {"formatter": LOG_FORMAT, "filters": ["request", "redact"]}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request": {"()": "kap.lib.logs.RequestContextFilter"},
        "redact": {"()": "kap.lib.logs.RedactingFilter"},
    },
    "formatters": {
        "plain": {"()": "kap.lib.logs.PlainFormatter"},
        "json": {"()": "kap.lib.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", **_LOG_HANDLER},
        **(
            {"file": {"class": "logging.FileHandler", "filename": LOG_FILE, **_LOG_HANDLER}}
            if (LOG_FILE := envstr("KAP_LOG_FILE"))
            else {}
        ),
    },
    "root": {
        "handlers": ["console", "file"] if LOG_FILE else ["console"],
        "level": envstr("KAP_LOG_LEVEL", "INFO"),
    },
    # Django's own handlers (its console one with KAP_DEBUG, runserver's, the admins' e-mail)
    # would write paths as they are: its records go to the handlers above like everyone's.
    "loggers": {
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
    },
}
