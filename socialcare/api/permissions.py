"""Permissions: Django model permissions (view for reads), API key scopes and read-only keys."""

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


#: Which scope a key needs, per API route: the viewset's basename (or the URL name of a plain
#: view) → (scope to read, scope to write). A route missing here is refused to every key (a test
#: checks that every route is listed).
ROUTE_SCOPES: dict[str, tuple[str, str]] = {
    "case": ("cases:read", "cases:write"),
    "post": ("posts:read", "posts:read"),
    "post-moderation": ("posts:read", "posts:moderate"),
    "customer": ("customers:read", "customers:write"),
    "identity": ("customers:read", "customers:write"),
    "team": ("teams:read", "teams:read"),
    "sla-policy": ("sla-policies:read", "sla-policies:write"),
    "webhook-subscription": ("webhooks:read", "webhooks:manage"),
    "incident": ("incidents:read", "incidents:write"),
    "playbook": ("incidents:read", "incidents:write"),
    "detector": ("incidents:read", "incidents:write"),
    "verification-link": ("verification:read", "verification:write"),
    "privacy-request": ("privacy", "privacy"),
    "customer-export": ("privacy", "privacy"),
    "customer-erase": ("privacy", "privacy"),
    "api-key": ("api-keys:manage", "api-keys:manage"),
    # The ledger of automatic messages: what playbooks sent on cases (read-only, team rule).
    "automatic-message": ("cases:read", "cases:read"),
    # CSAT surveys and answers of cases (read-only, team rule).
    "csat-survey": ("cases:read", "cases:read"),
    # The event feed carries the cases and posts the case list and timelines do (read-only).
    "event-feed": ("cases:read", "cases:read"),
    # Macros are case tools: listed with cases:read, run with cases:write (and replies:write
    # when one sends a reply, checked by the view: socialcare.api.macros).
    "macro": ("cases:read", "cases:write"),
    "case-macro-apply": ("cases:read", "cases:write"),
    # Auto-assignment: one's own status (setting it decides who gets cases) and the queue.
    "agent-status": ("teams:read", "cases:write"),
    "team-queue": ("cases:read", "cases:read"),
}

#: Actions that reach another resource than their route's: (route, action) → (scopes to read,
#: scopes to write), all needed, *instead of* the route's. An action of a route that serves
#: another resource is checked by that resource's scopes, never by its route's alone.
ACTION_SCOPES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    # A case's verification links are verification links (as on ``verification-links/``).
    ("case", "verification_links"): (("verification:read",), ("verification:write",)),
    # A reply goes to the customer and moves the case on (status, first response).
    ("case", "replies"): (("cases:read",), ("cases:write", "replies:write")),
    # A customer's history is their cases.
    ("customer", "history"): (("customers:read", "cases:read"), ("customers:read", "cases:read")),
    # Linking cases to an incident changes those cases (and runs the done steps on them).
    ("incident", "cases"): (("incidents:read",), ("incidents:write", "cases:write")),
    ("incident", "open_from_case"): (("incidents:read",), ("incidents:write", "cases:write")),
    # Hiding or deleting a comment acts on the platform and writes the case's history.
    ("post-moderation", "hide"): (("posts:read",), ("cases:write", "posts:moderate")),
    ("post-moderation", "unhide"): (("posts:read",), ("cases:write", "posts:moderate")),
    ("post-moderation", "delete_on_platform"): (("posts:read",), ("cases:write", "posts:moderate")),
    # Presence: saying one is looking at a case (or typing) changes nothing on it.
    ("case", "presence"): (("cases:read",), ("cases:read",)),
    # Running a macro on cases changes those cases.
    ("macro", "apply"): (("cases:read",), ("cases:write",)),
}

#: Actions checked by their route's scopes, because they act on the route's own resource. Every
#: action of every route is in this set or in ``ACTION_SCOPES`` (a test checks it), so a new
#: action gets a decision, not a default.
ROUTE_ACTIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("case", "timeline"),  # the case's own events
        ("case", "notes"),  # a note on the case's timeline
        ("case", "merge"),  # one case into another
        ("customer", "merge"),  # one customer into another (their cases follow them)
        ("identity", "link"),  # an identity to a customer
        ("identity", "unlink"),
        ("identity", "suggestions"),  # other identities, and the reasons (a case reference at most)
        ("incident", "step"),  # tick or skip a step of the incident's playbook
        ("incident", "status"),
        ("api-key", "revoke"),
    }
)


def route_name(request: Any, view: Any) -> str:
    basename = getattr(view, "basename", None)
    if basename:
        return basename
    match = getattr(request, "resolver_match", None)
    return getattr(match, "url_name", "") or ""


def required_scopes(request: Any, view: Any) -> tuple[str, ...] | None:
    """The scopes a key needs for this request, or None when the route is not listed."""
    route = route_name(request, view)
    pair = ROUTE_SCOPES.get(route)
    if pair is None:
        return None
    reading = request.method in permissions.SAFE_METHODS
    action = getattr(view, "action", None) or ""
    own = ACTION_SCOPES.get((route, action))
    if own is not None:
        return own[0] if reading else own[1]
    return (pair[0] if reading else pair[1],)


class KeyScope(permissions.BasePermission):
    """A key may use only what its scopes allow; a read-only key may only read."""

    message = "This API key is read-only."

    def has_permission(self, request: Any, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        if key.read_only and request.method not in permissions.SAFE_METHODS:
            self.message = "This API key is read-only."
            return False
        needed = required_scopes(request, view)
        if needed is None:
            self.message = "API keys cannot use this endpoint."
            return False
        missing = [scope for scope in needed if not key.has_scope(scope)]
        if missing:
            self.message = f"This API key lacks the scope {', '.join(missing)}."
            return False
        return True


class KeyHasScopes(permissions.BasePermission):
    """A key with no scopes can do nothing: not even read the schema or its viewers."""

    message = "This API key has no scopes: it can do nothing."

    def has_permission(self, request: Any, view: Any) -> bool:
        key = request.auth
        return not isinstance(key, ApiKey) or bool(key.scopes)
