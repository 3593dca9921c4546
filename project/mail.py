"""The mail backend settings of the demo and production profiles (and the benchmarks), written the
way the running Django reads them: Django 6.1 replaced ``EMAIL_BACKEND`` and the other ``EMAIL_*``
settings with ``MAILERS`` (and warns about the old names, which may not stand beside it); 5.2 and
6.0 know only the old names."""

from __future__ import annotations

from typing import Any

import django

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

#: An SMTP option of ``MAILERS`` and the ``EMAIL_*`` setting that held it before Django 6.1.
EMAIL_SETTINGS = {
    "host": "EMAIL_HOST",
    "port": "EMAIL_PORT",
    "username": "EMAIL_HOST_USER",
    "password": "EMAIL_HOST_PASSWORD",
    "use_tls": "EMAIL_USE_TLS",
    "use_ssl": "EMAIL_USE_SSL",
    "timeout": "EMAIL_TIMEOUT",
}


def mail_settings(backend: str, smtp: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings that choose ``backend``, with the SMTP options in ``smtp`` (keys of
    ``EMAIL_SETTINGS``); a settings module applies them with ``globals().update(...)``.

    On Django 6.1 the options go to Django's SMTP backend only (another backend would reject them);
    before, they are the ``EMAIL_*`` settings, which other backends ignore."""
    smtp = smtp or {}
    if django.VERSION >= (6, 1):
        options = smtp if backend == SMTP_BACKEND else {}
        return {"MAILERS": {"default": {"BACKEND": backend, "OPTIONS": options}}}
    return {"EMAIL_BACKEND": backend, **{EMAIL_SETTINGS[key]: v for key, v in smtp.items()}}
