"""System checks: a bad socialcare configuration is reported at start-up, with the fix.

Ids: socialcare.E001 unknown platform · E002 no key for secrets at rest · E003 invalid encryption key
· E004 customer model unusable · E005 unknown setting name · E006 a required app is not installed
· E009 SENTIMENT_BACKEND unusable
· W001 encryption key derived from SECRET_KEY · W012 the default database is SQLite without WAL,
IMMEDIATE transactions and a lock timeout.
OAuth sign-in (identity verification, channel connection, staff sign-in), checked only once a
project configures it (``sign_in_configured``): W002 social_django not installed · W003 a sign-in
backend named in OAUTH_BACKENDS / STAFF_SIGNIN_BACKENDS is not in AUTHENTICATION_BACKENDS · W004
SOCIAL_AUTH_PIPELINE lacks socialcare's steps.
Deployment only (``check --deploy``): W010 no login rate limiting · W011 outbound webhooks may go
to http or private addresses.
Meta's Graph API version (``META_GRAPH_VERSION``, when Facebook or Instagram is in PLATFORMS): W013
it ends within 60 days, or is newer than socialcare's table · E008 it has ended, or is unknown.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from socialcare import crypto
from socialcare.conf import app_settings
from socialcare.db_settings import SQLITE_OPTIONS

#: The apps socialcare cannot run without (check socialcare.E006), in the order they go before
#: "socialcare" in INSTALLED_APPS.
REQUIRED_APPS = ("rest_framework", "drf_spectacular", "drf_spectacular_sidecar", "django_q")
#: Where the docs list them: the section of docs/integration.md with the INSTALLED_APPS block.
APPS_DOC = 'docs/integration.md, "2. Settings"'
#: Where the docs give SQLite's settings (check socialcare.W012).
SQLITE_DOC = 'docs/integration.md, "3. SQLite or PostgreSQL"'


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

    for app in REQUIRED_APPS:
        if not apps.is_installed(app):
            messages.append(
                Error(
                    f"socialcare needs {app!r} in INSTALLED_APPS.",
                    hint=f"Add {', '.join(map(repr, REQUIRED_APPS))} before 'socialcare' "
                    f"(the INSTALLED_APPS block of {APPS_DOC}).",
                    id="socialcare.E006",
                )
            )
    messages += _check_encryption()
    messages += _check_customer_model()
    messages += _check_signin()
    messages += _check_sqlite()
    messages += _check_graph_version()
    messages += _check_sentiment_backend()
    return messages


def sign_in_configured() -> bool:
    """Whether the project uses socialcare's OAuth sign-in: it names staff sign-in backends, sets
    ``OAUTH_BACKENDS`` itself, or gives a backend of the default ``OAUTH_BACKENDS`` a client id
    (``SOCIAL_AUTH_<BACKEND>_KEY``). Having social_django installed is not enough."""
    if app_settings.STAFF_SIGNIN_BACKENDS or app_settings.user_settings.get("OAUTH_BACKENDS"):
        return True
    return bool(_backends_with_client_id())


def _backends_with_client_id() -> set[str]:
    from django.conf import settings
    from social_core.utils import setting_name

    names = {str(name) for name in app_settings.OAUTH_BACKENDS.values() if name}
    return {name for name in names if getattr(settings, setting_name(name, "KEY"), "")}


def _check_signin() -> list:
    from django.apps import apps
    from django.conf import settings

    if not sign_in_configured():
        return []
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
    # A project that sets OAUTH_BACKENDS means every name in it; of the defaults, only the
    # backends it gave a client id are in use.
    explicit = bool(app_settings.user_settings.get("OAUTH_BACKENDS"))
    in_use = _backends_with_client_id()
    named = [
        (f"SOCIALCARE['OAUTH_BACKENDS'][{platform!r}]", name)
        for platform, name in app_settings.OAUTH_BACKENDS.items()
        if name and (explicit or name in in_use)
    ]
    named += [
        ("SOCIALCARE['STAFF_SIGNIN_BACKENDS']", n) for n in app_settings.STAFF_SIGNIN_BACKENDS
    ]
    for where, name in named:
        if name not in known:
            messages.append(
                Warning(
                    f"{where} names sign-in backend {name!r}, which is not in "
                    "AUTHENTICATION_BACKENDS.",
                    hint=f"Add the social-auth backend class named {name!r} to "
                    f"AUTHENTICATION_BACKENDS, or remove {name!r} from {where}.",
                    id="socialcare.W003",
                )
            )
    return messages


_WAL_PRAGMA = re.compile(r"journal_mode\s*=\s*['\"]?wal\b", re.IGNORECASE)


def sqlite_problems(database: dict[str, Any]) -> list[str]:
    """What a ``DATABASES`` entry lacks for concurrent writers when it is a SQLite file: "WAL
    journal mode", "IMMEDIATE transactions", "a lock timeout". Empty for other engines and for
    in-memory databases. Reads the settings and, for WAL, at most the file's 20-byte header (WAL
    is a property of the file); never opens a connection."""
    engine = str(database.get("ENGINE", ""))
    name = str(database.get("NAME") or "")
    if "sqlite" not in engine and "spatialite" not in engine:
        return []
    if not name or name == ":memory:" or "mode=memory" in name:
        return []
    options = database.get("OPTIONS") or {}
    problems = []
    if not _WAL_PRAGMA.search(str(options.get("init_command", ""))) and not _is_wal_file(name):
        problems.append("WAL journal mode")
    if str(options.get("transaction_mode") or "").upper() not in ("IMMEDIATE", "EXCLUSIVE"):
        problems.append("IMMEDIATE transactions")
    if options.get("timeout") is None:
        problems.append("a lock timeout")
    return problems


def _is_wal_file(name: str) -> bool:
    """The SQLite file header says WAL (bytes 18 and 19 are 2), as it does once any connection
    set ``journal_mode=WAL``."""
    try:
        with Path(name).open("rb") as file:
            header = file.read(20)
    except OSError:
        return False
    return header.startswith(b"SQLite format 3\x00") and header[18:20] == b"\x02\x02"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _check_sqlite() -> list:
    from django.conf import settings

    database = (getattr(settings, "DATABASES", None) or {}).get("default") or {}
    problems = sqlite_problems(database)
    if not problems:
        return []
    options = ", ".join(f"{key!r}: {value!r}" for key, value in SQLITE_OPTIONS.items())
    return [
        Warning(
            f"The default database is SQLite without {_and(problems)}: while the web "
            "server and the qcluster worker write at once, requests and tasks fail with "
            "'database is locked'.",
            hint=f'Set DATABASES["default"]["OPTIONS"] = {{{options}}} (see {SQLITE_DOC}), '
            "or use PostgreSQL.",
            id="socialcare.W012",
        )
    ]


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


#: Values of the settings that take one of a few words.
CHOICE_SETTINGS = {
    "CUSTOMER_DELETE": ("keep_cases", "refuse"),
    "CUSTOMERS_FOR_CASES": ("create", "match", "manual"),
}


def _check_customer_model() -> list:
    from socialcare.adapter import CustomerAdapter, get_customer_adapter
    from socialcare.models import customer_model_name, get_customer_model

    try:
        model = get_customer_model()
        adapter = get_customer_adapter()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="socialcare.E004")]
    messages = []
    for setting, (what, method) in {
        "CUSTOMER_NAME_FIELD": ("name", "get_name"),
        "CUSTOMER_EMAIL_FIELD": ("email", "get_email"),
    }.items():
        attribute = getattr(adapter, f"{what}_attribute")()
        if getattr(type(adapter), method) is not getattr(CustomerAdapter, method):
            continue  # the adapter reads it its own way
        if not hasattr(model, attribute):
            messages.append(
                Error(
                    f"The customer model {customer_model_name()} has no field, property or "
                    f"method {attribute!r} (SOCIALCARE['{setting}']).",
                    hint=f"Set SOCIALCARE['{setting}'] to what holds the customer's {what}, or "
                    f"override {method}() in a customer adapter (docs/integration.md).",
                    id="socialcare.E004",
                )
            )
    for setting, allowed in CHOICE_SETTINGS.items():
        value = getattr(app_settings, setting)
        if value not in allowed:
            messages.append(
                Error(
                    f"SOCIALCARE['{setting}'] is {value!r}.",
                    hint=f"Use one of {', '.join(map(repr, allowed))} (docs/settings.md).",
                    id="socialcare.E007",
                )
            )
    return messages


def _check_sentiment_backend() -> list:
    from socialcare.sentiment import load_backend

    try:
        load_backend(app_settings.SENTIMENT_BACKEND)
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Set SOCIALCARE['SENTIMENT_BACKEND'] to the dotted path of a class with "
                "score(text, language='') -> -1..+1 (docs/scoring.md), or remove it for the "
                "default.",
                id="socialcare.E009",
            )
        ]
    return []


#: Days before the configured Graph API version's end date from which W013 warns.
GRAPH_WARNING_DAYS = 60


def _today() -> date:
    return timezone.now().date()


def _check_graph_version() -> list:
    if not {"facebook", "instagram"} & set(app_settings.PLATFORMS):
        return []
    return graph_version_messages(app_settings.META_GRAPH_VERSION, _today())


def graph_version_messages(version: Any, today: date) -> list:
    """What checks W013 / E008 say of Graph API ``version`` on ``today``, from the end dates
    Meta documents (``platforms.meta.graph.GRAPH_VERSIONS``)."""
    from socialcare.platforms.meta.graph import GRAPH_VERSIONS, version_number

    setting = "SOCIALCARE['META_GRAPH_VERSION']"
    known = sorted(GRAPH_VERSIONS, key=lambda v: version_number(v) or (0, 0), reverse=True)
    newest = known[0]
    number = version_number(version)
    upgrade = (
        f"Set {setting} to {newest!r} once your app works with it (Meta's changelog: "
        "https://developers.facebook.com/docs/graph-api/changelog; docs/settings.md)."
    )
    if version not in GRAPH_VERSIONS:
        if number is not None and number > (version_number(newest) or (0, 0)):
            return [
                Warning(
                    f"{setting} is {version!r}, newer than every Graph API version socialcare "
                    f"knows (newest: {newest}): it cannot tell when Meta ends it.",
                    hint="Check its date in Meta's changelog and upgrade socialcare, or use "
                    f"{newest!r}.",
                    id="socialcare.W013",
                )
            ]
        return [
            Error(
                f"{setting} is {version!r}, which is not a Graph API version socialcare knows.",
                hint=f"Use one of {', '.join(known)} (older versions have ended); the default "
                f"is {newest!r}.",
                id="socialcare.E008",
            )
        ]
    end = GRAPH_VERSIONS[version]
    if end is None:
        return []
    if today >= end:
        return [
            Error(
                f"Graph API {version} ({setting}) was available until {end.isoformat()}: "
                "Meta no longer offers it to Facebook and Instagram calls.",
                hint=upgrade,
                id="socialcare.E008",
            )
        ]
    left = (end - today).days
    if left <= GRAPH_WARNING_DAYS:
        return [
            Warning(
                f"Graph API {version} ({setting}) is available until {end.isoformat()}: "
                f"{left} day(s) left.",
                hint=upgrade,
                id="socialcare.W013",
            )
        ]
    return []


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
