"""One message, inbound from a customer or outbound from an agent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from socialcare.models.choices import Visibility
from socialcare.models.fields import PlatformField


class PostQuerySet(models.QuerySet):
    def inbound(self) -> PostQuerySet:
        return self.filter(direction=Post.Direction.INBOUND)

    def outbound(self) -> PostQuerySet:
        return self.filter(direction=Post.Direction.OUTBOUND)

    def visible(self) -> PostQuerySet:
        """Posts not deleted on the platform."""
        return self.filter(deleted_at__isnull=True)

    def with_people(self) -> PostQuerySet:
        return self.select_related("author", "sent_by", "channel")


class Post(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "inbound", _("Inbound")
        OUTBOUND = "outbound", _("Outbound")

    class Kind(models.TextChoices):
        MENTION = "mention", _("Mention")
        REPLY = "reply", _("Reply")
        COMMENT = "comment", _("Comment")
        DIRECT_MESSAGE = "direct_message", _("Direct message")
        EMAIL = "email", _("Email")

    class Moderation(models.TextChoices):
        NONE = "", _("Not moderated")
        HIDDEN = "hidden", _("Hidden on the platform")
        DELETED = "deleted", _("Deleted on the platform by the brand")

    class SendStatus(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    platform = PlatformField(_("platform"))
    # NULL (not "") until sent, so unsent outbound posts never collide on the unique constraint.
    external_id = models.CharField(  # noqa: DJ001
        _("platform post id"),
        max_length=500,
        null=True,
        blank=True,
        help_text=_("Empty for an outbound post until the platform accepts it."),
    )
    channel = models.ForeignKey(
        "socialcare.Channel",
        verbose_name=_("channel"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="posts",
    )
    author = models.ForeignKey(
        "socialcare.SocialIdentity",
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="posts",
    )
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    visibility = models.CharField(_("visibility"), max_length=10, choices=Visibility.choices)
    text = models.TextField(_("text"), blank=True)
    html = models.TextField(_("sanitized HTML"), blank=True)
    url = models.URLField(_("URL"), max_length=1000, blank=True)
    in_reply_to_external_id = models.CharField(_("in reply to"), max_length=500, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent post"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replies",
    )
    conversation_id = models.CharField(_("conversation"), max_length=500, blank=True)
    local_id = models.CharField(
        _("id on the brand's server"),
        max_length=100,
        blank=True,
        help_text=_("Where replies name a server-local id instead of the global one (Mastodon)."),
    )
    language = models.CharField(_("language"), max_length=16, blank=True)
    posted_at = models.DateTimeField(_("posted"), default=timezone.now)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    edited_at = models.DateTimeField(_("edited"), null=True, blank=True)
    from_history = models.BooleanField(
        _("from history"),
        default=False,
        help_text=_(
            "Older than the backfill horizon when first seen (a channel's history, a poll after "
            "downtime): stored and threaded, but it starts no SLA clock, alert or detector."
        ),
    )
    deleted_at = models.DateTimeField(_("deleted on platform"), null=True, blank=True)
    sentiment = models.FloatField(
        _("sentiment"), null=True, blank=True, help_text=_("-1 (negative) to +1 (positive).")
    )
    reach = models.PositiveIntegerField(_("reach"), default=0)
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    raw = models.JSONField(_("raw payload"), default=dict, blank=True)
    case = models.ForeignKey(
        "socialcare.Case",
        verbose_name=_("case"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="posts",
    )
    # Outbound only.
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="socialcare_posts",
    )
    send_status = models.CharField(
        _("send status"), max_length=20, choices=SendStatus.choices, blank=True
    )
    send_error = models.TextField(_("send error"), blank=True)
    send_attempts = models.PositiveIntegerField(_("send attempts"), default=0)
    # Inbound only: what the brand did to the customer's comment on the platform
    # (services/moderation.py). The post itself is always kept.
    # db_default: rows a process of the previous release inserts during a deploy get "" too.
    moderation = models.CharField(
        _("moderation"),
        max_length=10,
        choices=Moderation.choices,
        blank=True,
        default="",
        db_default="",
    )
    moderated_at = models.DateTimeField(_("moderated"), null=True, blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("moderated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="socialcare_moderated_posts",
        help_text=_("Empty: by the system (a playbook step)."),
    )

    objects = PostQuerySet.as_manager()

    class Meta:
        ordering = ["posted_at", "pk"]
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        permissions = [
            ("hide_post", "Can hide and unhide customers' comments on the platform"),
            ("moderate_post", "Can hide, unhide and delete customers' comments on the platform"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "external_id"], name="socialcare_post_unique_platform_id"
            ),
        ]
        indexes = [
            models.Index(fields=["case", "posted_at"], name="socialcare_post_case_time"),
            models.Index(fields=["author", "posted_at"], name="socialcare_post_author_time"),
            models.Index(
                fields=["platform", "in_reply_to_external_id"], name="socialcare_post_reply_to"
            ),
            models.Index(fields=["channel", "posted_at"], name="socialcare_post_channel_time"),
            # The posts API's cursor (received_at, id), and the recent posts the crisis
            # detectors link when they fire (posted_at within the window).
            models.Index(fields=["received_at", "id"], name="socialcare_post_received"),
            models.Index(fields=["posted_at", "id"], name="socialcare_post_time"),
            models.Index(
                fields=["channel", "local_id"],
                condition=~models.Q(local_id=""),
                name="socialcare_post_local_id",
            ),
            models.Index(
                fields=["platform", "conversation_id"],
                condition=~models.Q(conversation_id=""),
                name="socialcare_post_conversation",
            ),
            # The stuck-reply sweeper (every 5 minutes) reads only replies not yet sent.
            models.Index(
                fields=["posted_at"],
                condition=models.Q(send_status__in=["queued", "sending"]),
                name="socialcare_post_unsent",
            ),
        ]

    def __str__(self) -> str:
        first = (self.text or "").strip().splitlines()[0] if (self.text or "").strip() else ""
        return first[:80] or f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_inbound(self) -> bool:
        return self.direction == self.Direction.INBOUND
