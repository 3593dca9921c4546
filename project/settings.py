"""Settings of the demo CRM: SQLite, the django-q2 ORM broker, the console reply transport.

Everything here can be overridden from the environment (see README.md); never use these values in
production as they are.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from project.mail import mail_settings
from socialcare.crypto import derive_key
from socialcare.db_settings import SQLITE_OPTIONS
from socialcare.oauth_settings import SOCIAL_AUTH_PIPELINE as OAUTH_PIPELINE

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SOCIALCARE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret-change-me")
# On by default, on purpose: the demo is for trying socialcare on your own machine. Its error pages
# then show code, settings and the URL patterns, so every admin page says so in a red banner
# (project/context_processors.py) and scripts/demo.sh serves on loopback only unless told otherwise
# (docs/demo.md). DJANGO_DEBUG=0 turns it off.
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

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
    "project.crm",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who deleted a customer, user or team, in the events of their cases (docs/customers.md).
    "socialcare.middleware.CurrentUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: it turns a lockout raised during sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The DEBUG banner of templates/admin/base_site.html.
                "project.context_processors.demo_debug",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "demo.sqlite3",
        # The web server and the django-q2 worker write at once: wait for the lock, take it early.
        "OPTIONS": dict(SQLITE_OPTIONS),
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGIN_URL = "admin:login"

# Sign-in through OAuth (docs/verification.md) ----------------------------------------------------
# Customers prove they own a social account, admins connect brand channels, and (when an
# identity provider is configured) staff sign in to admin. Register
# https://<host>/socialcare/oauth/complete/<backend>/ as the redirect URI with each provider.
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username+address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "social_core.backends.twitter_oauth2.TwitterOAuth2",
    "social_core.backends.facebook.FacebookOAuth2",
    "social_core.backends.instagram.InstagramOAuth2",
    "socialcare.auth_backends.MastodonOAuth2",
]
# Login rate limiting (django-axes, see docs/access.md): 5 wrong passwords for one username from
# one address lock that pair out for 15 minutes; a good password afterwards resets the count.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
SOCIAL_AUTH_PIPELINE = OAUTH_PIPELINE
SOCIAL_AUTH_LOGIN_REDIRECT_URL = "/admin/"
SOCIAL_AUTH_TWITTER_OAUTH2_KEY = os.environ.get("SOCIALCARE_X_CLIENT_ID", "")
SOCIAL_AUTH_TWITTER_OAUTH2_SECRET = os.environ.get("SOCIALCARE_X_CLIENT_SECRET", "")
SOCIAL_AUTH_TWITTER_OAUTH2_SCOPE = ["tweet.write", "dm.read", "dm.write", "offline.access"]
SOCIAL_AUTH_FACEBOOK_KEY = os.environ.get("SOCIALCARE_FACEBOOK_APP_ID", "")
SOCIAL_AUTH_FACEBOOK_SECRET = os.environ.get("SOCIALCARE_FACEBOOK_APP_SECRET", "")
SOCIAL_AUTH_INSTAGRAM_KEY = os.environ.get("SOCIALCARE_INSTAGRAM_APP_ID", "")
SOCIAL_AUTH_INSTAGRAM_SECRET = os.environ.get("SOCIALCARE_INSTAGRAM_APP_SECRET", "")
SOCIAL_AUTH_MASTODON_INSTANCE_URL = os.environ.get(
    "SOCIALCARE_MASTODON_INSTANCE_URL", "https://mastodon.social"
)
SOCIAL_AUTH_MASTODON_KEY = os.environ.get("SOCIALCARE_MASTODON_CLIENT_ID", "")
SOCIAL_AUTH_MASTODON_SECRET = os.environ.get("SOCIALCARE_MASTODON_CLIENT_SECRET", "")

# Staff sign-in through the company's OpenID Connect provider, when SOCIALCARE_OIDC_ENDPOINT is
# set (the issuer URL, without /.well-known/openid-configuration).
SOCIALCARE_OIDC_ENDPOINT = os.environ.get("SOCIALCARE_OIDC_ENDPOINT", "")
if SOCIALCARE_OIDC_ENDPOINT:
    AUTHENTICATION_BACKENDS.append("social_core.backends.open_id_connect.OpenIdConnectAuth")
    SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = SOCIALCARE_OIDC_ENDPOINT
    SOCIAL_AUTH_OIDC_KEY = os.environ.get("SOCIALCARE_OIDC_KEY", "")
    SOCIAL_AUTH_OIDC_SECRET = os.environ.get("SOCIALCARE_OIDC_SECRET", "")
    SOCIAL_AUTH_OIDC_TITLE = os.environ.get("SOCIALCARE_OIDC_TITLE", "company account")

# SLA and incident notifications: printed by the demo's server and worker (set an SMTP backend
# through DJANGO_EMAIL_BACKEND to send them).
# MAILERS on Django 6.1, EMAIL_BACKEND before (project/mail.py).
globals().update(
    mail_settings(
        os.environ.get("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    )
)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "socialcare@acme.example")

# socialcare ------------------------------------------------------------------------------------
# Channel secrets are encrypted with SOCIALCARE_ENCRYPTION_KEY (a Fernet key); the demo derives one
# from its SECRET_KEY so it runs with no set-up.
SOCIALCARE: dict = {
    "ENCRYPTION_KEYS": [
        os.environ.get("SOCIALCARE_ENCRYPTION_KEY") or derive_key(SECRET_KEY).decode(),
    ],
    # Replies are logged by the worker instead of being sent to the real platforms (the demo's
    # channels hold fake tokens). SOCIALCARE_REPLY_TRANSPORT=live sends for real.
    "REPLY_TRANSPORT": "socialcare.transports.live.LiveTransport"
    if os.environ.get("SOCIALCARE_REPLY_TRANSPORT") == "live"
    else "socialcare.transports.console.ConsoleTransport",
    # Staff sign-in: the OIDC provider above, if configured; people of these e-mail domains get
    # a staff account (in the "Support agent" group) on first sign-in.
    "STAFF_SIGNIN_BACKENDS": ["oidc"] if SOCIALCARE_OIDC_ENDPOINT else [],
    "STAFF_ALLOWED_DOMAINS": [
        d.strip()
        for d in os.environ.get("SOCIALCARE_STAFF_ALLOWED_DOMAINS", "").split(",")
        if d.strip()
    ],
}

# django-q2: the ORM broker keeps the demo to one SQLite file; see docs/deploy.md for Redis.
Q_CLUSTER = {
    "name": "socialcare-demo",
    "orm": "default",
    "workers": 2,
    "timeout": 60,
    "retry": 120,
    "max_attempts": 5,
    "catch_up": False,
    "poll": 0.5,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"socialcare": {"handlers": ["console"], "level": "INFO"}},
}
