"""System checks: a bad socialcare configuration is reported at start-up, with the fix.

Ids: socialcare.E001 unknown platform · E002 no key for secrets at rest · E003 invalid encryption key
· E004 customer model unusable · E005 unknown setting name · E006 a required app is not installed
· W001 encryption key derived from SECRET_KEY.
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
