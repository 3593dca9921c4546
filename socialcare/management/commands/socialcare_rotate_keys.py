"""``manage.py socialcare_rotate_keys [--dry-run]``: re-encrypt secrets under the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from socialcare.services.key_rotation import rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret stored by socialcare (channel tokens and webhook secrets, outbound "
        "signing secrets) under the first key of SOCIALCARE['ENCRYPTION_KEYS']. Run it after adding "
        "a new key in front of the old ones, before removing an old key. Values no key decrypts are "
        "left untouched and reported (exit status 1)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        results = rotate_all(dry_run=dry_run)
        verb = "would be re-encrypted" if dry_run else "re-encrypted"
        for result in results:
            self.stdout.write(
                f"{result.label}: {result.rotated} {verb}, {result.current} already under the "
                f"newest key, {result.empty} empty, {result.failed} undecryptable"
            )
        failed = [(r.label, pk) for r in results for pk in r.undecryptable or []]
        if failed:
            listed = ", ".join(f"{label} id {pk}" for label, pk in failed[:20])
            raise CommandError(
                f"{len(failed)} stored secret(s) could not be decrypted with any configured key and "
                f"were left as they are: {listed}. Add the key they were encrypted with to "
                "SOCIALCARE['ENCRYPTION_KEYS'] and run this again, or enter those secrets again "
                "in admin. Do not remove an old key while this reports failures."
            )
