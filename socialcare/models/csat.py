"""CSAT: the one satisfaction survey a resolved case's customer gets, and their answer (issue #20).

A survey is sent at most once per case (``services.csat.sending``, through the automatic-message
ledger with purpose ``csat``): a question in a direct message the customer answers in the same
channel, or a signed link to a small page. The answer (a score 1–5, the raw text, when, and
whether it came by message or through the link) is stored here, on the case's survey.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from socialcare.models.fields import PlatformField


class SurveyMode(models.TextChoices):
    """How a channel asks: not at all, a 1–5 question in a message, or a link to a page."""

    OFF = "off", _("No survey")
    DM = "dm", _("Question in a private message")
    LINK = "link", _("Link to a survey page")


class SurveyQuerySet(models.QuerySet):
    def answered(self) -> SurveyQuerySet:
        return self.filter(score__isnull=False)

    def pending(self) -> SurveyQuerySet:
        return self.filter(score__isnull=True)


class Survey(models.Model):
    class Asked(models.TextChoices):
        """How this survey was asked (a channel's ``SurveyMode`` other than off)."""

        DM = "dm", _("Question in a private message")
        LINK = "link", _("Link to a survey page")

    class Via(models.TextChoices):
        DM = "dm", _("Message in the channel")
        LINK = "link", _("Survey page")

    case = models.OneToOneField(
        "socialcare.Case",
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="csat_survey",
    )
    identity = models.ForeignKey(
        "socialcare.SocialIdentity",
        verbose_name=_("customer identity"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="csat_surveys",
    )
    platform = PlatformField(_("platform"))
    mode = models.CharField(_("asked by"), max_length=8, choices=Asked.choices, default=Asked.DM)
    language = models.CharField(_("language"), max_length=8, blank=True)
    message = models.ForeignKey(
        "socialcare.AutomaticMessage",
        verbose_name=_("ledger entry"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    question = models.ForeignKey(
        "socialcare.Post",
        verbose_name=_("question sent"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)
    score = models.PositiveSmallIntegerField(
        _("score"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("1 (very bad) to 5 (excellent); empty until the customer answers."),
    )
    answer_text = models.TextField(_("answer as written"), blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    answered_via = models.CharField(_("answered by"), max_length=8, choices=Via.choices, blank=True)
    answer_post = models.ForeignKey(
        "socialcare.Post",
        verbose_name=_("answer message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = SurveyQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-pk"]
        verbose_name = _("CSAT survey")
        verbose_name_plural = _("CSAT surveys")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__isnull=True) | models.Q(score__gte=1, score__lte=5),
                name="socialcare_survey_score_1_5",
            ),
        ]
        indexes = [models.Index(fields=["answered_at"], name="socialcare_survey_answered")]

    def __str__(self) -> str:
        answer = f"{self.score}/5" if self.score else "no answer yet"
        return f"CSAT {self.case_id}: {answer}"
