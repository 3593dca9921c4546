"""Test settings: the default customer model. SOCIALCARE_TEST_DB=postgres runs on PostgreSQL
(connection from the usual PG* environment variables)."""

import datetime as dt
import os

from socialcare.oauth_settings import SOCIAL_AUTH_PIPELINE as OAUTH_PIPELINE

SECRET_KEY = "tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "social_django",
    "socialcare",
    "tests.testapp",
    "axes",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if os.environ.get("SOCIALCARE_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "socialcare"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Mail: the tests swap in the memory backend. Django 6.1 warns when no mailer is configured (it will
# have no default one); 5.2 and 6.0 ignore this setting.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
STATIC_URL = "static/"

SOCIALCARE = {
    "ENCRYPTION_KEYS": ["yDBpXDcmWBcwVmsNNYvsQS9RvlAWoLjNGSz7wXfrkWg="],
    # Tests deliver outbound webhooks to receivers on http://127.0.0.1 (tests/access checks
    # the production rules with these off).
    "OUTBOUND_WEBHOOK_ALLOW_HTTP": True,
    "OUTBOUND_WEBHOOK_ALLOW_PRIVATE": True,
    # Most tests link identities to customers themselves (as agents did before socialcare found
    # customers for cases). The default, "create", is tested by tests/test_case_customers.py and
    # by the integration suite of every host shape (tests/hosts), which run with it.
    "CUSTOMERS_FOR_CASES": "manual",
    # The fixtures are real payloads dated years ago, replayed as if they came live. The
    # defaults (24 hours; a channel's first poll is history) are tested by
    # tests/test_backfill.py, which sets them back.
    "BACKFILL_HORIZON": None,
    "BACKFILL_FIRST_POLL": False,
    # Automatic messages are sent at once (no settle window) unless a test sets one
    # (tests/test_automatic_messages.py).
    "AUTOMATIC_MESSAGE_SETTLE": 0,
}

# OAuth sign-in: the platform backends, pointed at a local provider by the tests that use them
# (tests/oauth_provider.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "tests.oauth_provider.LocalTwitterOAuth2",
    "social_core.backends.facebook.FacebookOAuth2",
    "social_core.backends.instagram.InstagramOAuth2",
    "socialcare.auth_backends.MastodonOAuth2",
    "social_core.backends.open_id_connect.OpenIdConnectAuth",
]
# Login rate limiting as in the demo/production profile, switched on by the tests of it
# (tests/access/test_login_limits.py); off elsewhere so client.login() needs no request.
AXES_ENABLED = False
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

SOCIAL_AUTH_PIPELINE = OAUTH_PIPELINE
SOCIAL_AUTH_LOGIN_REDIRECT_URL = "/admin/"
SOCIAL_AUTH_TWITTER_OAUTH2_KEY = "x-client-id"
SOCIAL_AUTH_TWITTER_OAUTH2_SECRET = "x-client-secret-0123456789"
SOCIAL_AUTH_MASTODON_KEY = "mastodon-client-id"
SOCIAL_AUTH_MASTODON_SECRET = "mastodon-client-secret-0123456789"
SOCIAL_AUTH_OIDC_KEY = "oidc-client-id"
SOCIAL_AUTH_OIDC_SECRET = "oidc-client-secret-0123456789"

Q_CLUSTER = {
    "name": "socialcare-tests",
    "orm": "default",
    "sync": True,
    "timeout": 60,
    "retry": 120,
}
