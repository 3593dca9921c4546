"""``manage.py socialcare_poll``: fetch new mentions and messages from polled channels now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from socialcare.models import Channel
from socialcare.services.polling import is_polled, poll_channel, polled_channels


class Command(BaseCommand):
    help = "Poll Mastodon, Bluesky (and other polled) channels for new posts, once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--channel",
            action="append",
            default=[],
            help="Channel id or name (repeatable); a named channel is polled even when its "
            "'poll automatically' is off. Default: every active polled channel with it on.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = options["channel"]
        if wanted:
            channels = []
            for ref in wanted:
                query = Q(name=ref) | (Q(pk=int(ref)) if ref.isdigit() else Q())
                channel = Channel.objects.filter(query).first()
                if channel is None:
                    raise CommandError(f"No channel with id or name {ref!r}.")
                if not is_polled(channel):
                    raise CommandError(f"{channel} receives webhooks; it is not polled.")
                channels.append(channel)
        else:
            channels = polled_channels()
            skipped = polled_channels(automatic=False)
            if skipped:
                names = ", ".join(str(c) for c in skipped)
                self.stdout.write(
                    f"Not polled ('poll automatically' is off): {names}. "
                    "Name a channel with --channel to poll it anyway."
                )
            if not channels:
                self.stdout.write("No active polled channels to poll.")
                return
        failures = 0
        for channel in channels:
            outcome = poll_channel(channel)
            if outcome.error:
                failures += 1
                self.stderr.write(self.style.ERROR(str(outcome)))
            else:
                self.stdout.write(self.style.SUCCESS(str(outcome)))
        if failures:
            raise CommandError(f"{failures} of {len(channels)} channel(s) could not be polled.")
