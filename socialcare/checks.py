"""System checks: a bad socialcare configuration is reported at start-up, with the fix.

Ids: socialcare.E001 unknown platform · E002 no key for secrets at rest · E003 invalid encryption key
· E004 customer model unusable · E005 unknown setting name · E006 a required app is not installed
· W001 encryption key derived from SECRET_KEY · W002 social_django not installed (no identity
verification, channel connection or staff sign-in) · W003 a sign-in backend named in
OAUTH_BACKENDS / STAFF_SIGNIN_BACKENDS is not in AUTHENTICATION_BACKENDS · W004
SOCIAL_AUTH_PIPELINE lacks socialcare's steps.
Deployment only (``check --deploy``): W010 no login rate limiting · W011 outbound webhooks may go
to http or private addresses.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured

from socialcare import crypto
from socialcare.conf import app_settings


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
    messages: list = []
    unknown = app_settings.unknown_names()
    if unknown:
        messages.append(
            Error(
                f"Unknown SOCIALCARE setting(s): {', '.join(unknown)}.",
                hint="Check the spelling against docs/settings.md.",
                id="socialcare.E005",
            )
        )
    known = app_settings.platform_labels()
    for platform in app_settings.PLATFORMS:
        if platform not in known:
            messages.append(
                Error(
                    f"SOCIALCARE['PLATFORMS'] names unknown platform {platform!r}.",
                    hint=f"Use one of {', '.join(known)}, or add it to "
                    "SOCIALCARE['EXTRA_PLATFORMS'] = {key: label}.",
                    id="socialcare.E001",
                )
            )
    from django.apps import apps

    for app in ("django_q", "rest_framework", "drf_spectacular", "drf_spectacular_sidecar"):
        if not apps.is_installed(app):
            messages.append(
                Error(
                    f"socialcare needs {app!r} in INSTALLED_APPS.",
                    hint="Add 'rest_framework', 'drf_spectacular', 'drf_spectacular_sidecar' "
                    "and 'django_q' before 'socialcare' (see docs/integration.md).",
                    id="socialcare.E006",
                )
            )
    messages += _check_encryption()
    messages += _check_customer_model()
    messages += _check_signin()
    return messages


def _check_signin() -> list:
    from django.apps import apps
    from django.conf import settings

    if not apps.is_installed("social_django"):
        return [
            Warning(
                "'social_django' is not in INSTALLED_APPS: customer identity verification, "
                "connecting channels through OAuth and staff sign-in are off.",
                hint="Add 'social_django' to INSTALLED_APPS and set SOCIAL_AUTH_PIPELINE = "
                "socialcare.pipeline.PIPELINE (see docs/verification.md).",
                id="socialcare.W002",
            )
        ]
    from social_core.backends.utils import load_backends

    known = set(load_backends(getattr(settings, "AUTHENTICATION_BACKENDS", []), force_load=True))
    messages = []
    pipeline = list(getattr(settings, "SOCIAL_AUTH_PIPELINE", None) or [])
    steps = ["socialcare.pipeline.verify_customer_identity", "socialcare.pipeline.connect_channel"]
    if not all(step in pipeline for step in steps):
        messages.append(
            Warning(
                "SOCIAL_AUTH_PIPELINE does not include socialcare's steps: identity "
                "verification and channel connection will refuse to start.",
                hint="Set SOCIAL_AUTH_PIPELINE to socialcare.pipeline.PIPELINE (copy its names "
                "into settings; see docs/verification.md).",
                id="socialcare.W004",
            )
        )
    named = [(f"OAUTH_BACKENDS[{k!r}]", v) for k, v in app_settings.OAUTH_BACKENDS.items()]
    named += [("STAFF_SIGNIN_BACKENDS", v) for v in app_settings.STAFF_SIGNIN_BACKENDS]
    for where, name in named:
        if name and name not in known:
            messages.append(
                Warning(
                    f"SOCIALCARE[{where.split('[')[0]!r}] names sign-in backend {name!r}, "
                    "which is not in AUTHENTICATION_BACKENDS.",
                    hint=f"Add the social-auth backend class named {name!r} to "
                    f"AUTHENTICATION_BACKENDS, or remove it from SOCIALCARE['{where}'].",
                    id="socialcare.W003",
                )
            )
    return messages


def _check_encryption() -> list:
    keys = app_settings.ENCRYPTION_KEYS
    if not keys:
        if not crypto.secret_key():
            return [
                Error(
                    "No key to encrypt channel secrets at rest.",
                    hint="Set SOCIALCARE['ENCRYPTION_KEYS'] = [<Fernet key>] "
                    "(python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())').",
                    id="socialcare.E002",
                )
            ]
        return [
            Warning(
                "Channel secrets are encrypted with a key derived from SECRET_KEY; "
                "rotating SECRET_KEY would make them unreadable.",
                hint="Set SOCIALCARE['ENCRYPTION_KEYS'] to your own Fernet key(s).",
                id="socialcare.W001",
            )
        ]
    messages = []
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            messages.append(
                Error(
                    f"SOCIALCARE['ENCRYPTION_KEYS'][{index}] is not a valid Fernet key.",
                    hint="A key is 32 url-safe base64-encoded bytes: Fernet.generate_key().",
                    id="socialcare.E003",
                )
            )
    return messages


def _check_customer_model() -> list:
    from socialcare.models import customer_model_name, get_customer_model

    try:
        model = get_customer_model()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="socialcare.E004")]
    messages = []
    for setting in ("CUSTOMER_NAME_FIELD", "CUSTOMER_EMAIL_FIELD"):
        field_name = getattr(app_settings, setting)
        try:
            model._meta.get_field(field_name)
        except FieldDoesNotExist:
            messages.append(
                Error(
                    f"The customer model {customer_model_name()} has no field {field_name!r} "
                    f"(SOCIALCARE['{setting}']).",
                    hint=f"Set SOCIALCARE['{setting}'] to the name of the customer's "
                    f"{'name' if 'NAME' in setting else 'email'} field.",
                    id="socialcare.E004",
                )
            )
    return messages


#: Apps that rate-limit sign-in; one of them installed is enough for W010.
LOGIN_LIMITERS = ("axes", "defender")


@register(Tags.security, deploy=True)
def check_deploy_access(app_configs: Any = None, **kwargs: Any) -> list:
    from django.apps import apps

    messages: list = []
    if not any(apps.is_installed(app) for app in LOGIN_LIMITERS):
        messages.append(
            Warning(
                "Nothing limits sign-in attempts: the admin's passwords can be guessed at speed.",
                hint="Install django-axes (see docs/access.md, 'Login rate limiting').",
                id="socialcare.W010",
            )
        )
    if app_settings.OUTBOUND_WEBHOOK_ALLOW_HTTP or app_settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE:
        messages.append(
            Warning(
                "Outbound webhooks may go to plain http or to private/loopback addresses (SSRF).",
                hint="Set SOCIALCARE['OUTBOUND_WEBHOOK_ALLOW_HTTP'] and "
                "['OUTBOUND_WEBHOOK_ALLOW_PRIVATE'] to False in production.",
                id="socialcare.W011",
            )
        )
    return messages
