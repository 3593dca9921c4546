"""Macros: apply a named set of case actions in one step (issue #20; ``models.Macro``).

Every front end (the case page, the inbox's bulk action, the API) calls :func:`apply_macro` or
:func:`apply_macro_to_cases`. Each action goes through the service that does it by hand
(``services.cases`` for status, priority, tags, team and assignee and notes,
``services.replies.send_reply`` for the reply), so each keeps its own rules, events, SLA clocks
and outbound webhooks. One ``macro_applied`` event, dated when the macro started (so it heads
them in the timeline), lists what every action did.

**All or nothing.** The actions of one case run in one transaction. When the services refuse one
(a private reply outside the messaging window, a status the workflow does not allow, a closed
case), the whole macro is refused with :class:`MacroRefused`, which names the step and the
reason, and nothing of it stays: no half-applied macro to untangle. An action that has nothing
to do (the status is already the one asked, the tag is already there) is not a refusal: the
event says "already". In bulk, each case is its own transaction: a refused case is reported
with its reason and the others are applied.

A macro's reply is the agent's reply, sent with their name (not an automatic message): the
reply window, the platforms' limits and an incident's approval gate apply as to any reply (held
for approval while the case's incident requires it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from socialcare.exceptions import SocialCareError
from socialcare.models import Case, CaseEvent, Macro, MacroAction, Post, TeamMembership
from socialcare.services import cases as case_services
from socialcare.services import replies as reply_services
from socialcare.services.access import sees_all_cases
from socialcare.services.assignment import BulkResult
from socialcare.services.events import record_event, user_label

#: The permission to run macros (agents, supervisors and admins hold it; admins edit them).
APPLY_PERMISSION = "socialcare.apply_macro"

Kind = MacroAction.Kind


class MacroRefused(SocialCareError):
    """A macro not applied (not usable by this user, or one of its actions refused): nothing of
    it was done."""

    code = "macro_refused"


@dataclass
class MacroResult:
    """What one application did: the case, and one line per action."""

    case: Case
    macro: Macro
    done: list[str] = field(default_factory=list)
    event: CaseEvent | None = None


def usable_macros(user: Any) -> QuerySet[Macro]:
    """The active macros ``user`` may run: needs ``socialcare.apply_macro`` and
    ``change_case``; a macro limited to teams is offered to their members (and to those who see
    every case), one limited to roles to members of those groups (superusers: every macro)."""
    macros = Macro.objects.active()
    if not user or not user.is_authenticated or not user.is_active:
        return macros.none()
    if user.is_superuser:
        return macros
    if not (user.has_perm(APPLY_PERMISSION) and user.has_perm("socialcare.change_case")):
        return macros.none()
    if not sees_all_cases(user):
        mine = TeamMembership.objects.filter(user=user).values("team")
        macros = macros.filter(Q(teams__isnull=True) | Q(teams__in=mine))
    groups = user.groups.values("pk")
    macros = macros.filter(Q(groups__isnull=True) | Q(groups__in=groups))
    return Macro.objects.filter(pk__in=macros.values("pk"))


def check_usable(macro: Macro, user: Any) -> None:
    """Raise :class:`MacroRefused` unless ``user`` may run ``macro``."""
    if not macro.is_active:
        raise MacroRefused(f"The macro “{macro.name}” is not active.")
    if not usable_macros(user).filter(pk=macro.pk).exists():
        raise MacroRefused(f"The macro “{macro.name}” is not available to you.")


def apply_macro(case: Case, macro: Macro, *, actor: Any) -> MacroResult:
    """Run every action of ``macro`` on ``case``, in order, in one transaction, and record one
    ``macro_applied`` event listing what each did. Raises :class:`MacroRefused` (nothing done)
    when ``actor`` may not run it, the case was merged, or a service refuses an action."""
    check_usable(macro, actor)
    actions = list(
        macro.actions.select_related("template", "team", "assignee").order_by("position", "pk")
    )
    if not actions:
        raise MacroRefused(f"The macro “{macro.name}” has no actions.")
    started = timezone.now()
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).get(pk=case.pk)
        if case.merged_into_id:
            raise MacroRefused(f"{case.reference} was merged into another case; work on that one.")
        result = MacroResult(case=case, macro=macro)
        for number, action in enumerate(actions, 1):
            try:
                result.done.append(_run(action, case, actor))
            except ValidationError as exc:
                raise MacroRefused(
                    f"{case.reference}: macro “{macro.name}” not applied, nothing changed. Step "
                    f"{number} ({action.describe()}) was refused: {' '.join(exc.messages)}"
                ) from exc
        result.event = record_event(
            case,
            CaseEvent.Kind.MACRO_APPLIED,
            actor=actor,
            at=started,
            macro=macro.name,
            macro_id=macro.pk,
            actions=result.done,
            text=f"Macro “{macro.name}” applied: {'; '.join(result.done)}.",
        )
    case.refresh_from_db()
    return result


def apply_macro_to_cases(cases: Iterable[Case], macro: Macro, *, actor: Any) -> BulkResult:
    """Apply ``macro`` to each case, each in its own transaction; a refused case is reported
    (with the step and the reason) and the others are applied."""
    check_usable(macro, actor)
    result = BulkResult()
    for case in cases:
        try:
            apply_macro(case, macro, actor=actor)
        except ValidationError as exc:
            result.skipped.append(" ".join(exc.messages))
        else:
            result.changed.append(case)
    return result


def _run(action: MacroAction, case: Case, actor: Any) -> str:
    """Do one action through its service; return what it did, in words."""
    match action.kind:
        case Kind.REPLY:
            return _reply(action, case, actor)
        case Kind.STATUS:
            label = Case.Status(action.status).label.lower()
            if case.status == action.status:
                return f"status already {label}"
            case_services.change_status(case, action.status, actor=actor, reason="macro")
            return f"status → {label}"
        case Kind.PRIORITY:
            if case.priority == action.priority:
                return f"priority already {action.priority}"
            case_services.change_priority(case, action.priority, actor=actor, reason="macro")
            return f"priority → {action.priority}"
        case Kind.ADD_TAGS | Kind.REMOVE_TAGS:
            return _tags(action, case, actor)
        case Kind.TEAM:
            if action.team is None:
                raise SocialCareError("its team was deleted; edit the macro.")
            if case.team_id == action.team_id:
                return f"team already {action.team}"
            case_services.set_team(case, action.team, actor=actor)
            return f"team → {action.team}"
        case Kind.ASSIGN | Kind.ASSIGN_TO_ME | Kind.UNASSIGN:
            return _assign(action, case, actor)
        case Kind.NOTE:
            case_services.add_note(case, action.text, actor=actor)
            return "note added"
    raise SocialCareError(f"unknown action {action.kind!r}.")


def _reply(action: MacroAction, case: Case, actor: Any) -> str:
    if action.template is None or not action.template.is_active:
        raise SocialCareError("its reply template was deleted or deactivated; edit the macro.")
    visibility = action.visibility or case.visibility
    post = reply_services.send_reply(
        case, actor=actor, visibility=visibility, template=action.template
    )
    case.refresh_from_db()
    held = post.send_status == Post.SendStatus.AWAITING_APPROVAL
    how = "held for approval" if held else "queued"
    return f"{visibility} reply “{action.template.name}” {how}"


def _tags(action: MacroAction, case: Case, actor: Any) -> str:
    current = list(case.tags.values_list("name", flat=True))
    names = action.tag_names()
    lower = {n.lower() for n in names}
    if action.kind == Kind.ADD_TAGS:
        have = {c.lower() for c in current}
        wanted = current + [n for n in names if n.lower() not in have]
        verb = "tags added"
    else:
        wanted = [c for c in current if c.lower() not in lower]
        verb = "tags removed"
    if len(wanted) == len(current):
        return f"{verb}: none to change ({', '.join(names)})"
    case_services.set_tags(case, wanted, actor=actor)
    return f"{verb}: {', '.join(names)}"


def _assign(action: MacroAction, case: Case, actor: Any) -> str:
    if action.kind == Kind.UNASSIGN:
        who = None
    elif action.kind == Kind.ASSIGN_TO_ME:
        who = actor if getattr(actor, "pk", None) else None
        if who is None:
            raise SocialCareError("only a person can be assigned the case.")
    else:
        who = action.assignee
        if who is None:
            raise SocialCareError("its assignee was deleted; edit the macro.")
    if case.assignee_id == (who.pk if who else None):
        return f"already assigned to {user_label(who)}" if who else "already unassigned"
    case_services.assign_case(case, who, actor=actor)
    return f"assigned to {user_label(who)}" if who else "unassigned"
