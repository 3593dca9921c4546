"""Teams of agents who share a queue."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from socialcare.models.availability import validate_codes


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    email = models.EmailField(_("team email"), blank=True, help_text=_("Where team alerts go."))
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="TeamMembership",
        related_name="socialcare_teams",
        blank=True,
    )
    calendar = models.ForeignKey(
        "socialcare.BusinessCalendar",
        verbose_name=_("business hours"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text=_("Empty: the team works 24/7."),
    )
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text=_("Round-robin pointer: the member who got the last case."),
    )
    # Auto-assignment (socialcare.services.routing, docs/assignment.md).
    auto_assign = models.BooleanField(
        _("auto-assign"),
        default=False,
        help_text=_(
            "New and reopened cases go to the online member with the right skills and the "
            "most free capacity; when all are full they wait in the team queue."
        ),
    )
    queue_wait_limit = models.DurationField(
        _("queue wait limit"),
        null=True,
        blank=True,
        help_text=_("A case waiting longer for an agent notifies the supervisors (e.g. 00:15:00)."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="socialcare_memberships"
    )
    on_duty = models.BooleanField(
        _("on duty"), default=True, help_text=_("Only members on duty get round-robin assignments.")
    )
    # Auto-assignment (socialcare.services.routing): capacity and skills in this team.
    capacity = models.PositiveSmallIntegerField(
        _("capacity"),
        default=5,
        help_text=_("Most open cases of this team assigned to the member at once (0: none)."),
    )
    languages = models.JSONField(
        _("languages"),
        default=list,
        blank=True,
        validators=[validate_codes],
        help_text=_('Language codes the member answers in, e.g. ["en", "fr"]; empty: any.'),
    )
    platforms = models.JSONField(
        _("platforms"),
        default=list,
        blank=True,
        validators=[validate_codes],
        help_text=_('Platforms the member handles, e.g. ["x", "facebook"]; empty: any.'),
    )

    class Meta:
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="socialcare_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"
