"""The append-only timeline and audit trail of a case: its "case history"."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: ``found`` of a "customer changed" event written when a case opened: how the customer was
#: found for its identity (services/case_customers.py).
FOUND_CUSTOMER = {
    "created": "a new customer record for this identity",
    "matched": "the identity matched an existing customer",
}


#: How a moderation event names what was done (``data["action"]``).
MODERATION_DONE = {"hide": "hidden", "unhide": "unhidden", "delete": "deleted"}


def moderation_summary(data: dict) -> str:
    """ "Comment hidden on Facebook by Alice: abusive" or, when it did not happen, "Reply not
    hidden on X (Alice): <why>" (services/moderation.py writes the data)."""
    what = str(data.get("what") or "Comment")
    done = MODERATION_DONE.get(str(data.get("action")), str(data.get("action") or "moderated"))
    where = str(data.get("platform_label") or data.get("platform") or "the platform")
    by = str(data.get("by") or "the system")
    if data.get("outcome") == "done":
        reason = str(data.get("reason") or "")
        return f"{what} {done} on {where} by {by}" + (f": {reason}" if reason else "")
    return f"{what} not {done} on {where} ({by}): {data.get('error') or 'no reason given'}"


class CaseEventQuerySet(models.QuerySet):
    def timeline(self) -> CaseEventQuerySet:
        return self.select_related("actor", "post").order_by("at", "pk")

    def notes(self) -> CaseEventQuerySet:
        return self.filter(kind=CaseEvent.Kind.NOTE)


class CaseEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created", _("Case opened")
        POST_ADDED = "post_added", _("Post added")
        POST_EDITED = "post_edited", _("Post edited")
        POST_DELETED = "post_deleted", _("Post deleted on platform")
        REPLIED = "replied", _("Replied")
        NOTE = "note", _("Internal note")
        STATUS_CHANGED = "status_changed", _("Status changed")
        PRIORITY_CHANGED = "priority_changed", _("Priority changed")
        ASSIGNEE_CHANGED = "assignee_changed", _("Assignee changed")
        TEAM_CHANGED = "team_changed", _("Team changed")
        TAGS_CHANGED = "tags_changed", _("Tags changed")
        CUSTOMER_CHANGED = "customer_changed", _("Customer changed")
        ESCALATED = "escalated", _("Escalated")
        SLA_BREACHED = "sla_breached", _("SLA breached")
        SLA_WITHDRAWN = "sla_withdrawn", _("SLA breach withdrawn")
        HANDED_OFF = "handed_off", _("Taken private")
        MERGED = "merged", _("Merged")
        INCIDENT_LINKED = "incident_linked", _("Linked to incident")
        PLAYBOOK_STEP = "playbook_step", _("Playbook step")
        VERIFICATION_SENT = "verification_sent", _("Verification link created")
        IDENTITY_VERIFIED = "identity_verified", _("Identity verified")
        VERIFICATION_FAILED = "verification_failed", _("Identity verification failed")
        MODERATED = "moderated", _("Moderated")
        AUTOMATIC_MESSAGE = "automatic_message", _("Automatic message")
        MACRO_APPLIED = "macro_applied", _("Macro applied")

    case = models.ForeignKey(
        "socialcare.Case", on_delete=models.CASCADE, related_name="events", verbose_name=_("case")
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="socialcare_events",
        help_text=_("Empty: done by the system."),
    )
    kind = models.CharField(_("what"), max_length=24, choices=Kind.choices)
    post = models.ForeignKey(
        "socialcare.Post", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    data = models.JSONField(_("details"), default=dict, blank=True)

    objects = CaseEventQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        indexes = [
            models.Index(fields=["case", "at", "id"], name="socialcare_event_timeline"),
            models.Index(fields=["kind", "at"], name="socialcare_event_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def actor_label(self) -> str:
        return str(self.actor) if self.actor_id else "system"

    def summary(self) -> str:
        """One line a support agent reads in the timeline."""
        d = self.data or {}
        match self.kind:
            case self.Kind.STATUS_CHANGED | self.Kind.PRIORITY_CHANGED:
                return f"{self.get_kind_display()}: {d.get('from')} → {d.get('to')}"
            case self.Kind.CUSTOMER_CHANGED if d.get("found") in FOUND_CUSTOMER:
                return f"Customer: {d.get('to') or '—'} ({FOUND_CUSTOMER[d['found']]})"
            case self.Kind.ASSIGNEE_CHANGED | self.Kind.TEAM_CHANGED | self.Kind.CUSTOMER_CHANGED:
                return f"{self.get_kind_display()}: {d.get('from') or '—'} → {d.get('to') or '—'}"
            case self.Kind.NOTE:
                return d.get("text", "")
            case self.Kind.MERGED:
                if d.get("into"):
                    return f"Merged into {d['into']}"
                return f"Merged {d.get('from', '')} into this case"
            case self.Kind.TAGS_CHANGED:
                return f"Tags: {', '.join(d.get('to', [])) or '—'}"
            case self.Kind.MODERATED:
                return moderation_summary(d)
            case self.Kind.POST_EDITED if d.get("old_text"):  # the post shows the new text
                return f"The customer edited this post. Before: {d['old_text']}"
            case _:
                return d.get("text") or self.get_kind_display()
