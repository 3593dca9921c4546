"""SLA policies and the business-hours calendars they count time on."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from socialcare.models.choices import Priority, Visibility
from socialcare.models.fields import PlatformField


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(_("%(tz)s is not a known time zone."), params={"tz": value}) from exc


def validate_holiday_country(value: str) -> None:
    import holidays

    if value and value.upper() not in holidays.list_supported_countries():
        raise ValidationError(
            _("%(c)s is not a country the holidays package knows (use ISO codes like US, DE)."),
            params={"c": value},
        )


class BusinessCalendar(models.Model):
    """Opening hours in one time zone, with public holidays from the ``holidays`` package."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    timezone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_timezone]
    )
    holiday_country = models.CharField(
        _("public holidays of"),
        max_length=8,
        blank=True,
        validators=[validate_holiday_country],
        help_text=_("ISO country code, e.g. US, GB, DE. Empty: no public holidays."),
    )
    holiday_subdivision = models.CharField(
        _("region"), max_length=16, blank=True, help_text=_("State or region code, e.g. CA, BY.")
    )
    extra_closed_days = models.JSONField(
        _("extra closed days"),
        default=list,
        blank=True,
        help_text=_('Dates the team is closed besides public holidays: ["2026-12-24", ...].'),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")

    def __str__(self) -> str:
        return f"{self.name} ({self.timezone})"


class BusinessHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(_("day"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(closes__gt=models.F("opens")),
                name="socialcare_hours_close_after_open",
                violation_error_message=_("Closing time must be after opening time."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"


class SLAPolicyQuerySet(models.QuerySet):
    def active(self) -> SLAPolicyQuerySet:
        return self.filter(is_active=True).order_by("order", "pk")


class SLAPolicy(models.Model):
    """Response targets. Policies are tried in ``order``; the first whose conditions match wins."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    order = models.PositiveIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    priority = models.CharField(
        _("when priority is"),
        max_length=10,
        blank=True,
        choices=Priority.choices,
        help_text=_("Empty: any."),
    )
    platform = PlatformField(_("when platform is"), blank=True, help_text=_("Empty: any."))
    visibility = models.CharField(
        _("when visibility is"),
        max_length=10,
        blank=True,
        choices=Visibility.choices,
        help_text=_("Empty: any."),
    )
    channel = models.ForeignKey(
        "socialcare.Channel",
        verbose_name=_("when channel is"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    first_response_minutes = models.PositiveIntegerField(
        _("first response within (minutes)"), default=60
    )
    next_response_minutes = models.PositiveIntegerField(
        _("next response within (minutes)"), null=True, blank=True
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolve within (minutes)"), null=True, blank=True
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("business hours"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text=_("Empty: the clock runs 24/7."),
    )

    objects = SLAPolicyQuerySet.as_manager()

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name

    def matches(
        self, *, priority: str, platform: str, visibility: str, channel_id: int | None
    ) -> bool:
        return (
            (not self.priority or self.priority == priority)
            and (not self.platform or self.platform == platform)
            and (not self.visibility or self.visibility == visibility)
            and (self.channel_id is None or self.channel_id == channel_id)
        )
