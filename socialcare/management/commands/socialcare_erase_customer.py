"""``manage.py socialcare_erase_customer CUSTOMER --reason WHY [--yes]``: erase a customer."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from socialcare.exceptions import SocialCareError
from socialcare.management.commands.socialcare_export_customer import staff_user
from socialcare.models import PrivacyRequest, customer_display_name
from socialcare.services.privacy import erase_customer, find_customer


class Command(BaseCommand):
    help = (
        "Erase one customer's personal data: identities anonymised, the text, media and raw "
        "payloads of their posts and the words in their cases removed, case statistics kept; "
        "audited as a privacy request (see docs/privacy.md). Cannot be undone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer", help="Customer id, or platform:handle (x:ada).")
        parser.add_argument("--reason", required=True, help="Why (recorded on the audit row).")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument("--by", help="Username recorded as who asked for the erasure.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["reason"] or "").strip():
            raise CommandError("Give a --reason: it is recorded on the audit row.")
        try:
            customer = find_customer(options["customer"])
        except SocialCareError as exc:
            raise CommandError(exc.messages[0]) from exc
        actor = staff_user(options["by"])
        if not options["yes"]:
            try:
                answer = input(
                    f"Erase the personal data of customer {customer.pk} "
                    f"({customer_display_name(customer)})? This cannot be undone. Type 'yes': "
                )
            except EOFError as exc:  # no terminal to ask on
                raise CommandError("Erasure cannot be undone: pass --yes to confirm.") from exc
            if answer.strip().lower() != "yes":
                raise CommandError("Nothing erased.")
        try:
            record = erase_customer(
                customer,
                actor=actor,
                reason=options["reason"],
                source=PrivacyRequest.Source.COMMAND,
            )
        except SocialCareError as exc:
            raise CommandError(exc.messages[0]) from exc
        counts = ", ".join(f"{k} {v}" for k, v in record.counts.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Erased customer {record.customer_id} (now {record.customer_pseudonym}): "
                f"{counts}. Privacy request #{record.pk}."
            )
        )
