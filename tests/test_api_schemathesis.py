"""Schemathesis against the live OpenAPI schema: every operation, a bounded number of generated
requests each (valid and invalid ones), no 5xx and no response that contradicts the schema.

The requests go straight into Django's WSGI application, inside the test's transaction, as a
superuser's API key, over a little data so that ids in paths and bodies sometimes exist.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import django
import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.db.models import Model
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from socialcare.crisis_playbooks import install_playbooks
from socialcare.models import (
    ApiKey,
    Case,
    Channel,
    Detector,
    Incident,
    IncidentStep,
    Playbook,
    Post,
    SLAPolicy,
    SocialIdentity,
    Team,
    WebhookSubscription,
    get_customer_model,
)
from socialcare.services import cases as case_services
from socialcare.services.apikeys import SCOPES, create_api_key
from socialcare.services.incidents import open_incident_from_case
from socialcare.services.roles import assign_role, install_roles

SCHEMA_URL = "/socialcare/api/schema/?format=json"
#: Generated requests per operation (plus its documented examples). CI runs a fixed, bounded
#: set; SOCIALCARE_SCHEMATHESIS_EXAMPLES=500 explores further with fresh random requests.
EXPLORE = os.environ.get("SOCIALCARE_SCHEMATHESIS_EXAMPLES")
MAX_EXAMPLES = int(EXPLORE or 15)
CHECKS = [not_a_server_error, response_schema_conformance]
KEY_NAME = "schemathesis"


#: Django 6.1 renamed ``transaction.savepoint()`` to ``savepoint_create()`` (the old name warns);
#: 5.2 and 6.0 have only the old one.
create_savepoint = (
    transaction.savepoint_create if django.VERSION >= (6, 1) else transaction.savepoint
)


class InTransactionWSGI:
    """Django's WSGI application for requests made inside a test's transaction. Like Django's test
    client, it keeps ``close_old_connections`` from closing the connection that holds it; and each
    request runs in a savepoint, rolled back on a 5xx, so that a database error in one request
    (which aborts the transaction on PostgreSQL) is reported for that request alone."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        status: list[str] = []

        def remember_status(code: str, headers: list, *args: Any) -> Any:
            status.append(code)
            return start_response(code, headers, *args)

        savepoint = create_savepoint()
        try:
            response = self.handler(environ, remember_status)
            body = b"".join(response)
            response.close()  # sends request_finished
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        if status and status[0].startswith("5"):
            transaction.savepoint_rollback(savepoint)
        else:
            transaction.savepoint_commit(savepoint)
        return [body]


@pytest.fixture(params=["superuser", "agent"])
def api_headers(
    request: pytest.FixtureRequest,
    db: None,
    socialcare_settings: Any,
    make_user: Callable[..., Any],
    make_customer: Callable[..., Any],
    agent: Any,
    case: Case,
    channel: Channel,
    team: Team,
) -> Any:
    """Some of everything, and the headers of a key (not throttled here): a superuser's, who
    reaches every operation, or a team agent's, who meets the permission checks (403s and
    404s for what is not theirs must be clean JSON refusals too)."""
    other = make_customer("Grace Hopper", "grace@example.com")
    for n in range(3):
        SocialIdentity.objects.create(
            platform="mastodon", external_id=f"m{n}", handle=f"g{n}", customer=other
        )
    second = case_services.open_case(channel=channel, customer=other, subject="Second")
    case_services.add_note(case, "Called the courier")
    install_playbooks()  # playbooks, detectors; an incident with steps and a linked case
    open_incident_from_case(case, actor=None, playbook=Playbook.objects.get(slug="legal-threat"))
    open_incident_from_case(second, actor=None, title="Without a playbook")
    SLAPolicy.objects.create(name="Urgent", order=10, priority="urgent")
    WebhookSubscription.objects.create(
        name="CRM", url="https://crm.example.com/hook", secrets={"secret": "s" * 32}
    )
    if request.param == "superuser":
        user = make_user("fuzzer", is_superuser=True)
    else:  # a team member in the agent role: the permissions an agent's integration has
        install_roles()
        assign_role(agent, "agent")
        user = agent
    _, plain = create_api_key(user, KEY_NAME)
    cache.clear()
    with socialcare_settings(API_THROTTLE_RATE="1000000/min"):
        yield {"Authorization": f"Api-Key {plain}"}
    cache.clear()


def existing_ids(path: str) -> list[Any]:
    """Ids of rows the operation's ``{id}`` can name, so that detail operations also meet real
    objects (random integers almost never exist)."""
    resources: dict[str, type[Model]] = {
        "customers": get_customer_model(),
        "identities": SocialIdentity,
        "teams": Team,
        "sla-policies": SLAPolicy,
        "webhook-subscriptions": WebhookSubscription,
        "cases": Case,
        "posts": Post,
        "incidents": Incident,
        "playbooks": Playbook,
        "detectors": Detector,
    }
    match = re.search(r"/v1/([^/]+)/\{id\}/", path)
    model = resources.get(match.group(1)) if match else None
    if model is None:
        return []
    return list(model._default_manager.order_by("pk").values_list("pk", flat=True)[:2])


def existing_path_parameters(path: str) -> list[dict[str, Any]]:
    """Path parameters naming existing rows: ``{id}``, and an incident's ``{step_id}``."""
    found = []
    for pk in existing_ids(path):
        parameters = {"id": pk}
        if "{step_id}" in path:
            step = IncidentStep.objects.filter(incident_id=pk).order_by("pk").last()
            if step is None:
                continue
            parameters["step_id"] = step.pk
        found.append(parameters)
    return found


def restore_own_key() -> None:
    """Undo what a generated request did to the key the requests use (the API can revoke,
    expire or narrow keys, this one included): otherwise every later request is a 401/403 and
    nothing past authentication is explored."""
    ApiKey.objects.filter(name=KEY_NAME).update(
        revoked_at=None, expires_at=None, read_only=False, scopes=sorted(SCOPES)
    )


def run_operation(operation: Any, headers: dict[str, str], statuses: Counter) -> None:
    """Hypothesis over one operation: its documented examples, then valid and invalid requests,
    some of them about existing rows."""
    strategies = [
        *operation.schema.get_strategies_from_examples(operation),
        operation.as_strategy(GenerationMode.POSITIVE, headers=headers),
        operation.as_strategy(GenerationMode.NEGATIVE, headers=headers),
        *(
            operation.as_strategy(
                GenerationMode.POSITIVE, headers=headers, path_parameters=parameters
            )
            for parameters in existing_path_parameters(operation.path)
        ),
    ]

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not EXPLORE,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is enough
    )
    @given(case=st.one_of(strategies))
    def check(case: schemathesis.Case) -> None:
        restore_own_key()
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    check()


@pytest.mark.django_db
@pytest.mark.heavy
# On PostgreSQL: it refuses values SQLite takes (an offset beyond ±15:59 was a 500 there only).
@pytest.mark.on_postgres
def test_api_answers_every_generated_request_within_its_schema(
    api_headers: dict[str, str],
) -> None:
    schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, InTransactionWSGI(), headers=api_headers)
    failures: dict[str, str] = {}
    statuses: Counter = Counter()
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            run_operation(operation, api_headers, statuses)
        # Collect every operation's failure (schemathesis raises an exception group), report all.
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = str(exc)[:4000]
    elapsed = time.monotonic() - started
    print(
        f"schemathesis: {operations} operations, {sum(statuses.values())} requests "
        f"in {elapsed:.1f}s, statuses {dict(sorted(statuses.items()))}"
    )
    assert operations >= 20
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
