"""API keys: issued here, shown once, revoked here. Only a hash of a key is stored or shown."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from socialcare.exceptions import SocialCareError
from socialcare.models import ApiKey
from socialcare.services.apikeys import SCOPES, clean_scopes, create_api_key, revoke_api_key


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(name, f"{name} — {text}") for name, text in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        required=True,
        help_text="What the key may use. Give it only what the client needs.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "user", "read_only", "scopes", "expires_at"]
        help_texts = {
            "user": "The key acts as this staff user: same permissions and team rules.",
            "read_only": "For reporting clients: the key may only read.",
            "expires_at": "Empty: the key works until revoked.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only staff may use the API, so a key for anyone else would never work.
        self.fields["user"].queryset = get_user_model()._default_manager.filter(
            is_active=True, is_staff=True
        )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name that says who uses it.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            cleaned["scopes"] = clean_scopes(
                cleaned.get("scopes") or [], read_only=bool(cleaned.get("read_only"))
            )
        except SocialCareError as exc:
            self.add_error("scopes", exc.messages)
        return cleaned

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires_at


class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "prefix",
        "user",
        "read_only",
        "scope_list",
        "state",
        "expires_at",
        "last_used_at",
    ]
    list_filter = ["read_only", "revoked_at", "expires_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    actions = ["revoke"]
    add_fields = ["name", "user", "read_only", "scopes", "expires_at"]
    readonly_fields = [
        "prefix",
        "user",
        "read_only",
        "scope_list",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "issued_by",
        "issued_keys",
    ]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return self.add_fields if obj is None else ["name", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plain = create_api_key(
            obj.user,
            obj.name,
            read_only=obj.read_only,
            expires_at=obj.expires_at,
            scopes=form.cleaned_data["scopes"],
        )
        # The admin goes on with ``obj`` (its log entry, the redirect): make it the saved row.
        for field in ("id", "prefix", "key_hash", "created_at", "scopes"):
            setattr(obj, field, getattr(key, field))
        obj._state.adding = False
        messages.success(
            request,
            format_html(
                "The new API key is <code>{}</code>. Copy it now: it is not shown again. "
                "Clients send it as <code>Authorization: Api-Key {}</code>.",
                plain,
                plain,
            ),
        )

    @admin.display(description="scopes")
    def scope_list(self, key: ApiKey) -> str:
        return ", ".join(key.scopes or []) or "none"

    @admin.display(description="keys it issued")
    def issued_keys(self, key: ApiKey) -> str:
        """Keys issued with this one through the API: revoked with it."""
        names = [str(k) for k in key.issued_keys.order_by("created_at", "pk")]
        return ", ".join(names) or "none"

    @admin.display(description="state")
    def state(self, key: ApiKey) -> str:
        if key.revoked_at:
            return "revoked"
        if key.expires_at and key.expires_at <= timezone.now():
            return "expired"
        return "active"

    @admin.action(
        description="Revoke selected keys (and the keys they issued)", permissions=["change"]
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            revoke_api_key(key)
        self.message_user(
            request,
            f"Revoked {len(keys)} key(s), and any keys they issued.",
            messages.SUCCESS,
        )
