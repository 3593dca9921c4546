"""Platform apps: one webhook URL per X or Meta app (shown to copy), write-only encrypted
secrets, the channels it serves, and its deliveries waiting for a channel."""

from __future__ import annotations

import contextvars
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from socialcare.admin.channels import secret_input
from socialcare.models import APP_SECRET_NAMES, Channel, PlatformApp, WebhookDelivery
from socialcare.services.account_routing import route_waiting

#: The request being served, to show absolute webhook URLs (a ModelAdmin is shared by threads).
_serving: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "socialcare_app_admin_request", default=None
)


class _PlatformAppFormBase(forms.ModelForm):
    """Secrets are write-only: a blank field keeps the stored value; "clear" removes it."""

    clear_secrets = forms.MultipleChoiceField(
        label="Clear secrets",
        required=False,
        choices=list(APP_SECRET_NAMES.items()),
        widget=forms.CheckboxSelectMultiple,
    )
    channels = forms.ModelMultipleChoiceField(
        label="Channels",
        queryset=Channel.objects.filter(platform__in=["x", "facebook", "instagram"]),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The brand accounts whose events this app's URL delivers (for reference: "
        "events are routed by the account id they name).",
    )

    class Meta:
        model = PlatformApp
        fields = ["name", "platform", "key", "app_id", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance.redacted_secrets() if self.instance.pk else {}
        for name in APP_SECRET_NAMES:
            current = stored.get(name)
            self.fields[f"secret_{name}"].help_text = (
                f"Stored: {current}. Leave blank to keep." if current else "Not set."
            )
        if self.instance.pk:
            self.fields["channels"].initial = list(self.instance.channels.all())

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        served = PlatformApp.CHANNEL_PLATFORMS.get(data.get("platform") or "", ())
        wrong = [c for c in data.get("channels") or [] if c.platform not in served]
        if wrong:
            self.add_error(
                "channels",
                f"Not accounts of this platform: {', '.join(str(c) for c in wrong)}.",
            )
        return data

    def save(self, commit: bool = True) -> PlatformApp:
        app = super().save(commit=False)
        for name in APP_SECRET_NAMES:
            value = self.cleaned_data.get(f"secret_{name}")
            if value:
                app.set_secret(name, value)
        for name in self.cleaned_data.get("clear_secrets") or []:
            app.set_secret(name, "")
        if commit:
            app.save()
            self.save_m2m()
            self.save_channels()
        return app

    def save_channels(self) -> None:
        """Point the chosen channels at the saved app (and no others). The admin calls it from
        ``save_related``, once the app has its id."""
        if "channels" not in self.cleaned_data:
            return
        chosen = {c.pk for c in self.cleaned_data.get("channels") or []}
        Channel.objects.filter(app=self.instance).exclude(pk__in=chosen).update(app=None)
        Channel.objects.filter(pk__in=chosen).update(app=self.instance)


# One password input per secret slot, declared on the class so the admin knows the fields.
PlatformAppForm = type(
    "PlatformAppForm",
    (_PlatformAppFormBase,),
    {f"secret_{name}": secret_input(label) for name, label in APP_SECRET_NAMES.items()},
)


class PlatformAppAdmin(admin.ModelAdmin):
    form = PlatformAppForm
    list_display = ["name", "platform", "is_active", "channel_count", "waiting_count"]
    list_filter = ["platform", "is_active"]
    search_fields = ["name", "key", "app_id"]
    readonly_fields = ["webhook_urls", "stored_secrets", "waiting", "created_at"]
    actions = ["route_waiting_deliveries"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        form.save_channels()

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        secret_fields = [f"secret_{name}" for name in APP_SECRET_NAMES]
        return [
            (None, {"fields": ["name", "platform", "app_id", "is_active"]}),
            (
                "Webhook",
                {"fields": ["webhook_urls", "key", "channels", "waiting", "created_at"]},
            ),
            (
                "Secrets (encrypted at rest)",
                {"fields": ["stored_secrets", *secret_fields, "clear_secrets"]},
            ),
        ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .with_unrouted_count()
            .annotate(_channels=Count("channels"))
            .order_by("name", "pk")  # Meta.ordering is not applied to a GROUP BY query
        )

    @admin.display(description="channels", ordering="_channels")
    def channel_count(self, obj: PlatformApp) -> int:
        return getattr(obj, "_channels", 0)

    @admin.display(description="waiting for a channel", ordering="unrouted_count")
    def waiting_count(self, obj: PlatformApp) -> int:
        return getattr(obj, "unrouted_count", 0)

    @admin.display(description="webhook URL (register it with the platform)")
    def webhook_urls(self, obj: PlatformApp) -> str:
        if obj.pk is None:
            return "Shown once the app is saved."
        request = _serving.get()
        rows = []
        for platform in obj.channel_platforms:
            path = reverse("socialcare:app-webhook", args=[platform, obj.key])
            url = request.build_absolute_uri(path) if request is not None else path
            what = {"x": "X", "facebook": "Page object", "instagram": "Instagram object"}
            rows.append((what.get(platform, platform), url))
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "", '<li>{}: <input type="text" readonly size="80" value="{}"></li>', rows
            ),
        )

    @admin.display(description="stored secrets")
    def stored_secrets(self, obj: PlatformApp) -> str:
        shown = obj.redacted_secrets()
        if not shown:
            return "none"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", shown.items()))

    @admin.display(description="deliveries waiting for a channel")
    def waiting(self, obj: PlatformApp) -> str:
        if obj.pk is None:
            return "none"
        count = WebhookDelivery.objects.unrouted().filter(app=obj).count()
        if not count:
            return "none"
        url = reverse(
            "admin:socialcare_webhookdelivery_changelist", current_app=self.admin_site.name
        )
        return format_html(
            '<a href="{}?status__exact=unrouted&app__id__exact={}">{} waiting</a> — add the '
            "channel of their account, then “Route waiting deliveries”.",
            url,
            obj.pk,
            count,
        )

    def render_change_form(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        token = _serving.set(request)
        try:  # rendered here: the read-only fields are evaluated while rendering
            return super().render_change_form(request, *args, **kwargs).render()
        finally:
            _serving.reset(token)

    @admin.action(description="Route waiting deliveries to their channels", permissions=["change"])
    def route_waiting_deliveries(self, request: HttpRequest, queryset: QuerySet) -> None:
        queued = sum(len(route_waiting(app=app)) for app in queryset)
        if queued:
            self.message_user(
                request, f"{queued} delivery(ies) routed and queued.", messages.SUCCESS
            )
        else:
            self.message_user(
                request,
                "Nothing to route: no waiting delivery's account has an active channel yet.",
                messages.WARNING,
            )
