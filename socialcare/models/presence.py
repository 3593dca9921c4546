"""Who has a case's page open, and who is typing a reply on it (issue #20): one row per (case,
agent), refreshed by the page's heartbeat. Ephemeral: a row older than the presence timeout means
nothing and is pruned (``socialcare.services.presence``). A table rather than the cache because
the demo's runserver and qcluster share no cache, and a host's several web processes may not
either; the database is the one thing every process sees."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CasePresence(models.Model):
    case = models.ForeignKey(
        "socialcare.Case",
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="presences",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.CASCADE,
        related_name="socialcare_presences",
    )
    viewing_at = models.DateTimeField(
        _("last seen viewing"), default=timezone.now, help_text=_("The page's latest heartbeat.")
    )
    typing_at = models.DateTimeField(
        _("last seen typing"),
        null=True,
        blank=True,
        help_text=_("The latest heartbeat sent while the agent was typing a reply."),
    )

    class Meta:
        verbose_name = _("case presence")
        verbose_name_plural = _("case presences")
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="socialcare_presence_one_row"),
        ]
        indexes = [
            models.Index(fields=["case", "viewing_at"], name="socialcare_presence_case"),
            models.Index(fields=["viewing_at"], name="socialcare_presence_age"),
        ]

    def __str__(self) -> str:
        return f"{self.user} on case {self.case_id}"
