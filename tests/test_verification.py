"""Customer identity verification: the whole OAuth dance against a local provider (real HTTP
redirects, token exchange with PKCE and profile fetch), through socialcare's pages."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from social_django.models import UserSocialAuth

from socialcare import signals
from socialcare.models import CaseEvent, IdentityVerification, SocialIdentity
from socialcare.pipeline import PIPELINE
from socialcare.services import cases as case_services
from socialcare.services import verification as verification_services
from tests.oauth_provider import CLIENTS, Account, dance
from tests.oauth_provider import oauth_provider as oauth_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def unlinked_case(channel: Any, make_identity: Any, customer: Any) -> Any:
    """A case of customer Ada from an X account (@ada2, id 2002) not yet linked to anyone."""
    identity = make_identity("2002", "ada2", display_name="Ada (new account)")
    return case_services.open_case(
        channel=channel, identity=identity, customer=customer, subject="Where is my order?"
    )


def open_link(client: Any, case: Any, agent: Any) -> tuple[Any, str]:
    link = verification_services.create_link(case, actor=agent)
    return link.verification, link.path


def sign_in(client: Any, path: str) -> Any:
    page = client.get(path)
    assert page.status_code == 200
    return dance(client, client.post(path))


def test_settings_use_socialcare_pipeline(settings: Any) -> None:
    assert tuple(settings.SOCIAL_AUTH_PIPELINE) == PIPELINE


def test_start_page_names_the_account_and_escapes_it(
    client: Any, make_identity: Any, channel: Any, agent: Any
) -> None:
    identity = make_identity("3003", "<script>alert(1)</script>")
    case = case_services.open_case(channel=channel, identity=identity)
    _, path = open_link(client, case, agent)
    page = client.get(path)
    html = page.content.decode()
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "Sign in with X" in html
    assert 'id="sc-verify-form"' in html and "csrfmiddlewaretoken" in html
    # The token in the URL never reaches the platform as a Referer.
    assert page["Referrer-Policy"] == "no-referrer"
    assert client.post(path)["Referrer-Policy"] == "no-referrer"


def test_verified(
    client: Any,
    oauth_provider: Any,
    unlinked_case: Any,
    agent: Any,
    customer: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    received = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    signals.identity_verified.connect(receiver)
    try:
        oauth_provider.account = Account("2002", "ada2", "Ada")
        verification, path = open_link(client, unlinked_case, agent)
        with django_capture_on_commit_callbacks(execute=True):
            answer = sign_in(client, path)
    finally:
        signals.identity_verified.disconnect(receiver)

    html = answer.content.decode()
    assert answer.status_code == 200, html
    assert 'data-outcome="verified"' in html and "Account confirmed" in html
    # The provider saw a real authorization-code exchange with PKCE and the client's secret.
    assert [g.grant_type for g in oauth_provider.grants] == ["authorization_code"]
    identity = SocialIdentity.objects.get(external_id="2002")
    assert identity.owner_verified_at is not None
    assert identity.owner_verified_via == "twitter-oauth2"
    assert identity.customer_id == customer.pk
    verification.refresh_from_db()
    assert verification.outcome == "verified" and verification.used_at is not None
    assert verification.signed_in_as == "2002 (@ada2)"
    kinds = list(unlinked_case.events.values_list("kind", flat=True))
    assert CaseEvent.Kind.VERIFICATION_SENT in kinds
    assert CaseEvent.Kind.IDENTITY_VERIFIED in kinds
    assert received and received[0]["identity"].pk == identity.pk
    # The customer is not made a Django user, and no social-auth association stores tokens.
    assert get_user_model().objects.filter(is_staff=False).count() == 0
    assert UserSocialAuth.objects.count() == 0
    assert "_auth_user_id" not in client.session


def test_mastodon_identity_verified_by_profile_url(
    client: Any, oauth_provider: Any, make_identity: Any, agent: Any
) -> None:
    from socialcare.models import Channel

    channel = Channel.objects.create(
        name="Acme on Mastodon",
        platform="mastodon",
        account_id="brand-m",
        base_url="https://m.example",
    )
    identity = make_identity("https://m.example/@grace", "grace@m.example", platform="mastodon")
    case = case_services.open_case(channel=channel, identity=identity)
    oauth_provider.account = Account("https://m.example/@grace", "grace")
    _, path = open_link(client, case, agent)
    answer = sign_in(client, path)
    assert answer.status_code == 200, answer.content.decode()
    identity.refresh_from_db()
    assert identity.owner_verified_via == "mastodon"


def test_mismatch_is_refused_and_nothing_linked(
    client: Any, oauth_provider: Any, unlinked_case: Any, agent: Any
) -> None:
    oauth_provider.account = Account("6666", "mallory", "Mallory")
    verification, path = open_link(client, unlinked_case, agent)
    answer = sign_in(client, path)
    html = answer.content.decode()
    assert answer.status_code == 403
    assert 'data-outcome="mismatch"' in html
    assert "another account" in html and "Nothing was linked" in html
    identity = SocialIdentity.objects.get(external_id="2002")
    assert identity.owner_verified_at is None and identity.customer_id is None
    verification.refresh_from_db()
    # Not used up: the customer may retry with the right account.
    assert verification.used_at is None and verification.outcome == "mismatch"
    assert verification.signed_in_as == "6666 (@mallory)"
    assert unlinked_case.events.filter(kind=CaseEvent.Kind.VERIFICATION_FAILED).exists()
    assert not unlinked_case.events.filter(kind=CaseEvent.Kind.IDENTITY_VERIFIED).exists()

    oauth_provider.account = Account("2002", "ada2")
    again = sign_in(client, path)
    assert again.status_code == 200
    verification.refresh_from_db()
    assert verification.outcome == "verified" and verification.attempts == 2


def test_expired_link(
    client: Any, unlinked_case: Any, agent: Any, socialcare_settings: Any
) -> None:
    with socialcare_settings(VERIFICATION_LINK_MAX_AGE=dt.timedelta(hours=1)):
        verification, path = open_link(client, unlinked_case, agent)
    assert verification.expires_at - verification.created_at == dt.timedelta(hours=1)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1, seconds=1)):
        page = client.get(path)
        started = client.post(path)
    assert page.status_code == 410 and started.status_code == 410
    assert 'data-outcome="expired"' in page.content.decode()
    assert "expired" in page.content.decode()


def test_expiring_during_sign_in_is_refused(
    client: Any, oauth_provider: Any, unlinked_case: Any, agent: Any
) -> None:
    oauth_provider.account = Account("2002", "ada2")
    verification, path = open_link(client, unlinked_case, agent)
    begin = client.post(path)
    IdentityVerification.objects.filter(pk=verification.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    answer = dance(client, begin)
    assert answer.status_code == 410
    assert SocialIdentity.objects.get(external_id="2002").owner_verified_at is None


def test_reused_link(client: Any, oauth_provider: Any, unlinked_case: Any, agent: Any) -> None:
    oauth_provider.account = Account("2002", "ada2")
    _, path = open_link(client, unlinked_case, agent)
    assert sign_in(client, path).status_code == 200
    page = client.get(path)
    assert page.status_code == 410
    assert 'data-outcome="used"' in page.content.decode()
    assert client.post(path).status_code == 410
    assert unlinked_case.events.filter(kind=CaseEvent.Kind.IDENTITY_VERIFIED).count() == 1


def test_tampered_link_is_invalid(client: Any, unlinked_case: Any, agent: Any) -> None:
    link = verification_services.create_link(unlinked_case, actor=agent)
    bad = reverse("socialcare:verify", args=[link.token[:-2] + "xx"])
    page = client.get(bad)
    assert page.status_code == 404
    assert "not valid" in page.content.decode()


def test_denied_consent(client: Any, oauth_provider: Any, unlinked_case: Any, agent: Any) -> None:
    oauth_provider.deny = True
    verification, path = open_link(client, unlinked_case, agent)
    answer = sign_in(client, path)
    html = answer.content.decode()
    assert answer.status_code == 400
    assert 'data-outcome="denied"' in html and "You cancelled signing in" in html
    assert oauth_provider.grants == []
    verification.refresh_from_db()
    assert verification.outcome == "denied" and verification.used_at is None
    assert SocialIdentity.objects.get(external_id="2002").owner_verified_at is None
    assert unlinked_case.events.filter(kind=CaseEvent.Kind.VERIFICATION_FAILED).exists()


@pytest.mark.django_db(transaction=True)  # the two threads must see the committed link
def test_one_use_under_concurrency(unlinked_case: Any, agent: Any) -> None:
    """Two completions racing for one link: exactly one verifies."""
    if connection.vendor == "sqlite":
        verification = verification_services.create_link(unlinked_case, actor=agent).verification
        verification_services.complete(verification.pk, provider="twitter-oauth2", uid="2002")
        with pytest.raises(verification_services.VerificationError) as err:
            verification_services.complete(verification.pk, provider="twitter-oauth2", uid="2002")
        assert err.value.code == "used"
        return
    verification = verification_services.create_link(unlinked_case, actor=agent).verification
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        try:
            verification_services.complete(verification.pk, provider="twitter-oauth2", uid="2002")
            outcomes.append("ok")
        except verification_services.VerificationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "used"]


def test_link_needs_identity_and_sign_in_service(
    channel: Any, agent: Any, identity: Any, socialcare_settings: Any
) -> None:
    bare = case_services.open_case(channel=channel)
    with pytest.raises(verification_services.VerificationError, match="no social identity"):
        verification_services.create_link(bare, actor=agent)
    case = case_services.open_case(channel=channel, identity=identity)
    with (
        socialcare_settings(OAUTH_BACKENDS={}),
        pytest.raises(verification_services.VerificationError, match="No sign-in service"),
    ):
        verification_services.create_link(case, actor=agent)


def test_token_is_not_stored(unlinked_case: Any, agent: Any) -> None:
    link = verification_services.create_link(unlinked_case, actor=agent)
    row = IdentityVerification.objects.values().get(pk=link.verification.pk)
    nonce = link.token.split(":")[0]
    assert all(link.token not in str(v) for v in row.values())
    assert all(nonce not in str(v) for v in row.values())


def test_no_secret_in_logs(
    client: Any, oauth_provider: Any, unlinked_case: Any, agent: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    oauth_provider.account = Account("2002", "ada2")
    _, path = open_link(client, unlinked_case, agent)
    assert sign_in(client, path).status_code == 200
    grant = oauth_provider.grants[0]
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert caplog.records  # DEBUG logging did capture the dance
    for secret in (grant.access_token, grant.refresh_token, CLIENTS["x-client-id"]):
        assert secret not in logged


# Admin and API ---------------------------------------------------------------------------------


def test_admin_action_shows_link_once_and_audit_list(
    client: Any, oauth_provider: Any, unlinked_case: Any, agent: Any, django_user_model: Any
) -> None:
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin_user)
    identity = unlinked_case.identity
    answer = client.post(
        reverse("admin:socialcare_socialidentity_changelist"),
        {"action": "create_verification_links", "_selected_action": [identity.pk]},
        follow=True,
    )
    html = answer.content.decode()
    found = re.search(r"http://testserver(/socialcare/verify/[^/\s<]+/)", html)
    assert found, html
    verification = IdentityVerification.objects.get()
    assert verification.case == unlinked_case and verification.created_by == admin_user
    audit = client.get(reverse("admin:socialcare_identityverification_changelist")).content.decode()
    assert "@ada2" in audit and found.group(1) not in audit
    detail = client.get(
        reverse("admin:socialcare_identityverification_change", args=[verification.pk])
    ).content.decode()
    assert found.group(1) not in detail and verification.token_hash not in detail


def test_api_creates_link_shown_once(
    client: Any, oauth_provider: Any, unlinked_case: Any, agent: Any
) -> None:
    from django.contrib.auth.models import Permission

    agent.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_case", "change_case", "view_identityverification"]
        )
    )
    client.force_login(agent)
    url = f"/socialcare/api/v1/cases/{unlinked_case.pk}/verification-links/"
    created = client.post(url, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url"].startswith("http://testserver/socialcare/verify/")
    assert body["outcome"] == "pending" and body["state"] == "pending"
    listed = client.get(url).json()
    assert listed[0]["id"] == body["id"] and "url" not in listed[0]
    one = client.get(f"/socialcare/api/v1/verification-links/{body['id']}/").json()
    assert "url" not in one and "token_hash" not in one
    everything = client.get("/socialcare/api/v1/verification-links/").content.decode()
    assert body["url"].split("/verify/")[1] not in everything

    # The link from the API works end to end.
    oauth_provider.account = Account("2002", "ada2")
    path = body["url"].removeprefix("http://testserver")
    assert sign_in(client, path).status_code == 200
    assert client.get(url).json()[0]["state"] == "used"


def test_api_link_permissions(client: Any, unlinked_case: Any, make_user: Any, team: Any) -> None:
    from django.contrib.auth.models import Permission

    from socialcare.models import TeamMembership

    reader = make_user("reader")
    TeamMembership.objects.create(team=team, user=reader)
    reader.user_permissions.add(Permission.objects.get(codename="view_case"))
    client.force_login(reader)
    url = f"/socialcare/api/v1/cases/{unlinked_case.pk}/verification-links/"
    assert client.post(url, content_type="application/json").status_code == 403
    assert client.get(url).status_code == 200
    outsider = make_user("outsider")
    outsider.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_case", "change_case"])
    )
    client.force_login(outsider)
    # The case belongs to the "Care" team: an agent of no team gets a 404 (team rule).
    assert client.post(url, content_type="application/json").status_code == 404
    assert not IdentityVerification.objects.exists()


def test_api_refuses_case_without_identity(client: Any, channel: Any, agent: Any) -> None:
    from django.contrib.auth.models import Permission

    agent.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_case", "change_case"])
    )
    client.force_login(agent)
    case = case_services.open_case(channel=channel)
    answer = client.post(
        f"/socialcare/api/v1/cases/{case.pk}/verification-links/", content_type="application/json"
    )
    assert answer.status_code == 400
    assert "no social identity" in answer.json()["detail"]


# Settings and checks ---------------------------------------------------------------------------


def test_checks_warn_about_missing_sign_in_setup(settings: Any) -> None:
    from socialcare.checks import check_settings

    assert check_settings() == []
    settings.SOCIAL_AUTH_PIPELINE = ("social_core.pipeline.social_auth.social_details",)
    assert [m.id for m in check_settings()] == ["socialcare.W004"]
    settings.SOCIAL_AUTH_PIPELINE = PIPELINE
    settings.SOCIALCARE = {**settings.SOCIALCARE, "STAFF_SIGNIN_BACKENDS": ["okta"]}
    messages = check_settings()
    assert [m.id for m in messages] == ["socialcare.W003"]
    assert "'okta'" in messages[0].msg
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a != "social_django"]
    assert [m.id for m in check_settings()] == ["socialcare.W002"]


def test_unconfigured_pipeline_never_starts_a_verification(
    client: Any, settings: Any, unlinked_case: Any, agent: Any
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    _, path = open_link(client, unlinked_case, agent)
    settings.SOCIAL_AUTH_PIPELINE = ("social_core.pipeline.social_auth.social_details",)
    client.raise_request_exception = True
    with pytest.raises(ImproperlyConfigured, match="SOCIAL_AUTH_PIPELINE"):
        client.post(path)


def test_platform_without_client_id_has_no_sign_in_service(
    settings: Any, unlinked_case: Any, agent: Any
) -> None:
    settings.SOCIAL_AUTH_TWITTER_OAUTH2_KEY = ""
    with pytest.raises(verification_services.VerificationError, match="No sign-in service"):
        verification_services.create_link(unlinked_case, actor=agent)


def test_case_page_sends_a_link_the_customer_verifies_with(
    client: Any, oauth_provider: Any, unlinked_case: Any, agent: Any, django_user_model: Any
) -> None:
    admin_user = django_user_model.objects.create_superuser("lead", "lead@example.com", "pw")
    client.force_login(admin_user)
    page_url = reverse("admin:socialcare_case_change", args=[unlinked_case.pk])
    assert 'id="sc-verify-form"' in client.get(page_url).content.decode()
    answer = client.post(page_url.replace("/change/", "/verify-link/"), {"send": "1"}, follow=True)
    html = answer.content.decode()
    found = re.search(r"http://testserver(/socialcare/verify/[^/\s<]+/)", html)
    assert found, html
    # The link went to the customer as a direct message on the case.
    dm = unlinked_case.posts.get(direction="outbound")
    assert dm.visibility == "private" and found.group(0) in dm.text
    client.logout()
    oauth_provider.account = Account("2002", "ada2", "Ada")
    assert sign_in(client, found.group(1)).status_code == 200
    identity = SocialIdentity.objects.get(pk=unlinked_case.identity_id)
    assert identity.is_owner_verified and identity.customer_id == unlinked_case.customer_id
    # Verified now: the page no longer offers a link.
    client.force_login(admin_user)
    assert 'id="sc-verify-form"' not in client.get(page_url).content.decode()
