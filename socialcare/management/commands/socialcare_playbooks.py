"""``manage.py socialcare_playbooks``: install the three ready crisis playbooks, then say what is
live."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from socialcare.crisis_playbooks import install_playbooks, live_report


class Command(BaseCommand):
    help = (
        "Install the ready playbooks (product defect wave, service outage, influencer or legal "
        "threat) with their detectors and holding replies. Idempotent: existing ones are kept, "
        "with every step an admin made automatic or manual. Steps that reach customers are "
        "installed manual. Prints, per playbook, what reaches customers by itself."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for line in install_playbooks():
            self.stdout.write(line)
        self.stdout.write("\nWhen a detector fires:")
        for playbook in live_report():
            for line in playbook.lines():
                live = line.startswith("  LIVE") and playbook.live
                self.stdout.write(self.style.WARNING(line) if live else line)
        self.stdout.write(
            "A step that reaches customers runs by itself only once an admin ticks its "
            "'automatic' box (Social care › Playbooks); until then an agent runs it from the "
            "incident."
        )
