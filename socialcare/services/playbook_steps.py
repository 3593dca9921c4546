"""What a playbook step can do. Each kind is a class with ``check()`` then ``execute()``; kinds
that act on cases also ``apply_to_case()`` for every case linked to the incident, including cases
linked after the step ran. A host registers more kinds through
``SOCIALCARE["PLAYBOOK_STEP_KINDS"] = {"page_oncall": "myproject.steps.PageOncall"}``."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.utils.module_loading import import_string

from socialcare.conf import app_settings
from socialcare.exceptions import SocialCareError
from socialcare.models import (
    Case,
    CaseEvent,
    Incident,
    IncidentStep,
    Post,
    Priority,
    ReplyTemplate,
    Team,
)

logger = logging.getLogger("socialcare.incidents")


class StepKind:
    """Base class. ``check`` returns a reason the step cannot run (or ""), ``execute`` does it
    and returns a short result for the audit trail."""

    label: ClassVar[str] = ""
    case_scoped: ClassVar[bool] = False
    #: It sends something customers read (a reply, a public note, a DM). The shipped playbooks
    #: install such steps manual; ``socialcare_playbooks`` lists those an admin made automatic.
    reaches_customers: ClassVar[bool] = False
    #: Its automatic message goes once per customer whatever the thread (an incident's holding
    #: reply), not once per customer and conversation (services.automatic_messages).
    once_per_customer: ClassVar[bool] = False

    def check(self, incident: Incident, step: IncidentStep) -> str:
        return ""

    def execute(self, incident: Incident, step: IncidentStep, actor: Any) -> str:
        """Incident-wide effect. Case-scoped kinds are applied case by case by the incident
        service (once per case, audited), so they need only ``apply_to_case``."""
        return "done"

    def apply_to_case(self, incident: Incident, step: IncidentStep, case: Case, actor: Any) -> None:
        """Apply to one linked case (case-scoped kinds). Raise ``SocialCareError`` to report
        that this case could not take it."""

    def send_automatic(
        self, incident: Incident, step: IncidentStep, case: Case, actor: Any
    ) -> Post | None:
        """Send this kind's automatic message to ``case``'s customer, now (kinds that
        ``reaches_customers`` and go through ``services.automatic_messages``); returns the post
        sent, if any. Raise ``SocialCareError`` when it cannot go."""
        raise SocialCareError(f"{self.label or type(self).__name__} sends no automatic message.")


class Notify(StepKind):
    label = "Notify people or teams"

    def check(self, incident: Incident, step: IncidentStep) -> str:
        return "" if _recipients(step.config) else "no one to notify (set emails, users or teams)"

    def execute(self, incident: Incident, step: IncidentStep, actor: Any) -> str:
        from socialcare.services.notifications import notify

        recipients = _recipients(step.config)
        cases = incident.cases.count()
        body = step.config.get("message") or (
            f"Incident #{incident.pk} '{incident.title}' ({incident.get_severity_display()}) is "
            f"{incident.get_status_display().lower()} with {cases} linked case(s).\n"
            f"Evidence: {incident.evidence.get('summary', '')}"
        )
        sent = notify(recipients, f"[Incident #{incident.pk}] {incident.title}", body)
        return f"notified {sent} of {len(recipients)} recipient(s)"


def _recipients(config: dict) -> list[str]:
    addresses = list(config.get("emails") or [])
    usernames = config.get("users") or []
    if usernames:
        User = get_user_model()
        addresses += [
            u.email
            for u in User.objects.filter(**{f"{User.USERNAME_FIELD}__in": usernames})
            if u.email
        ]
    from socialcare.services.notifications import team_addresses

    for team in Team.objects.filter(name__in=config.get("teams") or []):
        addresses += team_addresses(team)
    return sorted(set(addresses))


class AssignTeam(StepKind):
    label = "Give linked cases to a team"
    case_scoped = True

    def check(self, incident: Incident, step: IncidentStep) -> str:
        name = step.config.get("team", "")
        return "" if Team.objects.filter(name=name).exists() else f"no team named {name!r}"

    def apply_to_case(self, incident: Incident, step: IncidentStep, case: Case, actor: Any) -> None:
        from socialcare.services.cases import set_team

        set_team(case, Team.objects.get(name=step.config["team"]), actor=actor)


class RaisePriority(StepKind):
    label = "Raise linked cases' priority"
    case_scoped = True

    def check(self, incident: Incident, step: IncidentStep) -> str:
        value = step.config.get("priority", "")
        return "" if value in Priority.values else f"unknown priority {value!r}"

    def apply_to_case(self, incident: Incident, step: IncidentStep, case: Case, actor: Any) -> None:
        from socialcare.services.cases import raise_priority

        raise_priority(
            case, step.config["priority"], actor=actor, reason=f"incident #{incident.pk}"
        )


class RequireApproval(StepKind):
    label = "Require approval for public replies"

    def execute(self, incident: Incident, step: IncidentStep, actor: Any) -> str:
        Incident.objects.filter(pk=incident.pk).update(requires_approval=True)
        incident.requires_approval = True
        return "public replies on linked cases now wait for approval"


class HoldingReply(StepKind):
    label = "Post a holding reply to every linked case"
    case_scoped = True
    reaches_customers = True
    # One per customer and incident, whatever the thread: a burst's follow-ups that opened cases
    # of their own (merged later) do not get it again.
    once_per_customer = True

    def check(self, incident: Incident, step: IncidentStep) -> str:
        return (
            "" if _template(step) else f"no active reply template {step.config.get('template')!r}"
        )

    def apply_to_case(self, incident: Incident, step: IncidentStep, case: Case, actor: Any) -> None:
        from socialcare.services.automatic_messages import request

        request(case, step, actor=actor)

    def send_automatic(
        self, incident: Incident, step: IncidentStep, case: Case, actor: Any
    ) -> Post | None:
        from socialcare.services.replies import reply_target, send_reply

        template = _template(step)
        if template is None:
            raise SocialCareError(self.check(incident, step))
        visibility = "public" if reply_target(case) is not None else "private"
        # The playbook's author approved this text in advance: it is not held for approval.
        return send_reply(
            case, actor=actor, template=template, visibility=visibility, preapproved=True
        )


def _template(step: IncidentStep) -> ReplyTemplate | None:
    ref = step.config.get("template", "")
    return (
        ReplyTemplate.objects.active().filter(shortcut=ref).first()
        or ReplyTemplate.objects.active().filter(name=ref).first()
    )


class TakePrivate(StepKind):
    label = "Move linked cases to private follow-up"
    case_scoped = True
    reaches_customers = True

    def apply_to_case(self, incident: Incident, step: IncidentStep, case: Case, actor: Any) -> None:
        from socialcare.services.automatic_messages import request

        if case.handed_off_to:
            return
        # Once per customer and thread (services.automatic_messages): the hand-off note is
        # public in the thread, so two cases of one thread get one.
        request(case, step, actor=actor)

    def send_automatic(
        self, incident: Incident, step: IncidentStep, case: Case, actor: Any
    ) -> Post | None:
        from socialcare.services.handoff import hand_off

        if case.handed_off_to:
            raise SocialCareError(f"{case.reference} was already taken private.")
        hand_off(
            case, step.config.get("via", Case.HandOff.DIRECT_MESSAGE), actor=actor, preapproved=True
        )
        event = case.events.filter(kind=CaseEvent.Kind.HANDED_OFF).order_by("-pk").first()
        return event.post if event else None


class HideMatching(StepKind):
    """Hide the linked cases' inbound public comments that contain one of ``config["words"]``
    (a list, or one word or phrase per line), case-insensitive. Each comment is audited on its
    case and the incident; one its platform cannot hide is recorded as skipped
    (services/moderation.py)."""

    label = "Hide comments matching these words"
    case_scoped = True
    # Not ``reaches_customers``: it sends customers nothing (it changes what the public sees of
    # the brand's pages, which is why an admin decides whether it runs by itself).

    def __init__(self) -> None:
        # Rate limits a platform answered, kept from case to case of one run.
        self.paused: dict[str, float] = {}

    def check(self, incident: Incident, step: IncidentStep) -> str:
        return "" if match_words(step.config) else 'no words to match (set {"words": [...]})'

    def apply_to_case(self, incident: Incident, step: IncidentStep, case: Case, actor: Any) -> None:
        from socialcare.services.moderation import hide_matching

        # Failures are recorded per comment, never raised: the comments already hidden on the
        # platform must keep their marks (raising would roll this case's writes back).
        hide_matching(
            case,
            match_words(step.config),
            actor=actor,
            source=f"playbook step '{step.title}' of incident #{incident.pk}",
            incident=incident,
            paused=self.paused,
        )


def match_words(config: dict) -> list[str]:
    """The words of a ``hide_matching`` step: a list, or a text with one per line."""
    raw = config.get("words") or []
    if isinstance(raw, str):
        raw = raw.splitlines()
    if not isinstance(raw, list):
        return []
    return [word.strip() for word in raw if isinstance(word, str) and word.strip()]


class Checklist(StepKind):
    label = "Manual checklist item"


BUILTIN_KINDS: dict[str, type[StepKind]] = {
    "notify": Notify,
    "assign_team": AssignTeam,
    "raise_priority": RaisePriority,
    "require_approval": RequireApproval,
    "holding_reply": HoldingReply,
    "take_private": TakePrivate,
    "hide_matching": HideMatching,
    "checklist": Checklist,
}


def step_kinds() -> dict[str, type[StepKind]]:
    """Built-in and host kinds; a host kind that cannot be imported is left out (its steps fail
    with the reason when they run)."""
    kinds = dict(BUILTIN_KINDS)
    for name in app_settings.PLAYBOOK_STEP_KINDS:
        try:
            kinds[name] = type(get_kind(name))
        except SocialCareError:
            logger.warning("Playbook step kind %r cannot be loaded", name, exc_info=True)
    return kinds


def reaches_customers(name: str) -> bool:
    """Whether steps of kind ``name`` send customers something; a kind that cannot be loaded
    counts as one that may."""
    try:
        return get_kind(name).reaches_customers
    except SocialCareError:
        return True


def kind_choices() -> list[tuple[str, str]]:
    return [(name, cls.label or name) for name, cls in step_kinds().items()]


def get_kind(name: str) -> StepKind:
    """An instance of the step kind ``name``. Only that kind is imported, so one host kind with a
    wrong dotted path fails its own steps (with the reason), not every playbook step."""
    path = app_settings.PLAYBOOK_STEP_KINDS.get(name)
    if path is None:
        if name not in BUILTIN_KINDS:
            raise SocialCareError(f"Unknown playbook step kind {name!r}.")
        return BUILTIN_KINDS[name]()
    try:
        kind = import_string(path) if isinstance(path, str) else path
    except ImportError as exc:
        raise SocialCareError(f"Playbook step kind {name!r} cannot be loaded: {exc}") from exc
    return kind()
