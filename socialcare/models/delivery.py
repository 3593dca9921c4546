"""The durable inbox: every accepted webhook delivery or polled batch, stored before it is processed."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from socialcare.models.fields import PlatformField


class WebhookDeliveryQuerySet(models.QuerySet):
    def pending(self) -> WebhookDeliveryQuerySet:
        return self.filter(status=WebhookDelivery.Status.PENDING)

    def failed(self) -> WebhookDeliveryQuerySet:
        return self.filter(status=WebhookDelivery.Status.FAILED)

    def unrouted(self) -> WebhookDeliveryQuerySet:
        return self.filter(status=WebhookDelivery.Status.UNROUTED)


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSING = "processing", _("Processing")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")
        #: Delivered to an app's URL for an account no active channel has: kept, with the
        #: reason, until its channel exists (``services.account_routing.route_waiting``).
        UNROUTED = "unrouted", _("Waiting for its channel")

    class Source(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook")
        POLL = "poll", _("Polling")
        HISTORY = "history", _("History (a channel's first poll)")

    channel = models.ForeignKey(
        "socialcare.Channel",
        verbose_name=_("channel"),
        on_delete=models.PROTECT,
        related_name="deliveries",
        # Empty only for a delivery to an app's URL not yet routed to its account's channel.
        null=True,
        blank=True,
    )
    app = models.ForeignKey(
        "socialcare.PlatformApp",
        verbose_name=_("platform app"),
        on_delete=models.SET_NULL,
        related_name="deliveries",
        null=True,
        blank=True,
        help_text=_("Set when it came to the app's webhook URL."),
    )
    account_id = models.CharField(
        _("account id"),
        max_length=255,
        blank=True,
        # Also in the database: rows written by SQL that predates the column (bulk loads, a
        # process of the previous release during a deploy) get "" too.
        db_default="",
        help_text=_("The brand account it is for, as routed from an app's URL."),
    )
    routed_from = models.ForeignKey(
        "self",
        verbose_name=_("split from"),
        on_delete=models.SET_NULL,
        related_name="routed",
        null=True,
        blank=True,
        help_text=_("The app delivery naming several accounts that this part was split from."),
    )
    platform = PlatformField(_("platform"))
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEBHOOK)
    body = models.BinaryField(_("raw body"))
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    claimed_at = models.DateTimeField(
        _("processing since"),
        null=True,
        blank=True,
        help_text=_("When a worker took it; a delivery stuck in processing is re-queued."),
    )
    # The claim (issue #25): who holds a delivery in processing and until when. A worker renews
    # its lease while it works; once the lease has passed, a re-run task, the next worker's
    # micro-batch or the sweeper takes the delivery over, and the old holder's late results are
    # rolled back (its finish is conditional on ``claim_token``). See services/deliveries.py.
    claimed_by = models.CharField(
        _("claimed by"),
        max_length=100,
        blank=True,
        db_default="",
        help_text=_("The worker processing it (host:pid)."),
    )
    claim_token = models.CharField(
        _("claim token"),
        max_length=32,
        blank=True,
        db_default="",
        help_text=_("Random per claim: a worker that lost its claim cannot finish it."),
    )
    lease_until = models.DateTimeField(
        _("lease until"),
        null=True,
        blank=True,
        help_text=_("The claim lapses then unless its worker renews it; then another takes over."),
    )
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    posts_count = models.PositiveIntegerField(_("posts"), default=0)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["status", "received_at"], name="socialcare_delivery_status"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} delivery #{self.pk} ({self.get_status_display()})"

    @property
    def body_text(self) -> str:
        """The body as text for people to read (invalid UTF-8 shown with replacement marks)."""
        return bytes(self.body).decode("utf-8", errors="replace")
