"""Permissions: Django model permissions (view for reads), read-only keys, team rule on objects."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions

from socialcare.models import ApiKey


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django's model permissions, with ``view_*`` required to read."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": [],
    }


class StaffOnly(permissions.BasePermission):
    """Only staff users (agents) use the API, whether by session or by key."""

    message = "The API is for staff users."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class KeyScope(permissions.BasePermission):
    """A read-only key may only read."""

    message = "This API key is read-only."

    def has_permission(self, request: Any, view: Any) -> bool:
        if isinstance(request.auth, ApiKey) and request.auth.read_only:
            return request.method in permissions.SAFE_METHODS
        return True
