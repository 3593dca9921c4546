"""Staff sign-in to admin through an OpenID Connect provider (a local one: discovery, JWKS and an
RS256-signed id_token over real HTTP): existing staff and allowed domains are admitted, anyone
else is refused with a clear page."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from social_django.models import UserSocialAuth

from tests.oauth_provider import CLIENTS, Account, dance
from tests.oauth_provider import oauth_provider as oauth_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_signin(settings: Any, oauth_provider: Any) -> Any:
    settings.SOCIALCARE = {
        **settings.SOCIALCARE,
        "STAFF_SIGNIN_BACKENDS": ["oidc"],
        "STAFF_ALLOWED_DOMAINS": ["acme.example"],
    }
    settings.SOCIAL_AUTH_OIDC_TITLE = "Acme SSO"
    return oauth_provider


def sign_in(client: Any, next_url: str = "/admin/") -> Any:
    return dance(
        client, client.post(reverse("socialcare:staff-signin", args=["oidc"]), {"next": next_url})
    )


def test_login_page_offers_provider(client: Any, settings: Any, staff_signin: Any) -> None:
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [_project_templates()]}]
    html = client.get(reverse("admin:login") + "?next=/admin/").content.decode()
    assert "Sign in with Acme SSO" in html
    assert reverse("socialcare:staff-signin", args=["oidc"]) in html
    assert 'name="next" value="/admin/"' in html


def test_login_page_without_provider(client: Any, settings: Any) -> None:
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [_project_templates()]}]
    html = client.get(reverse("admin:login")).content.decode()
    assert "Sign in with" not in html and 'id="login-form"' in html


def _project_templates() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "templates"


def test_existing_staff_is_admitted(client: Any, staff_signin: Any, make_user: Any) -> None:
    user = make_user("alice", email="Alice@Acme.example")
    staff_signin.account = Account("sub-alice", "alice", email="alice@acme.example")
    answer = sign_in(client)
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert str(client.session["_auth_user_id"]) == str(user.pk)
    assert client.get("/admin/").status_code == 200
    social = UserSocialAuth.objects.get()
    assert social.user == user and social.uid == "sub-alice"
    # No tokens are kept in social-auth's plain JSON.
    grant = staff_signin.grants[0]
    assert grant.access_token not in str(social.extra_data)
    assert "access_token" not in social.extra_data and "id_token" not in social.extra_data
    # The second time, the association finds the user.
    client.logout()
    assert sign_in(client).status_code == 302
    assert str(client.session["_auth_user_id"]) == str(user.pk)


def test_allowed_domain_gets_a_staff_account(
    client: Any, staff_signin: Any, django_user_model: Any
) -> None:
    group = Group.objects.create(name="Support agent")
    staff_signin.account = Account("sub-new", "newbie", email="newbie@acme.example")
    answer = sign_in(client)
    assert answer.status_code == 302
    user = django_user_model.objects.get(email="newbie@acme.example")
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert list(user.groups.all()) == [group]
    assert str(client.session["_auth_user_id"]) == str(user.pk)


@pytest.mark.parametrize(
    ("account", "message"),
    [
        (Account("sub-x", "x", email="mallory@evil.example"), "There is no staff account"),
        (Account("sub-y", "y", email="bob@acme.example", email_verified=False), "did not confirm"),
    ],
)
def test_others_are_refused(
    client: Any, staff_signin: Any, django_user_model: Any, account: Account, message: str
) -> None:
    staff_signin.account = account
    answer = sign_in(client)
    html = answer.content.decode()
    assert answer.status_code == 403
    assert 'data-outcome="refused"' in html and message in html
    assert "_auth_user_id" not in client.session
    assert not django_user_model.objects.filter(email=account.email).exists()
    assert UserSocialAuth.objects.count() == 0


def test_non_staff_user_is_refused(client: Any, staff_signin: Any, make_user: Any) -> None:
    make_user("carol", email="carol@acme.example", is_staff=False)
    staff_signin.account = Account("sub-carol", "carol", email="carol@acme.example")
    answer = sign_in(client)
    assert answer.status_code == 403
    assert "not allowed to sign in" in answer.content.decode()
    assert "_auth_user_id" not in client.session


def test_declined_consent(client: Any, staff_signin: Any) -> None:
    staff_signin.deny = True
    answer = sign_in(client)
    assert answer.status_code == 403
    assert "You cancelled signing in" in answer.content.decode()


def test_unconfigured_backend_is_not_offered(client: Any, oauth_provider: Any) -> None:
    # STAFF_SIGNIN_BACKENDS is empty by default: no staff sign-in at all.
    assert client.post(reverse("socialcare:staff-signin", args=["oidc"])).status_code == 404
    assert client.get(reverse("socialcare:staff-signin", args=["oidc"])).status_code == 405


def test_platform_account_cannot_sign_in_as_staff(
    client: Any, staff_signin: Any, make_user: Any, case: Any, agent: Any
) -> None:
    """A customer-platform callback with no verification or connection bound to it (here: the
    flow was dropped from the session) never signs anyone in, even with a staff e-mail."""
    from socialcare.pipeline import FLOW_KEY
    from socialcare.services import verification as verification_services

    make_user("ada-staff", email="ada@acme.example")
    staff_signin.account = Account("1001", "ada", email="ada@acme.example")
    path = verification_services.create_link(case, actor=agent).path
    begin = client.post(path)
    session = client.session
    del session[FLOW_KEY]
    session.save()
    answer = dance(client, begin)
    assert answer.status_code == 403
    assert "not open for staff sign-in" in answer.content.decode()
    assert "_auth_user_id" not in client.session
    assert UserSocialAuth.objects.count() == 0


def test_no_secret_in_logs(client: Any, staff_signin: Any, make_user: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    make_user("alice", email="alice@acme.example")
    staff_signin.account = Account("sub-alice", "alice", email="alice@acme.example")
    assert sign_in(client).status_code == 302
    grant = staff_signin.grants[0]
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert caplog.records
    for secret in (grant.access_token, grant.refresh_token, CLIENTS["oidc-client-id"]):
        assert secret not in logged
