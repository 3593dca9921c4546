"""``manage.py socialcare_export_customer CUSTOMER [--output FILE]``: a customer's data as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from socialcare.exceptions import SocialCareError
from socialcare.models import PrivacyRequest
from socialcare.services.privacy import find_customer, stream_customer_export


def staff_user(username: str | None) -> Any:
    """The user named by ``--by`` (recorded on the audit row), or None."""
    if not username:
        return None
    User = get_user_model()
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        raise CommandError(f"There is no user {username!r}.")
    return user


class Command(BaseCommand):
    help = (
        "Export everything socialcare holds about one customer (identities, posts, the brand's "
        "replies, cases, case events, identity verifications) as JSON (see docs/privacy.md). "
        "CUSTOMER is the customer's id or platform:handle of one of their accounts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer", help="Customer id, or platform:handle (x:ada).")
        parser.add_argument("--output", "-o", help="Write to this file (default: standard out).")
        parser.add_argument(
            "--without-notes",
            action="store_true",
            help="Leave internal notes out of the export (see docs/privacy.md).",
        )
        parser.add_argument("--by", help="Username recorded as who asked for the export.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            customer = find_customer(options["customer"])
        except SocialCareError as exc:
            raise CommandError(exc.messages[0]) from exc
        actor = staff_user(options["by"])
        pieces = stream_customer_export(
            customer,
            actor=actor,
            source=PrivacyRequest.Source.COMMAND,
            include_notes=not options["without_notes"],
        )
        output = options["output"]
        if not output:
            for piece in pieces:
                self.stdout.write(piece, ending="")
            return
        path = Path(output)
        if not path.parent.exists():
            raise CommandError(f"The folder {str(path.parent)!r} does not exist.")
        try:
            with path.open("w", encoding="utf-8") as fh:
                for piece in pieces:
                    fh.write(piece)
        except OSError as exc:
            raise CommandError(f"Cannot write {output!r}: {exc.strerror or exc}.") from exc
        self.stderr.write(self.style.SUCCESS(f"Exported customer {customer.pk} to {output}."))
