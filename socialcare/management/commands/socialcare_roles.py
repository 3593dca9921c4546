"""``manage.py socialcare_roles [--assign USER ROLE]``: the support roles as groups."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from socialcare.exceptions import SocialCareError
from socialcare.services.roles import assign_role, install_roles, resolve_role


class Command(BaseCommand):
    help = (
        "Create or update the groups 'Support agent', 'Support supervisor' and 'Support admin' "
        "with exactly their permissions (idempotent; see docs/roles.md). With --assign USER ROLE, "
        "also put a user in a role (agent, supervisor or admin)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--assign",
            nargs=2,
            metavar=("USER", "ROLE"),
            action="append",
            default=[],
            help="Put USER (a username) in ROLE: agent, supervisor or admin. Repeatable.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        assignments = []
        # Check every argument before changing anything.
        for username, role in options["assign"]:
            try:
                name = resolve_role(role)
            except SocialCareError as exc:
                raise CommandError(exc.messages[0]) from exc
            user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
            if user is None:
                raise CommandError(f"There is no user {username!r}.")
            assignments.append((user, name))

        for name, change in install_roles().items():
            self.stdout.write(_describe(name, change))
        for user, name in assignments:
            result = assign_role(user, name)
            username = user.get_username()
            if not (result["added"] or result["removed"] or result["made_staff"]):
                self.stdout.write(f"{username} is already a {name}.")
                continue
            line = f"{username} is now a {name}"
            if result["removed"]:
                line += f" (no longer {', '.join(result['removed'])})"
            if result["made_staff"]:
                line += "; made staff so they can log in to admin"
            self.stdout.write(self.style.SUCCESS(line + "."))


def _describe(name: str, change: dict[str, Any]) -> str:
    if change["created"]:
        return f"created group {name} with {change['count']} permissions"
    if not (change["added"] or change["removed"]):
        return f"group {name} is up to date ({change['count']} permissions)"
    parts = []
    if change["added"]:
        parts.append(f"added {', '.join(change['added'])}")
    if change["removed"]:
        parts.append(f"removed {', '.join(change['removed'])}")
    return f"updated group {name}: {'; '.join(parts)}"
