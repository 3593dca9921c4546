"""Incidents: opening (or joining) one, linking cases, running and ticking playbook steps, and
moving it open → contained → resolved. Everything lands in the incident's and the cases' timelines.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from socialcare import signals
from socialcare.exceptions import IllegalTransition, SocialCareError
from socialcare.models import (
    Case,
    CaseEvent,
    Detector,
    Incident,
    IncidentEvent,
    IncidentStep,
    Playbook,
    Severity,
)
from socialcare.services.access import OTHER_TEAM_CASE
from socialcare.services.events import record_event, user_label
from socialcare.services.playbook_steps import get_kind

logger = logging.getLogger("socialcare.incidents")
Status = Incident.Status

INCIDENT_TRANSITIONS = {
    Status.OPEN: {Status.CONTAINED, Status.RESOLVED},
    Status.CONTAINED: {Status.OPEN, Status.RESOLVED},
    Status.RESOLVED: set(),
}


def incident_event(
    incident: Incident, kind: str, *, actor: Any = None, **data: Any
) -> IncidentEvent:
    return IncidentEvent.objects.create(
        incident=incident, kind=kind, actor=actor if getattr(actor, "pk", None) else None, data=data
    )


def _announce(incident: Incident, actor: Any, change: str) -> None:
    transaction.on_commit(
        lambda: signals.incident_updated.send(
            Incident, incident=incident, actor=actor, change=change
        )
    )


def _by_agent(actor: Any) -> bool:
    """An agent's explicit escalation may move a case out of another incident; a detector not."""
    return bool(getattr(actor, "pk", None))


def active_incident(playbook: Playbook | None, scope: str) -> Incident | None:
    if playbook is None:
        return None
    return (
        Incident.objects.filter(playbook=playbook, scope=scope)
        .exclude(status=Status.RESOLVED)
        .first()
    )


@transaction.atomic
def open_incident(
    *,
    title: str,
    playbook: Playbook | None = None,
    detector: Detector | None = None,
    scope: str = "",
    severity: str | None = None,
    evidence: dict | None = None,
    cases: Iterable[Case] = (),
    actor: Any = None,
) -> tuple[Incident, bool]:
    """Open an incident running ``playbook`` (its automatic steps run at once), or join the one
    already active for the same playbook and scope. Returns (incident, opened)."""
    severity = severity or (playbook.severity if playbook else Severity.HIGH)
    if severity not in Severity.values:
        raise SocialCareError(f"Unknown severity {severity!r}.")
    existing = active_incident(playbook, scope)
    if existing is None:
        try:
            with transaction.atomic():
                incident = Incident.objects.create(
                    title=title[:200],
                    playbook=playbook,
                    detector=detector,
                    scope=scope[:200],
                    severity=severity,
                    evidence=evidence or {},
                    opened_by=actor if getattr(actor, "pk", None) else None,
                )
        except IntegrityError:
            existing = active_incident(playbook, scope)
            if existing is None:
                raise
    if existing is not None:
        if evidence:
            incident_event(existing, "evidence", actor=actor, **evidence)
        link_cases(existing, cases, actor=actor, move=_by_agent(actor))
        return existing, False
    now = incident.opened_at
    steps = playbook.steps.order_by("order", "pk") if playbook else []
    IncidentStep.objects.bulk_create(
        IncidentStep(
            incident=incident,
            step=step,
            order=step.order,
            title=step.title,
            kind=step.kind,
            automatic=step.automatic,
            config=step.config,
            due_at=now + dt.timedelta(minutes=step.due_after_minutes),
        )
        for step in steps
    )
    incident_event(
        incident,
        "opened",
        actor=actor,
        detector=detector.name if detector else "",
        playbook=playbook.name if playbook else "",
        summary=(evidence or {}).get("summary", ""),
    )
    # Registered first so listeners hear "opened" before the updates the opening itself makes.
    transaction.on_commit(
        lambda: signals.incident_opened.send(Incident, incident=incident, actor=actor)
    )
    link_cases(incident, cases, actor=actor, apply_steps=False, move=_by_agent(actor))
    for step in incident.steps.filter(automatic=True).order_by("order", "pk"):
        run_step(step, actor=None)
    incident.refresh_from_db()  # steps changed it through their own copies (requires_approval)
    return incident, True


@transaction.atomic
def link_cases(
    incident: Incident,
    cases: Iterable[Case],
    *,
    actor: Any = None,
    apply_steps: bool = True,
    move: bool = False,
) -> list[Case]:
    """Attach cases to the incident (each once), then apply the case-wide steps already done.

    A case already in another active incident stays there unless ``move`` is set (an agent's
    explicit choice): two detectors firing on one wave must not pull cases back and forth.

    Race-safe: a case is linked by a conditional update (two workers linking the same case
    leave one link), and the incident's steps are locked before reading which are done, so a
    step ticked at the same moment reaches these cases either here or in ``run_step``."""
    linked = []
    wanted = sorted((c for c in cases if c is not None), key=lambda c: c.pk)  # one lock order
    for case in wanted:
        if case.incident_id == incident.pk or case.merged_into_id:
            continue
        candidates = Case.objects.filter(pk=case.pk, merged_into__isnull=True).exclude(
            incident=incident
        )
        if not move:
            candidates = candidates.filter(
                Q(incident__isnull=True) | Q(incident__status=Status.RESOLVED)
            )
        updated = candidates.update(incident=incident, updated_at=timezone.now())
        case.incident = incident
        if not updated:
            continue  # linked meanwhile by another worker (or merged)
        record_event(
            case,
            CaseEvent.Kind.INCIDENT_LINKED,
            actor=actor,
            incident=incident.pk,
            text=f"Linked to incident #{incident.pk}: {incident.title}",
        )
        linked.append(case)
    if not linked:
        return linked
    incident_event(
        incident,
        "cases_linked",
        actor=actor,
        cases=[c.reference for c in linked][:100],
        count=len(linked),
    )
    if apply_steps:
        steps = incident.steps.select_for_update().order_by("order", "pk")
        for step in [s for s in steps if s.status == IncidentStep.Status.DONE]:
            _apply_to_cases(step, linked, actor)
    _announce(incident, actor, "cases_linked")
    return linked


def _apply_to_cases(step: IncidentStep, cases: Iterable[Case], actor: Any) -> tuple[int, list[str]]:
    """Apply a case-scoped step to each case once (an event on the case records it)."""
    try:
        kind = get_kind(step.kind)
    except SocialCareError:
        return 0, []  # its kind is gone from the settings: nothing left to apply
    if not kind.case_scoped:
        return 0, []
    applied, problems = 0, []
    cases = list(cases)
    done: set[int] = set()  # the cases this step already reached: a query per 500 cases
    for start in range(0, len(cases), 500):
        done.update(
            CaseEvent.objects.filter(
                case__in=[c.pk for c in cases[start : start + 500]],
                kind=CaseEvent.Kind.PLAYBOOK_STEP,
                data__incident_step=step.pk,
            ).values_list("case_id", flat=True)
        )
    for case in cases:
        if case.pk in done:
            continue
        try:
            with transaction.atomic():
                kind.apply_to_case(step.incident, step, case, actor)
                record_event(
                    case,
                    CaseEvent.Kind.PLAYBOOK_STEP,
                    actor=actor,
                    incident=step.incident_id,
                    incident_step=step.pk,
                    text=f"Playbook step: {step.title}",
                )
            applied += 1
        except SocialCareError as exc:
            problems.append(f"{case.reference}: {' '.join(exc.messages)}")
    return applied, problems


@transaction.atomic
def run_step(step: IncidentStep, *, actor: Any = None, comment: str = "") -> IncidentStep:
    """Do a step now: check, execute, record done (or failed with the reason)."""
    step = IncidentStep.objects.select_for_update().select_related("incident").get(pk=step.pk)
    if step.status in (IncidentStep.Status.DONE, IncidentStep.Status.SKIPPED):
        raise SocialCareError(
            f"Step '{step.title}' is already {step.get_status_display().lower()}."
        )
    incident = step.incident
    try:
        # An unknown kind (a host kind since removed from settings) or a failing check is
        # recorded on the step: it must never lose the incident that is opening.
        kind = get_kind(step.kind)
        problem = kind.check(incident, step)
    except SocialCareError as exc:
        problem = " ".join(exc.messages)
    except Exception as exc:
        logger.exception("Playbook step %s could not be checked", step.pk)
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        return _finish(step, IncidentStep.Status.FAILED, actor, comment, result=problem)
    try:
        with transaction.atomic():
            result = kind.execute(incident, step, actor)
            if kind.case_scoped:
                cases = list(incident.cases.filter(merged_into__isnull=True))
                applied, problems = _apply_to_cases(step, cases, actor)
                result = f"applied to {applied} of {len(cases)} case(s)" + (
                    f"; {len(problems)} could not: " + "; ".join(problems[:5]) if problems else ""
                )
    except SocialCareError as exc:
        return _finish(
            step, IncidentStep.Status.FAILED, actor, comment, result=" ".join(exc.messages)
        )
    except Exception as exc:  # a host's step kind failing must be recorded, not lose the incident
        logger.exception("Playbook step %s failed", step.pk)
        return _finish(
            step, IncidentStep.Status.FAILED, actor, comment, result=f"{type(exc).__name__}: {exc}"
        )
    return _finish(step, IncidentStep.Status.DONE, actor, comment, result=result)


def _finish(
    step: IncidentStep, status: str, actor: Any, comment: str, *, result: str
) -> IncidentStep:
    step.status = status
    step.done_by = actor if getattr(actor, "pk", None) else None
    step.done_at = timezone.now()
    step.comment = comment
    step.result = result[:2000]
    step.save()
    incident_event(
        step.incident,
        f"step_{status}",
        actor=actor,
        step=step.title,
        result=step.result,
        comment=comment,
    )
    _announce(step.incident, actor, f"step_{status}")
    return step


def complete_step(step: IncidentStep, *, actor: Any, comment: str = "") -> IncidentStep:
    """An agent ticks a step: a manual step with an effect is carried out now; a checklist item is
    marked done. A failed step can be tried again."""
    return run_step(step, actor=actor, comment=comment)


@transaction.atomic
def skip_step(step: IncidentStep, *, actor: Any, comment: str) -> IncidentStep:
    if not (comment or "").strip():
        raise SocialCareError("Say why the step is skipped.")
    step = IncidentStep.objects.select_for_update().select_related("incident").get(pk=step.pk)
    if step.status in (IncidentStep.Status.DONE, IncidentStep.Status.SKIPPED):
        raise SocialCareError(
            f"Step '{step.title}' is already {step.get_status_display().lower()}."
        )
    return _finish(step, IncidentStep.Status.SKIPPED, actor, comment.strip(), result="skipped")


@transaction.atomic
def change_incident_status(incident: Incident, to: str, *, actor: Any, note: str = "") -> Incident:
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if to not in Status.values:
        raise IllegalTransition(f"Unknown incident status {to!r}.")
    if to not in INCIDENT_TRANSITIONS[incident.status]:
        raise IllegalTransition(
            f"Incident #{incident.pk} cannot go from {incident.get_status_display()} to {Status(to).label}."
        )
    previous = incident.status
    incident.status = to
    now = timezone.now()
    if to == Status.CONTAINED:
        incident.contained_at = now
    elif to == Status.RESOLVED:
        incident.resolved_at = now
        incident.requires_approval = False
    incident.save()
    incident_event(incident, "status_changed", actor=actor, note=note, to=to, **{"from": previous})
    if to == Status.RESOLVED:  # replies held by it must not stay held unnoticed
        from socialcare.services.holding_replies import flag_held_after_resolve

        flag_held_after_resolve(incident, actor=actor)
    _announce(incident, actor, "status_changed")
    return incident


@transaction.atomic
def open_incident_from_case(
    case: Case,
    *,
    actor: Any,
    title: str = "",
    playbook: Playbook | None = None,
    severity: str | None = None,
) -> Incident:
    """An agent escalates a case by hand (joining the active incident of that playbook, if any)."""
    incident, _ = open_incident(
        title=title or f"Escalated from {case.reference}: {case.subject}",
        playbook=playbook,
        severity=severity,
        scope="manual",
        evidence={
            "summary": f"Opened by {user_label(actor)} from {case.reference}",
            # What readers who may not see the case read instead (services.access.Viewer).
            "source_case": case.reference,
            "redacted_title": f"Escalated from {OTHER_TEAM_CASE}",
            "redacted_summary": f"Opened by {user_label(actor)} from {OTHER_TEAM_CASE}",
        },
        cases=[case],
        actor=actor,
    )
    return incident
