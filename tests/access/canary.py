"""The canary world and the leak detector of the canary crawl (``test_canary_crawl.py``).

Two teams: Care (Alice's) and Billing (hidden from Alice). Every text of Billing's cases carries
a unique canary, ``CANARY-<field>-zq<8 hex>``, so a leak names the field it came from. The
detector looks for the ``zq…`` token alone (case-insensitively), so a canary cut short by a
truncated column or upper-cased is still found. Billing's case references (``SC-000006``) are
canaries too, and so are the admin URLs of Billing's cases and posts. What a request itself
names (a searched canary, a filtered reference) is not counted in its own response: a search box
or a "next" link echoes it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse
from django.urls import ResolverMatch, resolve
from django.utils import timezone

from socialcare.conf import app_settings
from socialcare.models import (
    AutomaticMessage,
    Case,
    Channel,
    Detector,
    Macro,
    PlatformApp,
    Playbook,
    PlaybookStep,
    Post,
    ReplyTemplate,
    SLAPolicy,
    SocialIdentity,
    Survey,
    Team,
    TeamMembership,
    WebhookSubscription,
    get_customer_model,
)
from socialcare.services import cases as case_services
from socialcare.services import customers as customer_services
from socialcare.services import detectors as detector_services
from socialcare.services import incidents as incident_services
from socialcare.services import sla_scan
from socialcare.services import verification as verification_services
from socialcare.services.apikeys import create_api_key
from socialcare.services.privacy_export import export_customer
from socialcare.services.roles import assign_role, install_roles

TOKEN = re.compile(r"zq[0-9a-f]{8}", re.IGNORECASE)
REFERENCE = re.compile(r"SC-\d{6,}", re.IGNORECASE)
ADMIN_URL = re.compile(r"/socialcare/(case|post)/(\d+)/")


class Canaries:
    """The planted strings: field name → canary."""

    def __init__(self) -> None:
        self.by_token: dict[str, str] = {}
        self.values: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        assert name not in self.values, name
        token = f"zq{secrets.token_hex(4)}"
        self.by_token[token] = name
        self.values[name] = f"CANARY-{name}-{token}"
        return self.values[name]

    def email(self, name: str) -> str:
        return f"{self(name).lower()}@example.com"


@dataclass
class World:
    canaries: Canaries
    users: dict[str, Any]
    teams: dict[str, Team]
    channel: Channel
    customers: dict[str, Any]
    identities: dict[str, SocialIdentity]
    cases: dict[str, Case]
    posts: dict[str, Post]
    incidents: dict[str, Any]
    hidden_references: dict[str, str] = field(default_factory=dict)
    hidden_admin_urls: dict[tuple[str, int], str] = field(default_factory=dict)

    def hidden_cases(self) -> list[Case]:
        return [c for c in self.cases.values() if c.team_id == self.teams["billing"].pk]


def _post(world: World, case: Case, name: str, text: str, **fields: Any) -> Post:
    fields.setdefault("author", case.identity)
    fields.setdefault("direction", Post.Direction.INBOUND)
    fields.setdefault("kind", Post.Kind.MENTION)
    fields.setdefault("sentiment", -0.8)
    post = Post.objects.create(
        platform="x",
        channel=world.channel,
        case=case,
        visibility="public",
        text=text,
        external_id=fields.pop("external_id", f"ext-{name}"),
        **fields,
    )
    world.posts[name] = post
    return post


def _customer(canary: Canaries, prefix: str) -> Any:
    """A customer of the active model whose name, email (and notes, if it has some) are
    canaries."""
    model = get_customer_model()
    fields = {
        app_settings.CUSTOMER_NAME_FIELD: canary(f"{prefix}-name"),
        app_settings.CUSTOMER_EMAIL_FIELD: canary.email(f"{prefix}-email"),
    }
    if any(f.name == "notes" for f in model._meta.get_fields()):
        fields["notes"] = canary(f"{prefix}-notes")
    return model._default_manager.create(**fields)


def build_world(
    *,
    agent: Any,
    channel: Channel,
    identity: SocialIdentity,
    make_user: Callable[..., Any],
) -> World:
    """Care (Alice, agent role) and Billing (Carol), built through the services; see the module
    docstring of ``test_canary_crawl`` for what the world holds."""
    install_roles()
    assign_role(agent, "agent")
    canary = Canaries()
    care = channel.default_team
    billing = Team.objects.create(name="Billing", email="billing@example.com")
    carol = make_user("carol", first_name="Carol", last_name="Billing")
    assign_role(carol, "agent")
    TeamMembership.objects.create(team=billing, user=carol)
    sam = make_user("sam", first_name="Sam", last_name="Supervisor")
    assign_role(sam, "supervisor")
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    # Dora holds every permission of socialcare and of the customer model but view_all_cases:
    # the team rule alone keeps Billing's cases from her, on every page her permissions open.
    dora = make_user("dora", first_name="Dora", last_name="Deputy")
    customer_meta = get_customer_model()._meta
    dora.user_permissions.set(
        Permission.objects.filter(
            Q(content_type__app_label="socialcare")
            | Q(
                content_type__app_label=customer_meta.app_label,
                codename__endswith=customer_meta.model_name,
            )
        ).exclude(codename="view_all_cases")
    )
    TeamMembership.objects.create(team=care, user=dora)
    # Brand-wide set-up, so every API route has an object to read.
    SLAPolicy.objects.create(name="Urgent first", priority="urgent", first_response_minutes=15)
    ReplyTemplate.objects.create(name="Thanks", shortcut="thanks", text="Thanks {{ customer }}")
    WebhookSubscription.objects.create(
        name="CRM", url="https://crm.example/hook", event_types=["case.created"]
    )
    PlatformApp.objects.create(name="Acme on X", platform="x")
    create_api_key(carol, "Billing's reports", scopes=["cases:read"])
    hidden_customer = _customer(canary, "customer")
    merged_customer = _customer(canary, "merged-customer")
    hidden_identity = SocialIdentity.objects.create(
        platform="x",
        external_id=canary("identity-external-id"),
        handle=canary("handle"),
        display_name=canary("display-name"),
        profile_url=f"https://x.example/{canary('profile-url')}",
        followers_count=250_000,
        customer=hidden_customer,
    )
    world = World(
        canaries=canary,
        users={"alice": agent, "carol": carol, "sam": sam, "root": root, "dora": dora},
        teams={"care": care, "billing": billing},
        channel=channel,
        customers={"visible": identity.customer, "hidden": hidden_customer},
        identities={"visible": identity, "hidden": hidden_identity},
        cases={},
        posts={},
        incidents={},
    )

    def case(name: str, team: Team | None, subject: str, who: SocialIdentity = identity) -> Case:
        opened = case_services.open_case(
            channel=channel, identity=who, subject=subject, team=team, actor=carol
        )
        if team is None:  # open_case falls back to the channel's team
            case_services.set_team(opened, None, actor=carol)
        world.cases[name] = opened
        return opened

    # Care's cases: the pages Alice reads are not empty.
    mine = case("mine", care, "VISIBLE-mine")
    _post(world, mine, "mine", "VISIBLE-post of mine")
    case_services.add_note(mine, "VISIBLE-note", actor=agent)
    case_services.set_tags(mine, ["visible-tag"], actor=agent)
    merge_target = case("merge-target", care, "VISIBLE-merge-target")
    _post(world, merge_target, "merge-target", "VISIBLE-post of the merge target")
    merged_away = case("merged-away", care, "VISIBLE-merged-away")
    _post(world, merged_away, "merged-away", "VISIBLE-post that moves to Billing")
    waved = case("waved", care, "VISIBLE-waved")
    _post(world, waved, "waved", "VISIBLE-post of the wave")
    case("pool", None, "VISIBLE-pool")  # the triage pool: Alice sees it

    # Billing's cases.
    hidden = case("hidden", billing, canary("subject"), who=hidden_identity)
    _post(
        world,
        hidden,
        "hidden",
        canary("post-text"),
        html=f"<p>{canary('post-html')}</p>",
        url=f"https://x.example/status/{canary('post-url')}",
        external_id=canary("post-external-id"),
        conversation_id=canary("conversation-id"),
    )
    _post(
        world,
        hidden,
        "hidden-reply",
        canary("reply-text"),
        author=None,
        direction=Post.Direction.OUTBOUND,
        kind=Post.Kind.REPLY,
        sent_by=carol,
        send_status=Post.SendStatus.AWAITING_APPROVAL,
        sentiment=None,
    )
    case_services.add_note(hidden, canary("note"), actor=carol)
    case_services.set_tags(hidden, [canary("tag")], actor=carol)
    verification_services.create_link(hidden, actor=carol)
    # Billing's case merged into Care's, with a note added to it afterwards.
    merged_in = case("merged-in", billing, canary("merged-subject"))
    _post(world, merged_in, "merged-in", "VISIBLE-post that moves to Care")
    case_services.add_note(merged_in, canary("merged-note"), actor=carol)
    case_services.merge_cases(merged_in, merge_target, actor=carol)
    case_services.add_note(merged_in, canary("note-after-merge"), actor=carol)
    # Care's case merged into Billing's.
    absorbing = case("absorbing", billing, canary("absorbing-subject"))
    case_services.add_note(absorbing, canary("absorbing-note"), actor=carol)
    case_services.merge_cases(merged_away, absorbing, actor=carol)
    wave = case("wave", billing, canary("wave-subject"), who=hidden_identity)
    _post(world, wave, "wave", canary("wave-post-text"))

    # Incidents: an influencer detector on Billing's post, a volume spike over both teams'
    # cases, and Billing's case escalated by hand and linked to Care's case too.
    Detector.objects.create(name="Influencers", kind=Detector.Kind.INFLUENCER, threshold=10_000)
    fired = detector_services.observe_post(world.posts["hidden"])
    assert fired, "the influencer detector did not fire"
    world.incidents["influencer"] = fired[0]
    spike = Detector.objects.create(name="Spike", kind=Detector.Kind.VOLUME_SPIKE, threshold=2)
    world.incidents["spike"] = detector_services.fire(
        spike, {"summary": "2 posts in 15 min"}, [waved, wave], timezone.now()
    )
    playbook = Playbook.objects.create(name="Escalation", slug="escalation")
    PlaybookStep.objects.create(playbook=playbook, order=1, title="Check", kind="checklist")
    PlaybookStep.objects.create(
        playbook=playbook, order=2, title="Hold replies", kind="require_approval", automatic=True
    )
    escalated = incident_services.open_incident_from_case(hidden, actor=carol, playbook=playbook)
    incident_services.link_cases(escalated, [mine], actor=carol, move=True)
    world.incidents["escalated"] = escalated
    # The ledger of automatic messages (services.automatic_messages): a row on each team's case.
    for name, conversation in (
        ("mine", "x:VISIBLE-thread"),
        ("hidden", canary("automatic-conversation")),
    ):
        AutomaticMessage.objects.create(
            identity_id=world.cases[name].identity_id,
            purpose=f"incident:{escalated.pk}:holding_reply",
            conversation=conversation,
            case=world.cases[name],
            due_at=timezone.now(),
        )
    # A macro (issue #20) every team may run: its routes have an object to read and apply.
    macro = Macro.objects.create(name="VISIBLE-macro")
    macro.actions.create(position=1, kind="note", text="VISIBLE-macro note")
    # A CSAT survey (issue #20) on each team's case, the hidden one answered with a canary.
    for name, answer in (("mine", "VISIBLE-csat"), ("hidden", canary("csat-answer"))):
        Survey.objects.create(
            case=world.cases[name],
            identity_id=world.cases[name].identity_id,
            platform=world.cases[name].channel.platform,
            score=4,
            answer_text=answer,
            answered_at=timezone.now(),
            answered_via="link",
        )
    customer_services.merge_customers(merged_customer, hidden_customer, actor=carol)
    verification_services.create_link(mine, actor=agent)
    export_customer(hidden_customer, actor=root)  # a privacy request to list
    # SLA alerts on every open case (both teams): the scan of three days from now.
    sla_scan.scan(now=timezone.now() + dt.timedelta(days=3))

    for c in world.cases.values():
        c.refresh_from_db()
    for name, c in world.cases.items():
        if c.team_id == billing.pk:
            world.hidden_references[c.reference] = f"reference of {name}"
            world.hidden_admin_urls[("case", c.pk)] = f"admin URL of case {name}"
    for name, p in world.posts.items():
        p.refresh_from_db()
        if p.case_id and p.case.team_id == billing.pk:
            world.hidden_admin_urls[("post", p.pk)] = f"admin URL of post {name}"
    return world


# Detecting canaries -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Leak:
    who: str
    method: str
    url: str
    pattern: str
    status: int
    where: str  # "body", "header <name>" or "redirect"
    canary: str  # the field the canary was planted in


def echoed_references(world: World, request_text: str) -> set[str]:
    """Canary tokens, references and admin URLs the request itself named (a search box shows
    its term, a "next" link its filters)."""
    echoed = {m.group(0).lower() for m in TOKEN.finditer(request_text)}
    echoed |= {m.group(0).upper() for m in REFERENCE.finditer(request_text)}
    echoed |= {
        f"{kind}/{pk}" for kind, pk in ((m[1], m[2]) for m in ADMIN_URL.finditer(request_text))
    }
    return echoed


def find_canaries(world: World, text: str, echoed: Collection[str] = ()) -> list[str]:
    """The fields whose canaries occur in ``text`` (``echoed`` ones excepted)."""
    found: list[str] = []
    for match in TOKEN.finditer(text):
        token = match.group(0).lower()
        name = world.canaries.by_token.get(token)
        if name and token not in echoed and name not in found:
            found.append(name)
    for match in REFERENCE.finditer(text):
        ref = match.group(0).upper()
        what = world.hidden_references.get(ref)
        if what and ref not in echoed and what not in found:
            found.append(what)
    for match in ADMIN_URL.finditer(text):
        what = world.hidden_admin_urls.get((match[1], int(match[2])))
        if what and f"{match[1]}/{match[2]}" not in echoed and what not in found:
            found.append(what)
    return found


def response_text(response: HttpResponse) -> str:
    if getattr(response, "streaming", False):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    return body.decode("utf-8", errors="replace")


#: The canaries of the customer's own record. Customers are the CRM's shared records
#: (docs/access.md, "What crosses teams": everyone with ``view_customer`` sees them), so these
#: may show where the customer record itself is shown, and nowhere else.
CUSTOMER_RECORD = frozenset(
    f"{who}-{part}"
    for who in ("customer", "merged-customer")
    for part in ("name", "email", "notes")
)


@dataclass
class Crawl:
    """Sends requests, each in a savepoint rolled back afterwards (writes change nothing the
    next request sees), and records what it saw. ``shared(pattern, canary)`` says where a
    canary shows by design (counted in ``shared_hits``, not a leak). ``reached``: the patterns
    requested through a URL that resolves to them (what the coverage checks count)."""

    world: World
    shared: Callable[[str, str], bool] = lambda pattern, canary: False
    leaks: list[Leak] = field(default_factory=list)
    errors: list[Leak] = field(default_factory=list)
    requests: int = 0
    per_pattern: Counter[str] = field(default_factory=Counter)
    ok: set[str] = field(default_factory=set)  # patterns answered 2xx at least once
    shows_care: set[str] = field(default_factory=set)  # patterns that showed Care's content
    shared_hits: int = 0
    seen: dict[str, set[str]] = field(default_factory=dict)  # canary field → patterns
    reached: set[str] = field(default_factory=set)

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        sid = transaction.savepoint()
        try:
            yield
        finally:
            transaction.savepoint_rollback(sid)
            transaction.set_rollback(False)

    def send(
        self,
        client: Any,
        who: str,
        method: str,
        url: str,
        pattern: str,
        *,
        data: Any = None,
        as_json: bool = False,
        follow: bool = False,
        route: Callable[[ResolverMatch], bool] | None = None,
    ) -> tuple[HttpResponse, str]:
        """``route``: whether the URL's resolver match is the view meant (for ``reached``)."""
        if route is not None and route(resolve(urlsplit(url).path)):
            self.reached.add(pattern)
        kwargs: dict[str, Any] = {"follow": follow}
        if as_json:
            kwargs["content_type"] = "application/json"
            kwargs["data"] = json.dumps(data)
        elif data is not None:
            kwargs["data"] = data
        with self.rolled_back():
            response = getattr(client, method.lower())(url, **kwargs)
            text = response_text(response)
            chain = [*getattr(response, "redirect_chain", [])]
        self.requests += 1 + len(chain)
        self.per_pattern[pattern.split(" action ")[0]] += 1 + len(chain)
        if 200 <= response.status_code < 300:
            self.ok.add(pattern)
        if "VISIBLE-" in text:
            self.shows_care.add(pattern)
        self.check(who, method, url, pattern, response, text, f"{url} {data or ''}")
        if response.status_code >= 500:
            self.errors.append(Leak(who, method, url, pattern, response.status_code, "", ""))
        return response, text

    def failed(self) -> str:
        """What went wrong, for the assertion message ("" when nothing did)."""
        parts = []
        if self.leaks:
            parts += [f"{len(self.leaks)} responses leaked canaries:", summarize(self.leaks)]
        if self.errors:
            grouped: dict[str, list[Leak]] = {}
            for error in self.errors:
                grouped.setdefault(error.pattern, []).append(error)
            parts.append(f"{len(self.errors)} server errors (a page that fails shows nothing):")
            parts += [
                f"- {pattern}: {len(found)} × {found[0].status}, e.g. {found[0].method} "
                f"{found[0].url} as {found[0].who}"
                for pattern, found in sorted(grouped.items())
            ]
        return "\n".join(parts)

    def check(
        self,
        who: str,
        method: str,
        url: str,
        pattern: str,
        response: HttpResponse,
        text: str,
        request_text: str,
    ) -> None:
        echoed = echoed_references(self.world, request_text)
        places: list[tuple[str, str]] = [("body", text)]
        places += [(f"header {k}", f"{v}") for k, v in response.headers.items()]
        for hop, _status in getattr(response, "redirect_chain", []):
            places.append(("redirect", hop))
        for where, content in places:
            for name in find_canaries(self.world, content, echoed):
                self.seen.setdefault(name, set()).add(pattern)
                if self.shared(pattern, name):
                    self.shared_hits += 1
                    continue
                self.leaks.append(
                    Leak(who, method, url, pattern, response.status_code, where, name)
                )


def summarize(leaks: Iterable[Leak], limit: int = 400) -> str:
    """One line per (surface, canary field), with who saw it and one example request."""
    grouped: dict[tuple[str, str], list[Leak]] = {}
    for leak in leaks:
        grouped.setdefault((leak.pattern, leak.canary), []).append(leak)
    lines = []
    for (pattern, canary), found in sorted(grouped.items()):
        who = sorted({leak.who for leak in found})
        shown = ", ".join(who[:4]) + (f" (+{len(who) - 4} more)" if len(who) > 4 else "")
        example = found[0]
        lines.append(
            f"- {pattern}: {canary} — {len(found)} responses, as {shown}; e.g. "
            f"{example.method} {example.url} ({example.status}, {example.where})"
        )
    more = f"\n… and {len(lines) - limit} more" if len(lines) > limit else ""
    return "\n".join(lines[:limit]) + more
