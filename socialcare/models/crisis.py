"""Crisis escalation: detectors that watch the stream, playbooks written in advance, incidents
that run them, and the audited state of every step."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from socialcare.models.fields import PlatformField


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class Playbook(models.Model):
    """A named crisis-response plan: ordered steps, each automatic or manual, with a due offset."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("code"), max_length=50, unique=True)
    description = models.TextField(_("when to use it"), blank=True)
    severity = models.CharField(
        _("severity"), max_length=10, choices=Severity.choices, default=Severity.HIGH
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")

    def __str__(self) -> str:
        return self.name


class PlaybookStep(models.Model):
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField(_("order"), default=10)
    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(
        _("what it does"),
        max_length=50,
        help_text=_("A built-in step kind or one a host registered (see docs/crisis.md)."),
    )
    automatic = models.BooleanField(
        _("automatic"),
        default=True,
        help_text=_("Run when the incident opens; else an agent ticks it."),
    )
    due_after_minutes = models.PositiveIntegerField(_("due after (minutes)"), default=0)
    config = models.JSONField(
        _("settings"),
        default=dict,
        blank=True,
        help_text=_(
            'Step settings, e.g. {"team": "Escalations"}, {"priority": "urgent"}, '
            '{"template": "outage-holding"}, {"notify": ["lead@acme.example"]}.'
        ),
    )

    class Meta:
        ordering = ["playbook", "order", "pk"]
        verbose_name = _("playbook step")
        verbose_name_plural = _("playbook steps")

    def __str__(self) -> str:
        return f"{self.order}. {self.title}"


class Detector(models.Model):
    """A crisis signal configured in admin; when it fires it opens (or joins) an incident."""

    class Kind(models.TextChoices):
        VOLUME_SPIKE = "volume_spike", _("Volume spike over the usual")
        NEGATIVE_SURGE = "negative_surge", _("Surge of negative posts")
        INFLUENCER = "influencer", _("Influencer complaint")
        WATCH_WORDS = "watch_words", _("Watch words")
        SLA_BREACH_CLUSTER = "sla_breach_cluster", _("Cluster of SLA breaches")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    is_active = models.BooleanField(_("active"), default=True)
    platform = PlatformField(_("only platform"), blank=True, help_text=_("Empty: every platform."))
    channel = models.ForeignKey(
        "socialcare.Channel",
        verbose_name=_("only channel"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="detectors",
    )
    window_minutes = models.PositiveIntegerField(_("window (minutes)"), default=15)
    threshold = models.PositiveIntegerField(
        _("threshold"),
        default=20,
        help_text=_(
            "Posts (or breaches) in the window at which it fires; for an influencer, "
            "the follower count."
        ),
    )
    spike_factor = models.FloatField(
        _("times the usual"),
        default=3.0,
        help_text=_("Volume spike: fires when the window holds this many times the baseline."),
    )
    baseline_hours = models.PositiveIntegerField(_("baseline (hours)"), default=24)
    negative_below = models.FloatField(
        _("negative below"), default=-0.3, help_text=_("Sentiment under which a post is negative.")
    )
    watch_words = models.TextField(
        _("watch words"), blank=True, help_text=_("One word or phrase per line; any language.")
    )
    cooldown_minutes = models.PositiveIntegerField(_("cooldown (minutes)"), default=60)
    playbook = models.ForeignKey(
        Playbook,
        verbose_name=_("playbook to start"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="detectors",
    )
    last_fired_at = models.DateTimeField(_("last fired"), null=True, blank=True, editable=False)
    counting_since = models.DateTimeField(
        _("counting posts since"),
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "When its counters started holding the stream: its first counted post, or the oldest "
            "stored post when it was installed. A volume spike or negative surge warms up for one "
            "baseline period from then before it can fire (see docs/crisis.md)."
        ),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("detector")
        verbose_name_plural = _("detectors")

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.is_active:
            self.counting_since = None  # switched off it counts nothing: its history restarts
        super().save(*args, **kwargs)

    def words(self) -> list[str]:
        return [w.strip() for w in self.watch_words.splitlines() if w.strip()]

    @property
    def counted(self) -> bool:
        """A volume spike or negative surge: judged on per-minute counters, so it warms up."""
        return self.kind in (self.Kind.VOLUME_SPIKE, self.Kind.NEGATIVE_SURGE)

    @property
    def warm_from(self) -> dt.datetime | None:
        """When a counted detector's history covers its baseline period and it may fire; None
        while it has counted nothing (or for kinds that fire on one post or on SLA breaches)."""
        if not self.counted or self.counting_since is None:
            return None
        return self.counting_since + dt.timedelta(hours=self.baseline_hours)


class DetectorCount(models.Model):
    """Per-minute counters a detector keeps as posts arrive (so a check reads a few rows, never
    scans posts)."""

    detector = models.ForeignKey(Detector, on_delete=models.CASCADE, related_name="counts")
    minute = models.DateTimeField()
    posts = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["detector", "minute"], name="socialcare_detector_minute"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.detector}: {self.posts} posts at {self.minute:%H:%M}"


class Incident(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CONTAINED = "contained", _("Contained")
        RESOLVED = "resolved", _("Resolved")

    title = models.CharField(_("title"), max_length=200)
    playbook = models.ForeignKey(
        Playbook,
        verbose_name=_("playbook"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incidents",
    )
    detector = models.ForeignKey(
        Detector,
        verbose_name=_("opened by detector"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incidents",
    )
    scope = models.CharField(
        _("scope"),
        max_length=200,
        blank=True,
        help_text=_(
            "What the wave is about (platform, channel); one open incident per playbook and scope."
        ),
    )
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    evidence = models.JSONField(_("evidence"), default=dict, blank=True)
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("incident commander"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requires_approval = models.BooleanField(
        _("public replies need approval"),
        default=False,
        help_text=_(
            "Set by a playbook step: public replies on linked cases wait for a second agent."
        ),
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    contained_at = models.DateTimeField(_("contained"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        permissions = [("approve_reply", "Can approve public replies held by an incident")]
        constraints = [
            models.UniqueConstraint(
                fields=["playbook", "scope"],
                condition=~models.Q(status="resolved"),
                name="socialcare_one_open_incident_per_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_active(self) -> bool:
        return self.status != self.Status.RESOLVED


class IncidentStep(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="steps")
    step = models.ForeignKey(PlaybookStep, null=True, blank=True, on_delete=models.SET_NULL)
    order = models.PositiveIntegerField(default=10)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=50)
    automatic = models.BooleanField(default=False)
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    due_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    done_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    result = models.TextField(blank=True)

    class Meta:
        ordering = ["incident", "order", "pk"]
        verbose_name = _("incident step")
        verbose_name_plural = _("incident steps")

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"


class IncidentEvent(models.Model):
    """The incident's own timeline (steps, status, cases linked), append-only."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    kind = models.CharField(max_length=30)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("incident event")
        verbose_name_plural = _("incident events")

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"


class SLAAlert(models.Model):
    """One warning or breach of one SLA target of one case: the unique constraint makes the scan
    notify once, however often it runs."""

    class Target(models.TextChoices):
        FIRST_RESPONSE = "first_response", _("First response")
        NEXT_RESPONSE = "next_response", _("Next response")
        RESOLUTION = "resolution", _("Resolution")

    class Level(models.TextChoices):
        WARNING = "warning", _("Due soon")
        BREACH = "breach", _("Breached")

    case = models.ForeignKey("socialcare.Case", on_delete=models.CASCADE, related_name="sla_alerts")
    target = models.CharField(max_length=20, choices=Target.choices)
    level = models.CharField(max_length=10, choices=Level.choices)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("SLA alert")
        verbose_name_plural = _("SLA alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["case", "target", "level", "due_at"], name="socialcare_sla_alert_once"
            ),
        ]
        indexes = [models.Index(fields=["level", "created_at"], name="socialcare_sla_alert_recent")]

    def __str__(self) -> str:
        return f"{self.get_target_display()} {self.get_level_display().lower()}"
