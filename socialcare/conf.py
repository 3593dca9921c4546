"""socialcare settings.

A project configures socialcare with one dict, ``SOCIALCARE = {...}``, plus the top-level
``SOCIALCARE_CUSTOMER_MODEL`` (see ``socialcare.models.customer``). Everything is read lazily through
``app_settings``, so ``override_settings`` works in tests::

    from socialcare.conf import app_settings
    app_settings.CASE_REFERENCE_PREFIX
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

#: The platforms socialcare knows out of the box: key -> label.
BUILTIN_PLATFORMS: dict[str, str] = {
    "x": "X (Twitter)",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "email": "Email",
}

DEFAULTS: dict[str, Any] = {
    # Platforms this installation accepts posts from (keys of BUILTIN_PLATFORMS or EXTRA_PLATFORMS).
    "PLATFORMS": list(BUILTIN_PLATFORMS),
    # Platforms a host adds: key -> label.
    "EXTRA_PLATFORMS": {},
    # Adapters a host adds or replaces: platform key -> dotted path of a PlatformAdapter class.
    "PLATFORM_ADAPTERS": {},
    # Fernet keys (urlsafe base64, 32 bytes) for secrets at rest. The first key encrypts; every key
    # decrypts, so a new key goes first and old ones stay until re-encrypted. Empty: a key derived
    # from SECRET_KEY (check socialcare.W001 warns).
    "ENCRYPTION_KEYS": [],
    # Prefix of case references: SC-000123.
    "CASE_REFERENCE_PREFIX": "SC-",
    # The customer adapter (docs/integration.md): dotted path of a socialcare.adapter.CustomerAdapter
    # subclass, socialcare's one point of contact with the (possibly swapped) customer model.
    "CUSTOMER_ADAPTER": "socialcare.adapter.CustomerAdapter",
    # What the default adapter reads and writes as a customer's name and e-mail: a field, a
    # property or a method of the customer model (an adapter may say otherwise).
    "CUSTOMER_NAME_FIELD": "name",
    "CUSTOMER_EMAIL_FIELD": "email",
    # When an identity with no customer opens a case: "create" matches it to an existing customer
    # through the adapter, or creates one; "match" only matches; "manual" leaves it to an agent.
    "CUSTOMERS_FOR_CASES": "create",
    # First-response target when no SLA policy matches.
    "DEFAULT_FIRST_RESPONSE": timedelta(minutes=60),
    # A resolved case that gets a new inbound post within this window reopens; later, a new case.
    "REOPEN_WINDOW": timedelta(days=7),
    # A post older than this when first seen is history: stored and threaded, no SLA clock,
    # alert, detector or automatic step (docs/ingestion.md, "Backfills"). None: every post is live.
    "BACKFILL_HORIZON": timedelta(hours=24),
    # A polled channel's first poll (no cursor yet) is history whatever the posts' age.
    "BACKFILL_FIRST_POLL": True,
    # Priority scoring (see socialcare/scoring.py and docs/settings.md): weights of negativity,
    # reach and the platform's verified badge; score thresholds for high and urgent.
    "PRIORITY_WEIGHTS": {"negativity": 0.6, "reach": 0.3, "verified": 0.1},
    "PRIORITY_THRESHOLDS": {"urgent": 70, "high": 40},
    # Followers at which reach counts fully (log scale).
    "FULL_REACH_FOLLOWERS": 1_000_000,
    # The sentiment scorer (docs/scoring.md): dotted path of a class with
    # score(text, language="") -> -1..+1 (socialcare.sentiment.base). The default reads English
    # with VADER + AFINN and seven more languages with a bundled model; the English-only scorer
    # of before is "socialcare.sentiment.vader.VaderSentiment".
    "SENTIMENT_BACKEND": "socialcare.sentiment.multilingual.MultilingualSentiment",
    # Largest webhook body accepted (bytes); larger gets HTTP 413.
    "MAX_WEBHOOK_BODY": 5 * 1024 * 1024,
    # Inbound deliveries whose platform signs a timestamp are refused outside this window.
    "WEBHOOK_REPLAY_WINDOW": timedelta(minutes=5),
    # Outbound webhook URLs: https only, never to private/loopback/link-local addresses, unless
    # these are switched on (development and tests with a local receiver).
    "OUTBOUND_WEBHOOK_ALLOW_HTTP": False,
    "OUTBOUND_WEBHOOK_ALLOW_PRIVATE": False,
    # How outbound replies leave: "live" (the platform's API) or "console" (logged, for demos).
    "REPLY_TRANSPORT": "socialcare.transports.live.LiveTransport",
    # Sending a reply is tried this many times (with exponential backoff) before it is failed.
    "SEND_MAX_ATTEMPTS": 5,
    # A delivery still "pending" this long after it arrived (its task lost), or "processing" this
    # long after a worker claimed it (whatever its lease: a task never runs that long), is
    # re-queued by the sweepers; the health check reports "degraded" when one has waited longer.
    "STALE_DELIVERY_AFTER": timedelta(minutes=10),
    # A worker's claim of a delivery lapses this long after its last renewal (the worker renews
    # it while it works); a re-run task, the next worker's micro-batch or the every-minute claims
    # sweeper then takes the delivery over (services.deliveries, docs/reliability.md).
    "DELIVERY_LEASE": timedelta(seconds=30),
    "INGEST_BATCH_DELIVERIES": 20,
    # A reply still "queued" (its task lost) or "sending" (its worker died) after this long is
    # picked up by the reply sweeper.
    "STALE_REPLY_AFTER": timedelta(minutes=10),
    # Seconds an automatic customer-facing message (a playbook's holding reply or hand-off note)
    # waits before it is sent, while a burst's out-of-order follow-ups may still re-link or merge
    # its thread; it is checked again when it fires (services.automatic_messages). 0: at once.
    "AUTOMATIC_MESSAGE_SETTLE": 5.0,
    # Polling: timeout of one HTTP call, and pages fetched per channel per run.
    "HTTP_TIMEOUT": 10.0,
    "POLL_MAX_PAGES": 5,
    # Mastodon edits (services.mastodon_edits): statuses of open cases re-fetched per poll (at
    # most 20, one request; 0 turns edit checks off), and how old a post may be to be checked.
    "MASTODON_EDIT_CHECKS": 20,
    "MASTODON_EDIT_WINDOW": timedelta(days=7),
    # The Graph API version of every Facebook and Instagram call ("v27.0"): the newest Meta
    # documents (platforms.meta.graph.GRAPH_VERSIONS has each version's end date; checks
    # socialcare.W013/E008 warn 60 days before it and err after it).
    "META_GRAPH_VERSION": "v27.0",
    # Outbound webhooks: failures in a row after which a subscription is disabled.
    "OUTBOUND_MAX_FAILURES": 10,
    # The SLA scan warns this long before a target is due.
    "SLA_WARNING_WINDOW": timedelta(minutes=15),
    # A breach raises the case to at least this priority ("" to leave priorities alone).
    "SLA_BREACH_PRIORITY": "high",
    # Host-registered playbook step kinds: kind -> dotted path of a step class.
    "PLAYBOOK_STEP_KINDS": {},
    # A volume spike fires only over a usual volume (average posts per window over its baseline
    # period) of at least this many; 0 lets it fire over a quiet (even empty) baseline. Both
    # counted kinds also warm up for one baseline period first (docs/crisis.md).
    "DETECTOR_MIN_BASELINE": 1.0,
    # API requests allowed per key (or per signed-in user), DRF rate syntax.
    "API_THROTTLE_RATE": "1200/min",
    # Failed API key attempts allowed per client address; beyond, 429 until the period ends.
    "API_AUTH_FAILURE_RATE": "20/min",
    # Identity verification and channel connection through OAuth (docs/verification.md).
    # How long a verification link an agent sends stays valid.
    "VERIFICATION_LINK_MAX_AGE": timedelta(hours=24),
    # Platform key -> social-auth backend name used to verify a customer's identity and to connect
    # a brand channel on that platform. The backend must be in AUTHENTICATION_BACKENDS.
    "OAUTH_BACKENDS": {
        "x": "twitter-oauth2",
        "facebook": "facebook",
        "instagram": "instagram",
        "mastodon": "mastodon",
    },
    # Staff sign-in: social-auth backend names (the company's identity provider) that may sign
    # agents in to admin. Empty: no single sign-on.
    "STAFF_SIGNIN_BACKENDS": [],
    # E-mail domains whose people get a new staff account on their first sign-in; anyone else
    # must already be an active staff user with that e-mail address.
    "STAFF_ALLOWED_DOMAINS": [],
    # The group (if it exists) a staff account created on first sign-in joins.
    "STAFF_DEFAULT_GROUP": "Support agent",
    # Retention (docs/privacy.md): days after which raw webhook bodies and posts' raw payloads
    # are emptied, and the content of cases closed that long ago is removed. None: keep forever.
    "RETENTION_RAW_PAYLOAD_DAYS": None,
    "RETENTION_CLOSED_CASE_DAYS": None,
    # Rows per batch (one short transaction each) of a retention purge.
    "RETENTION_BATCH_SIZE": 1000,
    # The AdminSite (dotted path, or the instance) socialcare's admin registers on when imported
    # and links to from outside an admin request (docs/admin-site.md). More sites: call
    # socialcare.admin.register(site).
    "ADMIN_SITE": "django.contrib.admin.site",
    # Deleting a customer who has cases (docs/customers.md): "keep_cases" keeps the cases with no
    # customer and a "customer deleted" event; "refuse" refuses the delete, naming the cases.
    "CUSTOMER_DELETE": "keep_cases",
    # Relations a customer merge leaves on the merged record ("app_label.Model" or
    # "app_label.Model.field"), e.g. a history app's rows that describe that record.
    "MERGE_LEAVE_RELATIONS": [],
    # CSAT (docs/csat.md): how long after a case is resolved its survey goes (the agent may
    # reopen meanwhile), how long a survey link works, and the site address a link starts with
    # (e.g. "https://crm.example.com"; empty: channels asking by link send no survey).
    "CSAT_DELAY": timedelta(minutes=10),
    "CSAT_LINK_MAX_AGE": timedelta(days=7),
    "CSAT_LINK_BASE_URL": "",
    # Presence on the case page (docs/case-page.md, "Who else is here"): how often the page
    # reports and asks, and how long a report counts as viewing / typing.
    "PRESENCE_POLL_INTERVAL": timedelta(seconds=5),
    "PRESENCE_TIMEOUT": timedelta(seconds=20),
    "PRESENCE_TYPING_TIMEOUT": timedelta(seconds=8),
    # Auto-assignment (docs/assignment.md): an online or away agent with no activity for this
    # long goes offline (the routing scan, every minute).
    "AGENT_IDLE_TIMEOUT": timedelta(minutes=30),
}

#: Settings whose value is a dotted path to import on first use.
IMPORT_STRINGS: set[str] = {"ADMIN_SITE"}


class AppSettings:
    """Lazy view of ``settings.SOCIALCARE`` over ``DEFAULTS``."""

    def __init__(self, defaults: dict[str, Any], import_strings: set[str]) -> None:
        self.defaults = defaults
        self.import_strings = import_strings
        self._cached: set[str] = set()

    @property
    def user_settings(self) -> dict[str, Any]:
        return getattr(settings, "SOCIALCARE", None) or {}

    def unknown_names(self) -> list[str]:
        return sorted(set(self.user_settings) - set(self.defaults))

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(f"Invalid socialcare setting: {name!r}")
        value = self.user_settings.get(name, self.defaults[name])
        if name in self.import_strings and isinstance(value, str):
            value = import_string(value)
        self._cached.add(name)
        setattr(self, name, value)
        return value

    def reload(self) -> None:
        for name in self._cached:
            delattr(self, name)
        self._cached.clear()

    # Derived values -------------------------------------------------------------------------

    def platform_labels(self) -> dict[str, str]:
        """All platforms this installation knows: built-in plus EXTRA_PLATFORMS, key -> label."""
        return {**BUILTIN_PLATFORMS, **self.EXTRA_PLATFORMS}


app_settings = AppSettings(DEFAULTS, IMPORT_STRINGS)


def platform_choices() -> list[tuple[str, str]]:
    """Choices for platform fields: evaluated lazily, so hosts can add platforms by setting."""
    labels = app_settings.platform_labels()
    return [(key, labels[key]) for key in labels]


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in ("SOCIALCARE", "SECRET_KEY"):
        app_settings.reload()
        from socialcare import crypto
        from socialcare.platforms import registry

        crypto.reset()
        registry.reset()


setting_changed.connect(_reload)
