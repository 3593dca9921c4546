"""Channels (with write-only, encrypted secrets) and the durable webhook inbox."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from socialcare.admin import page_picker
from socialcare.admin.deletion import TeamRuleDeletionMixin
from socialcare.admin.viewer import AllCasesOnlyMixin
from socialcare.exceptions import SocialCareError
from socialcare.models import SECRET_NAMES, Channel, PlatformApp, WebhookDelivery
from socialcare.services import channel_oauth, channel_routing
from socialcare.services.deliveries import retry_delivery
from socialcare.services.polling import is_polled
from socialcare.services.verification import provider_for


def _https_urls(field: models.Field, **kwargs: Any) -> forms.Field | None:
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


def secret_input(label: str) -> forms.CharField:
    """A write-only secret field: never rendered back, never autofilled."""
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


class _ChannelFormBase(forms.ModelForm):
    """Secrets are write-only: a blank field keeps the stored value; "clear" removes it."""

    clear_secrets = forms.MultipleChoiceField(
        label="Clear secrets",
        required=False,
        choices=list(SECRET_NAMES.items()),
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Channel
        formfield_callback = _https_urls
        fields = [
            "name",
            "platform",
            "account_id",
            "app",
            "handle",
            "base_url",
            "can_reply_public",
            "can_message_private",
            "human_agent_tag",
            "csat_mode",
            "default_team",
            "sla_policy",
            "is_active",
            "polling_enabled",
            "out_of_hours_ack",
            "out_of_hours_template",
            "out_of_hours_public",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance.redacted_secrets() if self.instance.pk else {}
        for name in SECRET_NAMES:
            current = stored.get(name)
            self.fields[f"secret_{name}"].help_text = (
                f"Stored: {current}. Leave blank to keep." if current else "Not set."
            )
        if "app" in self.fields:
            platform = self.instance.platform if self.instance.pk else ""
            self.fields["app"].queryset = _apps_for(platform)
        if "csat_mode" in self.fields:  # a form posted without it keeps the channel's choice
            self.fields["csat_mode"].required = False

    def clean_csat_mode(self) -> str:
        return self.cleaned_data.get("csat_mode") or self.instance.csat_mode or "off"

    def save(self, commit: bool = True) -> Channel:
        channel = super().save(commit=False)
        for name in SECRET_NAMES:
            value = self.cleaned_data.get(f"secret_{name}")
            if value:
                channel.set_secret(name, value)
        for name in self.cleaned_data.get("clear_secrets") or []:
            channel.set_secret(name, "")
        if commit:
            channel.save()
        return channel


def _apps_for(platform: str) -> QuerySet:
    """The apps a channel of ``platform`` may name (every X and Meta app while it has none
    yet: ``Channel.clean`` then checks the pair)."""
    kinds = [k for k, served in PlatformApp.CHANNEL_PLATFORMS.items() if platform in served]
    return PlatformApp.objects.filter(platform__in=kinds) if platform else PlatformApp.objects.all()


# One password input per secret slot, declared on the class so the admin knows the fields.
ChannelForm = type(
    "ChannelForm",
    (_ChannelFormBase,),
    {f"secret_{name}": secret_input(label) for name, label in SECRET_NAMES.items()},
)


#: The channel platforms a platform app delivers (X; Facebook and Instagram).
_APP_PLATFORMS = frozenset(p for served in PlatformApp.CHANNEL_PLATFORMS.values() for p in served)


class ChannelAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    form = ChannelForm
    list_display = [
        "name",
        "platform",
        "handle",
        "account_id",
        "app",
        "default_team",
        "is_active",
        "polls_automatically",
        "last_polled_at",
    ]
    list_filter = ["platform", "is_active", "polling_enabled", "app"]
    list_select_related = ["app", "default_team"]
    search_fields = ["name", "handle", "account_id"]
    autocomplete_fields = ["default_team", "sla_policy"]
    readonly_fields = [
        "stored_secrets",
        "oauth_connection",
        "poll_cursor",
        "last_polled_at",
        "created_at",
    ]
    change_form_template = "socialcare/channel/change_form.html"

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        secret_fields = [f"secret_{name}" for name in SECRET_NAMES]
        main = ["name", "platform", "account_id", "handle", "base_url", "is_active"]
        if obj is None or obj.platform in _APP_PLATFORMS:  # delivered through an X or Meta app
            main.insert(3, "app")
        if obj is None or is_polled(obj):  # a webhook channel has no polling to switch off
            main.append("polling_enabled")
        replies = [
            "can_reply_public",
            "can_message_private",
            "default_team",
            "sla_policy",
            "csat_mode",
        ]
        if obj is None or obj.platform in ("facebook", "instagram"):  # Meta's permission only
            replies.insert(2, "human_agent_tag")
        return [
            (None, {"fields": main}),
            ("Replies", {"fields": replies}),
            (
                "Out of hours (docs/out-of-hours.md)",
                {"fields": ["out_of_hours_ack", "out_of_hours_template", "out_of_hours_public"]},
            ),
            (
                "Secrets (encrypted at rest)",
                {
                    "fields": [
                        "stored_secrets",
                        "oauth_connection",
                        *secret_fields,
                        "clear_secrets",
                    ]
                },
            ),
            (
                "Polling",
                {
                    "classes": ["collapse"],
                    "fields": ["poll_cursor", "last_polled_at", "created_at"],
                },
            ),
        ]

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        waiting = channel_routing.channel_saved(obj, form.changed_data, created=not change)
        if waiting:
            self.message_user(
                request,
                f"{waiting} delivery(ies) that waited for {obj.get_platform_display()} account "
                f"{obj.account_id} are routed to this channel and queued for processing.",
                messages.INFO,
            )

    @admin.display(description="poll automatically", boolean=True, ordering="polling_enabled")
    def polls_automatically(self, obj: Channel) -> bool | None:
        """The switch of a polled channel; blank ("unknown") for a webhook channel."""
        return obj.polling_enabled if is_polled(obj) else None

    @admin.display(description="stored secrets")
    def stored_secrets(self, obj: Channel) -> str:
        shown = obj.redacted_secrets()
        if not shown:
            return "none"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", shown.items()))

    @admin.display(description="OAuth connection")
    def oauth_connection(self, obj: Channel) -> str:
        shown = channel_oauth.connection(obj)
        if not shown:
            return "not connected through OAuth"
        labels = {
            "oauth_backend": "sign-in service",
            "oauth_uid": "account",
            "token_expires_at": "access token expires",
        }
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}: {}</li>", ((labels[k], v) for k, v in shown.items())),
        )

    # Connecting through OAuth ---------------------------------------------------------------

    def get_urls(self) -> list:
        return [
            path(
                "<path:object_id>/connect/",
                self.admin_site.admin_view(self.connect_view),
                name="socialcare_channel_connect",
            ),
            *page_picker.urls(self),  # after Facebook Login: choose the channel's Page
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        backend = ""
        if obj is not None and self.has_change_permission(request, obj):
            backend = provider_for(obj.platform)
        context = {**(extra_context or {}), "oauth_backend": backend}
        return super().change_view(request, object_id, form_url, extra_context=context)

    @method_decorator(require_POST)
    def connect_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Start connecting the channel: off to the platform to sign in as the brand account."""
        from socialcare.views.oauth import start

        channel = self.get_object(request, object_id)
        if channel is None:
            raise Http404("No such channel.")
        if not self.has_change_permission(request, channel):
            raise PermissionDenied
        try:
            backend = channel_oauth.backend_for(channel)
        except SocialCareError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(
                reverse(
                    "admin:socialcare_channel_change",
                    args=[channel.pk],
                    current_app=self.admin_site.name,
                )
            )
        # The flow remembers the site it started on: the provider's callback comes back there.
        flow = {
            "flow": "connect",
            "id": channel.pk,
            "user": request.user.pk,
            "site": self.admin_site.name,
        }
        return start(request, backend, flow)


class WebhookDeliveryAdmin(AllCasesOnlyMixin, admin.ModelAdmin):
    """Inbound deliveries. Their bodies and headers (and errors, which may quote them) hold
    posts of any team's cases: only readers who see every case read or search them."""

    all_cases_only = ("raw_body", "headers", "last_error", "error_summary")
    list_display = [
        "pk",
        "platform",
        "channel",
        "app",
        "account_id",
        "source",
        "status",
        "attempts",
        "posts_count",
        "received_at",
        "error_summary",
    ]
    actions = ["retry_selected", "route_selected"]
    list_filter = ["status", "platform", "source", "app"]
    list_select_related = ["channel", "app"]
    search_fields = ["=id", "=account_id", "last_error"]
    fields = [
        "channel",
        "app",
        "account_id",
        "routed_from",
        "platform",
        "source",
        "status",
        "attempts",
        "claimed_at",
        "claimed_by",
        "lease_until",
        "posts_count",
        "received_at",
        "processed_at",
        "last_error",
        "headers",
        "raw_body",
    ]
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="raw body")
    def raw_body(self, obj: WebhookDelivery) -> str:
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', obj.body_text[:20000])

    @admin.display(description="error")
    def error_summary(self, obj: WebhookDelivery) -> str:
        return (obj.last_error or "")[:120]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.change_webhookdelivery")

    @admin.action(description="Retry selected failed deliveries", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        retried = 0
        for delivery in queryset:
            try:
                retry_delivery(delivery)
                retried += 1
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
        if retried:
            self.message_user(request, f"{retried} delivery(ies) queued again.", messages.SUCCESS)

    @admin.action(description="Route to their channels now", permissions=["retry"])
    def route_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        """The selected deliveries that wait for a channel go to their account's active channel,
        queued for processing; the message says why the others still wait."""
        report = channel_routing.route_selected(queryset.values_list("pk", flat=True))
        if report.queued:
            self.message_user(
                request,
                f"{len(report.queued)} delivery(ies) routed to their channels and queued for "
                "processing.",
                messages.SUCCESS,
            )
        if report.duplicates:
            self.message_user(
                request,
                f"{report.duplicates} were redeliveries already ingested on their channel: "
                "ended as duplicates.",
                messages.INFO,
            )
        if report.still_waiting:
            self.message_user(request, report.why_waiting(), messages.WARNING)
        if report.not_waiting:
            self.message_user(
                request,
                f"{report.not_waiting} selected were not waiting for a channel: left alone.",
                messages.INFO,
            )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
