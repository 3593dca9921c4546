"""A holding reply to every open case of an incident (the incident console's bulk reply)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from socialcare.exceptions import SocialCareError
from socialcare.models import CaseEvent, Incident, Post, ReplyTemplate, Visibility
from socialcare.services import incidents as incident_services
from socialcare.services import replies as reply_services
from socialcare.services.access import visible_cases
from socialcare.services.events import record_event


@dataclass
class HoldingReplyResult:
    sent: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"Holding reply sent to {len(self.sent)} case(s)"
        if self.held:
            text += f" ({len(self.held)} held for approval: {', '.join(self.held[:10])})"
        if self.skipped:
            reasons = "; ".join(f"{ref}: {why}" for ref, why in self.skipped[:10])
            more = f"; and {len(self.skipped) - 10} more" if len(self.skipped) > 10 else ""
            text += f"; skipped {len(self.skipped)} — {reasons}{more}"
        return text + "."


def send_holding_replies(
    incident: Incident, *, actor: Any, text: str = "", template: ReplyTemplate | None = None
) -> HoldingReplyResult:
    """Send one holding reply to every open case linked to ``incident`` that ``actor`` may see,
    through ``services.replies.send_reply`` (public where the case has a public customer post,
    else private), each case on its own, so one refusal does not stop the others. A canned reply
    is approved text (as the playbook's holding-reply step), so it is not held for approval; a
    typed one is, while the incident requires approval."""
    text = (text or "").strip()
    if not text and template is None:
        raise SocialCareError("Write the holding reply or choose a canned reply.")
    result = HoldingReplyResult()
    visible = set(visible_cases(actor, incident.cases.all()).values_list("pk", flat=True))
    cases = incident.cases.filter(merged_into__isnull=True).select_related("channel")
    for case in cases.order_by("created_at", "pk"):
        if case.pk not in visible:
            result.skipped.append((case.reference, "not in your teams"))
            continue
        if not case.is_open:
            result.skipped.append((case.reference, f"case is {case.get_status_display().lower()}"))
            continue
        public = reply_services.reply_target(case) is not None and case.channel_id
        public = public and case.channel.can_reply_public
        visibility = Visibility.PUBLIC if public else Visibility.PRIVATE
        try:
            post = reply_services.send_reply(
                case,
                text,
                actor=actor,
                template=None if text else template,
                visibility=visibility,
                preapproved=not text,
            )
        except SocialCareError as exc:
            result.skipped.append((case.reference, " ".join(exc.messages)))
            continue
        if post.send_status == Post.SendStatus.AWAITING_APPROVAL:
            result.held.append(case.reference)
        else:
            result.sent.append(case.reference)
    incident_services.incident_event(
        incident,
        "holding_reply",
        actor=actor,
        template=template.name if template and not text else "",
        sent=len(result.sent),
        held=len(result.held),
        skipped=len(result.skipped),
    )
    return result


def flag_held_after_resolve(incident: Incident, *, actor: Any = None) -> list[Post]:
    """Resolving an incident lifts its approval requirement, but replies already held by it stay
    held: a reply written in the crisis is not sent unreviewed when it ends. So that they are not
    forgotten, each one gets a note in its case's timeline and the incident's timeline lists
    them ("held_replies"); an approver still approves (sends) or rejects each. Returns them."""
    held = list(
        Post.objects.filter(case__incident=incident, send_status=Post.SendStatus.AWAITING_APPROVAL)
        .select_related("case")
        .order_by("pk")
    )
    for post in held:
        record_event(
            post.case,
            CaseEvent.Kind.NOTE,
            actor=actor,
            post=post,
            text=f"Incident #{incident.pk} is resolved, but this reply is still awaiting "
            "approval: approve it to send it, or reject it.",
            held_after_incident=incident.pk,
        )
    if held:
        incident_services.incident_event(
            incident,
            "held_replies",
            actor=actor,
            count=len(held),
            cases=sorted({post.case.reference for post in held}),
        )
    return held
