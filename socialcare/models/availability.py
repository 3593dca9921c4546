"""Agent availability and the team queue: who is online, and the cases waiting for an agent.

Capacity and skills live on ``TeamMembership`` (per team); the auto-assignment switch and the
queue's wait limit on ``Team``. The logic is in ``socialcare.services.routing``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AgentStatus(models.Model):
    """One agent's availability. No row means offline."""

    class Status(models.TextChoices):
        ONLINE = "online", _("Online")
        AWAY = "away", _("Away")
        OFFLINE = "offline", _("Offline")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="socialcare_status",
        verbose_name=_("agent"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.OFFLINE
    )
    changed_at = models.DateTimeField(_("status since"), default=timezone.now)
    last_activity_at = models.DateTimeField(_("last activity"), default=timezone.now)
    #: "" when the agent chose the status; "inactivity" when the system set it.
    changed_by_system = models.CharField(_("set by the system because"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("agent status")
        verbose_name_plural = _("agent statuses")
        indexes = [
            models.Index(fields=["status", "last_activity_at"], name="socialcare_status_idle")
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_status_display()}"


class AssignmentWait(models.Model):
    """One wait of a case for an agent of a team with auto-assignment: it starts when the case
    is opened, reopened, unassigned or moved to the team, and ends when an agent takes it (zero
    length when one had room at once) or the case leaves the queue (resolved, closed, moved,
    assigned by hand). The open waits are the team's queue."""

    class Outcome(models.TextChoices):
        WAITING = "", _("Waiting")
        ASSIGNED = "assigned", _("Assigned automatically")
        TAKEN = "taken", _("Assigned by hand")
        LEFT = "left", _("Left the queue")

    case = models.ForeignKey(
        "socialcare.Case", on_delete=models.CASCADE, related_name="assignment_waits"
    )
    team = models.ForeignKey(
        "socialcare.Team", on_delete=models.CASCADE, related_name="assignment_waits"
    )
    queued_at = models.DateTimeField(_("queued at"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default="", blank=True
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assigned to"),
    )
    notified_at = models.DateTimeField(
        _("supervisor notified at"), null=True, blank=True, help_text=_("Waited over the limit.")
    )

    class Meta:
        verbose_name = _("wait for an agent")
        verbose_name_plural = _("waits for an agent")
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(ended_at__isnull=True),
                name="socialcare_one_open_wait",
            ),
        ]
        indexes = [models.Index(fields=["team", "ended_at"], name="socialcare_wait_team")]

    def __str__(self) -> str:
        return f"{self.case} waiting for {self.team}"

    @property
    def waiting(self) -> bool:
        return self.ended_at is None


def validate_codes(value: object) -> None:
    """A skill list: short codes, e.g. ``["en", "fr"]`` or ``["x", "facebook"]``."""
    from django.core.exceptions import ValidationError

    if not isinstance(value, list) or not all(
        isinstance(v, str) and 0 < len(v.strip()) <= 32 for v in value
    ):
        raise ValidationError(
            _('Enter a list of codes, e.g. ["en", "fr"] (an empty list [] means any).'),
            code="invalid_codes",
        )
