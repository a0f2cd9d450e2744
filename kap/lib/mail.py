"""The mail server, read from the environment (`smtp_mailers`, used by kap.settings).

KAP_SMTP_HOST and KAP_SMTP_PORT (587 by default). Port 587 speaks STARTTLS (KAP_SMTP_TLS, on
unless set to False); port 465 speaks TLS from the first byte (implicit TLS, KAP_SMTP_SSL: on by
default on port 465, and it can be set on any port). The server's certificate is checked against
the system's certificate authorities (or the file named by SSL_CERT_FILE, as everywhere in
OpenSSL).
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from kap.lib.env import envbool, envint, envstr

SMTP_TIMEOUT = 20


def is_set_up() -> bool:
    """Whether a mail server is configured (KAP_SMTP_HOST): without one, nothing is sent."""
    from django.conf import settings

    return "default" in settings.MAILERS


def smtp_mailers(host: str) -> dict:
    """Django's MAILERS for the mail server at `host`; none without one (nothing is sent)."""
    if not host:
        return {}
    port = envint("KAP_SMTP_PORT", "587")
    ssl = envbool("KAP_SMTP_SSL", str(port == 465))
    starttls = envbool("KAP_SMTP_TLS", "True")
    if ssl and starttls and "KAP_SMTP_SSL" in os.environ and "KAP_SMTP_TLS" in os.environ:
        raise ImproperlyConfigured(
            "KAP_SMTP_SSL (TLS from the first byte, usually port 465) and KAP_SMTP_TLS "
            "(STARTTLS, usually port 587) are both on: set only the one your mail server speaks."
        )
    return {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": host,
                "port": port,
                "username": envstr("KAP_SMTP_USER") or None,
                "password": envstr("KAP_SMTP_PASSWORD") or None,
                # Implicit TLS already encrypts everything; STARTTLS is for a plain connection.
                "use_ssl": ssl,
                "use_tls": starttls and not ssl,
                "timeout": SMTP_TIMEOUT,
            },
        }
    }
