"""Shared fixtures. They work with the default customer model and with the swapped
``tests.testapp.Contact`` (``pytest --ds=tests.settings_swapped``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django
import pytest
from django.conf import settings
from django.test import override_settings

from socialcare.conf import app_settings
from socialcare.models import Channel, SocialIdentity, Team, TeamMembership, get_customer_model
from socialcare.services import cases as case_services
from socialcare.services.roles import assign_role, install_roles

pytest_plugins = ["tests.robustness", "tests.api_contract"]


@pytest.fixture
def socialcare_settings() -> Callable[..., override_settings]:
    """``with socialcare_settings(KEY=value):`` overrides single SOCIALCARE entries, keeping the
    rest of the test settings (encryption key, swapped customer field names)."""

    def override(**values: Any) -> override_settings:
        return override_settings(SOCIALCARE={**settings.SOCIALCARE, **values})

    return override


@pytest.fixture
def ops_admin(settings: Any) -> str:
    """One admin in ``ADMINS`` (whom ``mail_admins`` writes to); returns the address. Django 6.0
    takes plain addresses and deprecates the (name, address) pairs that 5.2 needs."""
    address = "ops@example.com"
    settings.ADMINS = [address] if django.VERSION >= (6, 0) else [("Ops", address)]
    return address


@pytest.fixture
def roles() -> None:
    """socialcare's roles (the groups and their permissions) installed."""
    install_roles()


@pytest.fixture
def sign_in(roles: None) -> Callable[[Any, Any, str], Any]:
    """``sign_in(client, user, role)``: the user put in that role, logged in on ``client``."""

    def sign(client: Any, user: Any, role: str) -> Any:
        assign_role(user, role)
        client.force_login(type(user).objects.get(pk=user.pk))
        return client

    return sign


@pytest.fixture
def make_user(django_user_model: Any) -> Callable[..., Any]:
    def make(username: str, **fields: Any) -> Any:
        fields.setdefault("is_staff", True)
        return django_user_model.objects.create_user(username=username, password="pw", **fields)

    return make


@pytest.fixture
def agent(make_user: Callable[..., Any]) -> Any:
    return make_user("alice", first_name="Alice", last_name="Agent")


@pytest.fixture
def other_agent(make_user: Callable[..., Any]) -> Any:
    return make_user("bob", first_name="Bob", last_name="Backup")


@pytest.fixture
def team(agent: Any, other_agent: Any) -> Team:
    team = Team.objects.create(name="Care", email="care@example.com")
    TeamMembership.objects.create(team=team, user=agent)
    TeamMembership.objects.create(team=team, user=other_agent)
    return team


@pytest.fixture
def channel(team: Team) -> Channel:
    channel = Channel(
        name="Acme on X", platform="x", account_id="brand-1", handle="acme", default_team=team
    )
    channel.set_secret("webhook_secret", "whsec-0123456789")
    channel.save()
    return channel


@pytest.fixture
def make_customer() -> Callable[..., Any]:
    """Create a customer of the active model through the configured name/email field names."""

    def make(name: str = "Ada Lovelace", email: str = "", **fields: Any) -> Any:
        model = get_customer_model()
        fields[app_settings.CUSTOMER_NAME_FIELD] = name
        fields[app_settings.CUSTOMER_EMAIL_FIELD] = email
        return model.objects.create(**fields)

    return make


@pytest.fixture
def customer(make_customer: Callable[..., Any]) -> Any:
    return make_customer("Ada Lovelace", "ada@example.com")


@pytest.fixture
def make_identity() -> Callable[..., SocialIdentity]:
    def make(external_id: str, handle: str = "", **fields: Any) -> SocialIdentity:
        fields.setdefault("platform", "x")
        return SocialIdentity.objects.create(external_id=external_id, handle=handle, **fields)

    return make


@pytest.fixture
def identity(make_identity: Callable[..., SocialIdentity], customer: Any) -> SocialIdentity:
    return make_identity("1001", "ada", display_name="Ada L.", customer=customer)


@pytest.fixture
def case(channel: Channel, identity: SocialIdentity) -> Any:
    return case_services.open_case(channel=channel, identity=identity, subject="Refund please")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked heavy first: under xdist they start while the other worker runs the
    rest, instead of one of them finishing the run alone (docs/development.md, "Heavy tests")."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)
