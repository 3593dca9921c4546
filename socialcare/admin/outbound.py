"""Outbound webhooks: subscriptions (write-only signing secret) and the delivery log."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from socialcare.admin.channels import _https_urls
from socialcare.admin.deletion import TeamRuleDeletionMixin
from socialcare.admin.inlines import ReadOnlyInlineMixin
from socialcare.admin.viewer import AllCasesOnlyMixin
from socialcare.models import EVENT_TYPES, OutboundDelivery, WebhookSubscription
from socialcare.models.fields import redacted
from socialcare.services import outbound, url_safety


class WebhookSubscriptionForm(forms.ModelForm):
    """The secret is write-only: generated when left blank on a new subscription, kept when left
    blank on an existing one, replaced when typed or when "generate a new secret" is ticked."""

    event_types = forms.MultipleChoiceField(
        label="Events",
        required=False,
        choices=list(EVENT_TYPES.items()),
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event, including types added later.",
    )
    secret = forms.CharField(
        label="Signing secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    generate_secret = forms.BooleanField(label="Generate a new secret", required=False)

    class Meta:
        model = WebhookSubscription
        formfield_callback = _https_urls
        fields = ["name", "url", "event_types", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            stored = redacted(self.instance.secret)
            self.fields["secret"].help_text = (
                f"Stored: {stored}. Leave blank to keep it." if stored else "Not set."
            )
        else:
            self.fields["secret"].help_text = "Leave blank to generate one (shown once)."

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url") or ""
        try:
            url_safety.validate_subscription_url(url)
        except url_safety.UnsafeUrl as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def save(self, commit: bool = True) -> WebhookSubscription:
        subscription = super().save(commit=False)
        #: A secret socialcare generated, for the admin to show once.
        self.generated_secret = ""
        typed = self.cleaned_data.get("secret")
        if typed:
            subscription.secrets = {"secret": typed}
        # Not ``not subscription.secret``: an undecryptable secret is kept for its key's return.
        elif self.cleaned_data.get("generate_secret") or not subscription.secrets:
            self.generated_secret = outbound.generate_secret()
            subscription.secrets = {"secret": self.generated_secret}
        if commit:
            subscription.save()
        return subscription


class _LatestDeliveries(BaseInlineFormSet):
    def get_queryset(self) -> QuerySet:
        return super().get_queryset().order_by("-sequence")[:50]


class OutboundDeliveryInline(AllCasesOnlyMixin, ReadOnlyInlineMixin, admin.TabularInline):
    """The delivery log: the subscription's latest 50 deliveries, newest first."""

    all_cases_only = ("error_summary",)

    model = OutboundDelivery
    formset = _LatestDeliveries
    fields = [
        "delivery_link",
        "event_type",
        "status",
        "attempts",
        "response_status",
        "last_attempt_at",
        "next_attempt_at",
        "error_summary",
    ]
    readonly_fields = fields
    verbose_name_plural = "delivery log (latest 50; redeliver from Outbound deliveries)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("event")

    @admin.display(description="#")
    def delivery_link(self, obj: OutboundDelivery) -> str:
        url = reverse(
            "admin:socialcare_outbounddelivery_change",
            args=[obj.pk],
            current_app=self.admin_site.name,
        )
        return format_html('<a href="{}">{}</a>', url, obj.sequence)

    @admin.display(description="event")
    def event_type(self, obj: OutboundDelivery) -> str:
        return obj.event.type

    @admin.display(description="error")
    def error_summary(self, obj: OutboundDelivery) -> str:
        return (obj.last_error or "")[:120]


class WebhookSubscriptionAdmin(TeamRuleDeletionMixin, admin.ModelAdmin):
    form = WebhookSubscriptionForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = [
        "name",
        "url",
        "events_label",
        "state",
        "consecutive_failures",
        "last_success_at",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    actions = ["reenable_selected"]
    readonly_fields = [
        "state",
        "consecutive_failures",
        "last_success_at",
        "disabled_at",
        "disabled_reason",
        "created_at",
    ]
    inlines = [OutboundDeliveryInline]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        if obj is None:
            return [(None, {"fields": ["name", "url", "event_types", "is_active", "secret"]})]
        return [
            (None, {"fields": ["name", "url", "event_types", "is_active"]}),
            ("Signing secret (encrypted at rest)", {"fields": ["secret", "generate_secret"]}),
            ("Health", {"fields": self.readonly_fields}),
        ]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list:
        return self.inlines if obj else []

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if form.generated_secret:
            self.message_user(
                request,
                format_html(
                    "Signing secret of {}: <code>{}</code> Copy it to the receiver now: it is "
                    "not shown again.",
                    obj,
                    form.generated_secret,
                ),
                messages.WARNING,
            )

    @admin.display(description="events")
    def events_label(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.event_types) if obj.event_types else "all"

    @admin.display(description="state")
    def state(self, obj: WebhookSubscription) -> str:
        if obj.disabled_at:
            return "disabled after failures"
        return "active" if obj.is_active else "switched off"

    def has_reenable_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.change_webhooksubscription")

    @admin.action(
        description="Re-enable selected (clear failures, send what waits)",
        permissions=["reenable"],
    )
    def reenable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for subscription in queryset:
            outbound.reenable(subscription)
        self.message_user(
            request, f"{queryset.count()} subscription(s) re-enabled.", messages.SUCCESS
        )


class OutboundDeliveryAdmin(AllCasesOnlyMixin, admin.ModelAdmin):
    """The delivery log. The body sent (and the receiver's answer, which may echo it) holds the
    content of any team's cases: only readers who see every case read or search it."""

    all_cases_only = ("body", "last_error", "error_summary")
    list_display = [
        "sequence",
        "subscription",
        "event_type",
        "status",
        "attempts",
        "response_status",
        "last_attempt_at",
        "next_attempt_at",
        "error_summary",
    ]
    list_filter = ["status", "subscription"]
    list_select_related = ["subscription", "event"]
    search_fields = ["=event__id", "event__type", "last_error"]
    actions = ["redeliver_selected"]
    fields = [
        "subscription",
        "event_id",
        "event_type",
        "sequence",
        "status",
        "attempts",
        "response_status",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "body",
    ]
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="event")
    def event_type(self, obj: OutboundDelivery) -> str:
        return obj.event.type

    @admin.display(description="event id")
    def event_id(self, obj: OutboundDelivery) -> str:
        return str(obj.event_id)

    @admin.display(description="error")
    def error_summary(self, obj: OutboundDelivery) -> str:
        return (obj.last_error or "")[:120]

    @admin.display(description="body sent")
    def body(self, obj: OutboundDelivery) -> str:
        pretty = json.dumps(json.loads(outbound.event_body(obj.event)), indent=2)
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', pretty[:20000])

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("socialcare.change_outbounddelivery")

    @admin.action(description="Redeliver selected", permissions=["redeliver"])
    def redeliver_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        waiting = 0
        deliveries = list(queryset.select_related("subscription").order_by("sequence"))
        for delivery in deliveries:
            outbound.redeliver(delivery)
            subscription = delivery.subscription
            waiting += bool(subscription.disabled_at or not subscription.is_active)
        self.message_user(
            request, f"{len(deliveries)} delivery(ies) queued again.", messages.SUCCESS
        )
        if waiting:
            self.message_user(
                request,
                f"{waiting} of them belong to a subscription that is off or disabled: they are "
                "sent once it is re-enabled.",
                messages.WARNING,
            )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
