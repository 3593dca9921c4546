"""``load_demo_data()``: the demo's tables and stories, built through the services agents use
(``open_case``, ``assign_case``, ``change_status``, ``set_tags``, ``add_note``, the merges),
replayed at past moments so each case's history reads like real work."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from socialcare import scoring
from socialcare.demo import ids
from socialcare.demo.automatic_story import record_holding_reply
from socialcare.demo.backfill_story import play_backfill_story
from socialcare.demo.csat_story import add_demo_surveys
from socialcare.demo.data import (
    CHANNELS,
    CLOSED,
    CUSTOMERS,
    MARKER_CHANNEL,
    RESOLVED,
    SEED,
    SLA_POLICIES,
    TEAMS,
    TEMPLATES,
    UNRESOLVED,
    WAITING,
    Identity,
    S,
)
from socialcare.demo.macro_story import add_demo_macros
from socialcare.demo.mastodon_stories import play_mastodon_stories
from socialcare.demo.meta_stories import play_meta_stories
from socialcare.demo.out_of_hours_story import play_out_of_hours_story
from socialcare.demo.platform_apps import add_platform_apps, hide_demo_comment
from socialcare.demo.routing_story import play_routing_story
from socialcare.demo.stories import STORIES, Story
from socialcare.models import (
    BusinessCalendar,
    BusinessHours,
    Case,
    CaseEvent,
    Channel,
    CustomerMerge,
    Post,
    ReplyTemplate,
    SLAPolicy,
    SocialIdentity,
    Team,
    TeamMembership,
    Visibility,
    get_customer_model,
)
from socialcare.platforms.meta import ids as meta_ids
from socialcare.services import cases as case_services
from socialcare.services.channel_routing import channel_saved
from socialcare.services.customers import link_identity, merge_customers, save_customer
from socialcare.services.events import record_event
from socialcare.services.polling import is_polled
from socialcare.services.replies import note_response
from socialcare.services.sla_state import SLA_STATES, sla_state_filter
from socialcare.services.templates import check_length, render_reply_template

__all__ = ["load_demo_data", "stop_polling_demo_channels"]

T = TypeVar("T")


def load_demo_data(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Load the Acme demo into the database and return what was created.

    When the demo's channel already exists it loads nothing and returns ``{"created": False,
    "polling_turned_off": [...]}``: the names of demo channels it switched to not polling
    automatically (see ``stop_polling_demo_channels``). The same call at the same ``now`` always
    builds the same data; the whole load is one transaction.
    """
    if Channel.objects.filter(name=MARKER_CHANNEL).exists():
        return {"created": False, "polling_turned_off": stop_polling_demo_channels()}
    with transaction.atomic():
        return _Builder(now or timezone.now()).build()


def stop_polling_demo_channels() -> list[str]:
    """Switch off automatic polling (``Channel.polling_enabled``) of the demo's channels on polled
    platforms that still hold the demo's made-up access token; return their names.

    The demo creates them that way; this brings a demo database loaded before the switch existed
    in line, so the worker's schedule stops polling the real Mastodon and Bluesky servers with
    tokens they reject. A demo channel an admin gave a real token is left alone."""
    names = []
    for platform, (_, account_id, _, _, _, secrets) in CHANNELS.items():
        channel = Channel.objects.filter(
            platform=platform, account_id=account_id, polling_enabled=True
        ).first()
        if channel is None or not is_polled(channel):
            continue
        if channel.get_secret("access_token") != secrets.get("access_token"):
            continue
        Channel.objects.filter(pk=channel.pk).update(polling_enabled=False)
        names.append(channel.name)
    return names


class _Builder:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.rng = random.Random(SEED)
        self.post_ids: set[tuple[str, str]] = set()
        self.agents: dict[str, Any] = {}
        self.teams: dict[str, Team] = {}
        self.channels: dict[str, Channel] = {}
        self.customers: dict[str, Any] = {}
        self.identities: dict[tuple[str, str], SocialIdentity] = {}
        self.templates: dict[str, ReplyTemplate] = {}
        self.cases: list[tuple[Story, Case]] = []
        self.posts = 0

    def build(self) -> dict[str, Any]:
        calendar = self._calendar()
        self._teams(calendar)
        self._channels()
        add_platform_apps(self.channels, self.now)
        self._sla_policies(calendar)
        self._templates()
        add_demo_macros(self)  # "Refund issued", "Escalate to billing" (issue #20)
        self._customers()
        for story in STORIES:
            self.cases.append((story, self.play(story)))
        hide_demo_comment(self.case_of("hana", "instagram"), self.agents["sofia"])  # order number
        self.cases += play_meta_stories(self)  # a private reply answered; a fetched mention
        self.cases += play_mastodon_stories(self)  # a complaint edited after it was polled
        self.cases += play_backfill_story(self)  # a channel's history: a case with no SLA clock
        record_holding_reply(self)  # an incident's holding reply, sent once (automatic_story)
        self.cases += play_out_of_hours_story(self)  # a DM at night acknowledged (issue #20)
        add_demo_surveys(self)  # CSAT: a few resolved cases surveyed and answered (issue #20)
        self.cases += play_routing_story(self)  # statuses, capacities, a queued case (issue #20)
        self._merge_duplicates()
        self._privacy()
        self._touch()
        return self._counts()

    # Set-up ------------------------------------------------------------------------------------

    def _calendar(self) -> BusinessCalendar:
        year = self.now.year
        calendar = BusinessCalendar.objects.create(
            name="Berlin office",
            timezone="Europe/Berlin",
            holiday_country="DE",
            holiday_subdivision="BE",
            extra_closed_days=[f"{year}-12-24", f"{year}-12-31"],
        )
        BusinessHours.objects.bulk_create(
            BusinessHours(calendar=calendar, weekday=day, opens=dt.time(8), closes=dt.time(18))
            for day in range(5)
        )
        return calendar

    def _teams(self, calendar: BusinessCalendar) -> None:
        User = get_user_model()
        for key, (name, email, members) in TEAMS.items():
            # ``socialcare_playbooks`` may have made "Escalations" already: take it over.
            team, _ = Team.objects.update_or_create(
                name=name,
                defaults={"email": email, "calendar": calendar if key == "billing" else None},
            )
            self.teams[key] = team
            for username, first, last in members:
                user, created = User._default_manager.get_or_create(
                    **{User.USERNAME_FIELD: username},
                    defaults={
                        "first_name": first,
                        "last_name": last,
                        "email": f"{username}@acme.example",
                        "is_staff": True,
                    },
                )
                if created:
                    user.set_unusable_password()
                    user.save()
                self.agents[username] = user
                TeamMembership.objects.create(team=team, user=user, on_duty=True)

    def _channels(self) -> None:
        for platform, (name, account_id, handle, base_url, team, secrets) in CHANNELS.items():
            channel = Channel(
                name=name,
                platform=platform,
                account_id=account_id,
                handle=handle,
                base_url=base_url,
                default_team=self.teams[team],
                can_reply_public=platform != "email",
            )
            # Their tokens are made up: the worker's schedule must not poll the real Mastodon and
            # Bluesky servers with them. The simulator polls them from its own fake API.
            channel.polling_enabled = not is_polled(channel)
            for secret, value in secrets.items():
                channel.set_secret(secret, value)
            channel.save()
            channel_saved(channel, created=True)  # routes what waited for its account, if any
            self.channels[platform] = channel

    def _sla_policies(self, calendar: BusinessCalendar) -> None:
        for order, (name, conditions, first, resolve, business_hours) in enumerate(SLA_POLICIES):
            SLAPolicy.objects.create(
                name=name,
                order=(order + 1) * 10,
                first_response_minutes=first,
                resolution_minutes=resolve,
                calendar=calendar if business_hours else None,
                **conditions,
            )

    def _templates(self) -> None:
        for name, shortcut, visibility, language, text in TEMPLATES:
            self.templates[shortcut] = ReplyTemplate.objects.create(
                name=name, shortcut=shortcut, visibility=visibility, language=language, text=text
            )

    def _customers(self) -> None:
        for key, (name, email, identities) in CUSTOMERS.items():
            customer = save_customer(name=name, email=email)  # through the customer adapter
            self.customers[key] = customer
            for spec in identities:
                identity = self.make_identity(spec, owned=True)
                self.identities[key, spec[0]] = identity
                link_identity(identity, customer)
        for key, spec in UNRESOLVED.items():
            self.identities["?" + key, spec[0]] = self.make_identity(spec)

    def make_identity(self, spec: Identity, *, owned: bool = False) -> SocialIdentity:
        platform, handle, display_name, followers, verified, external_id = spec
        if followers is None:  # heavy-tailed, like real audiences: most small, a few large
            followers = min(int(25 * self.rng.paretovariate(0.8)), 45_000)
        raw_id = external_id or ids.user_id(self.rng, platform, handle)
        # A PSID / IGSID is scoped to the demo's Page or Instagram account (meta.ids).
        space = meta_ids.space_for(platform)
        account = self.channels[platform].account_id if space else ""
        external_id = meta_ids.scoped_id(space, account, raw_id) if space else raw_id
        seen = self.now - dt.timedelta(days=self.rng.randint(30, 1500))
        # Some customers signed in with their social account once, proving they own it.
        proved = owned and platform != "email" and self.rng.random() < 0.3
        return SocialIdentity.objects.create(
            platform=platform,
            external_id=external_id,
            handle="" if platform == "email" else handle,  # the address is the id
            display_name=display_name,
            profile_url=ids.profile_url(platform, handle, raw_id),
            followers_count=followers,
            platform_verified=verified,
            owner_verified_at=seen + dt.timedelta(days=2) if proved else None,
            owner_verified_via=f"social login ({platform})" if proved else "",
            first_seen_at=seen,
            last_seen_at=seen,
        )

    # Cases -------------------------------------------------------------------------------------

    def play(self, story: Story) -> Case:
        """Replay one story: the customer's post, the case, and what agents did, in order."""
        identity = self.identities[story.who, story.platform]
        agent = self.agents.get(story.agent)
        private = story.private or story.platform == "email"
        opened = self.now - dt.timedelta(hours=story.hours_ago)
        span = self.now - opened

        def later(start: dt.datetime, share: float, minutes: float) -> dt.datetime:
            # At most ``share`` of the case's age: the steps' shares add up to less than 1, so
            # every step happens before ``now``, however young the case.
            return start + min(span * share, dt.timedelta(minutes=minutes))

        case = case_services.open_case(
            channel=self.channels[story.platform],
            identity=identity,
            subject=_subject(story.text),
            priority=story.priority,
            visibility=Visibility.PRIVATE if private else Visibility.PUBLIC,
            team=self.teams.get(story.team),
            opened_at=opened,
        )
        # The post was written a little before it reached us and opened the case.
        first = self._inbound(case, story, story.text, opened - dt.timedelta(seconds=40), opened)
        if agent is None:  # still in the queue; keyword rules tagged it
            if story.tags:
                self.at_time(later(opened, 0.01, 0.2), case_services.set_tags, case, story.tags)
            return case
        clock = later(opened, 0.05, self.rng.uniform(2, 8))
        self.at_time(clock, case_services.assign_case, case, agent)
        if story.tags:
            clock = later(clock, 0.01, 1)
            self.at_time(clock, case_services.set_tags, case, story.tags, actor=agent)
        if story.note:
            clock = later(clock, 0.02, 3)
            self.at_time(clock, case_services.add_note, case, story.note, actor=agent)
        if not story.reply:
            return case
        clock = later(clock, 0.1, self.rng.uniform(4, 40))
        reply = self._reply(case, story, agent, clock, parent=first)
        if story.status == WAITING:
            self._status(case, WAITING, later(clock, 0.01, 0.5), agent)
            return case
        if story.follow_up:
            clock = later(clock, 0.2, self.rng.uniform(15, 180))
            self._inbound(case, story, story.follow_up, clock, parent=reply)
        if story.status in (RESOLVED, CLOSED):
            clock = later(clock, 0.1, self.rng.uniform(5, 30))
            self._status(case, RESOLVED, clock, agent)
        if story.status == CLOSED:
            self._status(case, CLOSED, later(clock, 0.3, 24 * 60), None, "resolved for a day")
        return case

    def _inbound(
        self,
        case: Case,
        story: Story,
        text: str,
        at: dt.datetime,
        received: dt.datetime | None = None,
        parent: Post | None = None,
    ) -> Post:
        kind = (
            story.kind
            if parent is None and story.kind
            else _kind(case, inbound=True, reply=bool(parent))
        )
        sentiment = story.sentiment if parent is None else story.follow_up_sentiment
        post = self.add_post(
            case,
            inbound=True,
            kind=kind,
            at=at,
            text=text,
            received=received or at + dt.timedelta(seconds=2),
            author=case.identity,
            parent=parent,
            sentiment=scoring.sentiment(text) if sentiment is None else sentiment,
            reach=case.identity.followers_count,
        )
        record_event(
            case,
            CaseEvent.Kind.POST_ADDED,
            post=post,
            at=post.received_at,
            text=text[:280],
            author=str(case.identity),
        )
        Case.objects.filter(pk=case.pk).update(last_inbound_at=at)
        return post

    def _reply(self, case: Case, story: Story, agent: Any, at: dt.datetime, parent: Post) -> Post:
        """An agent's reply, as ``replies.send_reply`` queues it and the worker then sends it."""
        template = self.templates.get(story.reply[1:]) if story.reply.startswith("@") else None
        text = render_reply_template(template, case, agent) if template else story.reply
        check_length(text, case.channel.platform, case.visibility)
        kind = _kind(case, inbound=False, reply=True)
        post = self.add_post(
            case,
            inbound=False,
            kind=kind,
            at=at,
            text=text,
            parent=parent,
            sent_by=agent,
            send_status=Post.SendStatus.SENT,
            send_attempts=1,
        )
        record_event(
            case,
            CaseEvent.Kind.REPLIED,
            actor=agent,
            post=post,
            at=at,
            text=text[:2000],
            visibility=case.visibility,
            template=template.name if template else "",
        )
        note_response(case, at)
        return post

    def add_post(
        self,
        case: Case,
        *,
        inbound: bool,
        at: dt.datetime,
        parent: Post | None,
        received: dt.datetime | None = None,
        **fields: Any,
    ) -> Post:
        external_id, url, local_id = self._post_id(case, at, inbound=inbound)
        self.posts += 1
        return Post.objects.create(
            platform=case.channel.platform,
            external_id=external_id,
            url=url,
            local_id=local_id,
            channel=case.channel,
            direction=Post.Direction.INBOUND if inbound else Post.Direction.OUTBOUND,
            visibility=case.visibility,
            posted_at=at,
            received_at=received or at,
            parent=parent,
            in_reply_to_external_id=parent.external_id if parent else "",
            conversation_id=parent.conversation_id if parent else external_id,
            case=case,
            **fields,
        )

    def _post_id(self, case: Case, at: dt.datetime, *, inbound: bool) -> tuple[str, str, str]:
        """A post id unique on its platform, its URL and local id (``ids.post_id``)."""
        external_id, url, local_id = ids.post_id(self.rng, case, at, inbound=inbound)
        if (case.channel.platform, external_id) in self.post_ids:  # vanishingly rare; draw again
            return self._post_id(case, at, inbound=inbound)
        self.post_ids.add((case.channel.platform, external_id))
        return external_id, url, local_id

    def _status(self, case: Case, to: str, at: dt.datetime, actor: Any, reason: str = "") -> None:
        self.at_time(at, case_services.change_status, case, to, actor=actor, reason=reason)
        if to == RESOLVED:
            Case.objects.filter(pk=case.pk).update(resolved_at=at)
        elif to == CLOSED:
            Case.objects.filter(pk=case.pk).update(closed_at=at)

    def case_of(self, who: str, platform: str) -> Case:
        """The demo case of ``who`` on ``platform``."""
        return next(c for s, c in self.cases if (s.who, s.platform) == (who, platform))

    def _merge_duplicates(self) -> None:
        """Jonas wrote on X and by email from another address: merge him, then his two cases."""
        agent = self.agents["lukas"]
        at = self.now - dt.timedelta(hours=19)
        dup, jonas = self.customers["jonas_dup"], self.customers["jonas"]
        merge = self.at_time(at, merge_customers, dup, jonas, actor=agent)
        CustomerMerge.objects.filter(pk=merge.pk).update(merged_at=at)
        at += dt.timedelta(minutes=1)
        email_case = self.case_of("jonas_dup", "email")
        self.at_time(
            at, case_services.merge_cases, email_case, self.case_of("jonas", "x"), actor=agent
        )
        Case.objects.filter(pk=email_case.pk).update(resolved_at=at, closed_at=at)

    def _privacy(self) -> None:
        """After the merge Jonas asked for a copy of his data: one export in the privacy log."""
        from socialcare.models import PrivacyRequest
        from socialcare.services.privacy import export_customer

        jonas = self.customers["jonas"]
        export_customer(jonas, actor=self.agents["lukas"], source=PrivacyRequest.Source.ADMIN)
        PrivacyRequest.objects.filter(customer_id=str(jonas.pk)).update(
            created_at=self.now - dt.timedelta(hours=18)
        )

    def at_time(self, at: dt.datetime, service: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a service as if at ``at``: services stamp events with the real clock, and the demo
        replays the past, so the events the call wrote are moved to ``at``."""
        mark = CaseEvent.objects.aggregate(last=Max("pk"))["last"] or 0
        result = service(*args, **kwargs)
        CaseEvent.objects.filter(pk__gt=mark).update(at=at)
        return result

    def _touch(self) -> None:
        """Last-updated and last-seen times from the replayed history, not the loading clock."""
        last_event = CaseEvent.objects.filter(case=OuterRef("pk")).order_by("-at").values("at")
        Case.objects.filter(pk__in=[c.pk for _, c in self.cases]).update(
            updated_at=Subquery(last_event[:1])
        )
        last_post = Post.objects.filter(author=OuterRef("pk")).order_by("-posted_at")
        SocialIdentity.objects.filter(pk__in=[i.pk for i in self.identities.values()]).update(
            last_seen_at=Coalesce(Subquery(last_post.values("posted_at")[:1]), F("last_seen_at"))
        )

    def _counts(self) -> dict[str, Any]:
        cases = Case.objects.filter(pk__in=[c.pk for _, c in self.cases])
        statuses = Counter(cases.values_list("status", flat=True))
        return {
            "created": True,
            "channels": len(self.channels),
            "teams": len(self.teams),
            "agents": len(self.agents),
            "sla_policies": len(SLA_POLICIES),
            "reply_templates": len(self.templates),
            "customers": get_customer_model()._default_manager.count(),
            "identities": len(self.identities),
            # CUSTOMERS_FOR_CASES "create" gives the identities that wrote a customer each.
            "unresolved_identities": SocialIdentity.objects.filter(customer__isnull=True).count(),
            "cases": len(self.cases),
            "cases_by_status": {status: statuses[status] for status in S.values},
            "overdue_cases": cases.overdue(self.now).count(),
            "cases_by_sla": {
                state: cases.filter(sla_state_filter(state, self.now)).count()
                for state, _ in SLA_STATES
            },
            "posts": self.posts,
            "events": CaseEvent.objects.filter(case__in=cases).count(),
        }


def _kind(case: Case, *, inbound: bool, reply: bool) -> str:
    """The post kind a platform (or ``send_reply``, for the brand) uses for a message in this case."""
    platform = case.channel.platform
    if platform == "email":
        return Post.Kind.EMAIL
    if case.visibility == Visibility.PRIVATE:
        return Post.Kind.DIRECT_MESSAGE
    if inbound and platform in ("facebook", "instagram"):
        return Post.Kind.COMMENT  # Meta calls answers in a comment thread comments too
    return Post.Kind.REPLY if reply else Post.Kind.MENTION


def _subject(text: str) -> str:
    """An email's first line; otherwise the post's start without leading @mentions."""
    line = text.strip().splitlines()[0]
    words = line.split()
    while words and words[0].startswith("@"):
        words.pop(0)
    subject = " ".join(words)
    if len(subject) <= 80:
        return subject
    return subject[:80].rsplit(" ", 1)[0] + "…"
