"""A brand account on a platform that receives posts."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from socialcare.models.csat import SurveyMode
from socialcare.models.fields import EncryptedJSONField, PlatformField, redacted

#: The secret slots a channel may hold, with the label an admin sees.
SECRET_NAMES: dict[str, str] = {
    "webhook_secret": _("Webhook signing secret (X consumer secret, Meta app secret)"),
    "verify_token": _("Webhook verify token (Meta)"),
    "access_token": _("Access token"),
    "access_token_secret": _("Access token secret (X OAuth 1.0a)"),
    "refresh_token": _("Refresh token"),
}


class ChannelQuerySet(models.QuerySet):
    def active(self) -> ChannelQuerySet:
        return self.filter(is_active=True)


class Channel(models.Model):
    name = models.CharField(_("name"), max_length=100)
    platform = PlatformField(_("platform"))
    account_id = models.CharField(
        _("account id"), max_length=255, help_text=_("The brand account's id on the platform.")
    )
    handle = models.CharField(_("handle"), max_length=255, blank=True)
    base_url = models.URLField(
        _("API base URL"),
        blank=True,
        help_text=_(
            "For federated platforms (Mastodon instance, Bluesky PDS); empty for defaults."
        ),
    )
    secrets = EncryptedJSONField(_("secrets"))
    app = models.ForeignKey(
        "socialcare.PlatformApp",
        verbose_name=_("platform app"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="channels",
        help_text=_(
            "The X or Meta app whose one webhook URL delivers this account's events. Empty: "
            "events reach it through its own URL, or through any app's URL that names it."
        ),
    )
    can_reply_public = models.BooleanField(_("can reply publicly"), default=True)
    can_message_private = models.BooleanField(_("can send private messages"), default=True)
    human_agent_tag = models.BooleanField(
        _("Human Agent permission (Meta)"),
        default=False,
        db_default=False,
        help_text=_(
            "Facebook and Instagram: on when the Meta app has the Human Agent permission. Agents "
            "may then answer a private message up to 7 days after the customer's last one (tag "
            "HUMAN_AGENT) instead of 24 hours. Turn it on only once Meta granted it: without it, "
            "Meta refuses such messages."
        ),
    )
    csat_mode = models.CharField(
        _("CSAT survey"),
        max_length=8,
        choices=SurveyMode.choices,
        default=SurveyMode.OFF,
        db_default=SurveyMode.OFF,
        help_text=_(
            "After a case is resolved, ask its customer once how we did: a 1–5 question they "
            "answer in a private message, or a signed link to a small page (docs/csat.md)."
        ),
    )
    # Out-of-hours acknowledgement (services/out_of_hours.py, docs/out-of-hours.md).
    out_of_hours_ack = models.BooleanField(
        _("acknowledge out of hours"),
        default=False,
        db_default=False,
        help_text=_(
            "When a customer writes while the team's business hours are closed and no agent of "
            "the team is online, send one automatic message per case saying when a person will "
            "answer (the template below)."
        ),
    )
    out_of_hours_template = models.ForeignKey(
        "socialcare.ReplyTemplate",
        verbose_name=_("out-of-hours template"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "The acknowledgement's text; {{ opens }} is when the team is back. Active templates "
            "of the same name in other languages are used for customers writing in them."
        ),
    )
    out_of_hours_public = models.BooleanField(
        _("acknowledge public posts too"),
        default=False,
        db_default=False,
        help_text=_(
            "Off: only private messages are acknowledged (by private message). On: a public "
            "post is acknowledged with a public reply."
        ),
    )
    default_team = models.ForeignKey(
        "socialcare.Team",
        verbose_name=_("default team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="channels",
    )
    sla_policy = models.ForeignKey(
        "socialcare.SLAPolicy",
        verbose_name=_("SLA policy"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Overrides policy matching for cases of this channel."),
    )
    polling_enabled = models.BooleanField(
        _("poll automatically"),
        default=True,
        help_text=_(
            "For polled platforms (Mastodon, Bluesky). Off: the scheduled poll skips this channel, "
            "e.g. while it is being set up, or a demo channel fed only by the simulator. A manual "
            "poll (manage.py socialcare_poll --channel) still works."
        ),
    )
    poll_cursor = models.CharField(_("poll cursor"), max_length=500, blank=True)
    last_polled_at = models.DateTimeField(_("last polled"), null=True, blank=True)
    poll_paused_until = models.DateTimeField(
        _("polling paused until"),
        null=True,
        blank=True,
        help_text=_("Set when the platform rate-limited us; polling resumes after it."),
    )
    last_poll_error = models.TextField(_("last polling error"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "account_id"], name="socialcare_channel_unique_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    def clean(self) -> None:
        """The platform app must serve the channel's platform: an X app X accounts, a Meta app
        Facebook Pages and Instagram accounts; other platforms have none. The admin form and
        the API both check it here."""
        super().clean()
        if self.out_of_hours_ack and self.out_of_hours_template_id is None:
            raise ValidationError(
                {
                    "out_of_hours_template": _(
                        "Choose the reply template of the out-of-hours acknowledgement."
                    )
                }
            )
        if self.app_id is None or not self.platform or self.platform in self.app.channel_platforms:
            return
        if self.platform not in {p for ps in self.app.CHANNEL_PLATFORMS.values() for p in ps}:
            message = _("%(platform)s channels have no platform app: leave it empty.") % {
                "platform": self.get_platform_display()
            }
        else:
            message = _(
                "“%(app)s” is an app of %(kind)s: it cannot deliver the events of %(platform)s "
                "accounts. Choose an app of the channel's platform."
            ) % {
                "app": self.app.name,
                "kind": self.app.get_platform_display(),
                "platform": self.get_platform_display(),
            }
        raise ValidationError({"app": message})

    def get_secret(self, name: str) -> str:
        return str(self.secrets.get(name) or "")

    def set_secret(self, name: str, value: str) -> None:
        if name not in SECRET_NAMES:
            raise ValueError(f"Unknown channel secret {name!r}; known: {', '.join(SECRET_NAMES)}")
        secrets = dict(self.secrets)
        if value:
            secrets[name] = value
        else:
            secrets.pop(name, None)
        self.secrets = secrets

    def redacted_secrets(self) -> dict[str, str]:
        """Secret names with redacted values, safe to show in admin, API and logs."""
        return {
            name: redacted(self.get_secret(name)) for name in SECRET_NAMES if self.get_secret(name)
        }
