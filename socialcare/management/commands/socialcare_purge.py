"""``manage.py socialcare_purge [--dry-run]``: remove what the retention settings expire."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from socialcare.models import PrivacyRequest
from socialcare.services.retention import purge_expired, retention_configured


class Command(BaseCommand):
    help = (
        "Empty raw webhook bodies and post payloads older than RETENTION_RAW_PAYLOAD_DAYS and "
        "the content of cases closed more than RETENTION_CLOSED_CASE_DAYS ago, in batches "
        "(see docs/privacy.md). --dry-run only counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")
        parser.add_argument("--batch-size", type=int, help="Rows per batch (default: setting).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not retention_configured():
            self.stdout.write(
                "Retention is off (RETENTION_RAW_PAYLOAD_DAYS and RETENTION_CLOSED_CASE_DAYS "
                "are None): nothing to purge."
            )
            return
        size = options["batch_size"]
        if size is not None and size < 1:
            raise CommandError("--batch-size must be at least 1.")
        report = purge_expired(
            dry_run=options["dry_run"], batch_size=size, source=PrivacyRequest.Source.COMMAND
        )
        for line in report.lines():
            self.stdout.write(line)
        if report.dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Done in {report.batches} batches."))
