"""Teams of agents who share a queue."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


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

    class Meta:
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="socialcare_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"
